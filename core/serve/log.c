#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when p does not start one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	unsigned min;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	unsigned cp = p[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

char *srv_log_escape(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t w = 0;
	while (*p) {
		char esc[8];
		const char *piece;
		size_t n, used;
		size_t len = utf8_len(p);
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			esc[2] = '\0';
			piece = esc;
			n = 2;
			used = 1;
		} else if (len == 0 || *p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", *p);
			piece = esc;
			n = 4;
			used = 1;
		} else if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			snprintf(esc, sizeof esc, "\\u%04x", p[1]);
			piece = esc;
			n = 6;
			used = 2;
		} else {
			piece = (const char *)p;
			n = len;
			used = len;
		}
		if (w + n + 1 > outlen)
			break;
		memcpy(out + w, piece, n);
		w += n;
		p += used;
	}
	out[w] = '\0';
	return out;
}

void srv_log(int level, const char *fmt, ...)
{
	char raw[4096], safe[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_log(level, "%s", srv_log_escape(raw, safe, sizeof safe));
}

void srv_log_fputs(const char *text, FILE *f)
{
	size_t cap = strlen(text ? text : "") * 6 + 1;
	char *safe = malloc(cap);
	if (!safe)
		return;
	fputs(srv_log_escape(text, safe, cap), f);
	free(safe);
}
