/* What every ssh-patch action shares: host selection, command arrays, result objects. */
#include "act.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sp_state *sp_state_of(salve_call *call)
{
	return sp_api->state(call);
}

static int run_cancelled(void *call)
{
	return sp_api->cancelled(call);
}

static void run_progress(void *call, const char *host, const char *line)
{
	sp_progress(call, "%s: %s", host, line);
}

int sp_run(salve_call *call, struct sp_cmd *cmds, size_t n, long forks, double connect_timeout)
{
	if (n == 0)
		return SALVE_OK;
	const struct sp_fanout_run run = {
	    .forks = forks,
	    .connect_timeout = connect_timeout,
	    .remaining = sp_api->remaining(call),
	    .cancelled = run_cancelled,
	    .progress = run_progress,
	    .ctx = call,
	};
	int rc = sp_fanout_run(&sp_state_of(call)->fanout, &run, cmds, n);
	for (size_t i = 0; i < n; i++)
		if (cmds[i].key_added)
			sp_api->audit(call, "ssh_host_key_accepted", cmds[i].key_added);
	return rc;
}

int sp_target_open(salve_call *call, const json_t *args, struct sp_target *t)
{
	struct sp_state *st = sp_state_of(call);
	memset(t, 0, sizeof *t);
	const char *pattern = json_string_value(json_object_get(args, "hosts"));
	if (!pattern || !*pattern) {
		sp_fail(call, "hosts: a host pattern is required (a group, a host, a,b, !x, "
		              "g:&h or all)");
		return SALVE_ERR_INVALID;
	}
	const char *path = json_string_value(json_object_get(args, "inventory"));
	if (!path)
		path = st->cfg.inventory;
	char err[1024];
	t->inv = sp_inventory_load(path, err, sizeof err);
	if (!t->inv) {
		sp_fail(call, "%s", err);
		return SALVE_ERR_INVALID;
	}
	t->idx = sp_inventory_select(t->inv, pattern, &t->n, err, sizeof err);
	if (!t->idx) {
		sp_fail(call, "%s%s%s", err, path ? " in inventory " : " (no inventory set)",
		        path ? path : "");
		sp_target_close(t);
		return SALVE_ERR_NOTFOUND;
	}
	t->forks = sp_long(json_object_get(args, "forks"), st->cfg.forks);
	if (t->forks < 1) {
		sp_fail(call, "forks must be a positive integer");
		sp_target_close(t);
		return SALVE_ERR_INVALID;
	}
	t->timeout = sp_duration(json_object_get(args, "timeout"), st->cfg.command_timeout);
	t->connect_timeout =
	    sp_duration(json_object_get(args, "connect_timeout"), st->cfg.connect_timeout);
	if (t->timeout <= 0 || t->connect_timeout <= 0) {
		sp_fail(call, "timeout and connect_timeout must be positive durations "
		              "(seconds, or 30s, 5m, 1h)");
		sp_target_close(t);
		return SALVE_ERR_INVALID;
	}
	return SALVE_OK;
}

void sp_target_close(struct sp_target *t)
{
	sp_inventory_free(t->inv);
	free(t->idx);
	memset(t, 0, sizeof *t);
}

struct sp_cmd *sp_cmds_for(const struct sp_target *t, const json_t *argv)
{
	struct sp_cmd *cmds = calloc(t->n + 1, sizeof *cmds);
	if (!cmds)
		return NULL;
	for (size_t i = 0; i < t->n; i++) {
		cmds[i].host = &t->inv->hosts[t->idx[i]];
		cmds[i].argv = argv ? json_deep_copy(argv) : NULL;
		cmds[i].timeout = t->timeout;
	}
	return cmds;
}

void sp_cmd_set_script(struct sp_cmd *c, const char *script, const json_t *args)
{
	json_decref(c->argv);
	free(c->shell);
	c->shell = NULL;
	c->argv = json_pack("[s, s, s, s]", "sh", "-c", script, "salve");
	size_t i;
	json_t *v;
	json_array_foreach(args, i, v) json_array_append(c->argv, v);
}

struct sp_cmd *sp_cmds_script(const struct sp_target *t, const char *script, const json_t *args)
{
	struct sp_cmd *cmds = sp_cmds_for(t, NULL);
	if (!cmds)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		sp_cmd_set_script(&cmds[i], script, args);
	return cmds;
}

int sp_cmd_ok(const struct sp_cmd *c)
{
	return c->ran && c->rc == 0;
}

static json_t *tail_text(const struct sp_buf *b)
{
	return sp_json_bytes(b->data, b->len);
}

