/* Maintenance windows such as "Sun 02:00-04:00", "Mon-Fri 22:00-06:00" (crossing midnight),
 * "Sat,Sun 00:00-23:59" or "02:00-04:00" (every day), in local time. Pure; thread-safe. */
#ifndef SALVE_WINDOW_H
#define SALVE_WINDOW_H

#include <stddef.h>
#include <time.h>

/* 1 inside, 0 outside, -1 when spec is malformed (reason in err). */
int salve_window_contains(const char *spec, time_t when, char *err, size_t errlen);

#endif
