/* The process-wide set of secret values. Everything the core writes for people or to disk
 * (audit, logs, errors, output) goes through salve_redact_*, so a secret registered once is
 * never printed: neither as it is nor in the forms it takes on the way through HTTP clients
 * and servers that echo it back (base64, standard and URL-safe, also inside a longer base64
 * text such as a Basic auth header; percent-encoded; JSON-escaped).
 * Thread-safe (one mutex); values are copied in and freed by salve_redact_clear(). */
#ifndef SALVE_REDACT_H
#define SALVE_REDACT_H

#include <jansson.h>
#include <stddef.h>

#define SALVE_REDACTED "[REDACTED]"

/* Values shorter than 4 bytes are not registered (they would redact ordinary words). */
void salve_redact_register(const char *secret);
/* Copies src into dst (size len) with every registered secret replaced. */
void salve_redact_string(const char *src, char *dst, size_t len);
/* Returns a malloc'd redacted copy (caller frees). */
char *salve_redact_dup(const char *src);
/* Replaces, in place, every registered secret inside every string of v (deep). */
void salve_redact_json(json_t *v);
void salve_redact_clear(void);

#endif
