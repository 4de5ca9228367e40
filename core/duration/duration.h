/*
 * Durations, one grammar for the core and every plugin (a static PIC library, like yamljson).
 *
 *   DURATION := NUMBER              a bare number of seconds, alone: "30", "0.5"
 *             | (NUMBER UNIT)+      "250ms", "30s", "5m", "1h30m", "1d12h"
 *   NUMBER   := DIGIT+ [ "." DIGIT+ ]
 *   UNIT     := "ms" | "s" | "m" | "h" | "d"
 *
 * Nothing else: no sign, exponent, hex, "nan", "inf", spaces, or a total over
 * SALVE_DURATION_MAX. Stateless and thread-safe; nothing to free.
 */
#ifndef SALVE_DURATION_H
#define SALVE_DURATION_H

#include <jansson.h>

/* Ten years: longer than any deadline, cooldown or window makes sense for. */
#define SALVE_DURATION_MAX (10.0 * 365 * 86400)

/* Parses text into *seconds (untouched on error). 0, or -1 when text breaks the grammar. */
int salve_parse_duration(const char *text, double *seconds);

/* A configuration or argument value: a string in the grammar above, or a JSON number of
 * seconds that is finite, >= 0 and <= SALVE_DURATION_MAX. 0, or -1 (also for other types). */
int salve_duration_from_json(const json_t *value, double *seconds);

#endif
