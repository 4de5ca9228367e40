/*
 * service: systemd units started, stopped or restarted (systemctl). check asks
 * `systemctl is-active`; undo puts back the active state each changed host had. A restart
 * leaves nothing to put back, so its undo succeeds without doing anything.
 */
#include "act.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum want { WANT_STARTED, WANT_STOPPED, WANT_RESTARTED };

static int service_args_get(salve_call *call, const json_t *args, const char **name,
                            enum want *want)
{
	*name = json_string_value(json_object_get(args, "name"));
	const char *state = json_string_value(json_object_get(args, "state"));
	char why[200];
	if (!sp_valid_unit_name(*name, why, sizeof why)) {
		sp_fail(call,
		        "service: name '%s' is not a systemd unit name: %s (e.g. nginx.service)",
		        *name ? *name : "", why);
		return SALVE_ERR_INVALID;
	}
	if (state && strcmp(state, "started") == 0)
		*want = WANT_STARTED;
	else if (state && strcmp(state, "stopped") == 0)
		*want = WANT_STOPPED;
	else if (state && strcmp(state, "restarted") == 0)
		*want = WANT_RESTARTED;
	else {
		sp_fail(call, "service: state must be started, stopped or restarted");
		return SALVE_ERR_INVALID;
	}
	return SALVE_OK;
}

static json_t *systemctl_argv(const struct sp_config *cfg, const char *verb, const char *unit)
{
	/* "--": nothing the unit name holds can be read as an option. */
	return json_pack("[s, s, s, s]", cfg->systemctl, verb, "--", unit);
}

/* `systemctl is-active` on every host: state[i] is what it printed ("active", "inactive",
 * "failed", ...), NULL when the host could not be asked. */
static int service_states(salve_call *call, const struct sp_target *t, const char *unit,
                          struct sp_cmd **cmds_out, char ***states_out)
{
	json_t *argv = systemctl_argv(&sp_state_of(call)->cfg, "is-active", unit);
	struct sp_cmd *cmds = sp_cmds_for(t, argv);
	json_decref(argv);
	int rc = sp_run(call, cmds, t->n, t->forks, t->connect_timeout);
	char **states = calloc(t->n + 1, sizeof *states);
	for (size_t i = 0; i < t->n; i++) {
		if (!cmds[i].ran || !cmds[i].out.data)
			continue;
		size_t len = strcspn(cmds[i].out.data, "\n");
		if (len > 0)
			states[i] = strndup(cmds[i].out.data, len);
	}
	*cmds_out = cmds;
	*states_out = states;
	return rc;
}

static int needs_change(enum want want, const char *state)
{
	if (want == WANT_RESTARTED)
		return 1;
	int active = strcmp(state, "active") == 0 || strcmp(state, "reloading") == 0 ||
	             strcmp(state, "activating") == 0;
	return want == WANT_STARTED ? !active : (active || strcmp(state, "deactivating") == 0);
}

static void states_free(char **states, size_t n)
{
	for (size_t i = 0; states && i < n; i++)
		free(states[i]);
	free(states);
}

static int states_fail(salve_call *call, const struct sp_cmd *cmds, char **states, size_t n)
{
	unsigned char *failed = calloc(n + 1, 1);
	for (size_t i = 0; i < n; i++)
		failed[i] = states[i] == NULL;
	int rc = sp_fail_hosts(call, "service (is-active)", cmds, n, failed);
	free(failed);
	return rc;
}

int sp_service_check(salve_call *call, const json_t *args, json_t **observed)
{
	const char *unit;
	enum want want;
	int rc = service_args_get(call, args, &unit, &want);
	if (rc != SALVE_OK)
		return rc;
	struct sp_target t;
	if ((rc = sp_target_open(call, args, &t)) != SALVE_OK)
		return rc;
	struct sp_cmd *cmds;
	char **states;
	rc = service_states(call, &t, unit, &cmds, &states);
	int failed = 0, change = 0;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		failed |= states[i] == NULL;
		change |= states[i] && needs_change(want, states[i]);
		json_t *hr = sp_cmd_result(&cmds[i], 0);
		json_object_set_new(hr, "state", states[i] ? json_string(states[i]) : json_null());
		sp_result_put(res, cmds[i].host->name, hr, states[i] == NULL);
	}
	if (rc == SALVE_OK && failed)
		rc = states_fail(call, cmds, states, t.n);
	else if (rc == SALVE_OK && !change)
		rc = SALVE_HOLDS;
	if (rc == SALVE_OK || rc == SALVE_HOLDS)
		*observed = res;
	else
		json_decref(res);
	states_free(states, t.n);
	sp_cmds_free(cmds, t.n);
	sp_target_close(&t);
	return rc;
}

