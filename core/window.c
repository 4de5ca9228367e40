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

/* Exactly two digits, ':', two digits, at most max minutes after midnight: sscanf's %d took
 * " 2: 0", "+2:00" and 24:30 (which then ended at 24:00). */
static int parse_hhmm(const char *s, int max, int *minutes)
{
	for (int i = 0; i < 5; i++)
		if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
			return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h * 60 + m > max)
		return -1;
	*minutes = h * 60 + m;
	return 0;
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
	int start, end;
	if (strlen(times) != 11 || times[5] != '-' || parse_hhmm(times, 23 * 60 + 59, &start) < 0 ||
	    parse_hhmm(times + 6, 24 * 60, &end) < 0) {
		snprintf(err, errlen,
		         "window \"%s\": times must be like 02:00-04:00 (HH:MM, 00:00 to 24:00)",
		         spec);
		return -1;
	}
	struct tm tm;
	localtime_r(&when, &tm);
	int now = tm.tm_hour * 60 + tm.tm_min;
	int today = tm.tm_wday, yesterday = (tm.tm_wday + 6) % 7;
	if (start < end)
		return (mask & (1u << today)) && now >= start && now < end;
	/* Crosses midnight: the evening part belongs to today, the morning to yesterday's. */
	return ((mask & (1u << today)) && now >= start) ||
	       ((mask & (1u << yesterday)) && now < end);
}
