/*
 * A stand-in for the salve core, so a plugin is unit-tested with cmocka alone: no Lua, no
 * engine, no dlopen. It implements every salve_host service, records what the plugin
 * logged, audited and failed with, and calls actions the way the core does (validating the
 * mode rules too: in dry-run it refuses to call apply, and tests assert that).
 *
 * Ownership: results returned through json_t ** are the caller's (json_decref them).
 * Strings returned by mock_* accessors are borrowed until the next mock_reset()/call.
 * Not thread-safe: one test thread.
 */
#ifndef SALVE_MOCK_HOST_H
#define SALVE_MOCK_HOST_H

#include <salve/plugin.h>

/* Initialise plugin p with a JSON configuration text ("{}" when NULL). Returns init's status;
 * on failure mock_last_error() holds init's err text. */
int mock_init(const salve_plugin *p, const char *config_json);
/* Before mock_init: hand the plugin the host table as a host of ABI 1.minor has it (1.0: no
 * progress; 1.1: no register_secret or observed). For the next mock_init only. */
void mock_set_host_abi(unsigned minor);
void mock_fini(void);

void mock_set_mode(enum salve_mode mode);
void mock_set_drill(int drill);
void mock_set_remaining(double seconds);
void mock_set_cancelled(int cancelled);
void mock_set_run_info(const char *key, const char *value); /* run_id, runbook, step, ... */

/* Find an action of the initialised plugin; NULL when it has none by that name. */
const salve_action *mock_action(const char *name);

/* Each parses args_json (an object), calls the named action's callback and returns its
 * status. A missing action or callback fails the test.
 *
 * As in the core, what mock_check returns as observed when it finds a change needed
 * (SALVE_OK) is what host->observed() gives the plan or apply called next for the same action
 * with the same args; any other call in between forgets it, and a plan or apply without such
 * a check sees NULL (as from a host that has no observed service). */
int mock_check(const char *action, const char *args_json, json_t **observed);
int mock_plan(const char *action, const char *args_json, json_t **predicted);
int mock_apply(const char *action, const char *args_json, json_t **result, json_t **undo);
/* A mutate action as the core runs it: check; when it holds, *result is check's observed
 * marked changed=false and the status SALVE_HOLDS; otherwise plan (dry-run) or apply, with
 * check's observed, marked changed (and planned) as the core marks them. undo may be NULL
 * (the record is dropped). */
int mock_exec(const char *action, const char *args_json, json_t **result, json_t **undo);
/* A read or notify action's run. A mutate action goes through mock_exec (undo dropped). */
int mock_run(const char *action, const char *args_json, json_t **result);
int mock_undo(const char *action, const json_t *undo);
int mock_render(const char *action, const char *args_json, json_t **message);

/* What the last call reported through host->fail(); "" when nothing. */
const char *mock_last_error(void);
/* Every log line so far, newline-separated. */
const char *mock_logs(void);
/* Every audit event so far: [{"event": ..., "data": ...}, ...] (borrowed). */
const json_t *mock_audit_events(void);
/* Secrets resolved through host->secret() so far, for asserting they were not leaked. */
const json_t *mock_secrets_seen(void);
/* 1 when the core would now redact value: the plugin registered it (host->register_secret)
 * or resolved it through host->secret(). Since mock_init, across mock_reset_records(). */
int mock_is_registered(const char *value);
void mock_reset_records(void);

#endif
