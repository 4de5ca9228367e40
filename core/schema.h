/* Arguments and settings checked against what a plugin declares. Pure functions apart from
 * registering secret values for redaction; thread-safe. */
#ifndef SALVE_SCHEMA_H
#define SALVE_SCHEMA_H

#include <jansson.h>
#include <salve/plugin.h>
#include <stddef.h>

/* A type's static name: "duration". */
const char *salve_type_name(enum salve_type type);

/* Checks args (an object) against spec: required arguments present, values of the declared
 * type (a duration in the one grammar, a secret reference in its form), no unknown keys. An
 * empty table passed for a list argument is turned into [] in place (Lua cannot tell them
 * apart); values are otherwise left as written. 0, or -1 with "argument 'x' ..." in err. */
int salve_args_validate(const salve_arg *spec, json_t *args, char *err, size_t errlen);

/* The values of args (an object) that choices restricts must be one of their strings. 0, or -1
 * with "argument 'state' must be one of started, stopped, restarted, got \"restart\"". */
int salve_choices_check(const salve_arg_choices *choices, const json_t *args, char *err,
                        size_t errlen);
/* The values allowed for argument name, or NULL. */
const char *const *salve_choices_for(const salve_arg_choices *choices, const char *name);
/* "started, stopped, restarted" into buf. */
void salve_choices_text(const char *const *values, char *buf, size_t len);

/* A copy of args fit for the audit log: secret arguments replaced by [REDACTED] (their values
 * are registered for redaction everywhere else too). New reference. */
json_t *salve_args_for_audit(const salve_arg *spec, const json_t *args);

/* Whether v has the JSON type t takes ("any" matches everything; an integer is a number; a
 * duration is a string or a number). salve_value_check also checks the content. */
int salve_type_matches(enum salve_type t, const json_t *v);

/* Whether v is a value of type t, content included. 0, or -1 with "must be ..., got ..." in
 * why. The value is quoted only when it is a short string that is neither a secret (flags
 * has SALVE_ARG_SECRET) nor meant to be a secret reference. */
int salve_value_check(enum salve_type t, unsigned flags, const json_t *v, char *why, size_t whylen);

/* A setting's declared default read as its type and checked as a value would be (choices,
 * bounds, fields, whose own defaults are filled in; durations in seconds): a new reference,
 * or NULL (no default, or one that does not fit, with the reason in why). */
json_t *salve_setting_default(const salve_setting *s, char *why, size_t whylen);

/* A plugin's section of salve.yaml (config, an object) checked against its settings: every
 * key declared, every required one there and not null, values of their type, choices and
 * bounds; maps with fields checked the same way, recursively, each value of a
 * SALVE_SETTING_EACH map or list too. *out is a new object with the values, durations in
 * seconds, a lone string of a SALVE_SETTING_STRINGS list made a list, defaults filled in (in
 * nested maps too) for absent or null keys, and null kept out. Secret values are registered
 * for redaction. where prefixes errors ("salve.yaml: plugins.prometheus"). 0, or -1 with
 * "where.key.sub: reason" or "where.key[2].sub: reason" in err. */
int salve_settings_apply(const salve_setting *spec, const json_t *config, const char *where,
                         json_t **out, char *err, size_t errlen);

/* Whether a plugin's table is sound: names, types, flags that fit the type, bounds that some
 * value fits, defaults that fit, no name twice, nested tables too (at most 8 deep). 0, or -1
 * with "setting retry.attempts reason" in err. */
int salve_settings_check(const salve_setting *spec, char *err, size_t errlen);

#endif
