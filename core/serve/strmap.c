#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *next;
	uint64_t hash;
	void *value;
	char key[]; /* NUL-terminated copy */
};

struct srv_strmap {
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t size;
};

/* FNV-1a: short keys, no adversary can pick them cheaply enough to matter (they are route
 * names, run ids and alert fingerprints behind authentication), and it is one line. */
static uint64_t hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

srv_strmap *srv_strmap_new(void)
{
	srv_strmap *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->nbuckets = 64;
	m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	return m;
}

void srv_strmap_free(srv_strmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i];
		while (e) {
			struct entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static struct entry **slot_of(const srv_strmap *m, const char *key, uint64_t h)
{
	struct entry **p = &m->buckets[h & (m->nbuckets - 1)];
	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

void *srv_strmap_get(const srv_strmap *m, const char *key)
{
	struct entry **p = slot_of(m, key, hash_of(key));
	return *p ? (*p)->value : NULL;
}

static void grow(srv_strmap *m)
{
	size_t n = m->nbuckets * 2;
	struct entry **b = calloc(n, sizeof *b);
	if (!b)
		return; /* keep the longer chains; still correct */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i];
		while (e) {
			struct entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int srv_strmap_put(srv_strmap *m, const char *key, void *value, void **old)
{
	uint64_t h = hash_of(key);
	struct entry **p = slot_of(m, key, h);
	if (*p) {
		if (old)
			*old = (*p)->value;
		(*p)->value = value;
		return 0;
	}
	if (old)
		*old = NULL;
	size_t len = strlen(key);
	struct entry *e = malloc(sizeof *e + len + 1);
	if (!e)
		return -1;
	memcpy(e->key, key, len + 1);
	e->hash = h;
	e->value = value;
	e->next = NULL;
	*p = e;
	if (++m->size > m->nbuckets)
		grow(m);
	return 0;
}

void *srv_strmap_remove(srv_strmap *m, const char *key)
{
	struct entry **p = slot_of(m, key, hash_of(key));
	struct entry *e = *p;
	if (!e)
		return NULL;
	void *v = e->value;
	*p = e->next;
	free(e);
	m->size--;
	return v;
}

size_t srv_strmap_size(const srv_strmap *m)
{
	return m->size;
}

int srv_strmap_next(const srv_strmap *m, size_t *cursor, const char **key, void **value)
{
	/* The cursor encodes bucket and position in the chain: bucket * 2^16 + index. Chains stay
	 * short (load <= 1), so 2^16 entries per chain is never reached in practice. */
	size_t bucket = *cursor >> 16, index = *cursor & 0xffff;
	for (; bucket < m->nbuckets; bucket++, index = 0) {
		struct entry *e = m->buckets[bucket];
		for (size_t i = 0; e && i < index; i++)
			e = e->next;
		if (e) {
			*key = e->key;
			*value = e->value;
			*cursor = (bucket << 16) | (index + 1);
			return 1;
		}
	}
	*cursor = bucket << 16;
	return 0;
}