static const char *verb_for(enum want want)
{
	return want == WANT_STARTED ? "start" : want == WANT_STOPPED ? "stop" : "restart";
}

int sp_service_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	const char *unit;
	enum want want;
	int rc = service_args_get(call, args, &unit, &want);
	if (rc != SALVE_OK)
		return rc;
	struct sp_target t;
	if ((rc = sp_target_open(call, args, &t)) != SALVE_OK)
		return rc;
	struct sp_cmd *cmds;
	char **states;
	rc = service_states(call, &t, unit, &cmds, &states);
	const struct sp_config *cfg = &sp_state_of(call)->cfg;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		int change = states[i] && needs_change(want, states[i]);
		json_t *hr = json_pack("{s:b, s:o}", "changed", change, "state",
		                       states[i] ? json_string(states[i]) : json_null());
		if (change) {
			struct sp_cmd tmp = {.host = cmds[i].host};
			tmp.argv = systemctl_argv(cfg, verb_for(want), unit);
			char *line = sp_cmd_line(&tmp);
			json_object_set_new(hr, "command", json_string(line ? line : ""));
			free(line);
			json_decref(tmp.argv);
		}
		char why[700] = "";
		if (!states[i])
			sp_cmd_reason(&cmds[i], why, sizeof why);
		json_object_set_new(hr, "error", states[i] ? json_null() : json_string(why));
		sp_result_put(res, cmds[i].host->name, hr, states[i] == NULL);
	}
	*predicted = res;
	states_free(states, t.n);
	sp_cmds_free(cmds, t.n);
	sp_target_close(&t);
	return rc;
}

int sp_service_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	const char *unit;
	enum want want;
	int rc = service_args_get(call, args, &unit, &want);
	if (rc != SALVE_OK)
		return rc;
	struct sp_target t;
	if ((rc = sp_target_open(call, args, &t)) != SALVE_OK)
		return rc;
	const struct sp_config *cfg = &sp_state_of(call)->cfg;
	struct sp_cmd *probe;
	char **states;
	rc = service_states(call, &t, unit, &probe, &states);
	json_t *undo_rec =
	    json_pack("{s:s, s:s, s:{}}", "name", unit, "state",
	              want == WANT_RESTARTED ? "restarted" : verb_for(want), "hosts");
	json_t *undo_hosts = json_object_get(undo_rec, "hosts");
	/* A restart leaves nothing to put back: no undo record, so a rollback says it cannot be
	 * undone instead of reporting an undo that did nothing. */
	*undo = want == WANT_RESTARTED ? NULL : undo_rec;
	struct sp_cmd *acts = calloc(t.n + 1, sizeof *acts);
	size_t *amap = calloc(t.n + 1, sizeof *amap);
	size_t na = 0;
	unsigned char *failed = calloc(t.n + 1, 1);
	for (size_t i = 0; i < t.n; i++) {
		if (!states[i]) {
			failed[i] = 1;
			continue;
		}
		if (rc != SALVE_OK || !needs_change(want, states[i]))
			continue;
		/* A restart has no earlier state worth restoring; start/stop record it. */
		if (want != WANT_RESTARTED)
			json_object_set_new(undo_hosts, probe[i].host->name,
			                    json_pack("{s:o, s:s}", "host",
			                              sp_host_json(probe[i].host), "before",
			                              states[i]));
		acts[na].host = probe[i].host;
		acts[na].timeout = t.timeout;
		acts[na].argv = systemctl_argv(cfg, verb_for(want), unit);
		amap[na++] = i;
	}
	if (rc == SALVE_OK && na > 0)
		rc = sp_run(call, acts, na, t.forks, t.connect_timeout);
	json_t *res = sp_result_new();
	unsigned char *changed = calloc(t.n + 1, 1);
	struct sp_cmd **shown = calloc(t.n + 1, sizeof *shown);
	for (size_t i = 0; i < t.n; i++)
		shown[i] = &probe[i];
	for (size_t k = 0; k < na; k++) {
		size_t i = amap[k];
		shown[i] = &acts[k];
		changed[i] = acts[k].ran;
		if (!sp_cmd_ok(&acts[k]))
			failed[i] = 1;
	}
	size_t nfailed = 0;
	for (size_t i = 0; i < t.n; i++) {
		json_t *hr = sp_cmd_result(shown[i], changed[i]);
		if (failed[i] && !shown[i]->error[0]) {
			char why[700];
			sp_cmd_reason(shown[i], why, sizeof why);
			json_object_set_new(hr, "error", json_string(why));
		}
		json_object_set_new(hr, "before", states[i] ? json_string(states[i]) : json_null());
		sp_result_put(res, probe[i].host->name, hr, failed[i]);
		nfailed += failed[i];
	}
	*result = res;
	if (rc == SALVE_OK && nfailed > 0) {
		struct sp_cmd *all = calloc(t.n + 1, sizeof *all);
		for (size_t i = 0; i < t.n; i++)
			all[i] = *shown[i];
		rc = sp_fail_hosts(call, "service", all, t.n, failed);
		free(all);
	}
	free(shown);
	free(changed);
	free(failed);
	free(amap);
	sp_cmds_free(acts, na);
	states_free(states, t.n);
	sp_cmds_free(probe, t.n);
	sp_target_close(&t);
	if (!*undo)
		json_decref(undo_rec);
	return rc;
}

