/*
 * notify plugin: readers for its salve.yaml section (not installed), used by the top-level
 * configuration and by each channel for its own section. Every error names the key
 * ("notify: notify.slack.channel must be ...") and never echoes a value, which may be a
 * secret.
 *
 * Each reader returns 0 (the key may be absent or null: *out is then NULL or the default) or
 * -1 with the reason in err; a -1 with err left empty means out of memory. Strings a reader
 * returns are malloc'd, json_t are new references: the caller owns both. No state: any thread.
 */
#ifndef SALVE_NOTIFY_READ_H
#define SALVE_NOTIFY_READ_H

#include <jansson.h>
#include <stddef.h>

void notify_read_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Refuse keys outside allowed (NULL-terminated): a typo must not silently disable a channel. */
int notify_read_only_keys(const json_t *obj, const char *where, const char *const *allowed,
                          char *err, size_t errlen);
/* A map; *out is borrowed from parent. */
int notify_read_object(const json_t *parent, const char *key, const char *where, json_t **out,
                       char *err, size_t errlen);
/* A non-empty string without NUL bytes. */
int notify_read_string(const json_t *parent, const char *key, const char *where, char **out,
                       char *err, size_t errlen);
/* A credential: only a reference is accepted, so no secret sits in salve.yaml. */
int notify_read_secret_ref(const json_t *parent, const char *key, const char *where, char **out,
                           char *err, size_t errlen);
int notify_read_bool(const json_t *parent, const char *key, const char *where, int *out, int def,
                     char *err, size_t errlen);
/* Seconds, from "250ms", "10s", "5m" or a number. */
int notify_read_duration(const json_t *parent, const char *key, const char *where, double *out,
                         double def, char *err, size_t errlen);
/* A string or a list of non-empty strings, as an array. */
int notify_read_string_list(const json_t *parent, const char *key, const char *where, json_t **out,
                            char *err, size_t errlen);

#endif
