/* ssh-patch actions: shared helpers and the callbacks plugin.c puts in its action table. */
#ifndef SALVE_SSH_PATCH_ACT_H
#define SALVE_SSH_PATCH_ACT_H

#include "sp.h"

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
