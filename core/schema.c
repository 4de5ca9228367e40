#include "schema.h"

#include <math.h>
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

/* How deep settings may nest; deeper is a table that contains itself. */
#define MAX_DEPTH 8

#define KNOWN_FLAGS                                                                                \
	(SALVE_ARG_REQUIRED | SALVE_ARG_SECRET | SALVE_SETTING_EACH | SALVE_SETTING_STRINGS |      \
	 SALVE_SETTING_MIN | SALVE_SETTING_MAX | SALVE_SETTING_ABOVE)

static int apply_fields(const salve_setting *spec, const json_t *config, const char *where,
                        int depth, json_t **out, char *err, size_t errlen);

/* The choices as "a, b, c". */
static void list_choices(const char *const *choices, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; choices[i]; i++) {
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s", i ? ", " : "", choices[i]);
	}
}

static int is_choice(const char *const *choices, const char *v)
{
	for (size_t i = 0; choices[i]; i++)
		if (strcmp(choices[i], v) == 0)
			return 1;
	return 0;
}

/* Whether the string v (already known a string) is one of s's choices; why says not. */
static int check_choice(const salve_setting *s, const json_t *v, char *why, size_t whylen)
{
	if (!s->choices || is_choice(s->choices, json_string_value(v)))
		return 0;
	char known[512], got[96];
	list_choices(s->choices, known, sizeof known);
	describe_got(v, !(s->flags & SALVE_ARG_SECRET), got, sizeof got);
	snprintf(why, whylen, "must be one of %s, got %s", known, got);
	return -1;
}

/* s's bounds on x, a number, a duration in seconds or a string's length in bytes. */
static int check_bounds(const salve_setting *s, double x, char *why, size_t whylen)
{
	const char *unit = s->type == SALVE_T_DURATION ? "s" : "";
	int bytes = s->type == SALVE_T_STRING;
	if ((s->flags & SALVE_SETTING_MIN) &&
	    ((s->flags & SALVE_SETTING_ABOVE) ? !(x > s->min) : !(x >= s->min))) {
		if (bytes && s->min == 1 && !(s->flags & SALVE_SETTING_ABOVE))
			snprintf(why, whylen, "must not be empty");
		else if (bytes)
			snprintf(why, whylen, "must be %s %g bytes long, got %g",
			         (s->flags & SALVE_SETTING_ABOVE) ? "more than" : "at least",
			         s->min, x);
		else
			snprintf(why, whylen, "must be %s %g%s, got %g%s",
			         (s->flags & SALVE_SETTING_ABOVE) ? "more than" : "at least",
			         s->min, unit, x, unit);
		return -1;
	}
	if ((s->flags & SALVE_SETTING_MAX) && !(x <= s->max)) {
		snprintf(why, whylen, "must be at most %g%s%s, got %g%s", s->max,
		         bytes ? " bytes long" : "", unit, x, unit);
		return -1;
	}
	return 0;
}

/* A string or a list of non-empty strings (each one of the choices), as a new list. */
static int string_list_value(const salve_setting *s, const json_t *v, const char *path,
                             json_t **out, char *err, size_t errlen)
{
	if (!json_is_string(v) && !json_is_array(v)) {
		snprintf(err, errlen, "%s: must be a string or a list of strings, got %s", path,
		         salve_json_type_name(v));
		return -1;
	}
	json_t *list = json_is_string(v) ? json_pack("[O]", v) : json_incref((json_t *)v);
	size_t i;
	json_t *item;
	char why[640];
	json_array_foreach(list, i, item)
	{
		const char *text = json_string_value(item);
		if (!text || !*text || strlen(text) != json_string_length(item)) {
			snprintf(err, errlen, "%s[%zu]: must be a non-empty string", path, i);
			goto fail;
		}
		if (check_choice(s, item, why, sizeof why) < 0) {
			snprintf(err, errlen, "%s[%zu]: %s", path, i, why);
			goto fail;
		}
		if (s->flags & SALVE_ARG_SECRET)
			salve_redact_register(text);
	}
	*out = list;
	return 0;
fail:
	json_decref(list);
	return -1;
}

