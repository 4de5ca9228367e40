/* What a route gives an alert: params, target and reach (see render.h). */
#include "render.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tmpl.h"

const char *srv_render_value_syntax(const char *value)
{
	if (strcasecmp(value, "all") == 0)
		return "the word all";
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		switch (*p) {
		case '*':
			return "'*'";
		case '?':
			return "'?'";
		case ',':
			return "','";
		case ':':
			return "':'";
		case '!':
			return "'!'";
		case '&':
			return "'&'";
		case '~':
			return "'~'";
		case '[':
			return "'['";
		case ']':
			return "']'";
		default:
			if (isspace(*p))
				return "whitespace";
			if (*p < 0x20 || *p == 0x7f)
				return "a control character";
		}
	}
	return NULL;
}

/* Alert values that are not free text from a sender: normalized timestamps and the status. */
static int normalized_value(const char *name)
{
	return strcmp(name, "startsAt") == 0 || strcmp(name, "endsAt") == 0 ||
	       strcmp(name, "status") == 0;
}

/* "params.hosts[0]" or "on_resolved.params.hosts.x" -> "hosts". */
static void top_param(const char *where, char *out, size_t len)
{
	const char *p = where ? strstr(where, "params.") : NULL;
	p = p ? p + 7 : "";
	size_t n = strcspn(p, ".[");
	snprintf(out, len, "%.*s", (int)n, p);
}

static int patterns_allowed(const srv_route *r, const char *where)
{
	if (r->allow_patterns_all)
		return 1;
	char param[256];
	top_param(where, param, sizeof param);
	size_t i;
	json_t *n;
	json_array_foreach(r->allow_patterns, i,
	                   n) if (strcmp(json_string_value(n), param) == 0) return 1;
	return 0;
}

struct value_check {
	const srv_route *r;
	int refused;
};

static const char *check_value(void *ctx, const char *where, const char *name, const char *value,
                               char *err, size_t errlen)
{
	struct value_check *c = ctx;
	const char *what = srv_render_value_syntax(value);
	if (!what || normalized_value(name) || patterns_allowed(c->r, where))
		return value;
	c->refused = 1;
	char param[256];
	top_param(where, param, sizeof param);
	snprintf(err, errlen,
	         "%s is \"%.64s%s\": a value from an alert must name exactly one thing, and %s is "
	         "host-pattern or list syntax (set allow_patterns: [%s] on the route to let it "
	         "through)",
	         name, value, strlen(value) > 64 ? "..." : "", what, param);
	return NULL;
}

int srv_render_params(const srv_route *r, const json_t *alert, int resolved, json_t **params,
                      char **target, char *err, size_t errlen)
{
	*params = NULL;
	*target = NULL;
	const json_t *tmpl = resolved ? r->resolved_params : r->params;
	struct value_check check = {r, 0};
	*params = srv_tmpl_render_json_with(tmpl, alert, resolved ? "on_resolved.params" : "params",
	                                    check_value, &check, err, errlen);
	if (!*params)
		return check.refused ? -2 : -1;
	if (r->target) {
		char why[1024];
		*target = srv_tmpl_render(r->target, alert, why, sizeof why);
		if (!*target) {
			snprintf(err, errlen, "target: %s", why);
			json_decref(*params);
			*params = NULL;
			return -1;
		}
	} else {
		*target = json_dumps(*params, JSON_COMPACT | JSON_SORT_KEYS);
	}
	return 0;
}

/* ---- blast radius: what a run reaches ------------------------------------------------------ */

#define MAX_LISTS   8
#define MAX_TARGETS 256

/* Expansion of list values: a first render (collect) splits every list value into its
 * elements; each later render (select) puts one combination of elements in their place.
 * Renders visit placeholders in the same order every time, so the n-th list met is always
 * the same value. */
struct expansion {
	int selecting;
	int unbounded;
	size_t nlists, met;
	json_t *elems[MAX_LISTS]; /* arrays of strings */
	size_t pick[MAX_LISTS];
};

