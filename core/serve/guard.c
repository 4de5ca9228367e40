#include "guard.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

int srv_rate_init(srv_rate *r, int count, double window)
{
	memset(r, 0, sizeof *r);
	r->count = count;
	r->window = window;
	if (count > 0) {
		r->times = calloc((size_t)count, sizeof *r->times);
		if (!r->times)
			return -1;
	}
	return 0;
}

void srv_rate_free(srv_rate *r)
{
	free(r->times);
	memset(r, 0, sizeof *r);
}

int srv_rate_take(srv_rate *r, double now, double *retry_in)
{
	if (r->count <= 0)
		return 1;
	if (r->used == r->count) {
		/* head is the oldest of the last count starts. */
		double oldest = r->times[r->head];
		if (now - oldest < r->window) {
			if (retry_in)
				*retry_in = r->window - (now - oldest);
			return 0;
		}
		r->times[r->head] = now;
		r->head = (r->head + 1) % r->count;
		return 1;
	}
	r->times[(r->head + r->used) % r->count] = now;
	r->used++;
	return 1;
}

void srv_targets_init(srv_targets *t, int max, double window)
{
	memset(t, 0, sizeof *t);
	t->max = max;
	t->window = window;
}

void srv_targets_free(srv_targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].key);
	free(t->v);
	memset(t, 0, sizeof *t);
}

static void targets_prune(srv_targets *t, double now)
{
	size_t w = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (now - t->v[i].last < t->window)
			t->v[w++] = t->v[i];
		else
			free(t->v[i].key);
	}
	t->n = w;
}

static long targets_find(const srv_targets *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].key, key) == 0)
			return (long)i;
	return -1;
}

int srv_targets_would_allow(srv_targets *t, const char *key, double now)
{
	if (t->max <= 0)
		return 1;
	targets_prune(t, now);
	return targets_find(t, key) >= 0 || t->n < (size_t)t->max;
}

int srv_targets_would_allow_keys(srv_targets *t, const char *const *keys, size_t n, double now)
{
	if (t->max <= 0)
		return 1;
	targets_prune(t, now);
	size_t fresh = 0;
	for (size_t i = 0; i < n; i++) {
		int repeated = targets_find(t, keys[i]) >= 0;
		for (size_t j = 0; j < i && !repeated; j++)
			repeated = strcmp(keys[j], keys[i]) == 0;
		fresh += !repeated;
	}
	return t->n + fresh <= (size_t)t->max;
}

int srv_targets_take(srv_targets *t, const char *key, double now, size_t *distinct)
{
	if (t->max <= 0) {
		if (distinct)
			*distinct = 0;
		return 1;
	}
	targets_prune(t, now);
	long i = targets_find(t, key);
	if (i >= 0) {
		t->v[i].last = now;
	} else if (t->n < (size_t)t->max) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 8;
			struct srv_target_seen *grown = realloc(t->v, cap * sizeof *grown);
			if (!grown)
				return 0;
			t->v = grown;
			t->cap = cap;
		}
		t->v[t->n].key = strdup(key);
		t->v[t->n].last = now;
		if (t->v[t->n].key)
			t->n++;
	} else {
		if (distinct)
			*distinct = t->n;
		return 0;
	}
	if (distinct)
		*distinct = t->n;
	return 1;
}

struct dedup_entry {
	char run_id[64];
	int active;
	double cooldown, ended;
};

struct srv_dedup {
	srv_strmap *map;
};

srv_dedup *srv_dedup_new(void)
{
	srv_dedup *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->map = srv_strmap_new();
	if (!d->map) {
		free(d);
		return NULL;
	}
	return d;
}

void srv_dedup_free(srv_dedup *d)
{
	if (!d)
		return;
	size_t cur = 0;
	const char *k;
	void *v;
	while (srv_strmap_next(d->map, &cur, &k, &v))
		free(v);
	srv_strmap_free(d->map);
	free(d);
}

int srv_dedup_check(const srv_dedup *d, const char *key, double now, const char **run_id,
                    const char **why, double *ago)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (!e)
		return 0;
	if (e->active) {
		*run_id = e->run_id;
		*why = "active";
		*ago = 0;
		return 1;
	}
	if (now - e->ended < e->cooldown) {
		*run_id = e->run_id;
		*why = "cooldown";
		*ago = now - e->ended;
		return 1;
	}
	return 0;
}

int srv_dedup_start(srv_dedup *d, const char *key, const char *run_id, double cooldown)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (!e) {
		e = calloc(1, sizeof *e);
		if (!e || srv_strmap_put(d->map, key, e, NULL) < 0) {
			free(e);
			return -1;
		}
	}
	strncpy(e->run_id, run_id, sizeof e->run_id - 1);
	e->active = 1;
	e->cooldown = cooldown;
	e->ended = 0;
	return 0;
}

void srv_dedup_end(srv_dedup *d, const char *key, const char *run_id, double now)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (!e || strcmp(e->run_id, run_id) != 0)
		return;
	e->active = 0;
	e->ended = now;
}

void srv_dedup_release(srv_dedup *d, const char *key, const char *run_id)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (!e || strcmp(e->run_id, run_id) != 0)
		return;
	free(srv_strmap_remove(d->map, key));
}

size_t srv_dedup_expire(srv_dedup *d, double now)
{
	size_t n = 0, cap = 0, cur = 0;
	char **stale = NULL;
	const char *k;
	void *v;
	while (srv_strmap_next(d->map, &cur, &k, &v)) {
		struct dedup_entry *e = v;
		if (e->active || now - e->ended < e->cooldown)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **grown = realloc(stale, cap * sizeof *grown);
			if (!grown)
				break;
			stale = grown;
		}
		stale[n++] = strdup(k);
	}
	for (size_t i = 0; i < n; i++) {
		if (stale[i])
			free(srv_strmap_remove(d->map, stale[i]));
		free(stale[i]);
	}
	free(stale);
	return n;
}

size_t srv_dedup_size(const srv_dedup *d)
{
	return srv_strmap_size(d->map);
}
