/*
 * reboot: reboot hosts and wait until SSH answers and /proc/sys/kernel/random/boot_id has
 * changed (a host that merely kept answering did not reboot). Shared with patch.
 */
#include "act.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOOT_ID_CMD          "cat /proc/sys/kernel/random/boot_id"
#define REBOOT_POLL_INTERVAL 2.0
#define DEFAULT_REBOOT_WAIT  600.0

static void trim(struct sp_buf *b)
{
	while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == ' '))
		b->data[--b->len] = '\0';
}

/* Sleep up to seconds, waking for cancellation. Returns 0, or a negative status. */
static int nap(salve_call *call, double seconds)
{
	double end = sp_now() + seconds;
	while (sp_now() < end) {
		if (sp_api->cancelled(call))
			return SALVE_ERR_CANCELED;
		double left = end - sp_now();
		poll(NULL, 0, (int)ceil(fmin(left, 0.25) * 1000));
	}
	return 0;
}

/* Probe the rebooted hosts (cmds[k] where before[k] is set) every few seconds until each
 * answers with a boot id other than before[k] (ok[map[k]] = 1), or wait seconds pass. */
static int await_new_boot_ids(salve_call *call, const struct sp_cmd *cmds, size_t nr, char **before,
                              const size_t *map, unsigned char *ok, double wait, long forks,
                              double connect_timeout)
{
	int status = SALVE_OK;
	double deadline = sp_now() + wait;
	double remaining = sp_api->remaining(call);
	if (isfinite(remaining))
		deadline = fmin(deadline, sp_now() + remaining);
	size_t waiting = 0;
	for (size_t k = 0; k < nr; k++)
		waiting += before[k] != NULL;
	struct sp_cmd *probe = calloc(nr + 1, sizeof *probe);
	size_t *pmap = calloc(nr + 1, sizeof *pmap);
	while (status == SALVE_OK && waiting > 0 && sp_now() < deadline) {
		status = nap(call, fmin(REBOOT_POLL_INTERVAL, fmax(0, deadline - sp_now())));
		if (status != SALVE_OK)
			break;
		double left = deadline - sp_now();
		if (left <= 0)
			break;
		size_t np = 0;
		for (size_t k = 0; k < nr; k++) {
			if (!before[k] || ok[map[k]])
				continue;
			memset(&probe[np], 0, sizeof probe[np]);
			probe[np].host = cmds[k].host;
			probe[np].shell = strdup(BOOT_ID_CMD);
			probe[np].timeout = 10;
			pmap[np++] = k;
		}
		status = sp_run(call, probe, np, forks, fmin(fmin(connect_timeout, 5), left));
		if (status == SALVE_ERR_TIMEOUT)
			break;
		for (size_t q = 0; q < np; q++) {
			size_t k = pmap[q];
			trim(&probe[q].out);
			if (sp_cmd_ok(&probe[q]) && probe[q].out.len > 0 &&
			    strcmp(probe[q].out.data, before[k]) != 0) {
				ok[map[k]] = 1;
				waiting--;
				sp_log(call, SALVE_LOG_INFO,
				       "reboot: %s is back (boot id %s, was %s)",
				       probe[q].host->name, probe[q].out.data, before[k]);
			}
			free(probe[q].shell);
			sp_buf_free(&probe[q].out);
			sp_buf_free(&probe[q].err);
			json_decref(probe[q].key_added);
			probe[q].key_added = NULL;
		}
	}
	free(probe);
	free(pmap);
	return status;
}

int sp_reboot_hosts(salve_call *call, const struct sp_host *const *hosts, size_t n,
                    const unsigned char *want, double wait, double connect_timeout, long forks,
                    unsigned char *ok, char **why)
{
	struct sp_state *st = sp_state_of(call);
	const struct sp_host **sel = calloc(n + 1, sizeof *sel);
	size_t *map = calloc(n + 1, sizeof *map);
	size_t ns = 0;
	int status = SALVE_OK;
	for (size_t i = 0; i < n; i++) {
		ok[i] = 0;
		if (!want[i])
			continue;
		if (hosts[i]->local) {
			why[i] = sp_strdupf(
			    "host %s (local): refusing to reboot the machine salve runs on; "
			    "it could not wait for itself",
			    hosts[i]->name);
			continue;
		}
		sel[ns] = hosts[i];
		map[ns++] = i;
	}
	char **before = calloc(ns + 1, sizeof *before);
	struct sp_cmd *cmds = sp_cmds_on(sel, ns, 30);
	for (size_t k = 0; k < ns; k++)
		cmds[k].shell = strdup(BOOT_ID_CMD);
	status = sp_run(call, cmds, ns, forks, connect_timeout);
	for (size_t k = 0; k < ns && status == SALVE_OK; k++) {
		trim(&cmds[k].out);
		if (sp_cmd_ok(&cmds[k]) && cmds[k].out.len > 0) {
			before[k] = strdup(cmds[k].out.data);
		} else {
			char r[700];
			sp_cmd_reason(&cmds[k], r, sizeof r);
			why[map[k]] = sp_strdupf("cannot read the boot id before rebooting: %s", r);
		}
	}
	/* Reboot every host whose boot id we know. */
	for (size_t k = 0; k < ns; k++) {
		free(cmds[k].shell);
		cmds[k].shell = strdup(st->cfg.reboot_command);
	}
	size_t nr = 0;
	for (size_t k = 0; k < ns; k++)
		if (before[k]) {
			struct sp_cmd tmp = cmds[nr];
			cmds[nr] = cmds[k];
			cmds[k] = tmp;
			char *b = before[nr];
			before[nr] = before[k];
			before[k] = b;
			size_t m = map[nr];
			map[nr] = map[k];
			map[k] = m;
			nr++;
		}
	if (status == SALVE_OK && nr > 0) {
		for (size_t k = 0; k < nr; k++)
			sp_log(call, SALVE_LOG_INFO, "reboot: rebooting %s (boot id %s)",
			       cmds[k].host->name, before[k]);
		status = sp_run(call, cmds, nr, forks, connect_timeout);
		for (size_t k = 0; k < nr; k++) {
			/* The session may drop as the host goes down; only a command that ran and
			 * said no is a failure. */
			if (cmds[k].ran && cmds[k].rc != 0) {
				char r[700];
				sp_cmd_reason(&cmds[k], r, sizeof r);
				why[map[k]] = sp_strdupf("the reboot command failed: %s", r);
				free(before[k]);
				before[k] = NULL;
			}
			sp_fanout_forget(&st->fanout, cmds[k].host);
		}
	}
	if (status == SALVE_OK)
		status = await_new_boot_ids(call, cmds, nr, before, map, ok, wait, forks,
		                            connect_timeout);
	for (size_t k = 0; k < nr; k++)
		if (before[k] && !ok[map[k]] && !why[map[k]])
			why[map[k]] =
			    sp_strdupf("host %s did not come back with a new boot id within %gs",
			               cmds[k].host->name, wait);
	for (size_t k = 0; k < ns; k++)
		free(before[k]);
	free(before);
	sp_cmds_free(cmds, ns);
	free(sel);
	free(map);
	return status;
}

