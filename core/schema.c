#include "schema.h"

#include <stdio.h>
#include <string.h>

#include "redact.h"
#include "registry.h"
#include "util.h"

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
	}
	return 0;
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
		if (!salve_type_matches(a->type, v)) {
			snprintf(err, errlen, "argument '%s' must be %s, got %s", key,
			         salve_type_name(a->type), salve_json_type_name(v));
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
