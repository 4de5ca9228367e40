#include "window.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static int day_index(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++)
		if (len == 3 && strncasecmp(s, days[i], 3) == 0)
			return i;
	return -1;
}

/* Parses "Mon", "Mon-Fri", "Sat,Sun" into a 7-bit mask. */
static int parse_days(const char *s, size_t len, unsigned *mask)
{
	*mask = 0;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != ',')
			j++;
		const char *dash = memchr(s + i, '-', j - i);
		if (dash) {
			int a = day_index(s + i, (size_t)(dash - (s + i)));
			int b = day_index(dash + 1, (size_t)(s + j - dash - 1));
			if (a < 0 || b < 0)
				return -1;
			for (int d = a;; d = (d + 1) % 7) {
				*mask |= 1u << d;
				if (d == b)
					break;
			}
		} else {
			int a = day_index(s + i, j - i);
			if (a < 0)
				return -1;
			*mask |= 1u << a;
		}
		i = j + 1;
	}
	return *mask ? 0 : -1;
}

int salve_window_contains(const char *spec, time_t when, char *err, size_t errlen)
{
	unsigned mask = 0x7f;
	const char *times = spec;
	const char *space = strchr(spec, ' ');
	if (space) {
		if (parse_days(spec, (size_t)(space - spec), &mask) < 0) {
			snprintf(err, errlen,
			         "window \"%s\": days must be like Sun, Mon-Fri or Sat,Sun", spec);
			return -1;
		}
		times = space + 1;
	}
	int h1, m1, h2, m2;
	char tail;
	if (sscanf(times, "%d:%d-%d:%d%c", &h1, &m1, &h2, &m2, &tail) != 4 || h1 < 0 || h1 > 23 ||
	    h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59) {
		snprintf(err, errlen, "window \"%s\": times must be like 02:00-04:00", spec);
		return -1;
	}
	struct tm tm;
	localtime_r(&when, &tm);
	int now = tm.tm_hour * 60 + tm.tm_min, start = h1 * 60 + m1, end = h2 * 60 + m2;
	int today = tm.tm_wday, yesterday = (tm.tm_wday + 6) % 7;
	if (start < end)
		return (mask & (1u << today)) && now >= start && now < end;
	/* Crosses midnight: the evening part belongs to today, the morning to yesterday's. */
	return ((mask & (1u << today)) && now >= start) ||
	       ((mask & (1u << yesterday)) && now < end);
}