/* One value of an each-valued map or list: a map (null: an empty one) checked against fields. */
static int each_one(const salve_setting *fields, const json_t *item, const char *path, int depth,
                    json_t **out, char *err, size_t errlen)
{
	if (json_is_null(item)) {
		json_t *empty = json_object();
		int rc = apply_fields(fields, empty, path, depth, out, err, errlen);
		json_decref(empty);
		return rc;
	}
	if (!json_is_object(item)) {
		snprintf(err, errlen, "%s: must be map, got %s", path, salve_json_type_name(item));
		return -1;
	}
	return apply_fields(fields, item, path, depth, out, err, errlen);
}

/* Each value of the map v (or element of the list v) checked against s->fields. */
static int each_value(const salve_setting *s, const json_t *v, const char *path, int depth,
                      json_t **out, char *err, size_t errlen)
{
	json_t *values = json_is_array(v) ? json_array() : json_object();
	char child[1024];
	const char *key;
	size_t i;
	json_t *item, *checked;
	if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			snprintf(child, sizeof child, "%s[%zu]", path, i);
			if (each_one(s->fields, item, child, depth, &checked, err, errlen) < 0)
				goto fail;
			json_array_append_new(values, checked);
		}
	} else {
		json_object_foreach((json_t *)v, key, item)
		{
			snprintf(child, sizeof child, "%s.%s", path, key);
			if (each_one(s->fields, item, child, depth, &checked, err, errlen) < 0)
				goto fail;
			json_object_set_new(values, key, checked);
		}
	}
	*out = values;
	return 0;
fail:
	json_decref(values);
	return -1;
}

/* v (not null) checked against s as the value at path: its type, content, choices, bounds
 * and fields. *out: the value init gets (durations in seconds, a lone string of a list made a
 * list, nested defaults filled in), a new reference. */
