#include "tmpl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const map_roots[] = {"labels",       "annotations",       "groupLabels",
                                        "commonLabels", "commonAnnotations", NULL};
static const char *const scalar_roots[] = {"fingerprint",  "status",   "startsAt",    "endsAt",
                                           "generatorURL", "receiver", "externalURL", NULL};

static int in_list(const char *const *list, const char *s, size_t n)
{
	for (size_t i = 0; list[i]; i++)
		if (strlen(list[i]) == n && strncmp(list[i], s, n) == 0)
			return 1;
	return 0;
}

/* One parsed placeholder: root, optional key, optional default. */
struct placeholder {
	char root[32];
	char key[256];
	char *fallback; /* malloc'd, or NULL */
	int has_key;
};

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p;
}

/* Parses the inside of {{ ... }} (p..end). 0 or -1 with err. */
static int parse_placeholder(const char *p, const char *end, struct placeholder *ph, char *err,
                             size_t errlen)
{
	memset(ph, 0, sizeof *ph);
	p = skip_space(p, end);
	const char *name = p;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
		p++;
	size_t n = (size_t)(p - name);
	if (n == 0) {
		snprintf(err, errlen, "expected a name such as labels.namespace inside {{ }}");
		return -1;
	}
	int is_map = in_list(map_roots, name, n), is_scalar = in_list(scalar_roots, name, n);
	if (!is_map && !is_scalar) {
		snprintf(err, errlen,
		         "unknown name \"%.*s\" (use labels.X, annotations.X, groupLabels.X, "
		         "commonLabels.X, commonAnnotations.X, fingerprint, status, startsAt, "
		         "endsAt, generatorURL, receiver or externalURL)",
		         (int)n, name);
		return -1;
	}
	memcpy(ph->root, name, n);
	ph->root[n] = '\0';
	if (is_map) {
		if (p >= end || *p != '.') {
			snprintf(err, errlen, "%s needs a key: %s.NAME", ph->root, ph->root);
			return -1;
		}
		p++;
		const char *key = p;
		while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		size_t kn = (size_t)(p - key);
		if (kn == 0 || kn >= sizeof ph->key) {
			snprintf(err, errlen, "%s.: expected a label or annotation name", ph->root);
			return -1;
		}
		memcpy(ph->key, key, kn);
		ph->key[kn] = '\0';
		ph->has_key = 1;
	}
	p = skip_space(p, end);
	if (p < end && *p == '|') {
		p = skip_space(p + 1, end);
		if ((size_t)(end - p) < 7 || strncmp(p, "default", 7) != 0) {
			snprintf(err, errlen, "the only filter is | default \"value\"");
			return -1;
		}
		p = skip_space(p + 7, end);
		if (p >= end || *p != '"') {
			snprintf(err, errlen, "default takes a quoted value: | default \"x\"");
			return -1;
		}
		const char *q = ++p;
		while (q < end && *q != '"')
			q++;
		if (q >= end) {
			snprintf(err, errlen, "default: unterminated quoted value");
			return -1;
		}
		ph->fallback = strndup(p, (size_t)(q - p));
		p = q + 1;
	}
	p = skip_space(p, end);
	if (p != end) {
		snprintf(err, errlen, "unexpected \"%.*s\" inside {{ }}", (int)(end - p), p);
		free(ph->fallback);
		ph->fallback = NULL;
		return -1;
	}
	return 0;
}

/* Walks text placeholder by placeholder; with render set, builds the output from ctx. Check
 * and render share it so the two can never disagree about syntax. A "}}" outside a
 * placeholder is literal text. */
