#include "redact.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Shortest text that is redacted: registered values, and every form derived from them. */
#define MIN_SECRET 4
/* A base64 run taken from the middle of a longer base64 text is matched only from this many
 * characters on: shorter runs would match unrelated base64 too often. */
#define MIN_BASE64_RUN 6

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Every text to replace, longest first, so a whole encoded value is replaced before a part
 * of it could be. */
static char **patterns;
static size_t npatterns;

static void add_pattern(const char *text, size_t len)
{
	if (len < MIN_SECRET)
		return;
	size_t at = npatterns;
	for (size_t i = 0; i < npatterns; i++) {
		size_t plen = strlen(patterns[i]);
		if (plen == len && memcmp(patterns[i], text, len) == 0)
			return;
		if (plen < len && at == npatterns)
			at = i;
	}
	char **grown = realloc(patterns, (npatterns + 1) * sizeof *patterns);
	if (!grown)
		return;
	patterns = grown;
	char *copy = strndup(text, len);
	if (!copy)
		return;
	memmove(patterns + at + 1, patterns + at, (npatterns - at) * sizeof *patterns);
	patterns[at] = copy;
	npatterns++;
}

/* text as it is and in base64url (RFC 4648 section 5), each with and without its padding. */
static void add_base64_alphabets(const char *text, size_t len)
{
	char *url = strndup(text, len);
	if (!url)
		return;
	for (size_t i = 0; i < len; i++)
		url[i] = url[i] == '+' ? '-' : url[i] == '/' ? '_' : url[i];
	size_t bare = len;
	while (bare > 0 && text[bare - 1] == '=')
		bare--;
	add_pattern(text, len);
	add_pattern(url, len);
	add_pattern(text, bare);
	add_pattern(url, bare);
	free(url);
}

/* The value encoded alone, and the characters that encode it wherever it sits in a longer
 * encoded text ("user:" + value in a Basic auth header): for each of the three byte offsets
 * modulo 3, the base64 characters whose 6 bits all come from the value. */
static void add_base64_forms(const unsigned char *value, size_t n)
{
	if (n > INT32_MAX / 2)
		return;
	unsigned char *in = calloc(n + 4, 1);
	unsigned char *out = malloc((n + 4 + 2) / 3 * 4 + 1);
	if (!in || !out) {
		free(in);
		free(out);
		return;
	}
	int len = EVP_EncodeBlock(out, value, (int)n);
	if (len > 0)
		add_base64_alphabets((const char *)out, (size_t)len);
	for (size_t k = 0; k < 3; k++) {
		memset(in, 0, n + 4);
		memcpy(in + k, value, n);
		len = EVP_EncodeBlock(out, in, (int)(n + k + 2));
		size_t from = (8 * k + 5) / 6, to = (8 * k + 8 * n) / 6;
		if (len > 0 && to <= (size_t)len && to - from >= MIN_BASE64_RUN)
			add_base64_alphabets((const char *)out + from, to - from);
	}
	free(in);
	free(out);
}

/* Percent-encoding (RFC 3986: every byte but the unreserved ones), with upper and lower case
 * hex digits, and the form encoding that writes a space as '+'. */
static void add_percent_forms(const char *value, size_t n)
{
	static const char unreserved[] = "-._~";
	char *out = malloc(n * 3 + 1);
	if (!out)
		return;
	for (int form = 0; form < 3; form++) {
		const char *hex = form == 1 ? "0123456789abcdef" : "0123456789ABCDEF";
		char *w = out;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)value[i];
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || (c && strchr(unreserved, c))) {
				*w++ = (char)c;
			} else if (form == 2 && c == ' ') {
				*w++ = '+';
			} else {
				*w++ = '%';
				*w++ = hex[c >> 4];
				*w++ = hex[c & 15];
			}
		}
		add_pattern(out, (size_t)(w - out)); /* the value itself when nothing is encoded */
	}
	free(out);
}

/* As it appears inside a JSON string ("pa\"ss" for pa"ss): output that prints JSON. */
static void add_json_form(const char *value)
{
	json_t *s = json_string(value);
	char *dumped = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
	if (dumped) {
		size_t len = strlen(dumped);
		if (len >= 2)
			add_pattern(dumped + 1, len - 2); /* the value itself is already there */
	}
	free(dumped);
	json_decref(s);
}

void salve_redact_register(const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	if (n < MIN_SECRET)
		return;
	pthread_mutex_lock(&lock);
	add_pattern(secret, n);
	add_base64_forms((const unsigned char *)secret, n);
	add_percent_forms(secret, n);
	add_json_form(secret);
	pthread_mutex_unlock(&lock);
}

/* Returns a malloc'd copy with secrets replaced, or NULL when nothing matched. */
static char *redact_locked(const char *src)
{
	char *out = NULL;
	for (size_t i = 0; i < npatterns; i++) {
		const char *cur = out ? out : src;
		if (!strstr(cur, patterns[i]))
			continue;
		size_t slen = strlen(patterns[i]), rlen = strlen(SALVE_REDACTED);
		size_t count = 0;
		for (const char *p = cur; (p = strstr(p, patterns[i])); p += slen)
			count++;
		size_t n = strlen(cur) + count * rlen + 1;
		char *next = malloc(n);
		if (!next)
			continue;
		char *w = next;
		const char *p = cur, *hit;
		while ((hit = strstr(p, patterns[i]))) {
			memcpy(w, p, (size_t)(hit - p));
			w += hit - p;
			memcpy(w, SALVE_REDACTED, rlen);
			w += rlen;
			p = hit + slen;
		}
		strcpy(w, p);
		free(out);
		out = next;
	}
	return out;
}

char *salve_redact_dup(const char *src)
{
	if (!src)
		return NULL;
	pthread_mutex_lock(&lock);
	char *out = redact_locked(src);
	pthread_mutex_unlock(&lock);
	return out ? out : strdup(src);
}

void salve_redact_string(const char *src, char *dst, size_t len)
{
	if (!len)
		return;
	char *r = salve_redact_dup(src ? src : "");
	if (!r) {
		dst[0] = '\0';
		return;
	}
	size_t n = strlen(r);
	if (n >= len)
		n = len - 1;
	memcpy(dst, r, n);
	dst[n] = '\0';
	free(r);
}

/* The redacted string as JSON; the whole value is withheld when cutting a secret out left
 * bytes that are not UTF-8 (a secret that ended inside a multi-byte character). */
static json_t *redacted_string(const char *r)
{
	json_t *s = json_string(r);
	return s ? s : json_string(SALVE_REDACTED);
}

static void redact_json_locked(json_t *v)
{
	if (json_is_object(v)) {
		const char *key;
		json_t *child;
		json_object_foreach(v, key, child)
		{
			if (json_is_string(child)) {
				char *r = redact_locked(json_string_value(child));
				if (r) {
					json_object_set_new(v, key, redacted_string(r));
					free(r);
				}
			} else {
				redact_json_locked(child);
			}
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *child;
		json_array_foreach(v, i, child)
		{
			if (json_is_string(child)) {
				char *r = redact_locked(json_string_value(child));
				if (r) {
					json_array_set_new(v, i, redacted_string(r));
					free(r);
				}
			} else {
				redact_json_locked(child);
			}
		}
	}
}

void salve_redact_json(json_t *v)
{
	pthread_mutex_lock(&lock);
	if (npatterns)
		redact_json_locked(v);
	pthread_mutex_unlock(&lock);
}

void salve_redact_clear(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < npatterns; i++)
		free(patterns[i]);
	free(patterns);
	patterns = NULL;
	npatterns = 0;
	pthread_mutex_unlock(&lock);
}