static int reboot_target(salve_call *call, const json_t *args, struct sp_target *t, double *wait)
{
	*wait = sp_duration(json_object_get(args, "wait"), DEFAULT_REBOOT_WAIT);
	if (*wait <= 0) {
		sp_fail(call, "reboot: wait must be a positive duration");
		return SALVE_ERR_INVALID;
	}
	return sp_target_open(call, args, t);
}

int sp_reboot_check(salve_call *call, const json_t *args, json_t **observed)
{
	(void)observed;
	struct sp_target t;
	double wait;
	int rc = reboot_target(call, args, &t, &wait);
	if (rc == SALVE_OK)
		sp_target_close(&t);
	return rc; /* a reboot is always a change */
}

int sp_reboot_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	struct sp_target t;
	double wait;
	int rc = reboot_target(call, args, &t, &wait);
	if (rc != SALVE_OK)
		return rc;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		const struct sp_host *h = &t.inv->hosts[t.idx[i]];
		json_t *hr =
		    json_pack("{s:s, s:f, s:b}", "command", sp_state_of(call)->cfg.reboot_command,
		              "wait", wait, "changed", !h->local);
		json_object_set_new(hr, "error",
		                    h->local
		                        ? json_string("a local-connection host cannot be rebooted "
		                                      "by the salve running on it")
		                        : json_null());
		sp_result_put(res, h->name, hr, h->local);
	}
	*predicted = res;
	sp_target_close(&t);
	return SALVE_OK;
}

int sp_reboot_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	*undo = NULL;
	struct sp_target t;
	double wait;
	int rc = reboot_target(call, args, &t, &wait);
	if (rc != SALVE_OK)
		return rc;
	const struct sp_host **hosts = calloc(t.n + 1, sizeof *hosts);
	unsigned char *want = calloc(t.n + 1, 1);
	unsigned char *ok = calloc(t.n + 1, 1);
	char **why = calloc(t.n + 1, sizeof *why);
	for (size_t i = 0; i < t.n; i++) {
		hosts[i] = &t.inv->hosts[t.idx[i]];
		want[i] = 1;
	}
	double start = sp_now();
	rc = sp_reboot_hosts(call, hosts, t.n, want, wait, t.connect_timeout, t.forks, ok, why);
	json_t *res = sp_result_new();
	struct sp_buf msg = {0};
	size_t nfailed = 0;
	for (size_t i = 0; i < t.n; i++) {
		json_t *hr =
		    json_pack("{s:n, s:s, s:s, s:f, s:b}", "rc", "stdout", "", "stderr", "",
		              "duration", sp_now() - start, "changed", !hosts[i]->local);
		json_object_set_new(hr, "error", why[i] ? json_string(why[i]) : json_null());
		sp_result_put(res, hosts[i]->name, hr, !ok[i]);
		if (!ok[i]) {
			sp_buf_printf(&msg, "%s%s", nfailed ? "; " : "",
			              why[i] ? why[i] : "not rebooted");
			nfailed++;
		}
		free(why[i]);
	}
	*result = res;
	if (rc == SALVE_OK && nfailed > 0)
		rc = SALVE_ERR;
	if (rc != SALVE_OK)
		sp_fail(call, "reboot: %zu of %zu hosts failed: %s", nfailed, t.n,
		        msg.data ? msg.data : "the run was interrupted");
	sp_buf_free(&msg);
	free(hosts);
	free(want);
	free(ok);
	free(why);
	sp_target_close(&t);
	return rc;
}

int sp_reboot_undo(salve_call *call, const json_t *undo)
{
	(void)undo;
	sp_log(call, SALVE_LOG_INFO, "reboot: a reboot cannot be undone; nothing to do");
	return SALVE_OK;
}
