#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditscan.h"
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
	int resolved; /* a remembered resolve, not a run */
	double cooldown, ended;
	unsigned long long seq;            /* of the last change, for the durable copy */
	struct dedup_entry *older, *newer; /* least recently changed first */
	char key[];
};

struct srv_dedup {
	srv_strmap *map;
	size_t capacity; /* 0: no bound */
	/* Every entry is on one of two lists, linked through older/newer: the LRU of entries
	 * that hold no active run (least recently changed first: what make_room evicts), or
	 * the list of active ones (never evicted), so that making room never walks them. */
	struct dedup_entry *oldest, *newest;
	struct dedup_entry *active_first, *active_last;
	size_t evicted; /* since srv_dedup_take_evictions last asked */
	int recording;  /* keep changes for srv_dedup_take_changes */
	unsigned long long seq;
	srv_dedup_change *changes;
	size_t nchanges, capchanges;
};

srv_dedup *srv_dedup_new(size_t capacity)
{
	srv_dedup *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->capacity = capacity;
	d->map = srv_strmap_new();
	if (!d->map) {
		free(d);
		return NULL;
	}
	return d;
}

void srv_dedup_changes_free(srv_dedup_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].key);
	free(c);
}

void srv_dedup_free(srv_dedup *d)
{
	if (!d)
		return;
	for (struct dedup_entry *e = d->oldest, *next; e; e = next) {
		next = e->newer;
		free(e);
	}
	for (struct dedup_entry *e = d->active_first, *next; e; e = next) {
		next = e->newer;
		free(e);
	}
	srv_strmap_free(d->map);
	srv_dedup_changes_free(d->changes, d->nchanges);
	free(d);
}

/* The list e is on (by e->active): its first and last. */
static struct dedup_entry **list_first(srv_dedup *d, const struct dedup_entry *e)
{
	return e->active ? &d->active_first : &d->oldest;
}

static struct dedup_entry **list_last(srv_dedup *d, const struct dedup_entry *e)
{
	return e->active ? &d->active_last : &d->newest;
}

static void lru_unlink(srv_dedup *d, struct dedup_entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		*list_first(d, e) = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		*list_last(d, e) = e->older;
	e->older = e->newer = NULL;
}

static void lru_append(srv_dedup *d, struct dedup_entry *e)
{
	struct dedup_entry **last = list_last(d, e);
	e->older = *last;
	e->newer = NULL;
	if (*last)
		(*last)->newer = e;
	else
		*list_first(d, e) = e;
	*last = e;
}

/* e starts or stops holding an active run: it moves to the end of the list that goes with
 * that. */
static void set_active(srv_dedup *d, struct dedup_entry *e, int active)
{
	lru_unlink(d, e);
	e->active = active;
	lru_append(d, e);
}

static void entry_remove(srv_dedup *d, struct dedup_entry *e)
{
	lru_unlink(d, e);
	srv_strmap_remove(d->map, e->key);
	free(e);
}

/* Records a change of e for the durable copy (a failed allocation loses it: the copy then
 * remembers less, which the caller's restart treats as it treats a crash). */
static void record_change(srv_dedup *d, struct dedup_entry *e, enum srv_dedup_change_kind kind)
{
	e->seq = ++d->seq;
	if (!d->recording)
		return;
	if (d->nchanges == d->capchanges) {
		size_t cap = d->capchanges ? d->capchanges * 2 : 64;
		srv_dedup_change *grown = realloc(d->changes, cap * sizeof *grown);
		if (!grown)
			return;
		d->changes = grown;
		d->capchanges = cap;
	}
	srv_dedup_change *c = &d->changes[d->nchanges];
	c->key = strdup(e->key);
	if (!c->key)
		return;
	c->kind = kind;
	memcpy(c->run_id, e->run_id, sizeof c->run_id);
	c->cooldown = e->cooldown;
	c->at = e->ended;
	c->seq = e->seq;
	d->nchanges++;
}

