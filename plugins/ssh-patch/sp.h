/*
 * ssh-patch plugin internals (not a public header; the plugin's ABI is plugin.h).
 *
 * Layers, each in its own files; each depends only on the ones below it:
 *   plugin.c     the descriptor, configuration, init/fini                      (act.h)
 *   act_*.c      the actions, and pkg.c the package managers' scripts          (act.h)
 *   fanout*.c    one command on many hosts at once: libssh2 sessions multiplexed
 *                with poll(2) (or a thread pool, see README), local processes,
 *                known_hosts, the session cache                                 (fanout.h)
 *   inventory.c  Ansible-style YAML inventory and host patterns                 (this file)
 *   util.c       byte buffers, POSIX shell quoting, durations, small JSON helpers, the
 *                host services table and escaped messages through it          (this file)
 *
 * Ownership: a struct sp_inventory owns its hosts.
 * Thread-safety: everything here works on the caller's data.
 */
#ifndef SALVE_SSH_PATCH_SP_H
#define SALVE_SSH_PATCH_SP_H

#include <salve/plugin.h>

#include <stddef.h>

/* The host services table: plugin.c's init sets it (it lives as long as the process). */
extern const salve_host *sp_api;

/* ---- util.c ---------------------------------------------------------------------------- */

struct sp_buf {
	char *data; /* NUL-terminated (the NUL is not counted in len) */
	size_t len;
	size_t cap;
	size_t limit;  /* 0 = unlimited; bytes past it are dropped and truncated set */
	int truncated; /* 1 when bytes were dropped */
};

int sp_buf_add(struct sp_buf *b, const void *data, size_t n);
int sp_buf_addstr(struct sp_buf *b, const char *s);
int sp_buf_printf(struct sp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sp_buf_free(struct sp_buf *b);
/* Hand the data to the caller (malloc'd, NUL-terminated, never NULL) and reset the buffer. */
char *sp_buf_take(struct sp_buf *b);

/* Append s quoted for a POSIX shell: '...' with each ' written as '\''. Every byte but NUL
 * survives, including newlines, $, `, \ and quotes. */
int sp_shell_quote(struct sp_buf *b, const char *s);
/* Quote each element of a JSON array of strings, space-separated. -1 when an element is
 * not a string. */
int sp_shell_join(struct sp_buf *b, const json_t *argv);

/* A duration in the project's one grammar (duration.h) -> seconds. -1 on a malformed value;
 * def when v is NULL or null. */
double sp_duration(const json_t *v, double def);
/* Whole seconds (rounded up) as people write them: "10m", "90s", "2h". */
void sp_duration_text(double seconds, char *out, size_t outlen);
/* Accepts JSON true/false, or strings true/false/yes/no/on/off/1/0. def when missing or
 * unrecognised. */
int sp_bool(const json_t *v, int def);
/* Accepts an integer or a decimal string; def when missing, -1 when malformed. */
long sp_long(const json_t *v, long def);

/* A JSON string from arbitrary bytes: invalid UTF-8 sequences become U+FFFD. */
json_t *sp_json_bytes(const char *data, size_t len);

/* Append bytes for people to read (errors, logs, progress lines): C0 controls, DEL and bytes
 * that are not UTF-8 become \xHH, C1 controls (U+0080..U+009F) become \u00HH, so no remote
 * output can move a terminal's cursor, recolour or overwrite a line. Everything else is kept;
 * the result is valid UTF-8. */
int sp_buf_add_escaped(struct sp_buf *b, const char *data, size_t len);
/* The same into a fixed buffer, cut at outlen (never inside a UTF-8 sequence). */
void sp_escape_into(char *out, size_t outlen, const char *s);
/* host->fail, host->log and host->progress with the formatted text escaped as above. Every
 * message this plugin builds goes through these. */
void sp_fail(salve_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sp_log(salve_call *call, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sp_progress(salve_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* printf into a new malloc'd string (NULL when out of memory). */
char *sp_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic clock in seconds. */
double sp_now(void);

/* Base64 (standard alphabet, padded) of data; malloc'd. Decode returns malloc'd bytes and
 * sets *outlen, NULL on malformed input. */
char *sp_base64(const void *data, size_t len);
unsigned char *sp_unbase64(const char *s, size_t *outlen);
/* Lower-case hex SHA-256 of data into out[65]. */
void sp_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- inventory.c ----------------------------------------------------------------------- */

struct sp_host {
	char *name;          /* inventory name */
	char *address;       /* ansible_host, else the name */
	int port;            /* ansible_port, else 22 */
	char *user;          /* ansible_user / ansible_ssh_user; NULL -> the plugin's default */
	char *key_file;      /* ansible_ssh_private_key_file; NULL -> the plugin's default */
	int local;           /* ansible_connection: local */
	int become;          /* ansible_become: commands run through `sudo -n --` */
	double lock_timeout; /* salve_lock_timeout in seconds; < 0: the plugin's lock_timeout */
	json_t *vars;        /* every variable that applies, merged Ansible-style (owned) */
};

struct sp_inventory {
	struct sp_host *hosts; /* in order of first appearance */
	size_t nhosts;
	json_t *groups; /* group name -> array of host indexes (all members, children included) */
	/* No inventory is configured: `localhost` resolves to a local-connection host. With an
	 * inventory, only the hosts it names exist. */
	int implicit_localhost;
};

/* Load an inventory file. A NULL or empty path gives an empty inventory in which `localhost`
 * is implicit. Returns NULL with err filled. */
struct sp_inventory *sp_inventory_load(const char *path, char *err, size_t errlen);
/* Parse inventory YAML text (for tests and for load). */
struct sp_inventory *sp_inventory_parse(const char *yaml, size_t len, const char *origin, char *err,
                                        size_t errlen);
void sp_inventory_free(struct sp_inventory *inv);
/* Resolve an Ansible host pattern. On success returns a malloc'd array of host indexes in
 * inventory order and sets *n (when inv->implicit_localhost, a local `localhost` is added when
 * the pattern names it). NULL with err filled when a term matches nothing or the pattern is
 * malformed. */
size_t *sp_inventory_select(struct sp_inventory *inv, const char *pattern, size_t *n, char *err,
                            size_t errlen);

#endif
