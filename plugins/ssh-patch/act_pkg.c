/*
 * pending (read) and patch (mutate): package updates per host, applied in rolling batches.
 *
 * patch's apply, batch by batch: find what is pending now on the batch's hosts, record the
 * versions it will replace in the undo record (before touching anything, so a failure
 * half-way can still be rolled back), upgrade to exactly those versions, reboot when asked,
 * run the health command, and stop once failures over the whole run exceed max_fail (or a
 * batch's exceed max_fail_per_batch).
 */
#include "act.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Package names become arguments of apt-get/dnf: refuse anything that could read as an
 * option or a version spec. */
static int valid_package_name(const char *s)
{
	if (!isalnum((unsigned char)s[0]))
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+-._:~@", *p))
			return 0;
	return 1;
}

static int packages_arg(salve_call *call, const json_t *args, const json_t **packages)
{
	const json_t *p = json_object_get(args, "packages");
	*packages = NULL;
	if (!p || json_is_null(p) ||
	    (json_is_string(p) && strcmp(json_string_value(p), "all") == 0))
		return SALVE_OK;
	if (!json_is_array(p) || json_array_size(p) == 0)
		goto bad;
	size_t i;
	json_t *v;
	json_array_foreach(p, i, v)
	{
		if (!json_is_string(v) || !valid_package_name(json_string_value(v))) {
			sp_fail(call, "packages[%zu]: '%s' is not a package name", i + 1,
			        json_is_string(v) ? json_string_value(v) : "(not a string)");
			return SALVE_ERR_INVALID;
		}
	}
	*packages = p;
	return SALVE_OK;
bad:
	sp_fail(call, "packages must be \"all\" or a non-empty list of package names");
	return SALVE_ERR_INVALID;
}

/* One pending check on each host. lists[i] gets host i's updates; failed[i] is set with the
 * reason in cmds[i].error when the host could not be checked. */
static int pending_on(salve_call *call, const struct sp_host *const *hosts, size_t n, int refresh,
                      const json_t *packages, double timeout, long forks, double ct,
                      struct sp_cmd **cmds_out, struct sp_pkglist *lists, unsigned char *failed)
{
	struct sp_state *st = sp_state_of(call);
	struct sp_cmd *cmds = sp_cmds_on(hosts, n, timeout);
	for (size_t i = 0; i < n; i++) {
		char *script = sp_pending_script_for(&st->cfg, hosts[i], refresh, packages);
		sp_cmd_set_script(&cmds[i], script, NULL);
		free(script);
	}
	int rc = sp_run(call, cmds, n, forks, ct);
	for (size_t i = 0; i < n; i++) {
		memset(&lists[i], 0, sizeof lists[i]);
		failed[i] = !sp_cmd_ok(&cmds[i]);
		if (failed[i])
			continue;
		char err[300];
		if (sp_parse_pending(cmds[i].out.data ? cmds[i].out.data : "", &lists[i], err,
		                     sizeof err) < 0) {
			snprintf(cmds[i].error, sizeof cmds[i].error, "host %s: %s", hosts[i]->name,
			         err);
			cmds[i].error_kind = SP_E_IO;
			failed[i] = 1;
		}
	}
	*cmds_out = cmds;
	return rc;
}

static const struct sp_host **target_hosts(const struct sp_target *t)
{
	const struct sp_host **h = calloc(t->n + 1, sizeof *h);
	for (size_t i = 0; h && i < t->n; i++)
		h[i] = &t->inv->hosts[t->idx[i]];
	return h;
}

static json_t *pending_host_result(const struct sp_cmd *c, const struct sp_pkglist *l, int failed)
{
	json_t *hr = json_object();
	json_object_set_new(hr, "rc", c->ran ? json_integer(c->rc) : json_null());
	json_object_set_new(hr, "stdout", json_string(""));
	json_object_set_new(hr, "stderr", sp_json_bytes(c->err.data, c->err.len));
	json_object_set_new(hr, "duration", json_real(c->duration));
	json_object_set_new(hr, "changed", json_false());
	if (failed) {
		char why[700];
		sp_cmd_reason(c, why, sizeof why);
		json_object_set_new(hr, "error", json_string(why));
	} else {
		json_object_set_new(hr, "error", json_null());
	}
	json_object_set_new(hr, "manager", json_string(l->manager));
	json_object_set_new(hr, "packages", sp_pkglist_json(l));
	json_object_set_new(hr, "count", json_integer((json_int_t)l->n));
	return hr;
}

