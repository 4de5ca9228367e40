/* What every command says on stderr (see cli.h). */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"
#include "host.h"
#include "redact.h"
#include "util.h"

void salve_cli_verror(const char *fmt, va_list ap)
{
	char raw[4096], safe[4096], shown[4096];
	vsnprintf(raw, sizeof raw, fmt, ap);
	salve_redact_string(raw, safe, sizeof safe);
	salve_escape_controls(safe, shown, sizeof shown, 1);
	salve_progress_clear();
	fprintf(stderr, "salve: %s\n", shown);
}

void salve_cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	salve_cli_verror(fmt, ap);
	va_end(ap);
}
