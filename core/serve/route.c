#include "route.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "confget.h"
#include "tmpl.h"
#include "util.h"

/* Ten years: anything longer is a typo, and every duration must fit a time_t sum. */
#define MAX_DURATION (3650.0 * 86400)

/* The grammar, checked before any number is converted: NUMBER alone, or one or more
 * NUMBER UNIT with UNIT one of ms, s, m, h, d and NUMBER digits with an optional fraction.
 * strtod would also take "nan", "inf", "0x1p4", "1e9" and signs. */
static int duration_grammar(const char *p)
{
	int parts = 0;
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p))
				return 0;
			while (isdigit((unsigned char)*p))
				p++;
		}
		parts++;
		if (strncmp(p, "ms", 2) == 0)
			p += 2;
		else if (*p == 's' || *p == 'm' || *p == 'h' || *p == 'd')
			p++;
		else
			return *p == '\0' && parts == 1;
	}
	return parts > 0;
}

int srv_parse_duration(const char *text, double *seconds)
{
	double v;
	if (!text || !duration_grammar(text) || salve_parse_duration(text, &v) < 0 ||
	    !isfinite(v) || v < 0 || v > MAX_DURATION)
		return -1;
	*seconds = v;
	return 0;
}

int srv_parse_rate(const char *text, int *count, double *window)
{
	if (!text || !isdigit((unsigned char)*text))
		return -1;
	char *end;
	errno = 0;
	long n = strtol(text, &end, 10);
	if (end == text || errno || n <= 0 || n > 1000000 || *end != '/')
		return -1;
	double w;
	if (srv_parse_duration(end + 1, &w) < 0 || !(w > 0))
		return -1;
	*count = (int)n;
	*window = w;
	return 0;
}

/* Sizes stop at a terabyte: larger is a typo, and the bound keeps the cast to size_t defined. */
#define MAX_SIZE 1e12

/* NUMBER [UNIT] with NUMBER digits and an optional fraction, checked before strtod, which
 * would also take "nan", "inf", "0x10", "1e9" and signs. Every comparison is written so that
 * a NaN fails it: !(x > 0), never x <= 0. */
int srv_parse_size(const json_t *v, size_t *out)
{
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (!(n > 0 && (double)n <= MAX_SIZE))
			return -1;
		*out = (size_t)n;
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	size_t digits = strspn(s, "0123456789");
	if (s[digits] == '.' && isdigit((unsigned char)s[digits + 1]))
		digits += 1 + strspn(s + digits + 1, "0123456789");
	char *end;
	errno = 0;
	double n = strtod(s, &end);
	if (end != s + digits || errno || !(n > 0) || !isfinite(n))
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	static const struct {
		const char *unit;
		double factor;
	} units[] = {
	    {"", 1},           {"B", 1},      {"k", 1024},        {"K", 1024},     {"KB", 1000},
	    {"kB", 1000},      {"KiB", 1024}, {"M", 1048576},     {"MB", 1000000}, {"MiB", 1048576},
	    {"G", 1073741824}, {"GB", 1e9},   {"GiB", 1073741824}};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].unit) == 0) {
			double bytes = n * units[i].factor;
			if (!(bytes >= 1 && bytes <= MAX_SIZE))
				return -1;
			*out = (size_t)bytes;
			return 0;
		}
	}
	return -1;
}

/* ---- small typed getters over the YAML document ----------------------------------------- */

static int get_duration(const json_t *obj, const char *key, double *out, const char *where,
                        char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	/* A bare whole number is seconds. YAML reals (1e3, .inf, .nan) are refused: the
	 * grammar is the string one. */
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= (json_int_t)MAX_DURATION) {
		*out = (double)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && srv_parse_duration(json_string_value(v), out) == 0)
		return 0;
	snprintf(err, errlen,
	         "%s.%s: must be a duration such as \"30s\", \"10m\" or \"1h30m\" (at most "
	         "ten years; no nan, inf, hex or exponents)",
	         where, key);
	return -1;
}