/* Makes room for one more entry: the least recently changed entries that hold no active run
 * go first. An active run's keys are never evicted (that would let a second run of the same
 * occurrence start beside it); their number is bounded by the queue and the workers. */
static void make_room(srv_dedup *d)
{
	if (!d->capacity)
		return;
	while (d->oldest && srv_strmap_size(d->map) >= d->capacity) {
		entry_remove(d, d->oldest);
		d->evicted++;
	}
}

/* The entry of key, made (evicting when full) when absent. NULL when out of memory. */
static struct dedup_entry *entry_get(srv_dedup *d, const char *key)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (e) {
		lru_unlink(d, e);
		lru_append(d, e);
		return e;
	}
	make_room(d);
	size_t len = strlen(key);
	e = calloc(1, sizeof *e + len + 1);
	if (!e)
		return NULL;
	memcpy(e->key, key, len + 1);
	if (srv_strmap_put(d->map, key, e, NULL) < 0) {
		free(e);
		return NULL;
	}
	lru_append(d, e);
	return e;
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
		*why = e->resolved ? "resolved" : "cooldown";
		*ago = now - e->ended;
		return 1;
	}
	return 0;
}

int srv_dedup_start(srv_dedup *d, const char *key, const char *run_id, double cooldown)
{
	struct dedup_entry *e = entry_get(d, key);
	if (!e)
		return -1;
	snprintf(e->run_id, sizeof e->run_id, "%s", run_id);
	if (!e->active)
		set_active(d, e, 1);
	e->resolved = 0;
	e->cooldown = cooldown;
	e->ended = 0;
	record_change(d, e, SRV_DEDUP_ACTIVE);
	return 0;
}

void srv_dedup_end(srv_dedup *d, const char *key, const char *run_id, double now)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (!e || strcmp(e->run_id, run_id) != 0)
		return;
	set_active(d, e, 0);
	e->ended = now;
	record_change(d, e, SRV_DEDUP_ENDED);
}

void srv_dedup_release(srv_dedup *d, const char *key, const char *run_id)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (!e || strcmp(e->run_id, run_id) != 0)
		return;
	record_change(d, e, SRV_DEDUP_RELEASED);
	entry_remove(d, e);
}

int srv_dedup_remember_resolved(srv_dedup *d, const char *key, double now, double memory)
{
	struct dedup_entry *e = srv_strmap_get(d->map, key);
	if (e && e->active)
		return 0;
	if (!(e = entry_get(d, key)))
		return -1;
	e->run_id[0] = '\0';
	e->resolved = 1;
	e->cooldown = memory;
	e->ended = now;
	record_change(d, e, SRV_DEDUP_RESOLVED);
	return 0;
}

int srv_dedup_restore(srv_dedup *d, const srv_dedup_change *c, double ended)
{
	if (c->kind == SRV_DEDUP_RELEASED)
		return 0;
	struct dedup_entry *e = srv_strmap_get(d->map, c->key);
	if (e && e->active)
		return 0;
	if (!(e = entry_get(d, c->key)))
		return -1;
	memcpy(e->run_id, c->run_id, sizeof e->run_id);
	e->run_id[sizeof e->run_id - 1] = '\0';
	e->resolved = c->kind == SRV_DEDUP_RESOLVED;
	e->cooldown = c->cooldown;
	e->ended = ended;
	e->seq = c->seq;
	if (c->seq > d->seq)
		d->seq = c->seq;
	return 0;
}

size_t srv_dedup_expire(srv_dedup *d, double now)
{
	size_t n = 0;
	for (struct dedup_entry *e = d->oldest, *next; e; e = next) {
		next = e->newer;
		if (e->active || now - e->ended < e->cooldown)
			continue;
		entry_remove(d, e);
		n++;
	}
	return n;
}

size_t srv_dedup_size(const srv_dedup *d)
{
	return srv_strmap_size(d->map);
}

size_t srv_dedup_take_evictions(srv_dedup *d)
{
	size_t n = d->evicted;
	d->evicted = 0;
	return n;
}

void srv_dedup_record_changes(srv_dedup *d, int on)
{
	d->recording = on;
}

