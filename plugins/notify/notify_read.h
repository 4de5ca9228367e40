/*
 * notify plugin: the maps inside its salve.yaml section (not installed). The core checks the
 * section's top level against the plugin's settings (notify_plugin.c) but has no schema for a
 * map inside a setting, so each inner map (slack, retry, one webhook, one escalation level,
 * ...) declares its keys as a salve_setting table too, and notify_section_apply checks it as
 * the core checks the top level, with the core's error shape
 * ("plugins.notify.slack.chanel: unknown setting (known: ...)"). Once the core checks nested
 * maps, these tables move into the settings and this module goes.
 *
 * What no type says (a string or a list, rules across keys) the section's reader checks.
 * Errors never echo a value that may be a secret. No state: any thread.
 */
#ifndef SALVE_NOTIFY_READ_H
#define SALVE_NOTIFY_READ_H

#include <salve/plugin.h>

#include <jansson.h>
#include <stddef.h>

/* Where the plugin's section is in salve.yaml, the prefix of every error about it. */
#define NOTIFY_WHERE "plugins.notify"

void notify_read_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks section (a map; NULL or null: an empty one) against spec: an unknown key, a missing
 * required one or a value of the wrong type is refused; strings must be non-empty and without
 * NUL; defaults are filled in and durations become seconds (a JSON real). *out: a new
 * reference the caller owns. 0, or -1 with the reason in err (empty: out of memory). */
int notify_section_apply(const salve_setting *spec, const json_t *section, const char *where,
                         json_t **out, char *err, size_t errlen);

/* A string or a list of non-empty strings (where names it in errors), as a new array in
 * *out; NULL in *out when v is NULL or null. */
int notify_string_list(const json_t *v, const char *where, json_t **out, char *err, size_t errlen);

/* A copy of the string value of key (NULL when absent) into *out: -1 when out of memory. */
int notify_copy_string(const json_t *values, const char *key, char **out);

#endif