static char *walk(const char *text, const json_t *ctx, int render, const char *where,
                  srv_tmpl_value_fn fn, void *fnctx, char *err, size_t errlen)
{
	size_t cap = strlen(text) + 64, w = 0;
	char *out = render ? malloc(cap) : NULL;
	if (render && !out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	const char *p = text;
	for (;;) {
		const char *open = strstr(p, "{{");
		const char *lit_end = open ? open : p + strlen(p);
		size_t litn = (size_t)(lit_end - p);
		const char *value = NULL;
		size_t valn = 0;
		struct placeholder ph = {0};
		const char *close = NULL;
		if (open) {
			close = strstr(open + 2, "}}");
			if (!close) {
				snprintf(err, errlen, "unclosed {{ in \"%s\"", text);
				free(out);
				return NULL;
			}
			char why[512];
			if (parse_placeholder(open + 2, close, &ph, why, sizeof why) < 0) {
				snprintf(err, errlen, "\"%s\": %s", text, why);
				free(out);
				return NULL;
			}
			if (render) {
				const json_t *v = json_object_get(ctx, ph.root);
				if (ph.has_key)
					v = json_object_get(v, ph.key);
				value = json_string_value(v);
				int from_alert = 1;
				if (!value || (!*value && ph.fallback)) {
					value = ph.fallback;
					from_alert = 0;
				}
				if (!value) {
					snprintf(err, errlen,
					         "%s%s%s is not set on the alert (\"%s\"; add | "
					         "default \"...\" if it may be absent)",
					         ph.root, ph.has_key ? "." : "",
					         ph.has_key ? ph.key : "", text);
					free(out);
					return NULL;
				}
				if (from_alert && fn) {
					char name[300];
					snprintf(name, sizeof name, "%s%s%s", ph.root,
					         ph.has_key ? "." : "", ph.has_key ? ph.key : "");
					value = fn(fnctx, where, name, value, err, errlen);
					if (!value) {
						free(ph.fallback);
						free(out);
						return NULL;
					}
				}
				valn = strlen(value);
			}
		}
		if (render) {
			if (w + litn + valn + 1 > cap) {
				cap = (w + litn + valn + 1) * 2;
				char *grown = realloc(out, cap);
				if (!grown) {
					free(ph.fallback);
					free(out);
					snprintf(err, errlen, "out of memory");
					return NULL;
				}
				out = grown;
			}
			memcpy(out + w, p, litn);
			w += litn;
			if (value) {
				memcpy(out + w, value, valn);
				w += valn;
			}
		}
		free(ph.fallback);
		if (!open)
			break;
		p = close + 2;
	}
	if (render) {
		out[w] = '\0';
		return out;
	}
	return (char *)text; /* non-NULL: success */
}

int srv_tmpl_check(const char *text, char *err, size_t errlen)
{
	return walk(text, NULL, 0, NULL, NULL, NULL, err, errlen) ? 0 : -1;
}

char *srv_tmpl_render(const char *text, const json_t *ctx, char *err, size_t errlen)
{
	return walk(text, ctx, 1, NULL, NULL, NULL, err, errlen);
}

char *srv_tmpl_render_with(const char *text, const json_t *ctx, srv_tmpl_value_fn fn, void *fnctx,
                           char *err, size_t errlen)
{
	return walk(text, ctx, 1, NULL, fn, fnctx, err, errlen);
}

int srv_tmpl_check_json(const json_t *v, const char *where, char *err, size_t errlen)
{
	char sub[512], why[1024];
	if (json_is_string(v)) {
		if (srv_tmpl_check(json_string_value(v), why, sizeof why) < 0) {
			snprintf(err, errlen, "%s: %s", where, why);
			return -1;
		}
	} else if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x)
		{
			snprintf(sub, sizeof sub, "%s.%s", where, k);
			if (srv_tmpl_check_json(x, sub, err, errlen) < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
		{
			snprintf(sub, sizeof sub, "%s[%zu]", where, i);
			if (srv_tmpl_check_json(x, sub, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

json_t *srv_tmpl_render_json_with(const json_t *v, const json_t *ctx, const char *where,
                                  srv_tmpl_value_fn fn, void *fnctx, char *err, size_t errlen)
{
	char sub[512], why[1024];
	if (json_is_string(v)) {
		char *s = walk(json_string_value(v), ctx, 1, where, fn, fnctx, why, sizeof why);
		if (!s) {
			snprintf(err, errlen, "%s: %s", where, why);
			return NULL;
		}
		json_t *r = json_string(s);
		free(s);
		if (!r)
			snprintf(err, errlen, "%s: the value is not valid UTF-8", where);
		return r;
	}
	if (json_is_object(v)) {
		json_t *out = json_object();
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x)
		{
			snprintf(sub, sizeof sub, "%s.%s", where, k);
			json_t *r = srv_tmpl_render_json_with(x, ctx, sub, fn, fnctx, err, errlen);
			if (!r) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, k, r);
		}
		return out;
	}
	if (json_is_array(v)) {
		json_t *out = json_array();
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
		{
			snprintf(sub, sizeof sub, "%s[%zu]", where, i);
			json_t *r = srv_tmpl_render_json_with(x, ctx, sub, fn, fnctx, err, errlen);
			if (!r) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, r);
		}
		return out;
	}
	return json_deep_copy(v);
}

json_t *srv_tmpl_render_json(const json_t *v, const json_t *ctx, const char *where, char *err,
                             size_t errlen)
{
	return srv_tmpl_render_json_with(v, ctx, where, NULL, NULL, err, errlen);
}
