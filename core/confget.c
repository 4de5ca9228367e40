/* Readers of configuration mappings (see confget.h). */
#include "confget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int salve_conf_known_keys(const json_t *obj, const char *const *keys, const char *where, char *err,
                          size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		int known = 0;
		for (size_t i = 0; keys[i] && !known; i++)
			known = strcmp(k, keys[i]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s: unknown key '%s'", where, k);
			return -1;
		}
	}
	return 0;
}

int salve_conf_string(const json_t *obj, const char *key, char **out, const char *where, char *err,
                      size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_string(v) || !*json_string_value(v)) {
		snprintf(err, errlen, "%s.%s: must be a non-empty string", where, key);
		return -1;
	}
	char *copy = strdup(json_string_value(v));
	if (!copy) {
		snprintf(err, errlen, "%s.%s: out of memory", where, key);
		return -1;
	}
	free(*out);
	*out = copy;
	return 0;
}
