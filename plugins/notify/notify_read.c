/* The maps inside the notify plugin's configuration, checked against their salve_setting
 * tables as the core checks the top level, with the core's error shape. */
#include "notify_read.h"

#include "duration.h"
#include "notify_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void notify_read_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *type_name(enum salve_type t)
{
	static const char *const names[] = {[SALVE_T_ANY] = "any",
	                                    [SALVE_T_STRING] = "string",
	                                    [SALVE_T_INT] = "int",
	                                    [SALVE_T_NUMBER] = "number",
	                                    [SALVE_T_BOOL] = "bool",
	                                    [SALVE_T_LIST] = "list",
	                                    [SALVE_T_MAP] = "map",
	                                    [SALVE_T_DURATION] = "duration",
	                                    [SALVE_T_SECRET_REF] = "secret_ref"};
	return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "invalid";
}

/* What v is, in the core's words ("table" for a map, as Lua and the core say). */
static const char *value_name(const json_t *v)
{
	static const char *const names[] = {
	    [JSON_OBJECT] = "table",    [JSON_ARRAY] = "list",  [JSON_STRING] = "string",
	    [JSON_INTEGER] = "integer", [JSON_REAL] = "number", [JSON_TRUE] = "boolean",
	    [JSON_FALSE] = "boolean",   [JSON_NULL] = "nil"};
	return names[json_typeof(v)];
}

static int fits(enum salve_type t, const json_t *v)
{
	switch (t) {
	case SALVE_T_ANY:
		return 1;
	case SALVE_T_STRING:
		return json_is_string(v);
	case SALVE_T_INT:
		return json_is_integer(v);
	case SALVE_T_NUMBER:
		return json_is_number(v);
	case SALVE_T_BOOL:
		return json_is_boolean(v);
	case SALVE_T_LIST:
		return json_is_array(v);
	case SALVE_T_MAP:
		return json_is_object(v);
	default:
		return 0;
	}
}

/* What v is, for "got ...": a short string quoted (JSON-escaped) unless it may be secret. */
static void describe(const json_t *v, int quote, char *got, size_t len)
{
	char *text = NULL;
	if (json_is_string(v) && quote && json_string_length(v) <= 40)
		text = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
	if (text)
		snprintf(got, len, "%s", text);
	else if (json_is_string(v))
		snprintf(got, len, "a string of %zu bytes", json_string_length(v));
	else
		snprintf(got, len, "%s", value_name(v));
	free(text);
}

/* Why v does not fit s (into why), or 0 when it does; *seconds for a duration. */
static int misfit(const salve_setting *s, const json_t *v, double *seconds, char *why,
                  size_t whylen)
{
	const char *text = json_string_value(v);
	if ((s->type == SALVE_T_STRING || s->type == SALVE_T_SECRET_REF) && text &&
	    (!*text || strlen(text) != json_string_length(v))) {
		snprintf(why, whylen, "must be a non-empty string without NUL bytes");
		return 1;
	}
	int ok = s->type == SALVE_T_DURATION     ? salve_duration_from_json(v, seconds) == 0
	         : s->type == SALVE_T_SECRET_REF ? text && notify_is_secret_ref(text)
	                                         : fits(s->type, v);
	if (ok)
		return 0;
	char got[96];
	describe(v, s->type == SALVE_T_DURATION, got, sizeof got);
	if (s->type == SALVE_T_DURATION)
		snprintf(why, whylen,
		         "must be a duration such as \"30s\", \"5m\", \"1h30m\" or a number of "
		         "seconds, got %s",
		         got);
	else if (s->type == SALVE_T_SECRET_REF)
		snprintf(why, whylen,
		         "must be a secret reference (env:NAME or file:/path), got %s: inline "
		         "secrets are refused",
		         got);
	else
		snprintf(why, whylen, "must be %s, got %s", type_name(s->type), value_name(v));
	return 1;
}

static const salve_setting *find(const salve_setting *spec, const char *name)
{
	for (const salve_setting *s = spec; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* The value a setting gets when absent: its default, parsed as the core parses defaults. */
static json_t *default_of(const salve_setting *s)
{
	double seconds;
	json_t *v = s->type == SALVE_T_STRING || s->type == SALVE_T_DURATION
	                ? json_string(s->default_value)
	                : json_loads(s->default_value, JSON_DECODE_ANY, NULL);
	if (v && s->type == SALVE_T_DURATION && salve_duration_from_json(v, &seconds) == 0) {
		json_decref(v);
		v = json_real(seconds);
	}
	return v;
}

int notify_section_apply(const salve_setting *spec, const json_t *section, const char *where,
                         json_t **out, char *err, size_t errlen)
{
	json_t *values = *out = json_object();
	const char *key;
	json_t *v;
	char why[256];
	err[0] = '\0';
	if (section && !json_is_null(section) && !json_is_object(section)) {
		notify_read_error(err, errlen, "%s: must be a map, got %s", where,
		                  value_name(section));
		goto fail;
	}
	json_object_foreach((json_t *)section, key, v)
	{
		const salve_setting *s = find(spec, key);
		if (!s) {
			char known[512] = "";
			for (const salve_setting *k = spec; k->name; k++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", k->name);
			}
			notify_read_error(err, errlen, "%s.%s: unknown setting (known: %s)", where,
			                  key, known);
			goto fail;
		}
		double seconds = 0;
		if (json_is_null(v))
			continue;
		if (misfit(s, v, &seconds, why, sizeof why)) {
			notify_read_error(err, errlen, "%s.%s: %s", where, key, why);
			goto fail;
		}
		json_object_set_new(
		    values, key, s->type == SALVE_T_DURATION ? json_real(seconds) : json_incref(v));
	}
	for (const salve_setting *s = spec; s->name; s++) {
		if (json_object_get(values, s->name))
			continue;
		if (s->flags & SALVE_ARG_REQUIRED) {
			notify_read_error(err, errlen, "%s.%s: required setting is missing (%s)",
			                  where, s->name, type_name(s->type));
			goto fail;
		}
		if (s->default_value && json_object_set_new(values, s->name, default_of(s)) < 0)
			goto fail;
	}
	return 0;
fail:
	json_decref(values);
	*out = NULL;
	return -1;
}

int notify_string_list(const json_t *v, const char *where, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v))
		v = json_pack("[O]", v);
	else if (json_is_array(v))
		json_incref((json_t *)v);
	else {
		notify_read_error(err, errlen, "%s: must be a string or a list of strings, got %s",
		                  where, value_name(v));
		return -1;
	}
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item) || json_string_length(item) == 0) {
			notify_read_error(err, errlen, "%s[%zu]: must be a non-empty string", where,
			                  i);
			json_decref((json_t *)v);
			return -1;
		}
	}
	*out = (json_t *)v;
	return 0;
}

int notify_copy_string(const json_t *values, const char *key, char **out)
{
	const char *s = json_string_value(json_object_get(values, key));
	*out = s ? strdup(s) : NULL;
	return s && !*out ? -1 : 0;
}