/* Runs pending over the target and builds the pending result; *holds when every host was
 * checked and nothing waits. */
static int pending_result(salve_call *call, const json_t *args, json_t **result, int *holds)
{
	const json_t *packages;
	int rc = packages_arg(call, args, &packages);
	if (rc != SALVE_OK)
		return rc;
	struct sp_state *st = sp_state_of(call);
	int refresh = sp_bool(json_object_get(args, "refresh"), st->cfg.refresh);
	struct sp_target t;
	rc = sp_target_open(call, args, &t);
	if (rc != SALVE_OK)
		return rc;
	const struct sp_host **hosts = target_hosts(&t);
	struct sp_pkglist *lists = calloc(t.n + 1, sizeof *lists);
	unsigned char *failed = calloc(t.n + 1, 1);
	struct sp_cmd *cmds;
	rc = pending_on(call, hosts, t.n, refresh, packages, t.timeout, t.forks, t.connect_timeout,
	                &cmds, lists, failed);
	json_t *res = sp_result_new();
	size_t total = 0, with = 0, nfailed = 0;
	for (size_t i = 0; i < t.n; i++) {
		sp_result_put(res, hosts[i]->name,
		              pending_host_result(&cmds[i], &lists[i], failed[i]), failed[i]);
		total += lists[i].n;
		with += lists[i].n > 0;
		nfailed += failed[i];
	}
	json_object_set_new(res, "pending", json_integer((json_int_t)total));
	json_object_set_new(res, "hosts_with_updates", json_integer((json_int_t)with));
	if (holds)
		*holds = nfailed == 0 && total == 0;
	*result = res;
	if (rc != SALVE_OK)
		sp_fail_hosts(call, "pending", cmds, t.n, failed);
	for (size_t i = 0; i < t.n; i++)
		sp_pkglist_free(&lists[i]);
	sp_cmds_free(cmds, t.n);
	free(lists);
	free(failed);
	free(hosts);
	sp_target_close(&t);
	return rc;
}

int sp_pending_run(salve_call *call, const json_t *args, json_t **result)
{
	return pending_result(call, args, result, NULL);
}

/* ---- patch ----------------------------------------------------------------------------- */

struct patch_opts {
	const json_t *packages;
	int refresh;
	size_t batch_size;
	long max_fail;
	long max_fail_per_batch; /* -1 = unlimited */
	const char *health;
	enum { REBOOT_NEVER, REBOOT_IF_REQUIRED, REBOOT_ALWAYS } reboot;
	double reboot_wait;
};

/* A count, or "N%" of total (Ansible rounds a percentage down, but never below 1 for a
 * batch). Returns -1 when malformed. */
static long count_or_percent(const json_t *v, size_t total, long def, int at_least_one)
{
	if (!v || json_is_null(v))
		return def;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = strlen(s);
		if (len > 1 && s[len - 1] == '%') {
			char *end;
			double pct = strtod(s, &end);
			if (end != s + len - 1 || pct < 0 || pct > 100)
				return -1;
			long n = (long)floor((double)total * pct / 100.0);
			return at_least_one && n < 1 ? 1 : n;
		}
	}
	long n = sp_long(v, def);
	return n;
}