json_t *sp_cmd_result(const struct sp_cmd *c, int changed)
{
	json_t *r = json_object();
	json_object_set_new(r, "rc", c->ran ? json_integer(c->rc) : json_null());
	json_object_set_new(r, "stdout", tail_text(&c->out));
	json_object_set_new(r, "stderr", tail_text(&c->err));
	json_object_set_new(r, "duration", json_real(c->duration));
	json_object_set_new(r, "changed", json_boolean(changed));
	json_object_set_new(r, "error", c->error[0] ? json_string(c->error) : json_null());
	if (c->out.truncated || c->err.truncated)
		json_object_set_new(r, "truncated", json_true());
	return r;
}

void sp_cmd_reason(const struct sp_cmd *c, char *out, size_t outlen)
{
	if (c->error[0]) {
		sp_escape_into(out, outlen, c->error);
		return;
	}
	/* The last non-empty line of stderr (else stdout) says most about a failed command. */
	const struct sp_buf *b = c->err.len ? &c->err : &c->out;
	const char *text = b->data ? b->data : "";
	size_t end = b->len;
	while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r'))
		end--;
	size_t start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	size_t len = end - start;
	if (len > 300)
		len = 300;
	/* Remote bytes: escaped, so ESC/CR cannot make this line read as something else. */
	struct sp_buf msg = {0};
	sp_buf_printf(&msg, "host %s: exit status %d%s", c->host->name, c->rc, len ? ": " : "");
	sp_buf_add_escaped(&msg, text + start, len);
	sp_escape_into(out, outlen, msg.data ? msg.data : "");
	sp_buf_free(&msg);
}

json_t *sp_result_new(void)
{
	return json_pack("{s:{}, s:i, s:i}", "hosts", "ok", 0, "failed", 0);
}

void sp_result_put(json_t *result, const char *host, json_t *host_result, int failed)
{
	json_object_set_new(json_object_get(result, "hosts"), host, host_result);
	const char *k = failed ? "failed" : "ok";
	json_object_set_new(result, k,
	                    json_integer(json_integer_value(json_object_get(result, k)) + 1));
}

int sp_fail_hosts(salve_call *call, const char *action, const struct sp_cmd *cmds, size_t n,
                  const unsigned char *failed)
{
	struct sp_buf msg = {0};
	size_t nfailed = 0;
	for (size_t i = 0; i < n; i++)
		nfailed += failed ? failed[i] != 0 : !sp_cmd_ok(&cmds[i]);
	sp_buf_printf(&msg, "%s: %zu of %zu hosts failed", action, nfailed, n);
	size_t shown = 0;
	for (size_t i = 0; i < n && shown < 5; i++) {
		if (failed ? !failed[i] : sp_cmd_ok(&cmds[i]))
			continue;
		char why[700];
		sp_cmd_reason(&cmds[i], why, sizeof why);
		sp_buf_printf(&msg, "%s %s", shown ? ";" : ":", why);
		shown++;
	}
	if (nfailed > shown)
		sp_buf_printf(&msg, "; and %zu more", nfailed - shown);
	sp_fail(call, "%s", msg.data);
	sp_buf_free(&msg);
	return SALVE_ERR;
}

json_t *sp_host_json(const struct sp_host *h)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:b, s:b}", "name", h->name, "address", h->address,
	                      "port", h->port, "local", h->local, "become", h->become);
	if (h->user)
		json_object_set_new(o, "user", json_string(h->user));
	if (h->key_file)
		json_object_set_new(o, "key_file", json_string(h->key_file));
	const json_t *apt = json_object_get(h->vars, "salve_apt_options");
	if (apt)
		json_object_set_new(o, "salve_apt_options", json_deep_copy(apt));
	const json_t *dnf = json_object_get(h->vars, "salve_dnf_options");
	if (dnf)
		json_object_set_new(o, "salve_dnf_options", json_deep_copy(dnf));
	if (h->lock_timeout >= 0)
		json_object_set_new(o, "lock_timeout", json_real(h->lock_timeout));
	return o;
}

int sp_host_from_json(const json_t *o, struct sp_host *h)
{
	memset(h, 0, sizeof *h);
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *addr = json_string_value(json_object_get(o, "address"));
	if (!name || !addr)
		return -1;
	h->name = strdup(name);
	h->address = strdup(addr);
	h->port = (int)sp_long(json_object_get(o, "port"), 22);
	h->local = sp_bool(json_object_get(o, "local"), 0);
	h->become = sp_bool(json_object_get(o, "become"), 0);
	h->lock_timeout = sp_duration(json_object_get(o, "lock_timeout"), -1);
	const char *user = json_string_value(json_object_get(o, "user"));
	h->user = user ? strdup(user) : NULL;
	const char *key = json_string_value(json_object_get(o, "key_file"));
	h->key_file = key ? strdup(key) : NULL;
	h->vars = json_object();
	const json_t *apt = json_object_get(o, "salve_apt_options");
	if (apt)
		json_object_set_new(h->vars, "salve_apt_options", json_deep_copy(apt));
	const json_t *dnf = json_object_get(o, "salve_dnf_options");
	if (dnf)
		json_object_set_new(h->vars, "salve_dnf_options", json_deep_copy(dnf));
	return 0;
}

