/* salve serve's etcd side: decisions, what runs leave behind, the pause, the watcher (see
 * ha.h). */
#include "ha.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ha/etcd.h"
#include "httpmod.h"
#include "log.h"
#include "redact.h"
#include "strmap.h"
#include "util.h"

/* A key reuses a lease granted less than this ago with the same TTL, and leases are granted
 * this much longer than asked: a key lives at least the TTL asked, and a burst of alerts
 * costs one grant. */
#define LEASE_REUSE 1.0
#define LEASE_SLOTS 8
/* After a failed lease grant, the next one is asked no sooner than this. */
#define GRANT_RETRY 1.0
/* The watcher reads the pause this often, and the circuits and windows every DOCS_EVERY
 * reads: a pause set on one replica stops the others' workers within WATCH_PERIOD and one
 * request (alerts see it at once: their decision reads it). */
#define WATCH_PERIOD 0.25
#define DOCS_EVERY   4
/* A decision gives up (503) after losing this many compare-and-swaps in a row. */
#define MAX_ATTEMPTS 16

/* A document as last seen (its key's value parsed, NULL: absent) and the store revision it
 * was seen at: an older sight never replaces a newer one. */
struct known_doc {
	json_t *doc;
	long long mod, seen;
};

struct srv_ha {
	salve_etcd *etcd;
	char *prefix, *replica;
	char instance[33]; /* this process: tells our claims from a same-named replica's */
	double lease_ttl;
	pthread_mutex_t mu; /* everything below */
	struct lease_slot {
		long long ttl, id;
		double granted;
	} leases[LEASE_SLOTS];
	srv_strmap *known; /* etcd key -> struct known_doc: circuits and windows */
	/* The watcher. */
	pthread_t watcher;
	pthread_cond_t watch_cv;
	int watch_tried, watching, watch_stop;
	int paused;
	double pause_read; /* monotonic; 0: never */
	int pause_error_told;
	/* How etcd answered, for /healthz (monotonic times; 0: never). */
	double last_ok, last_fail;
	char last_error[512];
	unsigned long long grants, decisions, conflicts, unavailable, batches, batched;
	unsigned long long end_txns, ends_written, ends_lost;
	double last_grant, grant_failed; /* monotonic; grant_failed 0 once a grant succeeds */
	char grant_error[512];
	/* Group commit of decisions (batch_mu, not mu): asks that arrive while one transaction
	 * is in flight go together in the next. */
	pthread_mutex_t batch_mu;
	pthread_cond_t batch_cv;
	struct batch_item *pending;
	int deciding; /* a leader's transaction is in flight */
	/* Run ends (end_mu, not mu): written to etcd by the ender thread, those that ended
	 * while a transaction was in flight together in the next. */
	pthread_mutex_t end_mu;
	pthread_cond_t end_cv;
	struct ended *ends, **ends_tail;
	pthread_t ender;
	int ender_running, end_stop, ending; /* ending: the ender holds a batch */
};

static void ha_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

struct srv_ha *srv_ha_open(const salve_ha_conf *conf, char *err, size_t errlen)
{
	struct srv_ha *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "ha: out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->batch_mu, NULL);
	ha_cond_init(&h->batch_cv);
	pthread_mutex_init(&h->end_mu, NULL);
	ha_cond_init(&h->end_cv);
	h->ends_tail = &h->ends;
	ha_cond_init(&h->watch_cv);
	char warning[512];
	h->etcd = salve_ha_connect(conf, warning, sizeof warning, err, errlen);
	if (warning[0])
		srv_log(SALVE_LOG_WARN, "%s", warning);
	h->prefix = strdup(conf->prefix);
	h->replica = strdup(conf->replica);
	h->known = srv_strmap_new();
	h->lease_ttl = conf->lease_ttl;
	if (salve_random_id(h->instance, sizeof h->instance) < 0) {
		snprintf(err, errlen, "ha: no random bytes for this replica's instance id");
		srv_ha_close(h);
		return NULL;
	}
	if (!h->etcd || !h->prefix || !h->replica || !h->known) {
		if (h->etcd)
			snprintf(err, errlen, "ha: out of memory");
		srv_ha_close(h);
		return NULL;
	}
	return h;
}

void srv_ha_close(struct srv_ha *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	int watching = h->watching;
	h->watch_stop = 1;
	pthread_cond_broadcast(&h->watch_cv);
	pthread_mutex_unlock(&h->mu);
	if (watching)
		pthread_join(h->watcher, NULL);
	pthread_mutex_lock(&h->end_mu);
	int ending = h->ender_running;
	h->end_stop = 1;
	pthread_cond_broadcast(&h->end_cv);
	pthread_mutex_unlock(&h->end_mu);
	if (ending)
		pthread_join(h->ender, NULL); /* after it wrote every end queued */
	size_t cursor = 0;
	const char *key;
	void *value;
	while (h->known && srv_strmap_next(h->known, &cursor, &key, &value)) {
		struct known_doc *k = value;
		json_decref(k->doc);
		free(k);
	}
	srv_strmap_free(h->known);
	salve_etcd_free(h->etcd);
	free(h->prefix);
	free(h->replica);
	pthread_cond_destroy(&h->watch_cv);
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->batch_mu);
	pthread_cond_destroy(&h->batch_cv);
	pthread_mutex_destroy(&h->end_mu);
	pthread_cond_destroy(&h->end_cv);
	free(h);
}

struct salve_etcd *srv_ha_etcd(const struct srv_ha *h)
{
	return h->etcd;
}

const char *srv_ha_prefix(const struct srv_ha *h)
{
	return h->prefix;
}

const char *srv_ha_replica(const struct srv_ha *h)
{
	return h->replica;
}