static int patch_options(salve_call *call, const json_t *args, size_t nhosts, struct patch_opts *o)
{
	memset(o, 0, sizeof *o);
	int rc = packages_arg(call, args, &o->packages);
	if (rc != SALVE_OK)
		return rc;
	o->refresh = sp_bool(json_object_get(args, "refresh"), sp_state_of(call)->cfg.refresh);
	long serial = count_or_percent(json_object_get(args, "serial"), nhosts, (long)nhosts, 1);
	if (serial < 1) {
		sp_fail(call, "patch: serial must be a positive count or a percentage like 25%%");
		return SALVE_ERR_INVALID;
	}
	o->batch_size = (size_t)serial;
	o->max_fail = count_or_percent(json_object_get(args, "max_fail"), nhosts, 0, 0);
	if (o->max_fail < 0) {
		sp_fail(call, "patch: max_fail must be a count >= 0 or a percentage like 10%%");
		return SALVE_ERR_INVALID;
	}
	o->max_fail_per_batch = sp_long(json_object_get(args, "max_fail_per_batch"), -1);
	if (json_object_get(args, "max_fail_per_batch") && o->max_fail_per_batch < 0) {
		sp_fail(call, "patch: max_fail_per_batch must be a count >= 0");
		return SALVE_ERR_INVALID;
	}
	o->health = json_string_value(json_object_get(args, "health"));
	if (o->health && !*o->health)
		o->health = NULL;
	const char *reboot = json_string_value(json_object_get(args, "reboot"));
	if (!reboot || strcmp(reboot, "never") == 0)
		o->reboot = REBOOT_NEVER;
	else if (strcmp(reboot, "if-required") == 0)
		o->reboot = REBOOT_IF_REQUIRED;
	else if (strcmp(reboot, "always") == 0)
		o->reboot = REBOOT_ALWAYS;
	else {
		sp_fail(call, "patch: reboot must be never, if-required or always, not '%s'",
		        reboot);
		return SALVE_ERR_INVALID;
	}
	o->reboot_wait = sp_duration(json_object_get(args, "reboot_wait"), 600);
	if (o->reboot_wait <= 0) {
		sp_fail(call, "patch: reboot_wait must be a positive duration");
		return SALVE_ERR_INVALID;
	}
	return SALVE_OK;
}

int sp_patch_check(salve_call *call, const json_t *args, json_t **observed)
{
	int holds = 0;
	json_t *res = NULL;
	int rc = pending_result(call, args, &res, &holds);
	if (rc != SALVE_OK) {
		json_decref(res);
		return rc;
	}
	if (holds) {
		*observed = res;
		return SALVE_HOLDS;
	}
	if (json_integer_value(json_object_get(res, "failed")) > 0)
		sp_log(call, SALVE_LOG_WARN,
		       "patch: %lld hosts could not be checked; patch will try them and count "
		       "them against max_fail",
		       (long long)json_integer_value(json_object_get(res, "failed")));
	*observed = res;
	return SALVE_OK;
}

int sp_patch_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	struct sp_target t;
	int rc = sp_target_open(call, args, &t);
	if (rc != SALVE_OK)
		return rc;
	struct patch_opts o;
	rc = patch_options(call, args, t.n, &o);
	if (rc != SALVE_OK) {
		sp_target_close(&t);
		return rc;
	}
	json_t *res = NULL;
	rc = pending_result(call, args, &res, NULL);
	if (rc != SALVE_OK) {
		json_decref(res);
		sp_target_close(&t);
		return rc;
	}
	json_t *batches = json_array();
	for (size_t i = 0; i < t.n; i++) {
		const char *name = t.inv->hosts[t.idx[i]].name;
		size_t b = i / o.batch_size;
		if (json_array_size(batches) <= b)
			json_array_append_new(batches, json_array());
		json_array_append_new(json_array_get(batches, b), json_string(name));
		json_t *hr = json_object_get(json_object_get(res, "hosts"), name);
		json_object_set_new(hr, "batch", json_integer((json_int_t)b + 1));
		json_object_set_new(
		    hr, "changed",
		    json_boolean(json_integer_value(json_object_get(hr, "count")) > 0));
	}
	json_object_set_new(res, "batches", batches);
	json_object_set_new(res, "max_fail", json_integer(o.max_fail));
	static const char *reboots[] = {"never", "if-required", "always"};
	json_object_set_new(res, "reboot", json_string(reboots[o.reboot]));
	if (o.health)
		json_object_set_new(res, "health", json_string(o.health));
	*predicted = res;
	sp_target_close(&t);
	return SALVE_OK;
}

struct patch_host {
	const struct sp_host *host;
	int failed;
	int changed;
	int rebooted;
	size_t batch;
	double duration;
	json_t *packages;
	char *manager;
	char *error;
	json_t *upgrade_out; /* stdout of the upgrade */
	json_t *upgrade_err;
	json_t *health;
	int upgrade_rc;
	int ran_upgrade;
};