void sp_host_clear(struct sp_host *h)
{
	free(h->name);
	free(h->address);
	free(h->user);
	free(h->key_file);
	json_decref(h->vars);
	memset(h, 0, sizeof *h);
}

int sp_undo_hosts_open(salve_call *call, const json_t *undo, struct sp_undo_hosts *u)
{
	memset(u, 0, sizeof *u);
	const json_t *hosts = json_object_get(undo, "hosts");
	if (!json_is_object(hosts)) {
		sp_fail(call, "undo record has no hosts object");
		return SALVE_ERR_INVALID;
	}
	u->n = json_object_size(hosts);
	u->hosts = calloc(u->n + 1, sizeof *u->hosts);
	u->entries = calloc(u->n + 1, sizeof *u->entries);
	size_t i = 0;
	const char *name;
	json_t *entry;
	json_object_foreach((json_t *)hosts, name, entry)
	{
		if (sp_host_from_json(json_object_get(entry, "host"), &u->hosts[i]) < 0) {
			sp_fail(call, "undo record for host %s lacks its connection details", name);
			u->n = i;
			sp_undo_hosts_close(u);
			return SALVE_ERR_INVALID;
		}
		u->entries[i] = entry;
		i++;
	}
	return SALVE_OK;
}

void sp_undo_hosts_close(struct sp_undo_hosts *u)
{
	for (size_t i = 0; i < u->n; i++)
		sp_host_clear(&u->hosts[i]);
	free(u->hosts);
	free(u->entries);
	memset(u, 0, sizeof *u);
}

struct sp_cmd *sp_cmds_on(const struct sp_host *const *hosts, size_t n, double timeout)
{
	struct sp_cmd *cmds = calloc(n + 1, sizeof *cmds);
	if (!cmds)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		cmds[i].host = hosts[i];
		cmds[i].timeout = timeout;
	}
	return cmds;
}

/* systemd's unit types (systemd.unit(5)). */
static const char *const unit_types[] = {"service",   "socket", "device", "mount",
                                         "automount", "swap",   "target", "path",
                                         "timer",     "slice",  "scope"};

int sp_valid_unit_name(const char *s, char *why, size_t whylen)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len > 255) {
		snprintf(why, whylen, "a unit name has 1 to 255 bytes");
		return 0;
	}
	if (s[0] == '-') {
		/* systemctl would read it as an option (--version, -Hroot@host). */
		snprintf(why, whylen, "a unit name must not start with '-'");
		return 0;
	}
	/* NAME[@INSTANCE].TYPE, or a bare NAME[@INSTANCE] that systemctl takes as a service. */
	const char *dot = strrchr(s, '.');
	const char *end = s + len;
	if (dot)
		for (size_t i = 0; i < sizeof unit_types / sizeof *unit_types; i++)
			if (strcmp(dot + 1, unit_types[i]) == 0)
				end = dot;
	if (end == s || s[0] == '@' || s[0] == '.') {
		snprintf(why, whylen, "a unit name needs a name before '@' or its type");
		return 0;
	}
	for (const char *p = s; p < end; p++)
		if (!isalnum((unsigned char)*p) && !strchr(":-_.\\@", *p)) {
			snprintf(
			    why, whylen,
			    "a unit name has only letters, digits and :-_.\\@ before its type");
			return 0;
		}
	return 1;
}

int sp_valid_path(const char *p, char *why, size_t whylen)
{
	size_t len = p ? strlen(p) : 0;
	if (len == 0 || p[0] != '/') {
		snprintf(why, whylen,
		         "must be an absolute path (salve never uses a working "
		         "directory)");
		return 0;
	}
	if (len > 4095) {
		snprintf(why, whylen, "is longer than 4095 bytes");
		return 0;
	}
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(why, whylen, "must not contain control characters");
			return 0;
		}
	/* Each component: not empty (// or a trailing /), not . and not .. */
	for (const char *c = p; *c;) {
		const char *next = strchr(c + 1, '/');
		size_t n = (size_t)((next ? next : p + len) - (c + 1));
		if (n == 0 || (n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.')) {
			snprintf(why, whylen,
			         "must be normalized: no empty, '.' or '..' components and no "
			         "trailing '/'");
			return 0;
		}
		if (!next)
			break;
		c = next;
	}
	return 1;
}
