/* Small shared helpers of the core. All functions are thread-safe unless noted. */
#ifndef SALVE_UTIL_H
#define SALVE_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds on the monotonic clock. */
double salve_now(void);
/* Wall-clock time as RFC 3339 UTC with milliseconds into buf (>= 32 bytes). */
void salve_timestamp(char *buf, size_t len);

/* salve_parse_duration and salve_duration_from_json: the one duration grammar. */
#include "duration.h"

/* 32 lowercase hex characters of fresh randomness (a run id) into buf (>= 33 bytes). */
int salve_random_id(char *buf, size_t len);

/* SHA-256 of data as 64 hex characters plus NUL into hex (>= 65 bytes). */
void salve_sha256_hex(const void *data, size_t len, char *hex);

/* Reads a whole file into a malloc'd NUL-terminated buffer (caller frees); NULL + errno. */
char *salve_read_file(const char *path, size_t *len);

/* mkdir -p with mode; 0 or -1 + errno. */
int salve_mkdirs(const char *path, unsigned mode);

/* snprintf that reports truncation as -1. */
int salve_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copies src into dst (size len, always NUL-terminated) with every control character that a
 * terminal or a line-oriented log would act on written out instead: \n, \r, \t kept only
 * when keep_tab, \x1b for ESC and other C0 bytes and DEL, \u0080-\u009f for UTF-8 C1
 * controls. Text from alerts, runbooks and remote hosts goes through this before it reaches
 * a person, so it can neither forge a log line nor repaint the screen. Output is cut before an
 * escape that would not fit when dst is too small. */
void salve_escape_controls(const char *src, char *dst, size_t len, int keep_tab);

/* Name of a JSON value's type for error messages ("string", "integer", ...). */
const char *salve_json_type_name(const json_t *v);

#endif