static void host_failed(struct patch_host *ph, char *why)
{
	if (!ph->failed) {
		ph->failed = 1;
		free(ph->error);
		ph->error = why;
	} else {
		free(why);
	}
}

static char *reason_of(const struct sp_cmd *c, const char *what)
{
	char r[700];
	sp_cmd_reason(c, r, sizeof r);
	return sp_strdupf("%s: %s", what, r);
}

/* Upgrade the hosts of a batch that have updates waiting. The undo entry goes in first: if
 * the upgrade dies half-way, undo still knows every version it may have replaced. */
static int batch_upgrade(salve_call *call, const struct sp_target *t, struct patch_host *ph,
                         size_t nb, const struct sp_pkglist *lists, json_t *undo_hosts)
{
	struct sp_state *st = sp_state_of(call);
	struct sp_cmd *up = calloc(nb + 1, sizeof *up);
	size_t *umap = calloc(nb + 1, sizeof *umap);
	size_t nu = 0;
	int rc = SALVE_OK;
	for (size_t i = 0; i < nb; i++) {
		if (ph[i].failed || lists[i].n == 0)
			continue;
		json_object_set_new(undo_hosts, ph[i].host->name,
		                    json_pack("{s:o, s:s, s:O}", "host", sp_host_json(ph[i].host),
		                              "manager", lists[i].manager, "packages",
		                              ph[i].packages));
		char *script = sp_upgrade_script_for(&st->cfg, ph[i].host, &lists[i]);
		up[nu].host = ph[i].host;
		up[nu].timeout = t->timeout;
		sp_cmd_set_script(&up[nu], script, NULL);
		free(script);
		umap[nu++] = i;
	}
	if (nu > 0)
		rc = sp_run(call, up, nu, t->forks, t->connect_timeout);
	for (size_t k = 0; k < nu; k++) {
		struct patch_host *p = &ph[umap[k]];
		p->ran_upgrade = 1;
		p->changed = 1; /* possibly partially: the undo entry covers it */
		p->duration += up[k].duration;
		p->upgrade_rc = up[k].ran ? up[k].rc : -1;
		p->upgrade_out = sp_json_bytes(up[k].out.data, up[k].out.len);
		p->upgrade_err = sp_json_bytes(up[k].err.data, up[k].err.len);
		const char *tx =
		    up[k].out.data ? strstr(up[k].out.data, "@@salve-transaction ") : NULL;
		if (tx) {
			tx += 20;
			json_object_set_new(json_object_get(undo_hosts, p->host->name),
			                    "transaction", json_stringn(tx, strcspn(tx, "\n")));
		}
		if (!sp_cmd_ok(&up[k]))
			host_failed(p, reason_of(&up[k], "upgrade failed"));
	}
	sp_cmds_free(up, nu);
	free(umap);
	return rc;
}

/* reboot=if-required: ask the hosts still healthy and changed; want[i] = 1 where the host
 * says a reboot is required. */
static int batch_reboot_required(salve_call *call, const struct sp_target *t, struct patch_host *ph,
                                 const struct sp_host **hosts, size_t nb, unsigned char *want)
{
	struct sp_cmd *rq = sp_cmds_on(hosts, nb, 60);
	char *script = sp_reboot_required_script();
	for (size_t i = 0; i < nb; i++)
		sp_cmd_set_script(&rq[i], script, NULL);
	free(script);
	size_t nq = 0;
	for (size_t i = 0; i < nb; i++)
		if (!ph[i].failed && ph[i].changed) {
			struct sp_cmd tmp = rq[nq];
			rq[nq] = rq[i];
			rq[i] = tmp;
			nq++;
		}
	int rc = sp_run(call, rq, nq, t->forks, t->connect_timeout);
	for (size_t k = 0; k < nq; k++) {
		size_t i = 0;
		while (ph[i].host != rq[k].host)
			i++;
		if (!sp_cmd_ok(&rq[k]))
			host_failed(&ph[i], reason_of(&rq[k], "reboot-required check failed"));
		else if (rq[k].out.data && strncmp(rq[k].out.data, "yes", 3) == 0)
			want[i] = 1;
	}
	sp_cmds_free(rq, nb);
	return rc;
}

