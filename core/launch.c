/* Launch: the one way a run starts (see launch.h). */
#include "launch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "ha/node.h"
#include "host.h"
#include "lock.h"
#include "redact.h"
#include "util.h"

#define MAX_PLUGIN_DIRS 40
#define LOCK_POLL_US    100000

/* ---- the environment ----------------------------------------------------------------------- */

/* Splits a colon list (a copy the env keeps) onto dirs. */
static void add_dirs(const char **dirs, size_t *n, char **copy, const char *list)
{
	*copy = strdup(list);
	char *save = NULL;
	for (char *d = strtok_r(*copy, ":", &save); d && *n + 1 < MAX_PLUGIN_DIRS;
	     d = strtok_r(NULL, ":", &save))
		dirs[(*n)++] = d;
}

int salve_env_open(salve_env *e, const struct salve_cli_globals *g, char *err, size_t errlen)
{
	memset(e, 0, sizeof *e);
	char why[2048];
	if (salve_config_load(g->config_path, &e->cfg, why, sizeof why) < 0) {
		snprintf(err, errlen, "config %s", why);
		salve_config_free(&e->cfg);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	if (g->audit_sync) {
		if (strcmp(g->audit_sync, "always") == 0) {
			e->cfg.audit_sync = SALVE_AUDIT_SYNC_ALWAYS;
		} else if (strcmp(g->audit_sync, "none") == 0) {
			e->cfg.audit_sync = SALVE_AUDIT_SYNC_NONE;
		} else {
			snprintf(err, errlen, "--audit-sync must be always or none, not %s",
			         g->audit_sync);
			salve_config_free(&e->cfg);
			return SALVE_EXIT_USAGE;
		}
	}
	/* Plugin directories: --plugin-path, then $SALVE_PLUGIN_PATH, then the config's. */
	const char *dirs[MAX_PLUGIN_DIRS];
	size_t n = 0;
	if (g->plugin_path)
		add_dirs(dirs, &n, &e->dirs_copy[0], g->plugin_path);
	const char *envp = getenv("SALVE_PLUGIN_PATH");
	if (envp)
		add_dirs(dirs, &n, &e->dirs_copy[1], envp);
	size_t i;
	json_t *d;
	json_array_foreach(e->cfg.plugin_path, i, d) if (n + 1 < MAX_PLUGIN_DIRS) dirs[n++] =
	    json_string_value(d);
	dirs[n] = NULL;
	e->reg = salve_registry_new(dirs, e->cfg.plugins);
	salve_registry_set_config_file(e->reg, e->cfg.path);
	salve_ha_conf *ha = NULL;
	if (salve_ha_conf_parse(json_object_get(e->cfg.doc, "ha"), &ha, why, sizeof why) < 0 ||
	    (ha && !(e->ha = salve_ha_node_new(ha, why, sizeof why)))) {
		snprintf(err, errlen, "config %s: %s", e->cfg.path ? e->cfg.path : "", why);
		salve_registry_free(e->reg);
		salve_config_free(&e->cfg);
		free(e->dirs_copy[0]);
		free(e->dirs_copy[1]);
		return SALVE_EXIT_INVALID_RUNBOOK;
	}
	e->audit_path = g->audit_path ? g->audit_path : e->cfg.audit_path;
	e->state_dir = g->state_dir ? g->state_dir : e->cfg.state_dir;
	return 0;
}

void salve_env_close(salve_env *e)
{
	salve_ha_node_free(e->ha);
	salve_registry_free(e->reg);
	salve_config_free(&e->cfg);
	free(e->dirs_copy[0]);
	free(e->dirs_copy[1]);
	memset(e, 0, sizeof *e);
}

/* ---- one launch ---------------------------------------------------------------------------- */

/* Ends a launch that did not run: res says where and why. Returns the exit status. */
static int refuse(salve_launch_result *res, enum salve_launch_stage stage, int code,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(salve_launch_result *res, enum salve_launch_stage stage, int code,
                  const char *fmt, ...)
{
	char raw[sizeof res->error];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_redact_string(raw, res->error, sizeof res->error);
	res->stage = stage;
	res->exit_code = code;
	return code;
}

static const char *stopped_by(volatile sig_atomic_t *cancel, char *buf, size_t len)
{
	snprintf(buf, len, "interrupted by signal %d", (int)*cancel);
	return buf;
}

/* The params checked against the runbook, and --fail-at naming one of its steps. */
static int check_request(const salve_runbook *rb, const salve_launch_request *rq, json_t **params,
                         salve_launch_result *res)
{
	char err[4096];
	json_t *none = rq->params ? NULL : json_object();
	int rc = salve_runbook_params(rb, rq->params ? rq->params : none, params, err, sizeof err);
	json_decref(none);
	if (rc < 0)
		return refuse(res, SALVE_LAUNCH_PARAMS, SALVE_EXIT_USAGE, "%s: %s", rq->runbook,
		              err);
	if (rq->fail_at && !salve_runbook_step(rb, rq->fail_at, NULL))
		return refuse(res, SALVE_LAUNCH_PARAMS, SALVE_EXIT_USAGE,
		              "--fail-at %s: runbook %s has no such step", rq->fail_at, rb->name);
	return 0;
}

/* Every plugin the runbook uses starts now: bad settings stop the run before step 1. */
static int start_plugins(const salve_env *env, const salve_runbook *rb, salve_launch_result *res)
{
	size_t i;
	json_t *name;
	json_array_foreach(rb->plugins, i, name)
	{
		enum salve_registry_error why;
		char err[2048];
		if (!salve_registry_get(env->reg, json_string_value(name), 1, &why, err,
		                        sizeof err))
			return refuse(res, SALVE_LAUNCH_PLUGIN, SALVE_EXIT_UNAVAILABLE, "%s", err);
	}
	return 0;
}

/* Why a wait for a held lock ends now, or NULL to wait on. */
static const char *stop_waiting(const salve_launch_request *rq, double until, char *how,
                                size_t howlen)
{
	return !rq->lock_wait                  ? "not started"
	       : *rq->cancel                   ? stopped_by(rq->cancel, how, howlen)
	       : until && salve_now() >= until ? "the lock timeout passed"
	                                       : NULL;
}

/* A run refused before it started, audited. Returns the exit status. */
static int refuse_audited(salve_audit *audit, const salve_launch_request *rq,
                          const salve_runbook *rb, salve_launch_result *res,
                          enum salve_launch_stage stage, int code, const char *reason,
                          const char *err, const char *stop)
{
	json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:O?}", "event", "run_refused",
	                        "run", res->run_id, "runbook", rb->name, "reason", reason, "error",
	                        err, "trigger", rq->trigger, "who", rq->who);
	char aerr[512];
	salve_audit_write(audit, rec, aerr, sizeof aerr);
	return refuse(res, stage, code, "%s: %s", err, stop);
}

