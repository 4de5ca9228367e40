/* salve_window_contains: maintenance windows from --window and salve.yaml.
 * Invariants: the answer is -1, 0 or 1; whether a spec is valid does not depend on the time
 * asked about; a refusal names the window; a window limited to some days is never open when
 * the same hours on every day are closed. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_util.h"
#include "window.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

/* Sunday 2024-01-07 00:00 UTC, then times spread over the week and across midnights. */
static const time_t base = 1704585600;
static const long offsets[] = {0,
                               59,
                               3600 * 2 + 60,
                               3600 * 23 + 59 * 60,
                               86400,
                               86400 * 3 + 3600 * 5,
                               86400 * 5 + 3600 * 22 + 1800,
                               86400 * 6 + 3600 * 23 + 3540,
                               86400 * 2 + 3600 * 12};

int fuzz_one(const uint8_t *data, size_t size)
{
	char *spec = fuzz_strndup(data, size);
	const char *space = strchr(spec, ' ');
	int valid = -2;
	for (size_t i = 0; i < sizeof offsets / sizeof *offsets; i++) {
		char err[512] = "";
		time_t t = base + offsets[i];
		int in = salve_window_contains(spec, t, err, sizeof err);
		FUZZ_CHECK(in >= -1 && in <= 1, "window \"%s\": returned %d", spec, in);
		FUZZ_CHECK(strlen(err) < sizeof err, "window \"%s\": error not terminated", spec);
		if (valid == -2)
			valid = in >= 0;
		FUZZ_CHECK(valid == (in >= 0), "window \"%s\": valid at one time, not at another",
		           spec);
		if (in < 0)
			FUZZ_CHECK(strstr(err, "window") != NULL,
			           "window \"%s\": refusal \"%s\" does not name the window", spec,
			           err);
		if (in == 1 && space) {
			/* The hours alone, without the blanks sscanf skipped in them. */
			char *hours = malloc(strlen(space) + 1);
			size_t w = 0;
			for (const char *p = space; *p; p++)
				if (*p != ' ')
					hours[w++] = *p;
			hours[w] = '\0';
			char err2[512];
			int every_day = salve_window_contains(hours, t, err2, sizeof err2);
			FUZZ_CHECK(
			    every_day == 1,
			    "window \"%s\" is open at %ld but \"%s\" (every day) is not (%d)", spec,
			    (long)t, hours, every_day);
			free(hours);
		}
	}
	free(spec);
	return 0;
}