srv_dedup_change *srv_dedup_take_changes(srv_dedup *d, size_t *n)
{
	srv_dedup_change *c = d->changes;
	*n = d->nchanges;
	d->changes = NULL;
	d->nchanges = d->capchanges = 0;
	return c;
}

srv_dedup_change *srv_dedup_snapshot(const srv_dedup *d, size_t *n)
{
	size_t size = srv_strmap_size(d->map), i = 0;
	srv_dedup_change *c = calloc(size + 1, sizeof *c);
	if (!c) {
		*n = 0;
		return NULL;
	}
	const struct dedup_entry *e = d->oldest;
	for (int list = 0; list < 2; list++, e = d->active_first)
		for (; e && i < size; e = e->newer) {
			if (!(c[i].key = strdup(e->key)))
				goto out;
			c[i].kind = e->active     ? SRV_DEDUP_ACTIVE
			            : e->resolved ? SRV_DEDUP_RESOLVED
			                          : SRV_DEDUP_ENDED;
			memcpy(c[i].run_id, e->run_id, sizeof c[i].run_id);
			c[i].cooldown = e->cooldown;
			c[i].at = e->ended;
			c[i].seq = e->seq;
			i++;
		}
out:
	*n = i;
	return c;
}

void srv_dedup_each_cooling(const srv_dedup *d, double now,
                            void (*fn)(void *arg, const char *key, const char *run_id, double left),
                            void *arg)
{
	for (const struct dedup_entry *e = d->oldest; e; e = e->newer)
		if (!e->active && !e->resolved && now - e->ended < e->cooldown)
			fn(arg, e->key, e->run_id, e->cooldown - (now - e->ended));
}

/* ---- the guardrails shared by replicas ------------------------------------------------------ */

int srv_window_load(const json_t *doc, srv_rate *r, srv_targets *t)
{
	const json_t *starts = json_object_get(doc, "rate");
	if (r && r->count > 0 && json_is_array(starts)) {
		size_t n = json_array_size(starts), from = 0;
		if (n > (size_t)r->count)
			from = n - (size_t)r->count;
		r->head = 0;
		r->used = 0;
		for (size_t i = from; i < n; i++)
			if (json_is_number(json_array_get(starts, i)))
				r->times[r->used++] = json_number_value(json_array_get(starts, i));
	}
	const json_t *seen = json_object_get(doc, "targets");
	if (!t || t->max <= 0 || !json_is_object(seen))
		return 0;
	const char *key;
	const json_t *last;
	json_object_foreach((json_t *)seen, key, last)
	{
		if (!json_is_number(last))
			continue;
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 8;
			struct srv_target_seen *grown = realloc(t->v, cap * sizeof *grown);
			if (!grown)
				return -1;
			t->v = grown;
			t->cap = cap;
		}
		if (!(t->v[t->n].key = strdup(key)))
			return -1;
		t->v[t->n++].last = json_number_value(last);
	}
	return 0;
}

json_t *srv_window_dump(const srv_rate *r, const srv_targets *t, double now)
{
	json_t *starts = json_array(), *seen = json_object();
	json_t *doc = json_pack("{s:o, s:o}", "rate", starts, "targets", seen);
	if (!doc)
		return NULL;
	/* Starts out of the window decide nothing (a full ring's oldest is only compared with
	 * the window): left out, the document stays small. */
	for (int i = 0; r && i < r->used; i++) {
		double at = r->times[(r->head + i) % r->count];
		if (now - at < r->window)
			json_array_append_new(starts, json_real(at));
	}
	for (size_t i = 0; t && i < t->n; i++)
		if (now - t->v[i].last < t->window)
			json_object_set_new(seen, t->v[i].key, json_real(t->v[i].last));
	return doc;
}

int srv_breaker_open(const json_t *doc)
{
	return json_is_true(json_object_get(doc, "open"));
}