/* Takes the runbook's lock key, polling so that a cancel stops the wait. */
static int take_lock(const salve_env *env, const salve_launch_request *rq, const char *key,
                     salve_audit *audit, const salve_runbook *rb, salve_lock **lock,
                     salve_launch_result *res)
{
	char err[2048], how[64];
	double until = rq->lock_timeout > 0 ? salve_now() + rq->lock_timeout : 0;
	for (int waited = 0;; waited = 1) {
		enum salve_lock_result lr = salve_lock_acquire(env->state_dir, key, res->run_id, 0,
		                                               0, lock, err, sizeof err);
		if (lr == SALVE_LOCK_ACQUIRED)
			return 0;
		if (lr == SALVE_LOCK_ERROR)
			return refuse(res, SALVE_LAUNCH_LOCK, SALVE_EXIT_CANTCREAT, "%s", err);
		const char *stop = stop_waiting(rq, until, how, sizeof how);
		if (stop)
			return refuse_audited(audit, rq, rb, res, SALVE_LAUNCH_LOCK_BUSY,
			                      SALVE_EXIT_TEMPFAIL, "lock busy", err, stop);
		if (!waited && rq->waiting)
			rq->waiting(rq->ctx, key);
		usleep(LOCK_POLL_US);
	}
}

/* With ha: the run's owner key and its lock in etcd (harun.h), waited for like the local
 * lock; a lock whose holder died mid-run is taken over and that run recovered first. */
