/* Argument checking against a plugin's declared schema. Pure functions; thread-safe. */
#ifndef SALVE_SCHEMA_H
#define SALVE_SCHEMA_H

#include <jansson.h>
#include <salve/plugin.h>
#include <stddef.h>

/* Checks args (an object) against spec: required arguments present, types right, no unknown
 * keys. An empty table passed for a list argument is turned into [] in place (Lua cannot
 * tell them apart). 0, or -1 with "argument 'x' ..." in err. */
int salve_args_validate(const salve_arg *spec, json_t *args, char *err, size_t errlen);

/* A copy of args fit for the audit log: secret arguments replaced by [REDACTED] (their values
 * are registered for redaction everywhere else too). New reference. */
json_t *salve_args_for_audit(const salve_arg *spec, const json_t *args);

/* Whether v has type t ("any" matches everything; an integer is a number). */
int salve_type_matches(enum salve_type t, const json_t *v);

#endif
