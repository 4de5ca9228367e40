/* salve_parse_duration: every duration the project reads (timeouts, cooldowns), and
 * salve-serve's rate limits built on it (srv_parse_rate, "5/1h").
 * Invariants: an accepted duration is a finite number of seconds >= 0, the same every time;
 * no control bytes, hex or exponent forms (0x1p4, 1e3) are accepted, and nothing that a
 * stray '#' follows. An accepted rate is 1..1000000 runs per a finite window > 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "route.h"
#include "util.h"

int fuzz_one(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	double seconds = -1;
	int rc = salve_parse_duration(text, &seconds);
	FUZZ_CHECK(rc == 0 || rc == -1, "salve_parse_duration(\"%s\") returned %d", text, rc);
	if (rc == 0) {
		FUZZ_CHECK(isfinite(seconds) && seconds >= 0,
		           "salve_parse_duration(\"%s\") accepted %g seconds", text, seconds);
		double again = -1;
		FUZZ_CHECK(salve_parse_duration(text, &again) == 0 && again == seconds,
		           "salve_parse_duration(\"%s\") is not deterministic", text);
		for (const char *p = text; *p; p++) {
			FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f,
			           "salve_parse_duration(\"%s\") accepted a control byte", text);
			FUZZ_CHECK(!strchr("xXpPeE", *p),
			           "salve_parse_duration(\"%s\") accepted a hex or exponent form",
			           text);
		}
		/* A unit letter no grammar has cannot follow a valid duration. */
		size_t n = strlen(text);
		char *longer = malloc(n + 2);
		memcpy(longer, text, n);
		longer[n] = '#';
		longer[n + 1] = '\0';
		FUZZ_CHECK(salve_parse_duration(longer, &again) == -1,
		           "salve_parse_duration accepted \"%s\"", longer);
		free(longer);
	}
	int count = -1;
	double window = -1;
	if (srv_parse_rate(text, &count, &window) == 0)
		FUZZ_CHECK(count >= 1 && count <= 1000000 && isfinite(window) && window > 0,
		           "srv_parse_rate(\"%s\") accepted %d per %g s", text, count, window);
	free(text);
	return 0;
}