static int batch_reboot(salve_call *call, const struct patch_opts *o, const struct sp_target *t,
                        struct patch_host *ph, const struct sp_host **hosts, size_t nb)
{
	unsigned char *want = calloc(nb + 1, 1);
	int rc = SALVE_OK;
	if (o->reboot == REBOOT_ALWAYS) {
		for (size_t i = 0; i < nb; i++)
			want[i] = !ph[i].failed;
	} else {
		rc = batch_reboot_required(call, t, ph, hosts, nb, want);
	}
	size_t nwant = 0;
	for (size_t i = 0; i < nb; i++)
		nwant += want[i];
	if (rc == SALVE_OK && nwant > 0) {
		unsigned char *ok = calloc(nb + 1, 1);
		char **why = calloc(nb + 1, sizeof *why);
		rc = sp_reboot_hosts(call, hosts, nb, want, o->reboot_wait, t->connect_timeout,
		                     t->forks, ok, why);
		for (size_t i = 0; i < nb; i++) {
			if (want[i] && ok[i])
				ph[i].rebooted = 1;
			else if (want[i])
				host_failed(&ph[i], why[i] ? why[i] : strdup("reboot failed"));
			else
				free(why[i]);
			if (want[i] && ok[i])
				free(why[i]);
		}
		free(ok);
		free(why);
	}
	free(want);
	return rc;
}

static int batch_health(salve_call *call, const struct patch_opts *o, const struct sp_target *t,
                        struct patch_host *ph, const struct sp_host **hosts, size_t nb)
{
	struct sp_cmd *hc = sp_cmds_on(hosts, nb, t->timeout);
	size_t nh = 0;
	for (size_t i = 0; i < nb; i++)
		if (!ph[i].failed) {
			hc[nh].host = hosts[i];
			hc[nh].shell = strdup(o->health);
			nh++;
		}
	int rc = sp_run(call, hc, nh, t->forks, t->connect_timeout);
	for (size_t k = 0; k < nh; k++) {
		size_t i = 0;
		while (ph[i].host != hc[k].host)
			i++;
		ph[i].duration += hc[k].duration;
		ph[i].health = json_pack("{s:o, s:o, s:o}", "rc",
		                         hc[k].ran ? json_integer(hc[k].rc) : json_null(), "stdout",
		                         sp_json_bytes(hc[k].out.data, hc[k].out.len), "stderr",
		                         sp_json_bytes(hc[k].err.data, hc[k].err.len));
		if (!sp_cmd_ok(&hc[k]))
			host_failed(&ph[i], reason_of(&hc[k], "health check failed"));
	}
	sp_cmds_free(hc, nb);
	return rc;
}

/* One batch: pending, upgrade, reboot, health. Returns SALVE_OK or a run-level error
 * (cancelled, deadline). */
static int patch_batch(salve_call *call, const struct patch_opts *o, const struct sp_target *t,
                       struct patch_host *ph, size_t nb, json_t *undo_hosts)
{
	const struct sp_host **hosts = calloc(nb + 1, sizeof *hosts);
	for (size_t i = 0; i < nb; i++)
		hosts[i] = ph[i].host;
	struct sp_pkglist *lists = calloc(nb + 1, sizeof *lists);
	unsigned char *failed = calloc(nb + 1, 1);
	struct sp_cmd *pend = NULL;
	int rc = pending_on(call, hosts, nb, o->refresh, o->packages, t->timeout, t->forks,
	                    t->connect_timeout, &pend, lists, failed);
	for (size_t i = 0; i < nb; i++) {
		ph[i].duration += pend[i].duration;
		ph[i].manager = strdup(lists[i].manager);
		ph[i].packages = sp_pkglist_json(&lists[i]);
		if (failed[i])
			host_failed(&ph[i], reason_of(&pend[i], "checking pending updates failed"));
	}
	sp_cmds_free(pend, nb);
	if (rc == SALVE_OK)
		rc = batch_upgrade(call, t, ph, nb, lists, undo_hosts);
	if (rc == SALVE_OK && o->reboot != REBOOT_NEVER)
		rc = batch_reboot(call, o, t, ph, hosts, nb);
	if (rc == SALVE_OK && o->health)
		rc = batch_health(call, o, t, ph, hosts, nb);
	for (size_t i = 0; i < nb; i++)
		sp_pkglist_free(&lists[i]);
	free(lists);
	free(failed);
	free(hosts);
	return rc;
}