json_t *srv_breaker_next(const json_t *doc, int breaker, int success, int failed,
                         const char *run_id, const char *why, const char *replica, const char *at,
                         int *opened)
{
	*opened = 0;
	json_int_t failures = json_integer_value(json_object_get(doc, "failures"));
	if ((success && failures == 0) || (!success && !failed))
		return NULL;
	json_t *next = doc ? json_deep_copy(doc) : json_object();
	if (!next)
		return NULL;
	failures = success ? 0 : failures + 1;
	json_object_set_new(next, "failures", json_integer(failures));
	/* The run counted last: a writer whose answer was lost finds its own count there. */
	json_object_set_new(next, "counted", json_string(run_id));
	if (success || breaker <= 0 || failures < breaker || srv_breaker_open(doc))
		return next;
	char reason[512];
	snprintf(reason, sizeof reason, "last failed run %s: %s", run_id, why);
	json_object_set_new(next, "open", json_true());
	json_object_set_new(next, "reason", json_string(reason));
	json_object_set_new(next, "last_run", json_string(run_id));
	json_object_set_new(next, "opened_at", json_string(at));
	json_object_set_new(next, "replica", json_string(replica));
	*opened = 1;
	return next;
}

int srv_shared_decide(const srv_shared_view *view, const srv_shared_limits *limits,
                      const char *const *targets, size_t n, double now, srv_shared_result *out)
{
	memset(out, 0, sizeof *out);
	if (view->resolved)
		out->verdict = SRV_SHARED_IGNORED;
	else if (view->paused)
		out->verdict = SRV_SHARED_PAUSED;
	else if (srv_breaker_open(view->circuit))
		out->verdict = SRV_SHARED_CIRCUIT;
	else if (view->claimed)
		out->verdict = SRV_SHARED_CLAIMED;
	else if (view->target_held)
		out->verdict = SRV_SHARED_TARGET;
	if (out->verdict != SRV_SHARED_RUN)
		return 0;
	srv_rate rate;
	srv_targets route, server;
	if (srv_rate_init(&rate, limits->rate_count, limits->rate_window) < 0)
		return -1;
	srv_targets_init(&route, limits->max_targets, limits->targets_window);
	srv_targets_init(&server, limits->server_max_targets, limits->server_targets_window);
	int rc = -1;
	if (srv_window_load(view->route_window, &rate, &route) < 0 ||
	    srv_window_load(view->server_window, NULL, &server) < 0)
		goto out;
	/* In the order of the single server's checks (ingest.c): blast radius, then rate. */
	if (!srv_targets_would_allow_keys(&route, targets, n, now)) {
		out->verdict = SRV_SHARED_BLAST_ROUTE;
	} else if (!srv_targets_would_allow_keys(&server, targets, n, now)) {
		out->verdict = SRV_SHARED_BLAST_SERVER;
	} else if (!srv_rate_take(&rate, now, &out->retry_in)) {
		out->verdict = SRV_SHARED_RATE;
	} else {
		for (size_t i = 0; i < n; i++) {
			srv_targets_take(&route, targets[i], now, NULL);
			srv_targets_take(&server, targets[i], now, NULL);
		}
		if (limits->rate_count > 0 || limits->max_targets > 0)
			out->route_window = srv_window_dump(&rate, &route, now);
		if (limits->server_max_targets > 0)
			out->server_window = srv_window_dump(NULL, &server, now);
		if ((limits->rate_count > 0 || limits->max_targets > 0) && !out->route_window)
			goto out;
		if (limits->server_max_targets > 0 && !out->server_window)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		srv_shared_result_clear(out);
	srv_rate_free(&rate);
	srv_targets_free(&route);
	srv_targets_free(&server);
	return rc;
}

void srv_shared_result_clear(srv_shared_result *res)
{
	json_decref(res->route_window);
	json_decref(res->server_window);
	res->route_window = res->server_window = NULL;
}

double srv_stale_age(const char *created_at, double t_created, double now_mono, double now_wall)
{
	double age = t_created > 0 ? now_mono - t_created : -1, at;
	if (created_at && salve_parse_rfc3339(created_at, &at) == 0 && now_wall - at > age)
		age = now_wall - at;
	return age;
}
