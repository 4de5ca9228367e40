/*
 * salve serve's state under STATE_DIR/serve: the spool of accepted runs (queue/ID.json), open
 * circuits (circuits/ROUTE.open), the pause switch (paused) and the key that authenticates
 * the spool (spool.key).
 *
 * This state decides which runbook runs, with which params and whether for real, so it is
 * trusted only when nobody else can write it: the directories must belong to the running
 * user and be writable by nobody else, every file is opened without following symlinks and
 * must be a regular file of ours, and each spool entry carries an HMAC-SHA256 under a key
 * only we can read. Files are written to a temporary name (O_EXCL | O_NOFOLLOW) and renamed.
 *
 * Pure file operations: thread-safe. Returned strings are malloc'd (the caller frees).
 */
#ifndef SRV_STATE_H
#define SRV_STATE_H

#include <stddef.h>

#define SRV_SPOOL_KEY_LEN 32

/* Refuses dir unless it is a directory (not a symlink to one) owned by the running user and
 * not writable by its group or by others. what names it in err ("state dir", "audit dir").
 * 0, or -1 with "state dir /x: mode 0777 lets others write it: chmod go-w /x" in err. */
int srv_state_check_private_dir(const char *what, const char *dir, char *err, size_t errlen);

/* Checks state_dir, then creates (0700) and checks STATE_DIR/serve, its queue/ and circuits/;
 * serve_dir gets STATE_DIR/serve. 0 or -1 with err. */
int srv_state_paths(const char *state_dir, char *serve_dir, size_t len, char *err, size_t errlen);

/* 1 when path is a regular file owned by us (not writable by group or others), 0 when
 * nothing is there, -1 when something else is (a symlink, a directory, another user's
 * file), with err saying what. */
int srv_state_file_present(const char *path, char *err, size_t errlen);

/* Reads a state file held to the rules above, at most max bytes. NULL with err (errno is
 * ENOENT when the file does not exist). *len may be NULL. */
char *srv_state_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* Writes path atomically: PATH.tmp.PID created with O_EXCL | O_NOFOLLOW (mode 0600), written,
 * fdatasync'd when durable, renamed over path. 0 or -1 with err. */
int srv_state_write_atomic(const char *path, const char *data, size_t len, int durable, char *err,
                           size_t errlen);

/* The pause's generation, PAUSE_PATH.gen: 8 bytes that srv_state_write_pause overwrites
 * with a new value after every change of the pause file, so a server that maps them learns
 * of a change made through salve (salve pause/resume, POST /pause, /resume) without a system
 * call per alert (pause.c); a pause file made by other means is seen at the next full check.
 * Maps the file (made if absent, a state file of ours), read-only; NULL with err. */
const volatile unsigned long long *srv_state_pause_gen_map(const char *pause_path, char *err,
                                                           size_t errlen);
void srv_state_pause_gen_unmap(const volatile unsigned long long *gen);
/* Writes the pause file (JSON {paused_at, by, reason}); removes it when pause == 0; then a
 * new generation. 0; -1 with err when the pause file could not be changed; 1 with err (a
 * warning) when it was but its generation could not be: a running server sees the change
 * at its next full check, within a second, rather than with the next alert. */
int srv_state_write_pause(const char *pause_path, int pause, const char *by, const char *reason,
                          char *err, size_t errlen);
/* Removes a route's circuit file. 1 removed, 0 was not open, -1 error. */
int srv_state_remove_circuit(const char *circuit_dir, const char *route, char *err, size_t errlen);

/* Loads SERVE_DIR/spool.key, creating it on first use (O_CREAT | O_EXCL | O_NOFOLLOW, 0600,
 * 32 random bytes). Refuses a key that is not a regular file of ours with mode 0600 or
 * stricter and exactly 32 bytes. 0 or -1 with err (never the key). */
int srv_state_spool_key(const char *serve_dir, unsigned char key[SRV_SPOOL_KEY_LEN], char *err,
                        size_t errlen);

/* A spool entry as stored: "salve-spool-v1 HMAC\n" + json, HMAC the hex HMAC-SHA256 of the
 * first line's tag and the JSON bytes. NULL when out of memory. */
char *srv_state_seal(const unsigned char key[SRV_SPOOL_KEY_LEN], const char *json);
/* Checks a stored entry: returns a pointer to its JSON inside text, or NULL with the reason
 * in err (no header, a MAC that does not verify). */
const char *srv_state_unseal(const unsigned char key[SRV_SPOOL_KEY_LEN], const char *text,
                             size_t len, char *err, size_t errlen);

#endif
