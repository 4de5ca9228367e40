/* The one duration parser; the grammar is in duration.h. */
#include "duration.h"

#include <math.h>
#include <string.h>

/* DIGIT+ [ "." DIGIT+ ], by hand so that strtod's extras (sign, exponent, hex, nan, inf,
 * leading blanks, locale decimal point) can never slip in. */
static const char *scan_number(const char *p, double *out)
{
	double v = 0;
	const char *start = p;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		p++;
		if (v > SALVE_DURATION_MAX * 1000) /* keeps digit runs from growing without bound */
			return NULL;
	}
	if (p == start)
		return NULL;
	if (*p == '.') {
		p++;
		double scale = 0.1;
		const char *frac = p;
		while (*p >= '0' && *p <= '9') {
			v += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
		if (p == frac)
			return NULL;
	}
	*out = v;
	return p;
}

static const char *scan_unit(const char *p, double *unit)
{
	if (strncmp(p, "ms", 2) == 0) {
		*unit = 0.001;
		return p + 2;
	}
	switch (*p) {
	case 's':
		*unit = 1;
		return p + 1;
	case 'm':
		*unit = 60;
		return p + 1;
	case 'h':
		*unit = 3600;
		return p + 1;
	case 'd':
		*unit = 86400;
		return p + 1;
	default:
		return NULL;
	}
}

int salve_parse_duration(const char *text, double *seconds)
{
	if (!text || !*text)
		return -1;
	double total = 0;
	const char *p = text;
	int parts = 0;
	while (*p) {
		double v, unit;
		p = scan_number(p, &v);
		if (!p)
			return -1;
		if (*p == '\0' && parts == 0) {
			total = v;
			break;
		}
		p = scan_unit(p, &unit);
		if (!p)
			return -1;
		total += v * unit;
		parts++;
	}
	if (!(total <= SALVE_DURATION_MAX))
		return -1;
	*seconds = total;
	return 0;
}

int salve_duration_from_json(const json_t *value, double *seconds)
{
	if (json_is_string(value))
		return salve_parse_duration(json_string_value(value), seconds);
	if (!json_is_number(value))
		return -1;
	double v = json_number_value(value);
	if (!isfinite(v) || v < 0 || v > SALVE_DURATION_MAX)
		return -1;
	*seconds = v;
	return 0;
}