static json_t *patch_host_result(const struct patch_host *p, int attempted)
{
	json_t *hr = json_object();
	json_object_set_new(hr, "rc", p->ran_upgrade ? json_integer(p->upgrade_rc) : json_null());
	json_object_set_new(hr, "stdout",
	                    p->upgrade_out ? json_incref(p->upgrade_out) : json_string(""));
	json_object_set_new(hr, "stderr",
	                    p->upgrade_err ? json_incref(p->upgrade_err) : json_string(""));
	json_object_set_new(hr, "duration", json_real(p->duration));
	json_object_set_new(hr, "changed", json_boolean(p->changed));
	json_object_set_new(hr, "error",
	                    p->error    ? json_string(p->error)
	                    : attempted ? json_null()
	                                : json_string("not attempted: the "
	                                              "run stopped earlier"));
	json_object_set_new(hr, "batch", json_integer((json_int_t)p->batch));
	json_object_set_new(hr, "attempted", json_boolean(attempted));
	if (p->manager)
		json_object_set_new(hr, "manager", json_string(p->manager));
	json_object_set_new(hr, "packages", p->packages ? json_incref(p->packages) : json_array());
	json_object_set_new(hr, "rebooted", json_boolean(p->rebooted));
	if (p->health)
		json_object_set_new(hr, "health", json_incref(p->health));
	return hr;
}

int sp_patch_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	struct sp_target t;
	int rc = sp_target_open(call, args, &t);
	if (rc != SALVE_OK)
		return rc;
	struct patch_opts o;
	rc = patch_options(call, args, t.n, &o);
	if (rc != SALVE_OK) {
		sp_target_close(&t);
		return rc;
	}
	struct patch_host *ph = calloc(t.n + 1, sizeof *ph);
	for (size_t i = 0; i < t.n; i++) {
		ph[i].host = &t.inv->hosts[t.idx[i]];
		ph[i].batch = i / o.batch_size + 1;
	}
	size_t nbatches = (t.n + o.batch_size - 1) / o.batch_size;
	json_t *undo_rec = json_pack("{s:{}}", "hosts");
	*undo = undo_rec; /* set now: whatever happens below, the core can roll back */
	size_t failed_total = 0, done_total = 0, batches_run = 0;
	int stopped = 0;
	struct sp_buf why = {0};
	for (size_t b = 0; b < nbatches && rc == SALVE_OK && !stopped; b++) {
		size_t first = b * o.batch_size;
		size_t nb = t.n - first < o.batch_size ? t.n - first : o.batch_size;
		sp_log(call, SALVE_LOG_INFO, "patch: batch %zu/%zu: %zu hosts, starting", b + 1,
		       nbatches, nb);
		sp_progress(call, "batch %zu/%zu: patching %zu hosts (run: %zu done, %zu failed)",
		            b + 1, nbatches, nb, done_total, failed_total);
		rc = patch_batch(call, &o, &t, ph + first, nb, json_object_get(undo_rec, "hosts"));
		batches_run++;
		size_t bfailed = 0;
		for (size_t i = first; i < first + nb; i++)
			bfailed += ph[i].failed;
		failed_total += bfailed;
		done_total += nb - bfailed;
		sp_log(call, bfailed ? SALVE_LOG_WARN : SALVE_LOG_INFO,
		       "patch: batch %zu/%zu: %zu done, %zu failed (run: %zu done, %zu failed, "
		       "max_fail %ld)",
		       b + 1, nbatches, nb - bfailed, bfailed, done_total, failed_total,
		       o.max_fail);
		if ((long)failed_total > o.max_fail) {
			stopped = 1;
			sp_buf_printf(&why, "%zu failed hosts exceed max_fail %ld", failed_total,
			              o.max_fail);
		} else if (o.max_fail_per_batch >= 0 && (long)bfailed > o.max_fail_per_batch) {
			stopped = 1;
			sp_buf_printf(&why,
			              "%zu failed hosts in batch %zu exceed max_fail_per_batch %ld",
			              bfailed, b + 1, o.max_fail_per_batch);
		}
	}
	json_t *res = sp_result_new();
	size_t first_unrun = batches_run * o.batch_size;
	for (size_t i = 0; i < t.n; i++) {
		int attempted = i < first_unrun;
		sp_result_put(res, ph[i].host->name, patch_host_result(&ph[i], attempted),
		              ph[i].failed || !attempted);
	}
	json_object_set_new(res, "batches", json_integer((json_int_t)nbatches));
	json_object_set_new(res, "batches_run", json_integer((json_int_t)batches_run));
	json_object_set_new(res, "stopped", json_boolean(stopped || rc != SALVE_OK));
	json_object_set_new(
	    res, "changed_hosts",
	    json_integer((json_int_t)json_object_size(json_object_get(undo_rec, "hosts"))));
	*result = res;
	if (rc == SALVE_OK && stopped) {
		struct sp_buf msg = {0};
		size_t shown = 0;
		for (size_t i = 0; i < t.n && shown < 5; i++)
			if (ph[i].failed) {
				sp_buf_printf(&msg, "%s%s", shown ? "; " : "", ph[i].error);
				shown++;
			}
		sp_fail(call, "patch stopped after batch %zu/%zu: %s: %s", batches_run, nbatches,
		        why.data, msg.data ? msg.data : "");
		sp_buf_free(&msg);
		rc = SALVE_ERR;
	} else if (rc != SALVE_OK) {
		sp_fail(call, "patch interrupted in batch %zu/%zu (%s); %zu hosts changed so far",
		        batches_run, nbatches,
		        rc == SALVE_ERR_CANCELED ? "cancelled" : "the step's deadline passed",
		        json_object_size(json_object_get(undo_rec, "hosts")));
	}
	sp_buf_free(&why);
	for (size_t i = 0; i < t.n; i++) {
		json_decref(ph[i].packages);
		json_decref(ph[i].upgrade_out);
		json_decref(ph[i].upgrade_err);
		json_decref(ph[i].health);
		free(ph[i].manager);
		free(ph[i].error);
	}
	free(ph);
	sp_target_close(&t);
	return rc;
}

