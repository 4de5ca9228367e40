/*
 * ssh-patch actions: the plugin's configuration and state, shared helpers, and the callbacks
 * plugin.c puts in its action table. Actions reach hosts through the fan-out (fanout.h).
 */
#ifndef SALVE_SSH_PATCH_ACT_H
#define SALVE_SSH_PATCH_ACT_H

#include "fanout.h"

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

/* What init stores: the configuration and the fan-out (whose settings borrow cfg's strings). */
struct sp_state {
	struct sp_config cfg;
	struct sp_fanout fanout;
};

/* The state init stored, for this call. */
struct sp_state *sp_state_of(salve_call *call);

/* sp_fanout_run for an action: the step's time left, cancellation and progress lines from the
 * host, accepted host keys audited. forks and connect_timeout <= 0 mean the settings'. */
int sp_run(salve_call *call, struct sp_cmd *cmds, size_t n, long forks, double connect_timeout);

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

/* Report "ACTION: k of n hosts failed: reasons..." through fail(); returns SALVE_ERR.
 * failed[i] marks failed hosts; NULL means "every cmd that did not exit 0". */
int sp_fail_hosts(salve_call *call, const char *action, const struct sp_cmd *cmds, size_t n,
                  const unsigned char *failed);

/* A host's connection details as JSON, kept in undo records so undo reaches the same host
 * even when it runs in another process with another inventory. */
json_t *sp_host_json(const struct sp_host *h);
int sp_host_from_json(const json_t *o, struct sp_host *h);
void sp_host_clear(struct sp_host *h);

/* An undo record's hosts: {"hosts": {name: {"host": {...}, ...}}}. */
struct sp_undo_hosts {
	struct sp_host *hosts;
	const json_t **entries; /* borrowed from the record */
	size_t n;
};
int sp_undo_hosts_open(salve_call *call, const json_t *undo, struct sp_undo_hosts *u);
void sp_undo_hosts_close(struct sp_undo_hosts *u);

/* User values that reach remote commands, checked before anything runs. 1 when valid; else 0
 * with why filled. A unit name follows systemd's grammar (NAME[@INSTANCE][.TYPE], letters,
 * digits and :-_.\@, at most 255 bytes) and never starts with '-'. A path is absolute and
 * normalized: no empty, '.' or '..' components, no trailing '/', no control characters. */
int sp_valid_unit_name(const char *s, char *why, size_t whylen);
int sp_valid_path(const char *p, char *why, size_t whylen);

/* Commands on a set of hosts (borrowed). */
struct sp_cmd *sp_cmds_on(const struct sp_host *const *hosts, size_t n, double timeout);

/* The reboot-and-wait routine shared by reboot and patch: reboots hosts[i] where
 * want[i], waits up to wait seconds for a new boot id over SSH. ok[i] is set for each host
 * that came back; why[i] (malloc'd) explains the others. Returns SALVE_OK or a run-level
 * error (cancelled, the step's deadline). */
int sp_reboot_hosts(salve_call *call, const struct sp_host *const *hosts, size_t n,
                    const unsigned char *want, double wait, double connect_timeout, long forks,
                    unsigned char *ok, char **why);

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

/* Package manager scripts (pkg.c). */
char *sp_pending_script_for(const struct sp_config *cfg, const struct sp_host *h, int refresh,
                            const json_t *packages);
char *sp_upgrade_script_for(const struct sp_config *cfg, const struct sp_host *h,
                            const struct sp_pkglist *l);
/* NULL when the record names no known manager or a malformed transaction id. */
char *sp_downgrade_script_for(const struct sp_config *cfg, const struct sp_host *h,
                              const json_t *entry);
char *sp_reboot_required_script(void);
/* A script that only waits, as the package scripts do, for the locks on files (a JSON array of
 * paths): kind "lock" (fcntl/flock locks, from /proc/locks) or "pid" (pid files of dnf/yum).
 * Exits 0 once free, 75 after bound seconds. Exposed for tests. */
char *sp_lock_wait_script(double bound, const char *kind, const char *label, const json_t *files);

/* exec / query */
int sp_exec_check(salve_call *call, const json_t *args, json_t **observed);
int sp_exec_plan(salve_call *call, const json_t *args, json_t **predicted);
int sp_exec_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int sp_exec_undo(salve_call *call, const json_t *undo);
int sp_query_run(salve_call *call, const json_t *args, json_t **result);

/* pending / patch */
int sp_pending_run(salve_call *call, const json_t *args, json_t **result);
int sp_patch_check(salve_call *call, const json_t *args, json_t **observed);
int sp_patch_plan(salve_call *call, const json_t *args, json_t **predicted);
int sp_patch_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int sp_patch_undo(salve_call *call, const json_t *undo);

/* reboot */
int sp_reboot_check(salve_call *call, const json_t *args, json_t **observed);
int sp_reboot_plan(salve_call *call, const json_t *args, json_t **predicted);
int sp_reboot_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int sp_reboot_undo(salve_call *call, const json_t *undo);

/* ensure_line */
int sp_line_check(salve_call *call, const json_t *args, json_t **observed);
int sp_line_plan(salve_call *call, const json_t *args, json_t **predicted);
int sp_line_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int sp_line_undo(salve_call *call, const json_t *undo);
/* The lineinfile edit, exposed for unit tests: the new content (malloc'd, *newlen) for old
 * content; *changed says whether it differs; *what describes the edit (static string).
 * Returns -1 when regexp does not compile (err filled). */
char *sp_line_edit(const char *old, size_t oldlen, const char *line, const char *regexp,
                   size_t *newlen, int *changed, const char **what, char *err, size_t errlen);

/* service */
int sp_service_check(salve_call *call, const json_t *args, json_t **observed);
int sp_service_plan(salve_call *call, const json_t *args, json_t **predicted);
int sp_service_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo);
int sp_service_undo(salve_call *call, const json_t *undo);

#endif