int sp_service_undo(salve_call *call, const json_t *undo)
{
	const char *unit = json_string_value(json_object_get(undo, "name"));
	const char *state = json_string_value(json_object_get(undo, "state"));
	if (state && strcmp(state, "restarted") == 0) {
		sp_log(call, SALVE_LOG_INFO,
		       "service: a restart cannot be undone; nothing to put back for %s",
		       unit ? unit : "?");
		return SALVE_OK;
	}
	char why[200];
	if (!sp_valid_unit_name(unit, why, sizeof why)) {
		sp_fail(call, "service undo: the record has no valid unit name: %s", why);
		return SALVE_ERR_INVALID;
	}
	struct sp_undo_hosts u;
	int rc = sp_undo_hosts_open(call, undo, &u);
	if (rc != SALVE_OK)
		return rc;
	const struct sp_config *cfg = &sp_state_of(call)->cfg;
	const struct sp_host **hosts = calloc(u.n + 1, sizeof *hosts);
	for (size_t i = 0; i < u.n; i++)
		hosts[i] = &u.hosts[i];
	struct sp_cmd *cmds = sp_cmds_on(hosts, u.n, cfg->command_timeout);
	for (size_t i = 0; i < u.n; i++) {
		const char *before = json_string_value(json_object_get(u.entries[i], "before"));
		int was_active =
		    before && (strcmp(before, "active") == 0 || strcmp(before, "activating") == 0 ||
		               strcmp(before, "reloading") == 0);
		/* start and stop are idempotent in systemd: undo may run twice. */
		cmds[i].argv = systemctl_argv(cfg, was_active ? "start" : "stop", unit);
	}
	rc = sp_run(call, cmds, u.n, cfg->forks, cfg->connect_timeout);
	size_t nfailed = 0;
	for (size_t i = 0; i < u.n; i++)
		nfailed += !sp_cmd_ok(&cmds[i]);
	if (rc == SALVE_OK && nfailed)
		rc = sp_fail_hosts(call, "service undo", cmds, u.n, NULL);
	else if (rc != SALVE_OK)
		sp_fail_hosts(call, "service undo", cmds, u.n, NULL);
	sp_cmds_free(cmds, u.n);
	free(hosts);
	sp_undo_hosts_close(&u);
	return rc;
}
