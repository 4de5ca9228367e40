/*
 * Fan-out: one command on many hosts at once, over non-blocking libssh2 sessions multiplexed
 * with poll(2) (or a thread pool) and local child processes, with known_hosts checks and a
 * session cache. Three files: fanout_conn.c (sessions: cache, TCP, handshake, host key,
 * auth), fanout_exec.c (a command on a session or a local process), fanout.c (the drivers).
 *
 * A layer of its own: it knows nothing of the plugin's configuration, actions or the host
 * services. The caller passes the settings (struct sp_fanout_settings), the time left and
 * hooks for cancellation and progress (struct sp_fanout_run); the hooks are only called from
 * the thread that called sp_fanout_run.
 *
 * Ownership: a struct sp_cmd owns its argv/shell/input/env and its outputs (sp_cmds_free
 * releases them) and borrows its host. A struct sp_fanout borrows the settings' strings (they
 * must outlive it) and owns its cached sessions.
 * Thread-safety: several sp_fanout_run may run at once on one struct sp_fanout, each with its
 * own cmds: the session cache and known_hosts appends are under its mutex.
 */
#ifndef SALVE_SSH_PATCH_FANOUT_H
#define SALVE_SSH_PATCH_FANOUT_H

#include "sp.h"

#include <pthread.h>

enum sp_error_kind {
	SP_E_NONE = 0,
	SP_E_CONNECT,   /* TCP, DNS, SSH handshake */
	SP_E_HOSTKEY,   /* unknown or changed host key: refused */
	SP_E_AUTH,      /* no key or agent identity was accepted */
	SP_E_TIMEOUT,   /* connect or command timeout, or the step's deadline */
	SP_E_CANCELLED, /* the run was cancelled */
	SP_E_IO,        /* the session broke during the command */
	SP_E_LOCAL,     /* local spawn failed */
};

struct sp_job; /* the fan-out's per-command state */

/* A remote command that waits (for a package manager's lock) says so on stderr with a line
 * starting with this; the fan-out hands each such line to the progress hook while the
 * command runs. */
#define SP_WAIT_LINE_PREFIX "salve: waiting for "

/* One command on one host. The caller fills the inputs, the fan-out the outputs. */
struct sp_cmd {
	const struct sp_host *host; /* borrowed from the inventory */
	json_t *argv;               /* owned: array of strings; or NULL when shell is set */
	char *shell;                /* owned: a shell command line */
	char *input;                /* owned: bytes written to the command's stdin, may be NULL */
	size_t input_len;
	/* owned, may be NULL: {NAME: value} the command's environment gets. A local command's
	 * environment is only PATH, LANG=C and these, never salve's own (it holds secrets). */
	json_t *env;
	double timeout; /* seconds for the command itself; 0 = the settings' command_timeout */

	int ran;            /* the command ran to completion: rc, out and err are meaningful */
	int rc;             /* exit status, 128+N when killed by signal N */
	struct sp_buf out;  /* stdout */
	struct sp_buf err;  /* stderr */
	double duration;    /* seconds, connect included */
	int error_kind;     /* enum sp_error_kind */
	char error[512];    /* "" or why it did not run, naming host, port and cause */
	json_t *key_added;  /* accept_new added this host key: audit data (owned) */
	struct sp_job *job; /* the fan-out's while running */
};

/* How the fan-out connects. Strings are borrowed for the fan-out's life. */
struct sp_fanout_settings {
	const char *known_hosts;      /* OpenSSH known_hosts file */
	int accept_new;               /* append unknown host keys (changed keys are refused) */
	int use_agent;                /* try ssh-agent identities after the key file */
	const char *user;             /* when the host names none */
	const char *private_key_file; /* when the host names none; may be NULL */
	const char *passphrase;       /* of the key files; may be NULL; never logged */
	long forks;                   /* hosts worked on at once */
	double connect_timeout;       /* seconds */
	double command_timeout;       /* seconds */
	size_t max_output;            /* bytes kept of each stdout and stderr */
	int threads;                  /* 1: a thread pool drives the jobs; 0: poll(2) */
};

struct sp_conn; /* a cached SSH session */

struct sp_fanout {
	struct sp_fanout_settings set;
	pthread_mutex_t lock; /* guards cache and known_hosts appends */
	struct sp_conn *cache;
	size_t ncached;
};

void sp_fanout_init(struct sp_fanout *fo, const struct sp_fanout_settings *set);
/* Closes every cached session (a bounded goodbye each) and releases the fan-out. */
void sp_fanout_destroy(struct sp_fanout *fo);
/* Close and forget cached sessions to a host (after a reboot). */
void sp_fanout_forget(struct sp_fanout *fo, const struct sp_host *h);

/* One fan-out's limits and hooks. */
struct sp_fanout_run {
	long forks;             /* <= 0: the settings' forks */
	double connect_timeout; /* <= 0: the settings' connect_timeout */
	double remaining;       /* seconds before the step's deadline; HUGE_VAL: none */
	/* 1 once the run is cancelled; polled about every 250 ms. */
	int (*cancelled)(void *ctx);
	/* A wait line from host (raw remote bytes, without "salve: "; escape before showing). */
	void (*progress)(void *ctx, const char *host, const char *line);
	void *ctx;
};

/* Run every command, at most forks at once, each bounded by its connect and command timeouts
 * and by the step's deadline. Per-host outcomes land in each cmd (cmds[i].key_added says
 * that accept_new recorded a host key: the caller audits it). Returns SALVE_OK, or
 * SALVE_ERR_CANCELED / SALVE_ERR_TIMEOUT when the run was cancelled or the step's deadline
 * passed (the hosts not finished then carry that error), or SALVE_ERR when out of memory. */
int sp_fanout_run(struct sp_fanout *fo, const struct sp_fanout_run *run, struct sp_cmd *cmds,
                  size_t n);

/* The command line sent to an SSH host (argv quoted, or the shell text), with sudo when the
 * host asks for become and `env -- NAME=value` for a declared environment. malloc'd; NULL
 * when argv is not a list of strings. */
char *sp_cmd_line(const struct sp_cmd *c);

void sp_cmds_free(struct sp_cmd *cmds, size_t n);

#endif
