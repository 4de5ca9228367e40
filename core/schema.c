#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "redact.h"
#include "registry.h"
#include "util.h"

const char *salve_type_name(enum salve_type type)
{
	switch (type) {
	case SALVE_T_ANY:
		return "any";
	case SALVE_T_STRING:
		return "string";
	case SALVE_T_INT:
		return "int";
	case SALVE_T_NUMBER:
		return "number";
	case SALVE_T_BOOL:
		return "bool";
	case SALVE_T_LIST:
		return "list";
	case SALVE_T_MAP:
		return "map";
	case SALVE_T_DURATION:
		return "duration";
	case SALVE_T_SECRET_REF:
		return "secret_ref";
	}
	return "invalid";
}

int salve_type_matches(enum salve_type t, const json_t *v)
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
	case SALVE_T_DURATION:
		return json_is_string(v) || json_is_number(v);
	case SALVE_T_SECRET_REF:
		return json_is_string(v);
	}
	return 0;
}

/* What v is, for "got ...": a short string quoted (JSON-escaped) unless it may be secret. */
static void describe_got(const json_t *v, int quote, char *out, size_t len)
{
	if (json_is_string(v) && quote && json_string_length(v) <= 40) {
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
		snprintf(out, len, "%s", text ? text : "a string");
		free(text);
	} else if (json_is_string(v)) {
		snprintf(out, len, "a string of %zu bytes", json_string_length(v));
	} else if (json_is_number(v) && quote) {
		snprintf(out, len, "%g", json_number_value(v));
	} else {
		snprintf(out, len, "%s", salve_json_type_name(v));
	}
}

static int secret_ref_form(const char *s)
{
	return (strncmp(s, "env:", 4) == 0 && s[4]) || (strncmp(s, "file:", 5) == 0 && s[5]);
}

int salve_value_check(enum salve_type t, unsigned flags, const json_t *v, char *why, size_t whylen)
{
	int quote = !(flags & SALVE_ARG_SECRET) && t != SALVE_T_SECRET_REF;
	char got[96];
	double seconds;
	describe_got(v, quote, got, sizeof got);
	switch (t) {
	case SALVE_T_DURATION:
		if (salve_duration_from_json(v, &seconds) == 0)
			return 0;
		snprintf(why, whylen,
		         "must be a duration such as \"30s\", \"5m\", \"1h30m\" or a number of "
		         "seconds, got %s",
		         got);
		return -1;
	case SALVE_T_SECRET_REF:
		if (json_is_string(v) && secret_ref_form(json_string_value(v)))
			return 0;
		snprintf(why, whylen,
		         "must be a secret reference (env:NAME or file:/path), got %s: inline "
		         "secrets are refused",
		         got);
		return -1;
	default:
		if (salve_type_matches(t, v))
			return 0;
		snprintf(why, whylen, "must be %s, got %s", salve_type_name(t),
		         salve_json_type_name(v));
		return -1;
	}
}

static const salve_arg *find(const salve_arg *spec, const char *name)
{
	for (size_t i = 0; spec && spec[i].name; i++)
		if (strcmp(spec[i].name, name) == 0)
			return &spec[i];
	return NULL;
}

int salve_args_validate(const salve_arg *spec, json_t *args, char *err, size_t errlen)
{
	if (!json_is_object(args)) {
		snprintf(err, errlen, "arguments must be a table, got %s",
		         salve_json_type_name(args));
		return -1;
	}
	const char *key;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(args, tmp, key, v)
	{
		const salve_arg *a = find(spec, key);
		if (!a) {
			char known[1024] = "";
			for (size_t i = 0; spec && spec[i].name; i++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", spec[i].name);
			}
			snprintf(err, errlen, "unknown argument '%s' (takes: %s)", key,
			         known[0] ? known : "none");
			return -1;
		}
		if (a->type == SALVE_T_LIST && json_is_object(v) && json_object_size(v) == 0) {
			json_object_set_new(args, key, json_array());
			continue;
		}
		if (a->type == SALVE_T_MAP && json_is_array(v) && json_array_size(v) == 0) {
			json_object_set_new(args, key, json_object());
			continue;
		}
		if (json_is_null(v) && !(a->flags & SALVE_ARG_REQUIRED))
			continue;
		char why[512];
		if (salve_value_check(a->type, a->flags, v, why, sizeof why) < 0) {
			snprintf(err, errlen, "argument '%s' %s", key, why);
			return -1;
		}
		if ((a->flags & SALVE_ARG_SECRET) && json_is_string(v))
			salve_redact_register(json_string_value(v));
	}
	for (size_t i = 0; spec && spec[i].name; i++) {
		json_t *have = json_object_get(args, spec[i].name);
		if ((spec[i].flags & SALVE_ARG_REQUIRED) && (!have || json_is_null(have))) {
			snprintf(err, errlen, "missing required argument '%s' (%s)", spec[i].name,
			         salve_type_name(spec[i].type));
			return -1;
		}
	}
	return 0;
}

