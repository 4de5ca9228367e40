/*
 * notify plugin: reading the configuration the core has checked (not installed). The core
 * checks the whole section, the maps inside included, against notify_settings before init;
 * what the readers check themselves (rules across keys, URL and address forms) they report
 * through notify_read_error, in the core's shape ("plugins.notify.email.from: ...").
 * No state: any thread.
 */
#ifndef SALVE_NOTIFY_READ_H
#define SALVE_NOTIFY_READ_H

#include <jansson.h>
#include <stddef.h>

/* Where the plugin's section is in salve.yaml, the prefix of every error about it. */
#define NOTIFY_WHERE "plugins.notify"

void notify_read_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A copy of the string value of key (NULL when absent) into *out: -1 when out of memory. */
int notify_copy_string(const json_t *values, const char *key, char **out);

#endif