int sp_patch_undo(salve_call *call, const json_t *undo)
{
	struct sp_undo_hosts u;
	int rc = sp_undo_hosts_open(call, undo, &u);
	if (rc != SALVE_OK)
		return rc;
	struct sp_state *st = sp_state_of(call);
	const struct sp_host **hosts = calloc(u.n + 1, sizeof *hosts);
	for (size_t i = 0; i < u.n; i++)
		hosts[i] = &u.hosts[i];
	struct sp_cmd *cmds = sp_cmds_on(hosts, u.n, st->cfg.command_timeout);
	for (size_t i = 0; i < u.n; i++) {
		char *script = sp_downgrade_script_for(&st->cfg, &u.hosts[i], u.entries[i]);
		if (!script) {
			sp_fail(call,
			        "patch undo: host %s: the record names no known package "
			        "manager or a malformed transaction id",
			        u.hosts[i].name);
			sp_cmds_free(cmds, u.n);
			free(hosts);
			sp_undo_hosts_close(&u);
			return SALVE_ERR_INVALID;
		}
		sp_cmd_set_script(&cmds[i], script, NULL);
		free(script);
		sp_log(call, SALVE_LOG_INFO, "patch undo: %s: returning %zu packages",
		       u.hosts[i].name, json_array_size(json_object_get(u.entries[i], "packages")));
	}
	rc = sp_run(call, cmds, u.n, st->cfg.forks, st->cfg.connect_timeout);
	size_t nfailed = 0;
	for (size_t i = 0; i < u.n; i++)
		nfailed += !sp_cmd_ok(&cmds[i]);
	if (rc == SALVE_OK && nfailed > 0)
		rc = sp_fail_hosts(call, "patch undo", cmds, u.n, NULL);
	else if (rc != SALVE_OK)
		sp_fail_hosts(call, "patch undo", cmds, u.n, NULL);
	sp_cmds_free(cmds, u.n);
	free(hosts);
	sp_undo_hosts_close(&u);
	return rc;
}
