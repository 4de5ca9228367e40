/* YAML documents as jansson values (libyaml). Scalars keep YAML 1.1's plain-scalar types:
 * integers, floats, true/false/yes/no, null/~; quoted scalars stay strings.
 * Returns a new reference (caller decrefs) or NULL with "file:line:col: reason" in err. */
#ifndef SALVE_YAMLJSON_H
#define SALVE_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

json_t *salve_yaml_load_file(const char *path, char *err, size_t errlen);
json_t *salve_yaml_load_string(const char *text, size_t len, const char *name, char *err,
                               size_t errlen);

#endif
