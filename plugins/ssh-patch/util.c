/* Byte buffers, shell quoting, durations and small conversions for the ssh-patch plugin. */
#include "sp.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "duration.h"

const salve_host *sp_api;

int sp_buf_add(struct sp_buf *b, const void *data, size_t n)
{
	if (b->limit && b->len + n > b->limit) {
		b->truncated = 1;
		n = b->len < b->limit ? b->limit - b->len : 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (!grown)
			return -1;
		b->data = grown;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int sp_buf_addstr(struct sp_buf *b, const char *s)
{
	return sp_buf_add(b, s, strlen(s));
}

int sp_buf_printf(struct sp_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	char *tmp = malloc((size_t)n + 1);
	if (!tmp)
		return -1;
	va_start(ap, fmt);
	vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = sp_buf_add(b, tmp, (size_t)n);
	free(tmp);
	return rc;
}

void sp_buf_free(struct sp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->truncated = 0;
}

char *sp_buf_take(struct sp_buf *b)
{
	char *d = b->data ? b->data : strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

int sp_shell_quote(struct sp_buf *b, const char *s)
{
	/* Inside single quotes a POSIX shell takes every byte literally; only ' itself ends
	 * the quote, so it is written as '\'' (close, escaped quote, reopen). */
	if (sp_buf_add(b, "'", 1) < 0)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			if (sp_buf_add(b, "'\\''", 4) < 0)
				return -1;
		} else if (sp_buf_add(b, p, 1) < 0) {
			return -1;
		}
	}
	return sp_buf_add(b, "'", 1);
}

int sp_shell_join(struct sp_buf *b, const json_t *argv)
{
	size_t i;
	json_t *v;
	json_array_foreach(argv, i, v)
	{
		if (!json_is_string(v))
			return -1;
		/* A NUL cannot travel in an argv element; refuse rather than cut the string. */
		if (strlen(json_string_value(v)) != json_string_length(v))
			return -1;
		if (i > 0 && sp_buf_add(b, " ", 1) < 0)
			return -1;
		if (sp_shell_quote(b, json_string_value(v)) < 0)
			return -1;
	}
	return 0;
}

double sp_duration(const json_t *v, double def)
{
	if (!v || json_is_null(v))
		return def;
	double d;
	return salve_duration_from_json(v, &d) == 0 ? d : -1;
}

int sp_bool(const json_t *v, int def)
{
	if (!v || json_is_null(v))
		return def;
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (!json_is_string(v))
		return def;
	const char *s = json_string_value(v);
	static const char *yes[] = {"true", "yes", "on", "1", "True", "Yes", "TRUE", "YES"};
	static const char *no[] = {"false", "no", "off", "0", "False", "No", "FALSE", "NO"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return def;
}

long sp_long(const json_t *v, long def)
{
	if (!v || json_is_null(v))
		return def;
	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		long n = strtol(s, &end, 10);
		if (end != s && *end == '\0')
			return n;
	}
	return -1;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned min;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

json_t *sp_json_bytes(const char *data, size_t len)
{
	if (!data)
		return json_string("");
	json_t *j = json_stringn(data, len);
	if (j)
		return j;
	/* Not valid UTF-8: keep what is, mark the rest with U+FFFD. */
	struct sp_buf b = {0};
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0;
	while (i < len) {
		size_t l = utf8_len(p + i, len - i);
		if (l) {
			sp_buf_add(&b, p + i, l);
			i += l;
		} else {
			sp_buf_add(&b, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	j = json_stringn(b.data ? b.data : "", b.len);
	sp_buf_free(&b);
	return j;
}

void sp_duration_text(double seconds, char *out, size_t outlen)
{
	long s = seconds > 0 ? (long)ceil(seconds) : 0;
	if (s > 0 && s % 3600 == 0)
		snprintf(out, outlen, "%ldh", s / 3600);
	else if (s > 0 && s % 60 == 0)
		snprintf(out, outlen, "%ldm", s / 60);
	else
		snprintf(out, outlen, "%lds", s);
}

int sp_buf_add_escaped(struct sp_buf *b, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0;
	while (i < len) {
		size_t l = utf8_len(p + i, len - i);
		char esc[8];
		if (l == 1 && p[i] >= 0x20 && p[i] != 0x7f) {
			if (sp_buf_add(b, p + i, 1) < 0)
				return -1;
		} else if (l == 1 || l == 0) {
			snprintf(esc, sizeof esc, "\\x%02x", p[i]);
			if (sp_buf_addstr(b, esc) < 0)
				return -1;
			l = 1;
		} else if (l == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0) {
			/* U+0080..U+009F: terminals take some of these (U+009B) as CSI. */
			snprintf(esc, sizeof esc, "\\u00%02x", p[i + 1]);
			if (sp_buf_addstr(b, esc) < 0)
				return -1;
		} else if (sp_buf_add(b, p + i, l) < 0) {
			return -1;
		}
		i += l;
	}
	return 0;
}

void sp_escape_into(char *out, size_t outlen, const char *s)
{
	if (outlen == 0)
		return;
	struct sp_buf b = {0};
	sp_buf_add_escaped(&b, s, strlen(s));
	size_t n = b.len < outlen - 1 ? b.len : outlen - 1;
	/* Cut before a UTF-8 sequence rather than in it: the text may become a JSON string. */
	if (n < b.len)
		while (n > 0 && ((unsigned char)b.data[n] & 0xC0) == 0x80)
			n--;
	if (b.data)
		memcpy(out, b.data, n);
	out[n] = '\0';
	sp_buf_free(&b);
}

static char *escaped_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *escaped_vprintf(const char *fmt, va_list ap)
{
	char *raw = NULL;
	if (vasprintf(&raw, fmt, ap) < 0)
		return NULL;
	struct sp_buf b = {0};
	sp_buf_add_escaped(&b, raw, strlen(raw));
	free(raw);
	return sp_buf_take(&b);
}

void sp_fail(salve_call *call, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = escaped_vprintf(fmt, ap);
	va_end(ap);
	sp_api->fail(call, "%s", msg ? msg : "out of memory");
	free(msg);
}

void sp_log(salve_call *call, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = escaped_vprintf(fmt, ap);
	va_end(ap);
	sp_api->log(call, level, "%s", msg ? msg : "out of memory");
	free(msg);
}

void sp_progress(salve_call *call, const char *fmt, ...)
{
	if (!SALVE_HOST_HAS(sp_api, progress))
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = escaped_vprintf(fmt, ap);
	va_end(ap);
	sp_api->progress(call, "%s", msg ? msg : "out of memory");
	free(msg);
}

double sp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *sp_base64(const void *data, size_t len)
{
	size_t outlen = 4 * ((len + 2) / 3) + 1;
	char *out = malloc(outlen);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

unsigned char *sp_unbase64(const char *s, size_t *outlen)
{
	size_t len = strlen(s);
	if (len % 4 != 0)
		return NULL;
	unsigned char *out = malloc(len / 4 * 3 + 1);
	if (!out)
		return NULL;
	int n = len ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) : 0;
	if (n < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes; take them off. */
	if (len >= 1 && s[len - 1] == '=')
		n--;
	if (len >= 2 && s[len - 2] == '=')
		n--;
	*outlen = (size_t)n;
	return out;
}

void sp_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

char *sp_strdupf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *out = NULL;
	if (vasprintf(&out, fmt, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}