const char *srv_ha_instance(const struct srv_ha *h)
{
	return h->instance;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* How a request went, for /healthz. */
static void noted(struct srv_ha *h, int ok, const char *err)
{
	pthread_mutex_lock(&h->mu);
	if (ok) {
		h->last_ok = salve_now();
	} else {
		h->last_fail = salve_now();
		snprintf(h->last_error, sizeof h->last_error, "%s", err);
	}
	pthread_mutex_unlock(&h->mu);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* PREFIX/kind/name (name NULL: PREFIX/kind), malloc'd. */
static char *key_of(const struct srv_ha *h, const char *kind, const char *name)
{
	size_t len = strlen(h->prefix) + strlen(kind) + (name ? strlen(name) : 0) + 3;
	char *key = malloc(len);
	if (key)
		snprintf(key, len, name ? "%s/%s/%s" : "%s/%s", h->prefix, kind, name ? name : "");
	return key;
}

static char *dump(const json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

/* A claim's value for run_id: the same bytes every time (compared by target_ended). */
static char *claim_value(const struct srv_ha *h, const char *run_id)
{
	json_t *v = json_pack("{s:s, s:s, s:s}", "instance", h->instance, "replica", h->replica,
	                      "run", run_id);
	char *text = dump(v);
	json_decref(v);
	return text;
}

/* A lease on which a key lives at least ttl seconds, reused for LEASE_REUSE seconds. 0 or
 * -1. */
static int lease_for(struct srv_ha *h, double ttl, long long *id, char *err, size_t errlen)
{
	long long seconds = (long long)ceil(ttl + LEASE_REUSE);
	double now = salve_now();
	pthread_mutex_lock(&h->mu);
	struct lease_slot *oldest = &h->leases[0];
	for (int i = 0; i < LEASE_SLOTS; i++) {
		struct lease_slot *l = &h->leases[i];
		if (l->id && l->ttl == seconds && now - l->granted < LEASE_REUSE) {
			*id = l->id;
			pthread_mutex_unlock(&h->mu);
			return 0;
		}
		if (l->granted < oldest->granted)
			oldest = l;
	}
	/* A grant that just failed is not asked again for every waiting alert: each ask would
	 * cost every endpoint's timeout again, one after the other. */
	if (h->grant_failed > 0 && now - h->grant_failed < GRANT_RETRY) {
		snprintf(err, errlen, "%s", h->grant_error);
		pthread_mutex_unlock(&h->mu);
		return -1;
	}
	pthread_mutex_unlock(&h->mu);
	int rc = salve_etcd_lease_grant(h->etcd, seconds, id, err, errlen);
	pthread_mutex_lock(&h->mu);
	if (rc == 0) {
		*oldest = (struct lease_slot){.ttl = seconds, .id = *id, .granted = now};
		h->grants++;
		h->last_grant = now;
		h->grant_failed = 0;
		h->grant_error[0] = '\0';
	} else {
		h->grant_failed = salve_now();
		snprintf(h->grant_error, sizeof h->grant_error, "%s", err);
	}
	pthread_mutex_unlock(&h->mu);
	noted(h, rc == 0, err);
	return rc;
}

/* ---- documents as last seen -------------------------------------------------------------- */

/* Records key's document (stolen; NULL: absent) seen at store revision seen. */
static void know(struct srv_ha *h, const char *key, json_t *doc, long long mod, long long seen)
{
	pthread_mutex_lock(&h->mu);
	struct known_doc *k = srv_strmap_get(h->known, key);
	if (!k && (k = calloc(1, sizeof *k)) && srv_strmap_put(h->known, key, k, NULL) < 0) {
		free(k);
		k = NULL;
	}
	if (k && seen >= k->seen) {
		json_decref(k->doc);
		k->doc = doc;
		k->mod = doc ? mod : 0;
		k->seen = seen;
		doc = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	json_decref(doc);
}

/* key's document as last seen (new reference or NULL) and its mod revision (0: absent or
 * never seen). */
static json_t *known(struct srv_ha *h, const char *key, long long *mod)
{
	pthread_mutex_lock(&h->mu);
	const struct known_doc *k = srv_strmap_get(h->known, key);
	json_t *doc = k ? json_incref(k->doc) : NULL;
	if (mod)
		*mod = k ? k->mod : 0;
	pthread_mutex_unlock(&h->mu);
	return doc;
}

void srv_ha_known(struct srv_ha *h, const char *route, json_t **circuit, json_t **window,
                  json_t **server_window)
{
	char *ck = route ? key_of(h, "circuits", route) : NULL;
	char *wk = route ? key_of(h, "windows/route", route) : NULL;
	char *sk = key_of(h, "windows/server", NULL);
	if (circuit)
		*circuit = ck ? known(h, ck, NULL) : NULL;
	if (window)
		*window = wk ? known(h, wk, NULL) : NULL;
	if (server_window)
		*server_window = sk ? known(h, sk, NULL) : NULL;
	free(ck);
	free(wk);
	free(sk);
}

/* ---- the decision ------------------------------------------------------------------------- */

enum slot_role { S_RESOLVED, S_PAUSE, S_CIRCUIT, S_CLAIM, S_TARGET, S_ROUTE, S_SERVER, S_N };

/* One key a decision reads: what it holds as far as this decision knows. */
struct slot {
	char *key;
	int used;
	int exists;
	json_t *doc; /* its value parsed (NULL when absent or not JSON) */
	long long mod;
};

static void slots_free(struct slot *s)
{
	for (int i = 0; i < S_N; i++) {
		free(s[i].key);
		json_decref(s[i].doc);
	}
}

/* Who holds a claim value. */
static void holder_of(const struct srv_ha *h, const json_t *v, srv_ha_holder *holder)
{
	memset(holder, 0, sizeof *holder);
	const char *run = json_string_value(json_object_get(v, "run"));
	const char *replica = json_string_value(json_object_get(v, "replica"));
	const char *instance = json_string_value(json_object_get(v, "instance"));
	const char *ended = json_string_value(json_object_get(v, "ended_at"));
	snprintf(holder->run, sizeof holder->run, "%s", run ? run : "unknown");
	snprintf(holder->replica, sizeof holder->replica, "%s", replica ? replica : "unknown");
	snprintf(holder->ended_at, sizeof holder->ended_at, "%s", ended ? ended : "");
	holder->ours = instance && strcmp(instance, h->instance) == 0;
}

/* Reads slot i from the failure branch's range answer at index at. */
static int slot_from_answer(struct slot *s, const json_t *answer, size_t at, char *err,
                            size_t errlen)
{
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	if (salve_etcd_txn_kvs(answer, at, &kvs, &n, err, errlen) < 0)
		return -1;
	json_decref(s->doc);
	s->doc = NULL;
	s->exists = n > 0;
	s->mod = n ? kvs[0].mod_revision : 0;
	if (n)
		s->doc = json_loadb(kvs[0].value, kvs[0].len, 0, NULL);
	salve_etcd_kvs_free(kvs, n);
	return 0;
}

/* The answer when the read says this run's own claim landed (an attempt whose answer was
 * lost on one endpoint was applied before the next endpoint was asked). */
static int landed(const struct srv_ha *h, const struct slot *claim, const char *run_id)
{
	srv_ha_holder holder;
	if (!claim->exists)
		return 0;
	holder_of(h, claim->doc, &holder);
	return holder.ours && strcmp(holder.run, run_id) == 0;
}

/* Whether a claim key blocks this run: held by another process's run. One of this process
 * for another run is taken over (the caller's dedup table has the key free: that run is not
 * queued or running here). */
static int held(const struct srv_ha *h, const struct slot *s, srv_ha_holder *holder)
{
	if (!s->exists)
		return 0;
	holder_of(h, s->doc, holder);
	return !holder->ours;
}

/* One transaction: compares the mod revision of every key read; on success the writes of a
 * run that may start (when run), on failure a range of every key. */
static json_t *decide_txn(struct srv_ha *h, struct slot *s, const srv_ha_ask *ask,
                          const srv_shared_result *res, int run, long long lease, int *succeeded,
                          long long *rev, char *err, size_t errlen)
{
	json_t *cmp = json_array(), *ok = json_array(), *fail = json_array();
	for (int i = 0; i < S_N; i++) {
		if (!s[i].used)
			continue;
		json_array_append_new(cmp, salve_etcd_cmp_mod(s[i].key, s[i].mod));
		json_array_append_new(fail, salve_etcd_op_range(s[i].key, 0, 0));
	}
	char *value = run ? claim_value(h, ask->run_id) : NULL;
	char *route = run ? dump(res->route_window) : NULL;
	char *server = run ? dump(res->server_window) : NULL;
	if (run && (!value || (res->route_window && !route) || (res->server_window && !server))) {
		snprintf(err, errlen, "ha: out of memory");
		json_decref(cmp);
		json_decref(ok);
		json_decref(fail);
		free(value);
		free(route);
		free(server);
		return NULL;
	}
	if (run) {
		json_array_append_new(
		    ok, salve_etcd_op_put(s[S_CLAIM].key, value, strlen(value), lease));
		json_array_append_new(
		    ok, salve_etcd_op_put(s[S_TARGET].key, value, strlen(value), lease));
		if (route)
			json_array_append_new(
			    ok, salve_etcd_op_put(s[S_ROUTE].key, route, strlen(route), 0));
		if (server)
			json_array_append_new(
			    ok, salve_etcd_op_put(s[S_SERVER].key, server, strlen(server), 0));
	}
	free(value);
	free(route);
	free(server);
	json_t *answer = salve_etcd_txn(h->etcd, cmp, ok, fail, succeeded, rev, err, errlen);
	noted(h, answer != NULL, err);
	return answer;
}

static int slots_init(struct srv_ha *h, struct slot *s, const srv_ha_ask *ask)
{
	memset(s, 0, S_N * sizeof *s);
	s[S_RESOLVED].used = ask->resolved != NULL;
	s[S_PAUSE].used = 1;
	s[S_CIRCUIT].used = ask->breaker > 0;
	s[S_CLAIM].used = s[S_TARGET].used = 1;
	s[S_ROUTE].used = ask->limits.rate_count > 0 || ask->limits.max_targets > 0;
	s[S_SERVER].used = ask->limits.server_max_targets > 0;
	s[S_RESOLVED].key = ask->resolved ? key_of(h, "resolved", ask->resolved) : NULL;
	s[S_PAUSE].key = key_of(h, "pause", NULL);
	s[S_CIRCUIT].key = key_of(h, "circuits", ask->route);
	s[S_CLAIM].key = key_of(h, "claims", ask->occ);
	s[S_TARGET].key = key_of(h, "targets", ask->target);
	s[S_ROUTE].key = key_of(h, "windows/route", ask->route);
	s[S_SERVER].key = key_of(h, "windows/server", NULL);
	for (int i = 0; i < S_N; i++)
		if (!s[i].key && (i != S_RESOLVED || ask->resolved))
			return -1;
	/* The documents as last seen (the watcher reads them every second): usually the
	 * first transaction is the only one. The other keys are expected absent. */
	static const enum slot_role docs[] = {S_CIRCUIT, S_ROUTE, S_SERVER};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct slot *d = &s[docs[i]];
		if (d->used && (d->doc = known(h, d->key, &d->mod)))
			d->exists = 1;
	}
	return 0;
}

static int decide_one(struct srv_ha *h, const srv_ha_ask *ask, srv_ha_answer *ans, char *err,
                      size_t errlen)
{
	memset(ans, 0, sizeof *ans);
	struct slot s[S_N];
	if (slots_init(h, s, ask) < 0) {
		slots_free(s);
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	int fresh = 0, rc = -1;
	long long lease = 0;
	for (;;) {
		srv_shared_view view = {
		    .resolved = s[S_RESOLVED].exists,
		    .paused = s[S_PAUSE].exists,
		    .circuit = s[S_CIRCUIT].doc,
		    .claimed = held(h, &s[S_CLAIM], &ans->holder),
		    .route_window = s[S_ROUTE].doc,
		    .server_window = s[S_SERVER].doc,
		};
		if (!view.claimed)
			view.target_held = held(h, &s[S_TARGET], &ans->holder);
		if (fresh && landed(h, &s[S_CLAIM], ask->run_id)) {
			ans->verdict = SRV_SHARED_RUN;
			rc = 0;
			break;
		}
		srv_shared_result res;
		if (srv_shared_decide(&view, &ask->limits, ask->targets, ask->ntargets, wall_now(),
		                      &res) < 0) {
			snprintf(err, errlen, "ha: out of memory");
			break;
		}
		int run = res.verdict == SRV_SHARED_RUN;
		ans->verdict = res.verdict;
		ans->retry_in = res.retry_in;
		/* A refusal read in one transaction is the answer. */
		if (fresh && !run) {
			srv_shared_result_clear(&res);
			rc = 0;
			break;
		}
		if (ans->attempts == MAX_ATTEMPTS) {
			snprintf(err, errlen,
			         "etcd: %d transactions in a row lost to other writers of the same "
			         "keys",
			         MAX_ATTEMPTS);
			srv_shared_result_clear(&res);
			break;
		}
		if (run && !lease &&
		    lease_for(h, ask->ttl > h->lease_ttl ? ask->ttl : h->lease_ttl, &lease, err,
		              errlen) < 0) {
			srv_shared_result_clear(&res);
			break;
		}
		int succeeded = 0;
		long long rev = 0;
		json_t *answer =
		    decide_txn(h, s, ask, &res, run, lease, &succeeded, &rev, err, errlen);
		ans->attempts++;
		if (answer && succeeded) {
			if (res.route_window)
				know(h, s[S_ROUTE].key, json_incref(res.route_window), rev, rev);
			if (res.server_window)
				know(h, s[S_SERVER].key, json_incref(res.server_window), rev, rev);
			srv_shared_result_clear(&res);
			json_decref(answer);
			rc = 0;
			break;
		}
		srv_shared_result_clear(&res);
		if (!answer)
			break;
		/* Something differed from what this decision assumed: the failure branch read
		 * every key at one revision. */
		size_t at = 0;
		int bad = 0;
		for (int i = 0; i < S_N && !bad; i++)
			if (s[i].used)
				bad = slot_from_answer(&s[i], answer, at++, err, errlen) < 0;
		json_decref(answer);
		if (bad)
			break;
		static const enum slot_role docs[] = {S_CIRCUIT, S_ROUTE, S_SERVER};
		for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
			if (s[docs[i]].used)
				know(h, s[docs[i]].key, json_incref(s[docs[i]].doc), s[docs[i]].mod,
				     rev);
		fresh = 1;
		pthread_mutex_lock(&h->mu);
		h->conflicts++;
		pthread_mutex_unlock(&h->mu);
	}
	if (rc == 0 && s[S_CIRCUIT].doc)
		ans->circuit = json_incref(s[S_CIRCUIT].doc);
	pthread_mutex_lock(&h->mu);
	h->decisions++;
	h->unavailable += rc < 0;
	pthread_mutex_unlock(&h->mu);
	slots_free(s);
	return rc;
}

/* ---- group commit of decisions ------------------------------------------------------------ */

/* One ask waiting for a batch. */
struct batch_item {
	const srv_ha_ask *ask;
	srv_ha_answer *ans;
	struct slot s[S_N];
	long long lease;
	enum { B_WAITING, B_DONE, B_ALONE } state; /* B_ALONE: its own decide_one, by its thread */
	int rc;
	char err[1024];
	struct batch_item *next;
};

#define BATCH_MAX 128

/* Whether an ask can go in a batch: one that writes no window document (no rate limit, no
 * blast radius), so that asks of a batch share only what they compare and do not write. */
static int batchable(const srv_ha_ask *ask)
{
	return ask->limits.rate_count <= 0 && ask->limits.max_targets <= 0 &&
	       ask->limits.server_max_targets <= 0;
}

/* Prepares item for a batch: its keys and the documents as last known; 0 when, as far as
 * this process knows, it may run (the batch's compares check that), else -1 (it decides
 * alone, on fresh reads). */
static int batch_prepare(struct srv_ha *h, struct batch_item *it)
{
	if (slots_init(h, it->s, it->ask) < 0)
		return -1;
	srv_ha_holder holder;
	srv_shared_view view = {
	    .resolved = 0,
	    .paused = 0,
	    .circuit = it->s[S_CIRCUIT].doc,
	    .claimed = held(h, &it->s[S_CLAIM], &holder),
	    .target_held = held(h, &it->s[S_TARGET], &holder),
	};
	srv_shared_result res;
	if (srv_shared_decide(&view, &it->ask->limits, it->ask->targets, it->ask->ntargets,
	                      wall_now(), &res) < 0)
		return -1;
	int run = res.verdict == SRV_SHARED_RUN;
	srv_shared_result_clear(&res);
	if (!run)
		return -1;
	double ttl = it->ask->ttl > h->lease_ttl ? it->ask->ttl : h->lease_ttl;
	return lease_for(h, ttl, &it->lease, it->err, sizeof it->err) < 0 ? -1 : 0;
}

/* Adds the compare of slot to cmp unless a compare of its key is there already (asks of one
 * route share its pause and circuit keys). */
static void compare_once(json_t *cmp, json_t *seen, const struct slot *sl)
{
	if (!sl->used || json_object_get(seen, sl->key))
		return;
	json_object_set_new(seen, sl->key, json_true());
	json_array_append_new(cmp, salve_etcd_cmp_mod(sl->key, sl->mod));
}

/* One transaction for the prepared items: every compare of every one, every claim. When a
 * compare fails nobody's claims are written; the failure branch reads every item's claim and
 * target, and the items found held decide alone. Returns how many items are left undecided
 * (moved to the front of items) for another try. */
static size_t batch_run(struct srv_ha *h, struct batch_item **items, size_t n)
{
	json_t *cmp = json_array(), *ops = json_array(), *fail = json_array(),
	       *seen = json_object();
	for (size_t i = 0; i < n; i++) {
		struct batch_item *it = items[i];
		for (int k = 0; k < S_N; k++)
			compare_once(cmp, seen, &it->s[k]);
		char *value = claim_value(h, it->ask->run_id);
		if (value) {
			json_array_append_new(ops, salve_etcd_op_put(it->s[S_CLAIM].key, value,
			                                             strlen(value), it->lease));
			json_array_append_new(ops, salve_etcd_op_put(it->s[S_TARGET].key, value,
			                                             strlen(value), it->lease));
		}
		free(value);
		json_array_append_new(fail, salve_etcd_op_range(it->s[S_CLAIM].key, 0, 1));
		json_array_append_new(fail, salve_etcd_op_range(it->s[S_TARGET].key, 0, 1));
	}
	json_decref(seen);
	int ok = 0;
	char err[1024] = "";
	json_t *answer = salve_etcd_txn(h->etcd, cmp, ops, fail, &ok, NULL, err, sizeof err);
	noted(h, answer != NULL, err);
	pthread_mutex_lock(&h->mu);
	h->batches++;
	h->batched += n;
	h->decisions += answer && ok ? n : 0;
	h->unavailable += answer ? 0 : n;
	h->conflicts += answer && !ok;
	pthread_mutex_unlock(&h->mu);
	size_t left = 0;
	for (size_t i = 0; i < n; i++) {
		struct batch_item *it = items[i];
		if (answer && ok) {
			it->ans->verdict = SRV_SHARED_RUN;
			it->ans->attempts = 1;
			if (it->s[S_CIRCUIT].doc)
				it->ans->circuit = json_incref(it->s[S_CIRCUIT].doc);
			it->rc = 0;
			it->state = B_DONE;
			continue;
		}
		if (!answer) {
			snprintf(it->err, sizeof it->err, "%s", err);
			it->rc = -1;
			it->state = B_DONE;
			continue;
		}
		salve_etcd_kv *kvs = NULL;
		size_t nc = 0, nt = 0;
		char why[256];
		int read = salve_etcd_txn_kvs(answer, 2 * i, &kvs, &nc, why, sizeof why) == 0;
		salve_etcd_kvs_free(kvs, nc);
		read =
		    read && salve_etcd_txn_kvs(answer, 2 * i + 1, &kvs, &nt, why, sizeof why) == 0;
		salve_etcd_kvs_free(kvs, nt);
		if (!read || nc || nt)
			it->state =
			    B_ALONE; /* held (or unreadable): its own decision says by whom */
		else
			items[left++] = it;
	}
	json_decref(answer);
	return left;
}

/* The leader's turn: the asks waiting now, prepared and decided in one transaction (those
 * that cannot be, or that share a key with an earlier one, decide alone). */
static void batch_lead(struct srv_ha *h, struct batch_item *list)
{
	struct batch_item *items[BATCH_MAX];
	size_t n = 0;
	json_t *keys = json_object();
	for (struct batch_item *it = list; it; it = it->next) {
		if (n == BATCH_MAX || batch_prepare(h, it) < 0 ||
		    json_object_get(keys, it->s[S_CLAIM].key) ||
		    json_object_get(keys, it->s[S_TARGET].key)) {
			it->state = B_ALONE;
			continue;
		}
		json_object_set_new(keys, it->s[S_CLAIM].key, json_true());
		json_object_set_new(keys, it->s[S_TARGET].key, json_true());
		items[n++] = it;
	}
	json_decref(keys);
	/* A second try without the items found held; what still fails decides alone. */
	if (n && (n = batch_run(h, items, n)) > 0 && (n = batch_run(h, items, n)) > 0)
		for (size_t i = 0; i < n; i++)
			items[i]->state = B_ALONE;
}

int srv_ha_decide(struct srv_ha *h, const srv_ha_ask *ask, srv_ha_answer *ans, char *err,
                  size_t errlen)
{
	if (!batchable(ask))
		return decide_one(h, ask, ans, err, errlen);
	memset(ans, 0, sizeof *ans);
	struct batch_item it = {.ask = ask, .ans = ans, .state = B_WAITING};
	pthread_mutex_lock(&h->batch_mu);
	it.next = h->pending;
	h->pending = &it;
	while (it.state == B_WAITING) {
		if (h->deciding) {
			pthread_cond_wait(&h->batch_cv, &h->batch_mu);
			continue;
		}
		/* Lead: take every ask waiting now (this one among them). */
		struct batch_item *list = h->pending;
		h->pending = NULL;
		h->deciding = 1;
		pthread_mutex_unlock(&h->batch_mu);
		batch_lead(h, list);
		pthread_mutex_lock(&h->batch_mu);
		h->deciding = 0;
		pthread_cond_broadcast(&h->batch_cv);
	}
	pthread_mutex_unlock(&h->batch_mu);
	slots_free(it.s);
	if (it.state == B_ALONE) {
		srv_ha_answer_clear(ans);
		return decide_one(h, ask, ans, err, errlen);
	}
	if (it.rc < 0)
		snprintf(err, errlen, "%s", it.err);
	return it.rc;
}

void srv_ha_answer_clear(srv_ha_answer *ans)
{
	json_decref(ans->circuit);
	ans->circuit = NULL;
}

/* ---- what runs leave behind -------------------------------------------------------------- */

/* A run end to write: its target key cools down (or goes, cooldown 0) if it still holds the
 * run's claim. */
struct ended {
	char *key, *active, *value; /* value: the cooldown document, NULL with cooldown 0 */
	double cooldown;
	struct ended *next;
};

static void ended_free(struct ended *e)
{
	while (e) {
		struct ended *next = e->next;
		free(e->key);
		free(e->active);
		free(e->value);
		free(e);
		e = next;
	}
}

static void warn_ended(const struct ended *e, const char *err)
{
	srv_log(SALVE_LOG_WARN,
	        "serve: %s: the cooldown of its run's end is not in etcd (the claim lapses with "
	        "its lease, cooldown + run_timeout from the alert): %s",
	        e->key, err);
}

/* The write of one end in txn: compare (the key still holds the claim) and then-op. -1 when
 * no lease could be had (err). */
static int ended_ops(struct srv_ha *h, const struct ended *e, json_t *cmp, json_t *then, char *err,
                     size_t errlen)
{
	long long lease = 0;
	if (e->cooldown > 0 && lease_for(h, e->cooldown, &lease, err, errlen) < 0)
		return -1;
	json_array_append_new(cmp, salve_etcd_cmp_value(e->key, e->active, strlen(e->active)));
	json_array_append_new(
	    then, e->cooldown > 0 ? salve_etcd_op_put(e->key, e->value, strlen(e->value), lease)
	                          : salve_etcd_op_delete(e->key, 0));
	return 0;
}

/* One transaction for ends (n of them from first, no key twice): every end whose key still
 * holds its claim is written, in one go when all do. When a compare fails (a key lapsed and
 * was claimed again), each is tried alone, so the others still land. */
static void ended_write(struct srv_ha *h, struct ended *first, size_t n)
{
	char err[1024] = "";
	json_t *cmp = json_array(), *then = json_array();
	struct ended *e = first;
	for (size_t i = 0; i < n && !err[0]; i++, e = e->next)
		ended_ops(h, e, cmp, then, err, sizeof err);
	int succeeded = 0;
	json_t *answer = NULL;
	if (!err[0]) {
		answer =
		    salve_etcd_txn(h->etcd, cmp, then, NULL, &succeeded, NULL, err, sizeof err);
		noted(h, answer != NULL, err);
	} else {
		json_decref(cmp);
		json_decref(then);
	}
	json_decref(answer);
	pthread_mutex_lock(&h->mu);
	h->end_txns += answer != NULL;
	h->ends_written += answer && succeeded ? n : 0;
	h->ends_lost += answer ? 0 : n;
	pthread_mutex_unlock(&h->mu);
	if (answer && succeeded)
		return;
	if (!answer) { /* etcd unreachable or no lease: one try each would fail the same */
		e = first;
		for (size_t i = 0; i < n; i++, e = e->next)
			warn_ended(e, err);
		return;
	}
	if (n == 1)
		return; /* the key holds something else now: nothing of this run's to end */
	e = first;
	for (size_t i = 0; i < n; i++, e = e->next)
		ended_write(h, e, 1);
}

/* Writes batch in end order, a transaction per stretch with no key twice (etcd refuses a
 * key put twice in one transaction). */
static void ended_write_all(struct srv_ha *h, struct ended *batch)
{
	while (batch) {
		json_t *keys = json_object();
		struct ended *e = batch;
		size_t n = 0;
		for (; e && !json_object_get(keys, e->key); e = e->next, n++)
			json_object_set_new(keys, e->key, json_true());
		json_decref(keys);
		ended_write(h, batch, n);
		batch = e;
	}
}

static void *ender_main(void *arg)
{
	struct srv_ha *h = arg;
	pthread_mutex_lock(&h->end_mu);
	for (;;) {
		while (!h->ends && !h->end_stop)
			pthread_cond_wait(&h->end_cv, &h->end_mu);
		struct ended *batch = h->ends;
		h->ends = NULL;
		h->ends_tail = &h->ends;
		if (!batch)
			break; /* stopping, and nothing left */
		h->ending = 1;
		pthread_mutex_unlock(&h->end_mu);
		ended_write_all(h, batch);
		ended_free(batch);
		pthread_mutex_lock(&h->end_mu);
		h->ending = 0;
		pthread_cond_broadcast(&h->end_cv);
	}
	pthread_mutex_unlock(&h->end_mu);
	return NULL;
}

int srv_ha_target_ended(struct srv_ha *h, const char *target, const char *run_id, double cooldown,
                        char *err, size_t errlen)
{
	err[0] = '\0';
	struct ended *e = calloc(1, sizeof *e);
	if (e) {
		e->key = key_of(h, "targets", target);
		e->active = claim_value(h, run_id);
		e->cooldown = cooldown;
		char ts[40];
		salve_timestamp(ts, sizeof ts);
		json_t *v = cooldown > 0
		                ? json_pack("{s:s, s:s, s:s, s:s}", "ended_at", ts, "instance",
		                            h->instance, "replica", h->replica, "run", run_id)
		                : NULL;
		e->value = dump(v);
		json_decref(v);
	}
	if (!e || !e->key || !e->active || (cooldown > 0 && !e->value)) {
		ended_free(e);
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	pthread_mutex_lock(&h->end_mu);
	if (!h->ender_running && !h->end_stop) {
		int rc = pthread_create(&h->ender, NULL, ender_main, h);
		h->ender_running = rc == 0;
		if (rc != 0)
			snprintf(err, errlen, "ha: cannot start the writer of run ends: %s",
			         strerror(rc));
	}
	if (!h->ender_running) {
		pthread_mutex_unlock(&h->end_mu);
		ended_free(e);
		if (!err[0])
			snprintf(err, errlen, "ha: stopping");
		return -1;
	}
	/* Appended in end order, so a later end of a key is written after an earlier one. */
	*h->ends_tail = e;
	h->ends_tail = &e->next;
	pthread_cond_broadcast(&h->end_cv);
	pthread_mutex_unlock(&h->end_mu);
	return 0;
}

int srv_ha_circuit_count(struct srv_ha *h, const char *route, int breaker, int success, int failed,
                         const char *run_id, const char *why, json_t **opened, char *err,
                         size_t errlen)
{
	*opened = NULL;
	char *key = key_of(h, "circuits", route);
	if (!key) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	long long mod = 0;
	json_t *doc = known(h, key, &mod);
	int rc = -1, attempt;
	for (attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		char ts[40];
		salve_timestamp(ts, sizeof ts);
		int opens = 0;
		json_t *next = srv_breaker_next(doc, breaker, success, failed, run_id, why,
		                                h->replica, ts, &opens);
		char *text = dump(next);
		/* Nothing to change is checked too: the failures seen may be old. */
		json_t *then = text
		                   ? json_pack("[o]", salve_etcd_op_put(key, text, strlen(text), 0))
		                   : json_array();
		free(text);
		int succeeded = 0;
		long long rev = 0;
		json_t *answer =
		    salve_etcd_txn(h->etcd, json_pack("[o]", salve_etcd_cmp_mod(key, mod)), then,
		                   json_pack("[o]", salve_etcd_op_range(key, 0, 0)), &succeeded,
		                   &rev, err, errlen);
		noted(h, answer != NULL, err);
		if (!answer) {
			json_decref(next);
			break;
		}
		if (succeeded) {
			if (next)
				know(h, key, json_incref(next), rev, rev);
			*opened = opens ? json_incref(next) : NULL;
			json_decref(next);
			json_decref(answer);
			rc = 0;
			break;
		}
		json_decref(next);
		struct slot fresh = {0};
		int bad = slot_from_answer(&fresh, answer, 0, err, errlen);
		json_decref(answer);
		if (bad)
			break;
		json_decref(doc);
		doc = fresh.doc;
		mod = fresh.mod;
		know(h, key, json_incref(doc), mod, rev);
		const char *counted = json_string_value(json_object_get(doc, "counted"));
		if (counted && strcmp(counted, run_id) == 0) {
			/* An earlier try landed and its answer was lost: counted once already. */
			const char *last = json_string_value(json_object_get(doc, "last_run"));
			*opened = srv_breaker_open(doc) && last && strcmp(last, run_id) == 0
			              ? json_incref(doc)
			              : NULL;
			rc = 0;
			break;
		}
	}
	if (attempt == MAX_ATTEMPTS)
		snprintf(err, errlen, "etcd: the circuit of route %s changed under %d attempts",
		         route, MAX_ATTEMPTS);
	json_decref(doc);
	free(key);
	return rc;
}

int srv_ha_circuit_reset(struct srv_ha *h, const char *route, int *was_open, char *err,
                         size_t errlen)
{
	*was_open = 0;
	char *key = key_of(h, "circuits", route);
	if (!key) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	int succeeded = 0;
	long long rev = 0;
	json_t *answer = salve_etcd_txn(
	    h->etcd, json_array(),
	    json_pack("[o, o]", salve_etcd_op_range(key, 0, 0), salve_etcd_op_delete(key, 0)), NULL,
	    &succeeded, &rev, err, errlen);
	noted(h, answer != NULL, err);
	struct slot old = {0};
	int rc = answer ? slot_from_answer(&old, answer, 0, err, errlen) : -1;
	if (rc == 0) {
		*was_open = srv_breaker_open(old.doc);
		know(h, key, NULL, 0, rev);
	}
	json_decref(old.doc);
	json_decref(answer);
	free(key);
	return rc;
}

int srv_ha_remember_resolved(struct srv_ha *h, const char *resolved, double memory, char *err,
                             size_t errlen)
{
	char *key = key_of(h, "resolved", resolved), ts[40];
	salve_timestamp(ts, sizeof ts);
	json_t *v = json_pack("{s:s, s:s}", "at", ts, "replica", h->replica);
	char *text = dump(v);
	json_decref(v);
	long long lease = 0;
	int rc = -1;
	if (!key || !text)
		snprintf(err, errlen, "ha: out of memory");
	else if (lease_for(h, memory, &lease, err, errlen) == 0) {
		rc = salve_etcd_put(h->etcd, key, text, strlen(text), lease, err, errlen);
		noted(h, rc == 0, err);
	}
	free(key);
	free(text);
	return rc;
}

int srv_ha_give_back(struct srv_ha *h, const char *occ, const char *target, const char *run_id,
                     char *err, size_t errlen)
{
	struct slot s[2] = {{.key = key_of(h, "claims", occ)},
	                    {.key = key_of(h, "targets", target)}};
	int rc = -1;
	if (!s[0].key || !s[1].key) {
		snprintf(err, errlen, "ha: out of memory");
		goto out;
	}
	/* Read both, then delete those naming run_id unless they changed meanwhile (then they
	 * are another run's: nothing of ours to give back). */
	int succeeded = 0;
	json_t *answer = salve_etcd_txn(h->etcd, json_array(),
	                                json_pack("[o, o]", salve_etcd_op_range(s[0].key, 0, 0),
	                                          salve_etcd_op_range(s[1].key, 0, 0)),
	                                NULL, &succeeded, NULL, err, errlen);
	noted(h, answer != NULL, err);
	if (!answer || slot_from_answer(&s[0], answer, 0, err, errlen) < 0 ||
	    slot_from_answer(&s[1], answer, 1, err, errlen) < 0) {
		json_decref(answer);
		goto out;
	}
	json_decref(answer);
	json_t *cmp = json_array(), *then = json_array();
	for (int i = 0; i < 2; i++) {
		const char *run = json_string_value(json_object_get(s[i].doc, "run"));
		if (!s[i].exists || !run || strcmp(run, run_id) != 0)
			continue;
		json_array_append_new(cmp, salve_etcd_cmp_mod(s[i].key, s[i].mod));
		json_array_append_new(then, salve_etcd_op_delete(s[i].key, 0));
	}
	if (!json_array_size(then)) {
		json_decref(cmp);
		json_decref(then);
		rc = 0;
		goto out;
	}
	answer = salve_etcd_txn(h->etcd, cmp, then, NULL, &succeeded, NULL, err, errlen);
	noted(h, answer != NULL, err);
	rc = answer ? 0 : -1;
	json_decref(answer);
out:
	for (int i = 0; i < 2; i++) {
		free(s[i].key);
		json_decref(s[i].doc);
	}
	return rc;
}

/* ---- the watcher and the shared pause ---------------------------------------------------- */

/* Every document under PREFIX/kind/ from one range answer at rev; those known before and
 * absent now are known absent. */
static void know_all(struct srv_ha *h, const char *kind, const json_t *answer, size_t at,
                     long long rev)
{
	char err[256];
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	if (salve_etcd_txn_kvs(answer, at, &kvs, &n, err, sizeof err) < 0)
		return;
	char *prefix = key_of(h, kind, "");
	size_t plen = prefix ? strlen(prefix) : 0;
	/* The keys known under it that the range no longer has. */
	json_t *gone = json_array();
	pthread_mutex_lock(&h->mu);
	size_t cursor = 0;
	const char *key;
	void *value;
	while (prefix && srv_strmap_next(h->known, &cursor, &key, &value)) {
		if (strncmp(key, prefix, plen) != 0)
			continue;
		int found = 0;
		for (size_t i = 0; i < n && !found; i++)
			found = strcmp(kvs[i].key, key) == 0;
		if (!found)
			json_array_append_new(gone, json_string(key));
	}
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < n; i++)
		know(h, kvs[i].key, json_loadb(kvs[i].value, kvs[i].len, 0, NULL),
		     kvs[i].mod_revision, rev);
	size_t i;
	json_t *k;
	json_array_foreach(gone, i, k) know(h, json_string_value(k), NULL, 0, rev);
	json_decref(gone);
	free(prefix);
	salve_etcd_kvs_free(kvs, n);
}

/* One read of the pause (and with docs, of the circuits and windows), in one request. */
static void watch_once(struct srv_ha *h, int docs)
{
	char err[512] = "";
	char *pause = key_of(h, "pause", NULL), *circuits = key_of(h, "circuits", "");
	char *windows = key_of(h, "windows", "");
	json_t *answer = NULL;
	long long rev = 0;
	if (!pause || !circuits || !windows) {
		snprintf(err, sizeof err, "ha: out of memory");
	} else {
		json_t *ops = json_pack("[o]", salve_etcd_op_range(pause, 0, 1));
		if (docs) {
			json_array_append_new(ops, salve_etcd_op_range(circuits, 1, 0));
			json_array_append_new(ops, salve_etcd_op_range(windows, 1, 0));
		}
		int succeeded = 0;
		answer = salve_etcd_txn(h->etcd, json_array(), ops, NULL, &succeeded, &rev, err,
		                        sizeof err);
	}
	noted(h, answer != NULL, err);
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	int ok = answer && salve_etcd_txn_kvs(answer, 0, &kvs, &n, err, sizeof err) == 0;
	salve_etcd_kvs_free(kvs, n);
	if (ok && docs) {
		know_all(h, "circuits", answer, 1, rev);
		know_all(h, "windows", answer, 2, rev);
	}
	pthread_mutex_lock(&h->mu);
	if (ok) {
		h->paused = n > 0;
		h->pause_read = salve_now();
		h->pause_error_told = 0;
	}
	pthread_mutex_unlock(&h->mu);
	json_decref(answer);
	free(pause);
	free(circuits);
	free(windows);
}

static void *watch_main(void *arg)
{
	struct srv_ha *h = arg;
	unsigned long long round = 1;
	pthread_mutex_lock(&h->mu);
	while (!h->watch_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(WATCH_PERIOD * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!h->watch_stop &&
		       pthread_cond_timedwait(&h->watch_cv, &h->mu, &ts) != ETIMEDOUT)
			;
		if (h->watch_stop)
			break;
		pthread_mutex_unlock(&h->mu);
		watch_once(h, round++ % DOCS_EVERY == 0);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int srv_ha_watch_start(struct srv_ha *h, char *err, size_t errlen)
{
	pthread_mutex_lock(&h->mu);
	int tried = h->watch_tried;
	h->watch_tried = 1;
	pthread_mutex_unlock(&h->mu);
	if (tried)
		return 0;
	/* The first read before anything may start: a pause set while this replica was down
	 * holds its first runs too. */
	watch_once(h, 1);
	pthread_mutex_lock(&h->mu);
	int rc = 0;
	if (!h->watch_stop) {
		rc = pthread_create(&h->watcher, NULL, watch_main, h);
		h->watching = rc == 0;
	}
	pthread_mutex_unlock(&h->mu);
	if (rc != 0) {
		snprintf(err, errlen, "ha: cannot start the etcd watcher: %s", strerror(rc));
		return -1;
	}
	return 0;
}

int srv_ha_paused(struct srv_ha *h, char *why, size_t whylen)
{
	if (why)
		why[0] = '\0';
	pthread_mutex_lock(&h->mu);
	int paused = h->paused;
	if (why && h->last_fail > h->last_ok && !h->pause_error_told) {
		snprintf(why, whylen, "%s", h->last_error);
		h->pause_error_told = 1;
	}
	pthread_mutex_unlock(&h->mu);
	return paused;
}

int srv_ha_set_pause(struct srv_ha *h, int pause, const char *by, const char *reason, int *was,
                     char *err, size_t errlen)
{
	char *key = key_of(h, "pause", NULL), *text = NULL;
	if (pause) {
		char ts[64];
		salve_timestamp(ts, sizeof ts);
		json_t *v = json_pack("{s:s, s:s, s:s?, s:s}", "by", by ? by : "unknown",
		                      "paused_at", ts, "reason", reason, "replica", h->replica);
		text = dump(v);
		json_decref(v);
	}
	if (!key || (pause && !text)) {
		snprintf(err, errlen, "ha: out of memory");
		free(key);
		free(text);
		return -1;
	}
	/* Read and set in one request: *was is what this change replaced. */
	int succeeded = 0;
	json_t *answer =
	    salve_etcd_txn(h->etcd, json_array(),
	                   json_pack("[o, o]", salve_etcd_op_range(key, 0, 1),
	                             pause ? salve_etcd_op_put(key, text, strlen(text), 0)
	                                   : salve_etcd_op_delete(key, 0)),
	                   NULL, &succeeded, NULL, err, errlen);
	noted(h, answer != NULL, err);
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	int rc = answer ? salve_etcd_txn_kvs(answer, 0, &kvs, &n, err, errlen) : -1;
	salve_etcd_kvs_free(kvs, n);
	json_decref(answer);
	free(key);
	free(text);
	if (rc == 0) {
		*was = n > 0;
		pthread_mutex_lock(&h->mu);
		h->paused = pause;
		h->pause_read = salve_now();
		pthread_mutex_unlock(&h->mu);
	}
	return rc;
}

static json_t *ago(double now, double then)
{
	return then > 0 ? json_real(floor((now - then) * 1000) / 1000) : json_null();
}

json_t *srv_ha_health(struct srv_ha *h, int *reachable)
{
	pthread_mutex_lock(&h->mu);
	double now = salve_now();
	int up = h->last_ok > 0 && h->last_ok >= h->last_fail;
	*reachable = up;
	json_t *o =
	    json_pack("{s:s, s:s, s:o, s:b, s:o, s:{s:f, s:I, s:o}, s:{s:I, s:I, s:I}}", "etcd",
	              up                 ? "reachable"
	              : h->last_fail > 0 ? "unreachable"
	                                 : "unknown",
	              "replica", h->replica, "last_answer_seconds_ago", ago(now, h->last_ok),
	              "shared_pause", h->paused, "pause_read_seconds_ago", ago(now, h->pause_read),
	              "leases", "min_ttl_seconds", h->lease_ttl, "granted", (json_int_t)h->grants,
	              "last_granted_seconds_ago", ago(now, h->last_grant), "decisions", "total",
	              (json_int_t)h->decisions, "retried", (json_int_t)h->conflicts, "unavailable",
	              (json_int_t)h->unavailable);
	if (h->last_fail > 0) {
		json_object_set_new(o, "last_error", json_string(h->last_error));
		json_object_set_new(o, "last_error_seconds_ago", ago(now, h->last_fail));
	}
	if (h->grant_error[0])
		json_object_set_new(json_object_get(o, "leases"), "last_error",
		                    json_string(h->grant_error));
	json_t *d = json_object_get(o, "decisions");
	json_object_set_new(d, "batches", json_integer((json_int_t)h->batches));
	json_object_set_new(d, "batched", json_integer((json_int_t)h->batched));
	json_object_set_new(o, "run_ends",
	                    json_pack("{s:I, s:I, s:I}", "transactions", (json_int_t)h->end_txns,
	                              "written", (json_int_t)h->ends_written, "not_written",
	                              (json_int_t)h->ends_lost));
	pthread_mutex_unlock(&h->mu);
	return o;
}
