/* Small readers of configuration mappings (salve.yaml's sections as JSON), shared so that
 * every section words its errors the same way: "WHERE.KEY: ...". Stateless; thread-safe. */
#ifndef SALVE_CONFGET_H
#define SALVE_CONFGET_H

#include <jansson.h>
#include <stddef.h>

/* -1 with "WHERE: unknown key 'K'" when obj has a key not in keys (NULL-terminated). */
int salve_conf_known_keys(const json_t *obj, const char *const *keys, const char *where, char *err,
                          size_t errlen);
/* obj[key] as a non-empty string into *out (malloc'd, the old value freed); absent: 0 and
 * *out untouched. -1 with "WHERE.KEY: must be a non-empty string". */
int salve_conf_string(const json_t *obj, const char *key, char **out, const char *where, char *err,
                      size_t errlen);

#endif