static int get_int(const json_t *obj, const char *key, int *out, int min, int max,
                   const char *where, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "%s.%s: must be an integer from %d to %d", where, key, min,
		         max);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

static int get_bool(const json_t *obj, const char *key, int *out, const char *where, char *err,
                    size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s.%s: must be true or false", where, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* ---- server: --------------------------------------------------------------------------- */

static const char *const token_names[SRV_TOKEN_KINDS + 1] = {"hooks", "read", "approve", NULL};

static void conf_defaults(srv_conf *c)
{
	memset(c, 0, sizeof *c);
	c->listen = strdup("127.0.0.1:9095");
	c->http_threads = 2;
	c->workers = 4;
	c->queue_size = 256;
	c->history = 1000;
	c->max_connections = 256;
	c->max_connections_per_ip = 32;
	c->max_alerts = 1000;
	c->request_timeout = 10;
	c->shutdown_grace = 600;
	c->max_body = 1 << 20;
	c->max_header = 32 << 10;
	c->max_json_depth = 32;
	c->connection_timeout = 30;
	c->lock_timeout = 600;
	c->approval_timeout = 900;
	c->global_targets_window = 3600;
	c->dedup_size = 100000;
	c->resolved_memory = 86400;
	c->stale_after = 3600;
	c->ui_prefix = strdup("");
}

int srv_plain_prefix(const char *text, char *out, size_t outlen)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                         "/-._~";
	size_t n = strlen(text);
	if (text[0] != '/' || n > 200 || n >= outlen || text[strspn(text, ok)] != '\0' ||
	    strstr(text, "//") || strstr(text, "/.") || strstr(text, ".."))
		return -1;
	memcpy(out, text, n + 1);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

/* server.ui_prefix: "" (none) or a plain path, kept without trailing slashes. */
static int conf_ui_prefix(const json_t *v, srv_conf *c, char *err, size_t errlen)
{
	char prefix[256];
	if (!v)
		return 0;
	const char *text = json_string_value(v);
	if (!text || (text[0] && srv_plain_prefix(text, prefix, sizeof prefix) < 0)) {
		snprintf(err, errlen,
		         "server.ui_prefix: must be \"\" or a plain path such as /ops/salve "
		         "(letters, digits and /-._~, no \"..\", \"//\" or segment starting with "
		         "'.', at most 200 characters)");
		return -1;
	}
	char *copy = strdup(text[0] ? prefix : "");
	if (!copy) {
		snprintf(err, errlen, "server.ui_prefix: out of memory");
		return -1;
	}
	free(c->ui_prefix);
	c->ui_prefix = copy;
	return 0;
}

/* The keys of server: that are numbers, durations and strings. */
static int conf_scalars(const json_t *s, srv_conf *c, char *err, size_t errlen)
{
	int depth = (int)c->max_json_depth;
	if (salve_conf_string(s, "listen", &c->listen, "server", err, errlen) < 0 ||
	    get_int(s, "http_threads", &c->http_threads, 1, 64, "server", err, errlen) < 0 ||
	    get_int(s, "workers", &c->workers, 1, 256, "server", err, errlen) < 0 ||
	    get_int(s, "queue_size", &c->queue_size, 1, 1000000, "server", err, errlen) < 0 ||
	    get_int(s, "history", &c->history, 1, 1000000, "server", err, errlen) < 0 ||
	    get_int(s, "max_connections", &c->max_connections, 4, 100000, "server", err, errlen) <
	        0 ||
	    get_int(s, "max_json_depth", &depth, 2, 1000, "server", err, errlen) < 0 ||
	    get_duration(s, "connection_timeout", &c->connection_timeout, "server", err, errlen) <
	        0 ||
	    get_duration(s, "lock_timeout", &c->lock_timeout, "server", err, errlen) < 0 ||
	    get_duration(s, "approval_timeout", &c->approval_timeout, "server", err, errlen) < 0 ||
	    salve_conf_string(s, "runbook_dir", &c->runbook_dir, "server", err, errlen) < 0 ||
	    get_int(s, "max_targets", &c->global_max_targets, 0, 1000000, "server", err, errlen) <
	        0 ||
	    get_duration(s, "max_targets_window", &c->global_targets_window, "server", err,
	                 errlen) < 0 ||
	    get_int(s, "max_connections_per_ip", &c->max_connections_per_ip, 0, 100000, "server",
	            err, errlen) < 0 ||
	    get_int(s, "max_alerts", &c->max_alerts, 1, 1000000, "server", err, errlen) < 0 ||
	    get_duration(s, "request_timeout", &c->request_timeout, "server", err, errlen) < 0 ||
	    get_duration(s, "shutdown_grace", &c->shutdown_grace, "server", err, errlen) < 0 ||
	    get_int(s, "dedup_size", &c->dedup_size, 1, 100000000, "server", err, errlen) < 0 ||
	    get_duration(s, "resolved_memory", &c->resolved_memory, "server", err, errlen) < 0 ||
	    get_duration(s, "stale_after", &c->stale_after, "server", err, errlen) < 0)
		return -1;
	if (c->request_timeout < 1 || c->connection_timeout < 1) {
		snprintf(err, errlen, "server.%s: at least 1s",
		         c->request_timeout < 1 ? "request_timeout" : "connection_timeout");
		return -1;
	}
	c->max_json_depth = (size_t)depth;
	json_t *v;
	if ((v = json_object_get(s, "max_body")) && srv_parse_size(v, &c->max_body) < 0) {
		snprintf(err, errlen, "server.max_body: must be a size such as 1MiB or 65536");
		return -1;
	}
	if ((v = json_object_get(s, "max_header")) && srv_parse_size(v, &c->max_header) < 0) {
		snprintf(err, errlen, "server.max_header: must be a size such as 32KiB");
		return -1;
	}
	if (c->max_header < 4096) {
		snprintf(err, errlen, "server.max_header: at least 4KiB");
		return -1;
	}
	return 0;
}

static int conf_tls(const json_t *v, srv_conf *c, char *err, size_t errlen)
{
	static const char *const tls_keys[] = {"cert", "key", NULL};
	if (!v)
		return 0;
	if (!json_is_object(v) ||
	    salve_conf_known_keys(v, tls_keys, "server.tls", err, errlen) < 0 ||
	    salve_conf_string(v, "cert", &c->tls_cert, "server.tls", err, errlen) < 0 ||
	    salve_conf_string(v, "key", &c->tls_key, "server.tls", err, errlen) < 0) {
		if (!json_is_object(v))
			snprintf(err, errlen, "server.tls: must be {cert: FILE, key: FILE}");
		return -1;
	}
	if (!c->tls_cert || !c->tls_key) {
		snprintf(err, errlen, "server.tls: needs both cert and key");
		return -1;
	}
	return 0;
}

static int conf_tokens(const json_t *v, srv_conf *c, char *err, size_t errlen)
{
	if (!v)
		return 0;
	if (!json_is_object(v) ||
	    salve_conf_known_keys(v, token_names, "server.tokens", err, errlen) < 0) {
		if (!json_is_object(v))
			snprintf(err, errlen,
			         "server.tokens: must map hooks, read and approve to env:NAME or "
			         "file:/path references");
		return -1;
	}
	for (int k = 0; k < SRV_TOKEN_KINDS; k++) {
		if (salve_conf_string(v, token_names[k], &c->tokens[k], "server.tokens", err,
		                      errlen) < 0)
			return -1;
		const char *ref = c->tokens[k];
		if (ref && strncmp(ref, "env:", 4) != 0 && strncmp(ref, "file:", 5) != 0) {
			/* Never echo the value: it may be a pasted token. */
			snprintf(err, errlen,
			         "server.tokens.%s: must be a reference, env:NAME or file:/path "
			         "(inline tokens are refused)",
			         token_names[k]);
			return -1;
		}
	}
	return 0;
}

int srv_conf_load(const json_t *doc, const char *config_path, srv_conf *c, char *err, size_t errlen)
{
	(void)config_path;
	conf_defaults(c);
	if (salve_ha_conf_parse(json_object_get(doc, "ha"), &c->ha, err, errlen) < 0)
		return -1;
	const json_t *s = json_object_get(doc, "server");
	if (!s || json_is_null(s))
		return 0;
	if (!json_is_object(s)) {
		snprintf(err, errlen, "server: must be a mapping");
		return -1;
	}
	static const char *const keys[] = {"listen",
	                                   "http_threads",
	                                   "workers",
	                                   "queue_size",
	                                   "history",
	                                   "max_connections",
	                                   "max_body",
	                                   "max_header",
	                                   "max_json_depth",
	                                   "connection_timeout",
	                                   "lock_timeout",
	                                   "approval_timeout",
	                                   "tls",
	                                   "tokens",
	                                   "runbook_dir",
	                                   "max_targets",
	                                   "max_targets_window",
	                                   "max_connections_per_ip",
	                                   "max_alerts",
	                                   "request_timeout",
	                                   "shutdown_grace",
	                                   "dedup_size",
	                                   "resolved_memory",
	                                   "stale_after",
	                                   "ui_prefix",
	                                   NULL};
	if (salve_conf_known_keys(s, keys, "server", err, errlen) < 0 ||
	    conf_scalars(s, c, err, errlen) < 0 ||
	    conf_ui_prefix(json_object_get(s, "ui_prefix"), c, err, errlen) < 0 ||
	    conf_tls(json_object_get(s, "tls"), c, err, errlen) < 0 ||
	    conf_tokens(json_object_get(s, "tokens"), c, err, errlen) < 0)
		return -1;
	return 0;
}

void srv_conf_free(srv_conf *c)
{
	free(c->listen);
	free(c->tls_cert);
	free(c->tls_key);
	for (int k = 0; k < SRV_TOKEN_KINDS; k++)
		free(c->tokens[k]);
	free(c->runbook_dir);
	salve_ha_conf_free(c->ha);
	free(c->ui_prefix);
	memset(c, 0, sizeof *c);
}

/* ---- routes: --------------------------------------------------------------------------- */

static char *dir_of(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path ? path : ".");
	return strdup(path ? dirname(copy) : ".");
}