/* Splits value on the separators of host lists (',', ':', whitespace). Elements that only
 * narrow a pattern ('!x', '&x') reach nothing more and are dropped. Returns the array of
 * elements, setting *unbounded for a pattern (wildcards, ranges, regexes, all). */
static json_t *list_elements(const char *value, int *unbounded)
{
	json_t *out = json_array();
	const char *p = value;
	while (*p) {
		size_t n = strcspn(p, ",: \t\r\n\v\f");
		if (n > 0 && p[0] != '!' && p[0] != '&') {
			char *e = strndup(p, n);
			if (e && (strpbrk(e, "*?[]~") || strcasecmp(e, "all") == 0))
				*unbounded = 1;
			else if (e)
				json_array_append_new(out, json_string(e));
			free(e);
		}
		p += n;
		if (*p)
			p++;
	}
	return out;
}

static const char *expand_value(void *ctx, const char *where, const char *name, const char *value,
                                char *err, size_t errlen)
{
	(void)where;
	(void)err;
	(void)errlen;
	struct expansion *x = ctx;
	if (normalized_value(name) || !srv_render_value_syntax(value))
		return value;
	if (!x->selecting) {
		int unbounded = 0;
		json_t *elems = list_elements(value, &unbounded);
		if (unbounded || x->nlists == MAX_LISTS || !json_is_array(elems)) {
			x->unbounded = 1;
			json_decref(elems);
		} else {
			x->elems[x->nlists++] = elems;
		}
		return value;
	}
	if (x->met >= x->nlists)
		return value;
	size_t i = x->met++;
	json_t *e = json_array_get(x->elems[i], x->pick[i]);
	return e ? json_string_value(e) : "";
}

/* One render of the target source: the target template, or the params as canonical JSON. */
static char *render_target(const srv_route *r, const json_t *alert, int resolved,
                           struct expansion *x, char *err, size_t errlen)
{
	x->met = 0;
	if (r->target)
		return srv_tmpl_render_with(r->target, alert, expand_value, x, err, errlen);
	json_t *p = srv_tmpl_render_json_with(resolved ? r->resolved_params : r->params, alert,
	                                      "params", expand_value, x, err, errlen);
	char *text = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(p);
	return text;
}

int srv_render_targets(const srv_route *r, const json_t *alert, int resolved, json_t **targets,
                       int *unbounded, char *err, size_t errlen)
{
	struct expansion x;
	memset(&x, 0, sizeof x);
	*targets = NULL;
	*unbounded = 0;
	int rc = -1;
	/* A pattern in any param reaches an unknown number of targets, even when the target
	 * template does not name that param. */
	json_t *p = srv_tmpl_render_json_with(resolved ? r->resolved_params : r->params, alert,
	                                      "params", expand_value, &x, err, errlen);
	if (!p)
		goto out;
	json_decref(p);
	for (size_t i = 0; i < x.nlists; i++)
		json_decref(x.elems[i]);
	x.nlists = 0;
	char *text = render_target(r, alert, resolved, &x, err, errlen);
	if (!text)
		goto out;
	size_t combos = 1;
	for (size_t i = 0; i < x.nlists && combos <= MAX_TARGETS; i++)
		combos *= json_array_size(x.elems[i]);
	*targets = json_array();
	if (x.unbounded || combos > MAX_TARGETS) {
		*unbounded = 1;
		json_array_append_new(*targets, json_string(text));
		free(text);
		rc = 0;
		goto out;
	}
	free(text);
	x.selecting = 1;
	for (size_t c = 0; c < combos; c++) {
		size_t rest = c;
		for (size_t i = 0; i < x.nlists; i++) {
			size_t n = json_array_size(x.elems[i]);
			x.pick[i] = rest % n;
			rest /= n;
		}
		char *one = render_target(r, alert, resolved, &x, err, errlen);
		if (!one) {
			json_decref(*targets);
			*targets = NULL;
			goto out;
		}
		json_array_append_new(*targets, json_string(one));
		free(one);
	}
	rc = 0;
out:
	for (size_t i = 0; i < x.nlists; i++)
		json_decref(x.elems[i]);
	return rc;
}