static int setting_value(const salve_setting *s, const json_t *v, const char *path, int depth,
                         json_t **out, char *err, size_t errlen)
{
	char why[640];
	*out = NULL;
	if (depth > MAX_DEPTH) {
		snprintf(err, errlen, "%s: settings nest deeper than %d maps", path, MAX_DEPTH);
		return -1;
	}
	if (s->flags & SALVE_SETTING_STRINGS)
		return string_list_value(s, v, path, out, err, errlen);
	if (salve_value_check(s->type, s->flags, v, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	double x = 0;
	if (json_is_string(v) && s->type != SALVE_T_DURATION) {
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(err, errlen, "%s: must be a string without NUL bytes", path);
			return -1;
		}
		x = (double)json_string_length(v);
	} else if (s->type == SALVE_T_DURATION) {
		salve_duration_from_json(v, &x);
	} else if (json_is_number(v)) {
		x = json_number_value(v);
	}
	if ((s->type == SALVE_T_STRING && check_choice(s, v, why, sizeof why) < 0) ||
	    check_bounds(s, x, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	if ((s->flags & SALVE_ARG_SECRET) && json_is_string(v))
		salve_redact_register(json_string_value(v));
	if (s->fields && (s->flags & SALVE_SETTING_EACH))
		return each_value(s, v, path, depth + 1, out, err, errlen);
	if (s->fields)
		return apply_fields(s->fields, v, path, depth + 1, out, err, errlen);
	*out = s->type == SALVE_T_DURATION ? json_real(x) : json_incref((json_t *)v);
	return 0;
}

/* s's default text read as its type, unchecked beyond that; NULL with why. */
static json_t *default_text(const salve_setting *s, char *why, size_t whylen)
{
	json_t *v;
	if (s->type == SALVE_T_STRING || s->type == SALVE_T_DURATION ||
	    s->type == SALVE_T_SECRET_REF) {
		v = json_string(s->default_value);
	} else {
		json_error_t jerr;
		v = json_loads(s->default_value, JSON_DECODE_ANY, &jerr);
	}
	char inner[400];
	if (!v || (!(s->flags & SALVE_SETTING_STRINGS) &&
	           salve_value_check(s->type, 0, v, inner, sizeof inner) < 0)) {
		snprintf(why, whylen, "has a default that does not fit its type %s (%s)",
		         salve_type_name(s->type), v ? inner : "not a value of that type");
		json_decref(v);
		return NULL;
	}
	return v;
}

json_t *salve_setting_default(const salve_setting *s, char *why, size_t whylen)
{
	if (!s->default_value) {
		snprintf(why, whylen, "has no default");
		return NULL;
	}
	json_t *raw = default_text(s, why, whylen);
	if (!raw)
		return NULL;
	json_t *v;
	char inner[1024];
	int rc = setting_value(s, raw, "default", 0, &v, inner, sizeof inner);
	json_decref(raw);
	if (rc < 0) {
		snprintf(why, whylen, "has a default that is refused (%s)", inner);
		return NULL;
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

/* config (an object) checked against spec, at where; *out as salve_settings_apply's. */
static int apply_fields(const salve_setting *spec, const json_t *config, const char *where,
                        int depth, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	json_t *values = json_object();
	const char *key;
	json_t *v, *checked;
	char why[1536], path[1024];
	json_object_foreach((json_t *)config, key, v)
	{
		const salve_setting *s = find_setting(spec, key);
		snprintf(path, sizeof path, "%s.%s", where, key);
		if (!s) {
			char known[1024] = "";
			for (size_t i = 0; spec && spec[i].name; i++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", spec[i].name);
			}
			snprintf(err, errlen, "%s: unknown setting (known: %s)", path,
			         known[0] ? known : "none");
			goto fail;
		}
		if (json_is_null(v))
			continue;
		if (setting_value(s, v, path, depth, &checked, err, errlen) < 0)
			goto fail;
		json_object_set_new(values, key, checked);
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

int salve_settings_apply(const salve_setting *spec, const json_t *config, const char *where,
                         json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!json_is_object(config)) {
		snprintf(err, errlen, "%s: must be a mapping of settings, got %s", where,
		         salve_json_type_name(config));
		return -1;
	}
	return apply_fields(spec, config, where, 0, out, err, errlen);
}

static int bounded_type(enum salve_type t)
{
	return t == SALVE_T_INT || t == SALVE_T_NUMBER || t == SALVE_T_DURATION ||
	       t == SALVE_T_STRING;
}

/* What is wrong with s itself (not its fields), or NULL. */
static const char *declaration_fault(const salve_setting *s)
{
	unsigned f = s->flags;
	int map_or_list = s->type == SALVE_T_MAP || s->type == SALVE_T_LIST;
	if (!*s->name)
		return "has an empty name";
	if ((int)s->type < SALVE_T_ANY || s->type > SALVE_T_SECRET_REF)
		return "has an invalid type";
	if (f & ~KNOWN_FLAGS)
		return "has flags this salve does not know";
	if (s->default_value && (f & SALVE_ARG_REQUIRED))
		return "is required and has a default: declare one or the other";
	if (s->default_value && (f & SALVE_ARG_SECRET))
		return "is a secret and has a default: a credential in the plugin file";
	if ((f & SALVE_SETTING_EACH) && (!s->fields || !map_or_list))
		return "has SALVE_SETTING_EACH but is not a map or list with fields";
	if (s->fields && !(s->type == SALVE_T_MAP || (f & SALVE_SETTING_EACH)))
		return "has fields but is not a map, or a list with SALVE_SETTING_EACH";
	if ((f & SALVE_SETTING_STRINGS) && (s->type != SALVE_T_LIST || s->fields))
		return "has SALVE_SETTING_STRINGS but is not a list without fields";
	if (s->choices && s->type != SALVE_T_STRING && !(f & SALVE_SETTING_STRINGS))
		return "has choices but is not a string or SALVE_SETTING_STRINGS list";
	if (s->choices && !s->choices[0])
		return "has an empty list of choices";
	if ((f & (SALVE_SETTING_MIN | SALVE_SETTING_MAX)) && !bounded_type(s->type))
		return "has bounds but is not an int, number, duration or string";
	if ((f & SALVE_SETTING_ABOVE) && !(f & SALVE_SETTING_MIN))
		return "has SALVE_SETTING_ABOVE without SALVE_SETTING_MIN";
	if (((f & SALVE_SETTING_MIN) && !isfinite(s->min)) ||
	    ((f & SALVE_SETTING_MAX) && !isfinite(s->max)))
		return "has a bound that is not a finite number";
	if ((f & SALVE_SETTING_MIN) && (f & SALVE_SETTING_MAX) &&
	    ((f & SALVE_SETTING_ABOVE) ? s->min >= s->max : s->min > s->max))
		return "has bounds that no value fits";
	return NULL;
}

static int check_declared(const salve_setting *spec, const char *prefix, int depth, char *err,
                          size_t errlen)
{
	for (size_t i = 0; spec && spec[i].name; i++) {
		const salve_setting *s = &spec[i];
		char path[512], why[1024];
		snprintf(path, sizeof path, "%s%s", prefix, s->name);
		const char *wrong = depth > MAX_DEPTH ? "nests deeper than 8 maps" : NULL;
		if (!wrong)
			wrong = declaration_fault(s);
		for (size_t j = 0; !wrong && j < i; j++)
			if (strcmp(s->name, spec[j].name) == 0)
				wrong = "is declared twice";
		if (!wrong && s->fields) {
			char inner[512];
			snprintf(inner, sizeof inner, "%s.", path);
			if (check_declared(s->fields, inner, depth + 1, err, errlen) < 0)
				return -1;
		}
		if (!wrong && s->default_value) {
			json_t *v = salve_setting_default(s, why, sizeof why);
			if (!v)
				wrong = why;
			json_decref(v);
		}
		if (wrong) {
			snprintf(err, errlen, "setting %s %s", path, wrong);
			return -1;
		}
	}
	return 0;
}

int salve_settings_check(const salve_setting *spec, char *err, size_t errlen)
{
	return check_declared(spec, "", 0, err, errlen);
}

const char *const *salve_choices_for(const salve_arg_choices *choices, const char *name)
{
	for (const salve_arg_choices *c = choices; c && c->arg; c++)
		if (strcmp(c->arg, name) == 0)
			return c->values;
	return NULL;
}

void salve_choices_text(const char *const *values, char *buf, size_t len)
{
	buf[0] = '\0';
	for (const char *const *v = values; v && *v; v++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", used ? ", " : "", *v);
	}
}

int salve_choices_check(const salve_arg_choices *choices, const json_t *args, char *err,
                        size_t errlen)
{
	for (const salve_arg_choices *c = choices; c && c->arg; c++) {
		const json_t *v = json_object_get(args, c->arg);
		if (!v)
			continue;
		const char *s = json_string_value(v);
		for (const char *const *ok = c->values; s && ok && *ok; ok++)
			if (strcmp(*ok, s) == 0)
				goto next;
		char list[512], got[160];
		salve_choices_text(c->values, list, sizeof list);
		if (s)
			snprintf(got, sizeof got, "\"%.120s\"", s);
		else
			snprintf(got, sizeof got, "a %s", json_is_null(v) ? "null" : "non-string");
		snprintf(err, errlen, "argument '%s' must be one of %s, got %s", c->arg, list, got);
		return -1;
	next:;
	}
	return 0;
}