static char *resolve_runbook(const char *runbook, const char *config_path, const char *runbook_dir)
{
	if (strncmp(runbook, "builtin:", 8) == 0 || runbook[0] == '/')
		return strdup(runbook);
	char *cdir = dir_of(config_path);
	char base[PATH_MAX], out[PATH_MAX * 2];
	if (runbook_dir && runbook_dir[0] == '/')
		snprintf(base, sizeof base, "%s", runbook_dir);
	else if (runbook_dir)
		snprintf(base, sizeof base, "%s/%s", cdir, runbook_dir);
	else
		snprintf(base, sizeof base, "%s", cdir);
	free(cdir);
	snprintf(out, sizeof out, "%s/%s", base, runbook);
	return strdup(out);
}

static int valid_route_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

static int add_matcher(srv_route *r, const srv_matcher *m)
{
	srv_matcher *grown = realloc(r->matchers, (r->nmatchers + 1) * sizeof *grown);
	if (!grown)
		return -1;
	r->matchers = grown;
	r->matchers[r->nmatchers++] = *m;
	return 0;
}

static int load_matchers(const json_t *rj, srv_route *r, const char *where, char *err,
                         size_t errlen)
{
	char why[1024];
	json_t *list = json_object_get(rj, "matchers");
	if (list) {
		if (!json_is_array(list)) {
			snprintf(err, errlen,
			         "%s.matchers: must be a list such as [\"alertname = DiskFull\"]",
			         where);
			return -1;
		}
		size_t i;
		json_t *m;
		json_array_foreach(list, i, m)
		{
			srv_matcher parsed;
			if (!json_is_string(m)) {
				snprintf(err, errlen, "%s.matchers[%zu]: must be a string", where,
				         i);
				return -1;
			}
			if (srv_matcher_parse(json_string_value(m), &parsed, why, sizeof why) < 0) {
				snprintf(err, errlen, "%s.matchers[%zu]: %s", where, i, why);
				return -1;
			}
			if (add_matcher(r, &parsed) < 0) {
				srv_matcher_free(&parsed);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		}
	}
	/* The older mapping forms Alertmanager also accepts. */
	static const char *const forms[] = {"match", "match_re"};
	for (int f = 0; f < 2; f++) {
		json_t *map = json_object_get(rj, forms[f]);
		if (!map)
			continue;
		if (!json_is_object(map)) {
			snprintf(err, errlen, "%s.%s: must map label names to values", where,
			         forms[f]);
			return -1;
		}
		const char *k;
		json_t *v;
		json_object_foreach(map, k, v)
		{
			srv_matcher parsed;
			if (!json_is_string(v)) {
				snprintf(err, errlen, "%s.%s.%s: must be a string", where, forms[f],
				         k);
				return -1;
			}
			if (srv_matcher_init(&parsed, k, f ? SRV_MATCH_RE : SRV_MATCH_EQ,
			                     json_string_value(v), why, sizeof why) < 0) {
				snprintf(err, errlen, "%s.%s: %s", where, forms[f], why);
				return -1;
			}
			if (add_matcher(r, &parsed) < 0) {
				srv_matcher_free(&parsed);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		}
	}
	return 0;
}

static int load_params(const json_t *v, json_t **out, const char *where, char *err, size_t errlen)
{
	if (!v) {
		*out = json_object();
		return 0;
	}
	if (!json_is_object(v)) {
		snprintf(err, errlen, "%s: must map runbook params to values or templates", where);
		return -1;
	}
	if (srv_tmpl_check_json(v, where, err, errlen) < 0)
		return -1;
	*out = json_incref((json_t *)v);
	return 0;
}

/* allow_patterns: true (every param) or a list of the params that may carry patterns. */
static int load_allow_patterns(const json_t *v, srv_route *r, const char *where, char *err,
                               size_t errlen)
{
	if (!v)
		return 0;
	if (json_is_boolean(v)) {
		r->allow_patterns_all = json_is_true(v);
		return 0;
	}
	size_t i;
	json_t *name;
	if (!json_is_array(v))
		goto bad;
	json_array_foreach(v, i, name)
	{
		const char *n = json_string_value(name);
		if (!n)
			goto bad;
		if (!json_object_get(r->params, n) &&
		    !(r->resolved_params && json_object_get(r->resolved_params, n))) {
			snprintf(err, errlen,
			         "%s.allow_patterns: \"%s\" is not one of the route's params",
			         where, n);
			return -1;
		}
	}
	r->allow_patterns = json_incref((json_t *)v);
	return 0;
bad:
	snprintf(err, errlen,
	         "%s.allow_patterns: must be true, false or a list of param names such as "
	         "[hosts]",
	         where);
	return -1;
}

/* on_resolved: ignore (default), cancel, or {runbook, params, dry_run}. */
static int load_on_resolved(const json_t *res, srv_route *r, const char *where,
                            const char *config_path, const char *runbook_dir, char *err,
                            size_t errlen)
{
	if (!res || (json_is_string(res) && strcmp(json_string_value(res), "ignore") == 0)) {
		r->on_resolved = SRV_RESOLVED_IGNORE;
		return 0;
	}
	if (json_is_string(res) && strcmp(json_string_value(res), "cancel") == 0) {
		r->on_resolved = SRV_RESOLVED_CANCEL;
		return 0;
	}
	if (!json_is_object(res)) {
		snprintf(err, errlen,
		         "%s.on_resolved: must be ignore, cancel or {runbook: FILE, params: {...}}",
		         where);
		return -1;
	}
	static const char *const rkeys[] = {"runbook", "params", "dry_run", NULL};
	char rwhere[300], rpwhere[320];
	snprintf(rwhere, sizeof rwhere, "%s.on_resolved", where);
	char *rb = NULL;
	r->resolved_dry_run = r->dry_run;
	if (salve_conf_known_keys(res, rkeys, rwhere, err, errlen) < 0 ||
	    salve_conf_string(res, "runbook", &rb, rwhere, err, errlen) < 0 ||
	    get_bool(res, "dry_run", &r->resolved_dry_run, rwhere, err, errlen) < 0) {
		free(rb);
		return -1;
	}
	if (!rb) {
		snprintf(err, errlen, "%s: needs a runbook", rwhere);
		return -1;
	}
	r->resolved_runbook = resolve_runbook(rb, config_path, runbook_dir);
	free(rb);
	snprintf(rpwhere, sizeof rpwhere, "%s.params", rwhere);
	if (load_params(json_object_get(res, "params"), &r->resolved_params, rpwhere, err, errlen) <
	    0)
		return -1;
	r->on_resolved = SRV_RESOLVED_RUN;
	return 0;
}

static int load_route(const json_t *rj, srv_route *r, const char *where, const char *config_path,
                      const char *runbook_dir, char *err, size_t errlen)
{
	static const char *const keys[] = {"name",
	                                   "matchers",
	                                   "match",
	                                   "match_re",
	                                   "runbook",
	                                   "params",
	                                   "target",
	                                   "dry_run",
	                                   "continue",
	                                   "cooldown",
	                                   "max_concurrent",
	                                   "rate_limit",
	                                   "circuit_breaker",
	                                   "max_targets",
	                                   "max_targets_window",
	                                   "on_resolved",
	                                   "allow_patterns",
	                                   NULL};
	char sub[256];
	if (!json_is_object(rj)) {
		snprintf(err, errlen, "%s: must be a mapping", where);
		return -1;
	}
	if (salve_conf_known_keys(rj, keys, where, err, errlen) < 0)
		return -1;
	r->cooldown = 600;
	r->targets_window = 3600;
	char *runbook = NULL, *rate = NULL;
	int rc = -1;
	if (salve_conf_string(rj, "name", &r->name, where, err, errlen) < 0)
		goto out;
	if (!r->name) {
		snprintf(err, errlen,
		         "%s: every route needs a name (used in metrics, the API and "
		         "the audit log)",
		         where);
		goto out;
	}
	if (!valid_route_name(r->name)) {
		snprintf(err, errlen, "%s: name \"%s\" may only use letters, digits, '-', '_', '.'",
		         where, r->name);
		goto out;
	}
	snprintf(sub, sizeof sub, "%s (%s)", where, r->name);
	where = sub;
	if (load_matchers(rj, r, where, err, errlen) < 0)
		goto out;
	if (salve_conf_string(rj, "runbook", &runbook, where, err, errlen) < 0)
		goto out;
	if (!runbook) {
		snprintf(err, errlen, "%s: runbook is required", where);
		goto out;
	}
	r->runbook = resolve_runbook(runbook, config_path, runbook_dir);
	char pwhere[300];
	snprintf(pwhere, sizeof pwhere, "%s.params", where);
	if (load_params(json_object_get(rj, "params"), &r->params, pwhere, err, errlen) < 0)
		goto out;
	if (salve_conf_string(rj, "target", &r->target, where, err, errlen) < 0)
		goto out;
	char twhere[300];
	snprintf(twhere, sizeof twhere, "%s.target", where);
	if (r->target) {
		char why[1024];
		if (srv_tmpl_check(r->target, why, sizeof why) < 0) {
			snprintf(err, errlen, "%s: %s", twhere, why);
			goto out;
		}
	}
	if (get_bool(rj, "dry_run", &r->dry_run, where, err, errlen) < 0 ||
	    get_bool(rj, "continue", &r->cont, where, err, errlen) < 0 ||
	    get_duration(rj, "cooldown", &r->cooldown, where, err, errlen) < 0 ||
	    get_int(rj, "max_concurrent", &r->max_concurrent, 0, 10000, where, err, errlen) < 0 ||
	    get_int(rj, "circuit_breaker", &r->breaker, 0, 10000, where, err, errlen) < 0 ||
	    get_int(rj, "max_targets", &r->max_targets, 0, 1000000, where, err, errlen) < 0 ||
	    get_duration(rj, "max_targets_window", &r->targets_window, where, err, errlen) < 0 ||
	    salve_conf_string(rj, "rate_limit", &rate, where, err, errlen) < 0)
		goto out;
	if (rate && srv_parse_rate(rate, &r->rate_count, &r->rate_window) < 0) {
		snprintf(err, errlen,
		         "%s.rate_limit: must be RUNS/DURATION such as \"5/1h\" (a whole number of "
		         "runs above 0 and a duration above 0)",
		         where);
		goto out;
	}
	if (load_on_resolved(json_object_get(rj, "on_resolved"), r, where, config_path, runbook_dir,
	                     err, errlen) < 0)
		goto out;
	if (load_allow_patterns(json_object_get(rj, "allow_patterns"), r, where, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	free(runbook);
	free(rate);
	return rc;
}

static void route_free(srv_route *r)
{
	for (size_t i = 0; i < r->nmatchers; i++)
		srv_matcher_free(&r->matchers[i]);
	free(r->matchers);
	free(r->name);
	free(r->runbook);
	json_decref(r->params);
	free(r->target);
	free(r->resolved_runbook);
	json_decref(r->resolved_params);
	json_decref(r->allow_patterns);
	memset(r, 0, sizeof *r);
}

int srv_routes_load(const json_t *doc, const char *config_path, const char *runbook_dir,
                    srv_routes *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	json_t *list = json_object_get(doc, "routes");
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list)) {
		snprintf(err, errlen, "routes: must be a list of routes");
		return -1;
	}
	out->v = calloc(json_array_size(list) + 1, sizeof *out->v);
	if (!out->v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t i;
	json_t *rj;
	json_array_foreach(list, i, rj)
	{
		char where[64];
		snprintf(where, sizeof where, "routes[%zu]", i);
		srv_route *r = &out->v[out->n++];
		if (load_route(rj, r, where, config_path, runbook_dir, err, errlen) < 0) {
			srv_routes_free(out);
			return -1;
		}
		for (size_t j = 0; j + 1 < out->n; j++) {
			if (strcmp(out->v[j].name, r->name) == 0) {
				snprintf(err, errlen, "%s: route name \"%s\" is used twice", where,
				         r->name);
				srv_routes_free(out);
				return -1;
			}
		}
	}
	return 0;
}

void srv_routes_free(srv_routes *r)
{
	for (size_t i = 0; i < r->n; i++)
		route_free(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof *r);
}

int srv_route_match(const srv_route *r, const json_t *labels, char *why, size_t whylen)
{
	for (size_t i = 0; i < r->nmatchers; i++) {
		const srv_matcher *m = &r->matchers[i];
		if (srv_matcher_matches(m, labels))
			continue;
		if (why) {
			char text[512];
			srv_matcher_format(m, text, sizeof text);
			const char *v = json_string_value(json_object_get(labels, m->name));
			if (v)
				snprintf(why, whylen, "%s does not hold: %s is \"%s\"", text,
				         m->name, v);
			else
				snprintf(why, whylen, "%s does not hold: the alert has no %s label",
				         text, m->name);
		}
		return 0;
	}
	if (why && whylen)
		why[0] = '\0';
	return 1;
}

json_t *srv_route_matchers_json(const srv_route *r)
{
	json_t *m = json_array();
	for (size_t k = 0; k < r->nmatchers; k++) {
		char text[512];
		srv_matcher_format(&r->matchers[k], text, sizeof text);
		json_array_append_new(m, json_string(text));
	}
	return m;
}
