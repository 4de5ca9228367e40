#include "redact.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t nsecrets;

void salve_redact_register(const char *secret)
{
	if (!secret || strlen(secret) < 4)
		return;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nsecrets; i++) {
		if (strcmp(secrets[i], secret) == 0) {
			pthread_mutex_unlock(&lock);
			return;
		}
	}
	char **grown = realloc(secrets, (nsecrets + 1) * sizeof *secrets);
	char *copy = strdup(secret);
	if (grown && copy) {
		secrets = grown;
		secrets[nsecrets++] = copy;
	} else {
		if (grown)
			secrets = grown;
		free(copy);
	}
	pthread_mutex_unlock(&lock);
}

/* Returns a malloc'd copy with secrets replaced, or NULL when nothing matched. */
static char *redact_locked(const char *src)
{
	char *out = NULL;
	for (size_t i = 0; i < nsecrets; i++) {
		const char *cur = out ? out : src;
		if (!strstr(cur, secrets[i]))
			continue;
		size_t slen = strlen(secrets[i]), rlen = strlen(SALVE_REDACTED);
		size_t count = 0;
		for (const char *p = cur; (p = strstr(p, secrets[i])); p += slen)
			count++;
		size_t n = strlen(cur) + count * rlen + 1;
		char *next = malloc(n);
		if (!next)
			continue;
		char *w = next;
		const char *p = cur, *hit;
		while ((hit = strstr(p, secrets[i]))) {
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
					json_object_set_new(v, key, json_string(r));
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
					json_array_set_new(v, i, json_string(r));
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
	if (nsecrets)
		redact_json_locked(v);
	pthread_mutex_unlock(&lock);
}

void salve_redact_clear(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nsecrets; i++)
		free(secrets[i]);
	free(secrets);
	secrets = NULL;
	nsecrets = 0;
	pthread_mutex_unlock(&lock);
}
