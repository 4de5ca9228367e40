#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double salve_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void salve_timestamp(char *buf, size_t len)
{
	/* The calendar part changes once a second: format it once per second per thread. */
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[24];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = ts.tv_sec;
	}
	snprintf(buf, len, "%s.%03ldZ", cached, ts.tv_nsec / 1000000L);
}

static void to_hex(const unsigned char *raw, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 0xf];
	}
	hex[2 * n] = '\0';
}

int salve_random_id(char *buf, size_t len)
{
	unsigned char raw[16];
	if (len < 33 || getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -1;
	to_hex(raw, sizeof raw, buf);
	return 0;
}

void salve_sha256_hex(const void *data, size_t len, char *hex)
{
	/* libcrypto's direct SHA-256, not EVP: OpenSSL 3's provider set-up behind EVP costs
	 * 1.8 MB of resident memory and an allocation per digest, for one fixed algorithm. */
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX ctx;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, data, len);
	SHA256_Final(md, &ctx);
	to_hex(md, sizeof md, hex);
}

char *salve_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		if (n + 1 >= cap) {
			char *grown = realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int salve_mkdirs(const char *path, unsigned mode)
{
	char tmp[4096];
	if (salve_fmt(tmp, sizeof tmp, "%s", path) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int salve_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= len) ? -1 : n;
}

const char *salve_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "table";
	case JSON_ARRAY:
		return "list";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "nil";
	}
	return "unknown";
}

void salve_escape_controls(const char *src, char *dst, size_t len, int keep_tab)
{
	if (len == 0)
		return;
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		char rep[8];
		size_t n;
		if ((*p < 0x20 && !(keep_tab && *p == '\t')) || *p == 0x7f) {
			if (*p == '\n')
				n = (size_t)snprintf(rep, sizeof rep, "\\n");
			else if (*p == '\r')
				n = (size_t)snprintf(rep, sizeof rep, "\\r");
			else if (*p == '\t')
				n = (size_t)snprintf(rep, sizeof rep, "\\t");
			else
				n = (size_t)snprintf(rep, sizeof rep, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			n = (size_t)snprintf(rep, sizeof rep, "\\u%04x", p[1]);
			p++;
		} else {
			rep[0] = (char)*p;
			n = 1;
		}
		if (o + n >= len)
			break;
		memcpy(dst + o, rep, n);
		o += n;
	}
	dst[o] = '\0';
}
