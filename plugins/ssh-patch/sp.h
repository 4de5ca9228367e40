/*
 * ssh-patch plugin internals (not a public header; the plugin's ABI is plugin.h).
 *
 * Layers, each in its own file:
 *   util.c       byte buffers, POSIX shell quoting, durations, small JSON helpers
 *   inventory.c  Ansible-style YAML inventory and host patterns
 *   engine.c     running one command on many hosts at once: libssh2 sessions multiplexed
 *                with poll(2) (or a thread pool, see README), local fork/exec, known_hosts,
 *                the connection cache
 *   act_*.c      the actions
 *
 * Ownership: a struct sp_inventory owns its hosts; a struct sp_cmd owns its argv/shell/input
 * and output buffers (sp_cmds_free releases them) and borrows its host from the inventory.
 * Thread-safety: everything works on the caller's data except the connection cache in
 * struct sp_state, which its own mutex guards.
 */
#ifndef SALVE_SSH_PATCH_SP_H
#define SALVE_SSH_PATCH_SP_H

#include <salve/plugin.h>

#include <pthread.h>
#include <stddef.h>

/* The host services table, kept from init (it lives as long as the process). */
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

/* ---- engine.c -------------------------------------------------------------------------- */

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

struct sp_job; /* engine-private per-command state */

/* A remote command that waits (for a package manager's lock) says so on stderr with a line
 * starting with this; the engine hands each such line to host->progress while the command
 * runs, as "HOST: waiting for ...". */
#define SP_WAIT_LINE_PREFIX "salve: waiting for "

/* One command on one host. The caller fills the inputs, the engine the outputs. */
struct sp_cmd {
	const struct sp_host *host; /* borrowed from the inventory */
	json_t *argv;               /* owned: array of strings; or NULL when shell is set */
	char *shell;                /* owned: a shell command line */
	char *input;                /* owned: bytes written to the command's stdin, may be NULL */
	size_t input_len;
	/* owned, may be NULL: {NAME: value} the command's environment gets. A local command's
	 * environment is only PATH, LANG=C and these, never salve's own (it holds secrets). */
	json_t *env;
	double timeout; /* seconds for the command itself; 0 = the plugin default */

	int ran;            /* the command ran to completion: rc, out and err are meaningful */
	int rc;             /* exit status, 128+N when killed by signal N */
	struct sp_buf out;  /* stdout */
	struct sp_buf err;  /* stderr */
	double duration;    /* seconds, connect included */
	int error_kind;     /* enum sp_error_kind */
	char error[512];    /* "" or why it did not run, naming host, port and cause */
	json_t *key_added;  /* accept_new added this host key: audit data (owned) */
	struct sp_job *job; /* engine-private while running */
};

struct sp_config {
	char *inventory;
	char *known_hosts;
	int accept_new;
	int use_agent;
	char *user;
	char *private_key_file;
	char *passphrase; /* resolved secret; never logged */
	long forks;
	double connect_timeout;
	double command_timeout;
	size_t max_output;
	json_t *apt_options; /* array of strings */
	json_t *dnf_options; /* array of strings */
	char *reboot_command;
	char *systemctl;
	int refresh;
	int threads;         /* engine: 1 = thread pool, 0 = poll multiplexing */
	double lock_timeout; /* seconds to wait for apt/dpkg/dnf/yum locks (hosts may override) */
};

struct sp_conn; /* a cached SSH session */

struct sp_state {
	struct sp_config cfg;
	pthread_mutex_t lock; /* guards cache and known_hosts appends */
	struct sp_conn *cache;
	size_t ncached;
};

struct sp_state *sp_state_of(salve_call *call);

/* The command line sent to an SSH host (argv quoted, or the shell text), with sudo when the
 * host asks for become and `env -- NAME=value` for a declared environment. malloc'd. */
char *sp_cmd_line(const struct sp_cmd *c);

/* Run every command, at most forks at once, each bounded by its connect and command timeouts
 * and by the step's deadline. Per-host outcomes land in each cmd. Returns SALVE_OK, or
 * SALVE_ERR_CANCELED / SALVE_ERR_TIMEOUT when the run was cancelled or the step's deadline
 * passed (the hosts not finished then carry that error). Audits accepted host keys. */
int sp_run(salve_call *call, struct sp_cmd *cmds, size_t n, long forks, double connect_timeout);

/* Close and forget cached sessions to a host (after a reboot). */
void sp_conn_forget(struct sp_state *st, const struct sp_host *h);
void sp_conn_close_all(struct sp_state *st);

void sp_cmds_free(struct sp_cmd *cmds, size_t n);

/* ---- common action helpers (act_common.c) ---------------------------------------------- */

/* What every fan-out action takes: the selected hosts and its run options. */
struct sp_target {
	struct sp_inventory *inv;
	size_t *idx; /* selected host indexes */
	size_t n;
	long forks;
	double connect_timeout;
	double timeout; /* command timeout */
};

/* Resolve hosts= (and inventory=, forks=, timeout=, connect_timeout=) from args. On failure
 * reports through fail() and returns SALVE_ERR_INVALID / SALVE_ERR_NOTFOUND. */
int sp_target_open(salve_call *call, const json_t *args, struct sp_target *t);
void sp_target_close(struct sp_target *t);

/* A cmds array for the selected hosts, each with argv = a copy of argv (a JSON array). */
struct sp_cmd *sp_cmds_for(const struct sp_target *t, const json_t *argv);
/* The same script on every host: argv = sh -c SCRIPT salve ARGS... */
struct sp_cmd *sp_cmds_script(const struct sp_target *t, const char *script, const json_t *args);
void sp_cmd_set_script(struct sp_cmd *c, const char *script, const json_t *args);

/* True when the command ran and exited 0. */
int sp_cmd_ok(const struct sp_cmd *c);
/* The per-host result object {rc, stdout, stderr, duration, changed, error}. */
json_t *sp_cmd_result(const struct sp_cmd *c, int changed);
/* A short reason for a failed host: its error, or "exit status N: <last stderr line>". */
void sp_cmd_reason(const struct sp_cmd *c, char *out, size_t outlen);

/* {hosts = {}, ok = 0, failed = 0} */
json_t *sp_result_new(void);
/* Put a host's object into result.hosts and count it ok or failed. */
void sp_result_put(json_t *result, const char *host, json_t *host_result, int failed);

/* ---- package managers (pkg.c) ---------------------------------------------------------- */

struct sp_pkg {
	char *name;
	char *from; /* NULL when not installed */
	char *to;
};

struct sp_pkglist {
	char manager[8]; /* "apt", "dnf", "yum" or "" */
	struct sp_pkg *pkgs;
	size_t n;
};

void sp_pkglist_free(struct sp_pkglist *l);
/* Parse `apt-get -s` output: Inst lines. */
int sp_parse_apt_sim(const char *text, struct sp_pkglist *out);
/* Parse `dnf|yum check-update` output plus an `rpm -qa` listing of NAME.ARCH E:V-R lines. */
int sp_parse_dnf(const char *check_update, const char *rpmqa, struct sp_pkglist *out);
/* Parse the output of the pending script (a marker line, then the tool's output). */
int sp_parse_pending(const char *text, struct sp_pkglist *out, char *err, size_t errlen);
json_t *sp_pkglist_json(const struct sp_pkglist *l);

#endif