static int take_ha(const salve_env *env, const salve_launch_request *rq, const char *key,
                   salve_audit *audit, const salve_runbook *rb, salve_ha_run **out,
                   salve_launch_result *res)
{
	char err[2048], how[64];
	salve_ha_session *s = salve_ha_node_session(env->ha, err, sizeof err);
	if (!s)
		return refuse_audited(audit, rq, rb, res, SALVE_LAUNCH_LOCK, SALVE_EXIT_TEMPFAIL,
		                      "ha unavailable", err, "nothing was run");
	double until = rq->lock_timeout > 0 ? salve_now() + rq->lock_timeout : 0;
	int told_ha = 0;
	for (int waited = 0;; waited = 1) {
		salve_ha_holder h;
		enum salve_ha_start st =
		    salve_ha_run_start(s, salve_ha_node_ident(env->ha), res->run_id,
		                       key[0] ? key : NULL, out, &h, err, sizeof err);
		if (st == SALVE_HA_STARTED)
			return 0;
		if (st == SALVE_HA_ERROR) {
			/* etcd did not answer, or the lease is not confirmed lately (an election,
			 * a member that stopped answering): a run that may wait for its lock waits
			 * for etcd the same way, rather than dropping what was accepted. */
			if (stop_waiting(rq, until, how, sizeof how))
				return refuse_audited(audit, rq, rb, res, SALVE_LAUNCH_LOCK,
				                      SALVE_EXIT_TEMPFAIL, "ha unavailable", err,
				                      "nothing was run");
			if (!told_ha) {
				told_ha = 1;
				salve_log(SALVE_LOG_WARN, "run %s waits for etcd: %s", res->run_id,
				          err);
			}
			double slice = 1.0;
			if (until && until - salve_now() < slice)
				slice = until - salve_now();
			char why[512];
			salve_ha_session_wait(s, slice > 0 ? slice : 0, why, sizeof why);
			continue;
		}
		if (st == SALVE_HA_ORPHAN) {
			int rc =
			    salve_engine_take_over(env->state_dir, env->reg, audit, rq->out,
			                           env->ha, h.run, res->run_id, err, sizeof err);
			if (rc == 2)
				snprintf(err, sizeof err,
				         "lock \"%s\": its previous holder, run %s of replica %s, "
				         "died and "
				         "its rollback needs a human",
				         key, h.run, h.replica);
			if (rc == 2 || rc < 0)
				return refuse_audited(audit, rq, rb, res, SALVE_LAUNCH_LOCK,
				                      rc == 2 ? SALVE_EXIT_ROLLBACK_INCOMPLETE
				                              : SALVE_EXIT_TEMPFAIL,
				                      "previous holder of the lock not recovered",
				                      err, "nothing was run");
			continue;
		}
		snprintf(err, sizeof err, "lock \"%s\" is held by run %s on replica %s%s", key,
		         h.run, h.replica,
		         h.needs_human
		             ? " (its rollback is incomplete: a human must look, then `salve "
		               "recover --resolve` it)"
		             : "");
		const char *stop = stop_waiting(rq, until, how, sizeof how);
		if (stop)
			return refuse_audited(audit, rq, rb, res, SALVE_LAUNCH_LOCK_BUSY,
			                      SALVE_EXIT_TEMPFAIL, "lock busy", err, stop);
		if (!waited && rq->waiting)
			rq->waiting(rq->ctx, key);
		usleep(2 * LOCK_POLL_US);
	}
}

/* With ha, after the run: its keys and lock leave etcd, or stay parked for a human when its
 * rollback is incomplete. While etcd does not answer, the removal is retried as long as the
 * run's lease may still be alive: given up, the keys would stay (and the lock with them) for
 * as long as this process keeps its lease, and another replica could only take the run over
 * once that lease ended. Stopped by the trigger's cancel (a shutdown) or by the lease lost
 * for good (then another replica takes the run over, from what etcd has of its journal). */
static void finish_ha(salve_ha_run *r, const salve_launch_request *rq, const char *run_id, int code)
{
	char err[1024];
	if (!r || salve_ha_run_fenced(r))
		return;
	if (code == SALVE_EXIT_ROLLBACK_INCOMPLETE) {
		if (salve_ha_run_park(r, err, sizeof err) < 0)
			salve_log(SALVE_LOG_WARN, "ha: %s", err);
		return;
	}
	salve_ha_session *s = salve_ha_run_session(r);
	int told = 0, rc;
	while ((rc = salve_ha_run_finish(r, err, sizeof err)) < 0) {
		const char *why = *rq->cancel ? "stopped while waiting"
		                  : salve_ha_session_lost(s, salve_ha_run_lease(r))
		                      ? "its lease is lost: another replica takes the run over"
		                      : NULL;
		if (why) {
			salve_log(SALVE_LOG_WARN, "ha: run %s: its keys stay in etcd (%s): %s",
			          run_id, err, why);
			return;
		}
		if (!told) {
			told = 1;
			salve_log(SALVE_LOG_WARN,
			          "ha: run %s: etcd does not answer (%s): its end is retried until "
			          "it does",
			          run_id, err);
		}
		usleep(5 * LOCK_POLL_US);
	}
	if (told)
		salve_log(SALVE_LOG_INFO, "ha: run %s: its keys left etcd", run_id);
}

