/* Reading the notify plugin's checked configuration: errors in the core's shape, copies. */
#include "notify_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void notify_read_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int notify_copy_string(const json_t *values, const char *key, char **out)
{
	const char *s = json_string_value(json_object_get(values, key));
	*out = s ? strdup(s) : NULL;
	return s && !*out ? -1 : 0;
}