json_t *salve_args_for_audit(const salve_arg *spec, const json_t *args)
{
	json_t *out = json_deep_copy(args);
	for (size_t i = 0; spec && spec[i].name; i++)
		if ((spec[i].flags & SALVE_ARG_SECRET) && json_object_get(out, spec[i].name))
			json_object_set_new(out, spec[i].name, json_string(SALVE_REDACTED));
	salve_redact_json(out);
	return out;
}

json_t *salve_setting_default(const salve_setting *s, char *why, size_t whylen)
{
	if (!s->default_value) {
		snprintf(why, whylen, "has no default");
		return NULL;
	}
	json_t *v;
	if (s->type == SALVE_T_STRING || s->type == SALVE_T_DURATION ||
	    s->type == SALVE_T_SECRET_REF) {
		v = json_string(s->default_value);
	} else {
		json_error_t jerr;
		v = json_loads(s->default_value, JSON_DECODE_ANY, &jerr);
	}
	char inner[400];
	if (!v || salve_value_check(s->type, 0, v, inner, sizeof inner) < 0) {
		snprintf(why, whylen, "has a default that does not fit its type %s (%s)",
		         salve_type_name(s->type), v ? inner : "not a value of that type");
		json_decref(v);
		return NULL;
	}
	double seconds;
	if (s->type == SALVE_T_DURATION && salve_duration_from_json(v, &seconds) == 0) {
		json_decref(v);
		v = json_real(seconds);
	}
	return v;
}

static const salve_setting *find_setting(const salve_setting *spec, const char *name)
{
	for (size_t i = 0; spec && spec[i].name; i++)
		if (strcmp(spec[i].name, name) == 0)
			return &spec[i];
	return NULL;
}

int salve_settings_apply(const salve_setting *spec, const json_t *config, const char *where,
                         json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!json_is_object(config)) {
		snprintf(err, errlen, "%s: must be a mapping of settings, got %s", where,
		         salve_json_type_name(config));
		return -1;
	}
	json_t *values = json_object();
	const char *key;
	json_t *v;
	char why[512];
	json_object_foreach((json_t *)config, key, v)
	{
		const salve_setting *s = find_setting(spec, key);
		if (!s) {
			char known[1024] = "";
			for (size_t i = 0; spec && spec[i].name; i++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", spec[i].name);
			}
			snprintf(err, errlen, "%s.%s: unknown setting (known: %s)", where, key,
			         known[0] ? known : "none");
			goto fail;
		}
		if (json_is_null(v))
			continue;
		if (salve_value_check(s->type, s->flags, v, why, sizeof why) < 0) {
			snprintf(err, errlen, "%s.%s: %s", where, key, why);
			goto fail;
		}
		double seconds;
		if (s->type == SALVE_T_DURATION && salve_duration_from_json(v, &seconds) == 0)
			json_object_set_new(values, key, json_real(seconds));
		else
			json_object_set(values, key, v);
		if ((s->flags & SALVE_ARG_SECRET) && json_is_string(v))
			salve_redact_register(json_string_value(v));
	}
	for (size_t i = 0; spec && spec[i].name; i++) {
		const salve_setting *s = &spec[i];
		if (json_object_get(values, s->name))
			continue;
		if (s->flags & SALVE_ARG_REQUIRED) {
			snprintf(err, errlen, "%s.%s: required setting is missing (%s)", where,
			         s->name, salve_type_name(s->type));
			goto fail;
		}
		if (!s->default_value)
			continue;
		json_t *d = salve_setting_default(s, why, sizeof why);
		if (!d) {
			snprintf(err, errlen, "%s.%s: %s", where, s->name, why);
			goto fail;
		}
		json_object_set_new(values, s->name, d);
	}
	*out = values;
	return 0;
fail:
	json_decref(values);
	return -1;
}
