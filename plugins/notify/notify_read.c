/* Readers for the notify plugin's configuration: one key at a time, typed, with errors that
 * name the key and never the value. */
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

int notify_read_only_keys(const json_t *obj, const char *where, const char *const *allowed,
                          char *err, size_t errlen)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				ok = 1;
		if (!ok) {
			notify_read_error(err, errlen, "notify: unknown configuration key %s.%s",
			                  where, key);
			return -1;
		}
	}
	return 0;
}

/* The value of key, or NULL when it is absent or null. */
static json_t *present(const json_t *parent, const char *key)
{
	json_t *v = json_object_get(parent, key);
	return json_is_null(v) ? NULL : v;
}

int notify_read_object(const json_t *parent, const char *key, const char *where, json_t **out,
                       char *err, size_t errlen)
{
	json_t *v = present(parent, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		notify_read_error(err, errlen, "notify: %s.%s must be a map", where, key);
		return -1;
	}
	*out = v;
	return 0;
}

int notify_read_string(const json_t *parent, const char *key, const char *where, char **out,
                       char *err, size_t errlen)
{
	json_t *v = present(parent, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		notify_read_error(err, errlen, "notify: %s.%s must be a non-empty string", where,
		                  key);
		return -1;
	}
	*out = strdup(json_string_value(v));
	return *out ? 0 : -1;
}

int notify_read_secret_ref(const json_t *parent, const char *key, const char *where, char **out,
                           char *err, size_t errlen)
{
	if (notify_read_string(parent, key, where, out, err, errlen) < 0)
		return -1;
	if (*out && !notify_is_secret_ref(*out)) {
		free(*out);
		*out = NULL;
		notify_read_error(
		    err, errlen,
		    "notify: %s.%s must be a secret reference (env:NAME or file:/path), "
		    "not an inline value",
		    where, key);
		return -1;
	}
	return 0;
}

int notify_read_bool(const json_t *parent, const char *key, const char *where, int *out, int def,
                     char *err, size_t errlen)
{
	json_t *v = present(parent, key);
	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		notify_read_error(err, errlen, "notify: %s.%s must be true or false", where, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

int notify_read_duration(const json_t *parent, const char *key, const char *where, double *out,
                         double def, char *err, size_t errlen)
{
	json_t *v = present(parent, key);
	*out = def;
	if (!v)
		return 0;
	if (salve_duration_from_json(v, out) < 0) {
		notify_read_error(err, errlen,
		                  "notify: %s.%s must be a duration such as \"250ms\", \"10s\", "
		                  "\"5m\" or a number of seconds",
		                  where, key);
		return -1;
	}
	return 0;
}

int notify_read_string_list(const json_t *parent, const char *key, const char *where, json_t **out,
                            char *err, size_t errlen)
{
	json_t *v = present(parent, key);
	*out = NULL;
	if (!v)
		return 0;
	if (json_is_string(v)) {
		*out = json_pack("[O]", v);
		return 0;
	}
	if (!json_is_array(v)) {
		notify_read_error(err, errlen, "notify: %s.%s must be a list of strings", where,
		                  key);
		return -1;
	}
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item) || json_string_length(item) == 0) {
			notify_read_error(err, errlen,
			                  "notify: %s.%s[%zu] must be a non-empty string", where,
			                  key, i);
			return -1;
		}
	}
	*out = json_incref(v);
	return 0;
}