/* The engine's options, the same for every trigger. */
static void run_options(const salve_env *env, const salve_launch_request *rq, const json_t *params,
                        salve_audit *audit, const char *target, double run_timeout,
                        const salve_launch_result *res, salve_run_options *o)
{
	memset(o, 0, sizeof *o);
	o->mode = rq->mode;
	o->drill_notify = rq->drill_notify;
	o->fail_at = rq->fail_at;
	o->drill_force = rq->drill_force;
	o->trigger = rq->trigger;
	o->fingerprint = rq->fingerprint;
	o->who = rq->who;
	o->run_id = res->run_id;
	o->step_timeout = rq->step_timeout >= 0 ? rq->step_timeout : env->cfg.step_timeout;
	o->run_timeout = run_timeout;
	o->params = params;
	o->audit = audit;
	o->state_dir = env->state_dir;
	o->out = rq->out;
	o->cancel = rq->cancel;
	o->on_event = rq->on_event;
	o->approve = rq->approve;
	o->approve_all = rq->approve_all;
	o->lifecycle = json_object_get(json_object_get(env->cfg.doc, "lifecycle"), "notify");
	o->target = target;
	o->replay = rq->replay;
	o->ctx = rq->ctx;
}

/* From a loaded runbook to the engine's summary. */
static int launch_loaded(const salve_env *env, const salve_launch_request *rq, salve_runbook *rb,
                         double run_timeout, salve_launch_result *res)
{
	json_t *params = NULL;
	salve_audit *audit = rq->audit;
	salve_lock *lock = NULL;
	salve_ha_run *ha = NULL;
	char err[4096], how[64];
	int code;
	if ((code = check_request(rb, rq, &params, res)) ||
	    (!rq->replay && (code = start_plugins(env, rb, res))))
		goto out;
	if (!audit &&
	    !(audit = salve_audit_open(env->audit_path, env->cfg.audit_sync, err, sizeof err))) {
		code = refuse(res, SALVE_LAUNCH_AUDIT, SALVE_EXIT_CANTCREAT, "%s", err);
		goto out;
	}
	char key[1024] = "";
	if (rb->lock && salve_lock_key(rb->lock, params, key, sizeof key, err, sizeof err) < 0) {
		code =
		    refuse(res, SALVE_LAUNCH_PARAMS, SALVE_EXIT_USAGE, "%s: %s", rq->runbook, err);
		goto out;
	}
	if (key[0] && rq->mode != SALVE_MODE_DRY_RUN &&
	    (code = take_lock(env, rq, key, audit, rb, &lock, res)))
		goto out;
	if (env->ha && rq->mode != SALVE_MODE_DRY_RUN && !rq->replay &&
	    (code = take_ha(env, rq, key, audit, rb, &ha, res)))
		goto out;
	if (*rq->cancel) {
		code = refuse(res, SALVE_LAUNCH_LOAD, SALVE_EXIT_ROLLED_BACK,
		              "%s before %s started: nothing was run",
		              stopped_by(rq->cancel, how, sizeof how), rq->runbook);
		goto out;
	}
	if (rq->running)
		rq->running(rq->ctx, rb);
	salve_run_options o;
	run_options(env, rq, params, audit,
	            rq->target ? rq->target
	            : key[0]   ? key
	                       : NULL,
	            run_timeout, res, &o);
	o.ha = ha;
	code = salve_engine_run(rb, &o, &res->summary);
	res->stage = SALVE_LAUNCH_RAN;
	res->exit_code = code;
out:
	if (ha) /* when nothing ran, its owner key and lock go back the same way */
		finish_ha(ha, rq, res->run_id, res->stage == SALVE_LAUNCH_RAN ? code : 0);
	salve_ha_run_free(ha);
	salve_lock_release(lock);
	if (audit != rq->audit)
		salve_audit_close(audit);
	json_decref(params);
	return code;
}

int salve_launch(const salve_env *env, const salve_launch_request *rq, salve_launch_result *res)
{
	memset(res, 0, sizeof *res);
	if (rq->run_id)
		snprintf(res->run_id, sizeof res->run_id, "%s", rq->run_id);
	else
		salve_random_id(res->run_id, sizeof res->run_id);
	/* The runbook's top level runs under the run timeout too (then the steps get theirs),
	 * and the trigger's cancel stops it. */
	double run_timeout = rq->run_timeout > 0 ? rq->run_timeout : env->cfg.run_timeout;
	salve_load_options lo = {run_timeout > 0 ? salve_now() + run_timeout : 0, rq->cancel};
	char err[4096], how[64];
	int code;
	salve_runbook *rb =
	    salve_runbook_load_with(rq->runbook, env->reg, &lo, &code, err, sizeof err);
	if (!rb)
		return refuse(res, SALVE_LAUNCH_LOAD, code, "%s", err);
	if (*rq->cancel) {
		code = refuse(res, SALVE_LAUNCH_LOAD, SALVE_EXIT_ROLLED_BACK,
		              "%s while loading %s: nothing was run",
		              stopped_by(rq->cancel, how, sizeof how), rq->runbook);
	} else {
		if (rq->loaded)
			rq->loaded(rq->ctx, rb);
		code = launch_loaded(env, rq, rb, run_timeout, res);
	}
	salve_runbook_free(rb);
	return code;
}
