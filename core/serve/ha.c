/* salve serve's etcd side: claims and the shared pause (see ha.h). */
#include "ha.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha/etcd.h"
#include "httpmod.h"
#include "log.h"
#include "redact.h"
#include "util.h"

/* A claim reuses a lease granted less than this ago with the same TTL: its key then lives
 * between ttl - LEASE_REUSE and ttl seconds, and a burst of alerts costs one grant. */
#define LEASE_REUSE 1.0
#define LEASE_SLOTS 8
/* How often the shared pause is read from etcd (the tick asks every second). */
#define PAUSE_POLL 0.9

struct srv_ha {
	salve_etcd *etcd;
	char *prefix, *replica;
	char instance[33]; /* this process: tells our claims from a same-named replica's */
	double lease_ttl;
	pthread_mutex_t mu; /* the leases and the pause's last answer */
	struct lease_slot {
		long long ttl, id;
		double granted;
	} leases[LEASE_SLOTS];
	double pause_polled; /* monotonic; 0: never */
	int pause_polling, paused;
	char pause_error[512];
};

struct srv_ha *srv_ha_open(const salve_ha_conf *conf, char *err, size_t errlen)
{
	struct srv_ha *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "ha: out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	char warning[512];
	h->etcd = salve_ha_connect(conf, warning, sizeof warning, err, errlen);
	if (warning[0])
		srv_log(SALVE_LOG_WARN, "%s", warning);
	h->prefix = strdup(conf->prefix);
	h->replica = strdup(conf->replica);
	h->lease_ttl = conf->lease_ttl;
	if (salve_random_id(h->instance, sizeof h->instance) < 0) {
		snprintf(err, errlen, "ha: no random bytes for this replica's instance id");
		srv_ha_close(h);
		return NULL;
	}
	if (!h->etcd || !h->prefix || !h->replica) {
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
	salve_etcd_free(h->etcd);
	free(h->prefix);
	free(h->replica);
	pthread_mutex_destroy(&h->mu);
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

/* ---- claims -------------------------------------------------------------------------------- */

static char *claim_key(const struct srv_ha *h, const char *occ_key)
{
	size_t len = strlen(h->prefix) + strlen(occ_key) + 16;
	char *key = malloc(len);
	if (key)
		snprintf(key, len, "%s/claims/%s", h->prefix, occ_key);
	return key;
}

/* The claim's value for run_id: the same bytes every time (compared by unclaim). */
static char *claim_value(const struct srv_ha *h, const char *run_id)
{
	json_t *v = json_pack("{s:s, s:s, s:s}", "instance", h->instance, "replica", h->replica,
	                      "run", run_id);
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	return text;
}

/* A lease of ttl seconds, reused for LEASE_REUSE seconds. 0 or -1. */
static int lease_for(struct srv_ha *h, long long ttl, long long *id, char *err, size_t errlen)
{
	double now = salve_now();
	pthread_mutex_lock(&h->mu);
	struct lease_slot *oldest = &h->leases[0];
	for (int i = 0; i < LEASE_SLOTS; i++) {
		struct lease_slot *l = &h->leases[i];
		if (l->id && l->ttl == ttl && now - l->granted < LEASE_REUSE) {
			*id = l->id;
			pthread_mutex_unlock(&h->mu);
			return 0;
		}
		if (l->granted < oldest->granted)
			oldest = l;
	}
	pthread_mutex_unlock(&h->mu);
	if (salve_etcd_lease_grant(h->etcd, ttl, id, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&h->mu);
	*oldest = (struct lease_slot){.ttl = ttl, .id = *id, .granted = now};
	pthread_mutex_unlock(&h->mu);
	return 0;
}

int srv_ha_claim(struct srv_ha *h, const char *occ_key, const char *run_id, double ttl,
                 srv_ha_holder *holder, char *err, size_t errlen)
{
	memset(holder, 0, sizeof *holder);
	long long lease_ttl = (long long)ceil(ttl > h->lease_ttl ? ttl : h->lease_ttl);
	char *key = claim_key(h, occ_key), *value = claim_value(h, run_id);
	long long lease = 0;
	int rc = -1;
	salve_etcd_kv found = {0};
	if (!key || !value)
		snprintf(err, errlen, "ha: out of memory");
	else if (lease_for(h, lease_ttl, &lease, err, errlen) == 0)
		rc = salve_etcd_create(h->etcd, key, value, strlen(value), lease, &found, err,
		                       errlen);
	if (rc == 0) {
		json_t *v = json_loadb(found.value, found.len, 0, NULL);
		snprintf(holder->run, sizeof holder->run, "%s",
		         json_string_value(json_object_get(v, "run"))
		             ? json_string_value(json_object_get(v, "run"))
		             : "unknown");
		snprintf(holder->replica, sizeof holder->replica, "%s",
		         json_string_value(json_object_get(v, "replica"))
		             ? json_string_value(json_object_get(v, "replica"))
		             : "unknown");
		const char *instance = json_string_value(json_object_get(v, "instance"));
		holder->ours = instance && strcmp(instance, h->instance) == 0;
		json_decref(v);
		/* An attempt that timed out on one member may have landed before the retry. */
		if (holder->ours && strcmp(holder->run, run_id) == 0)
			rc = 1;
	}
	salve_etcd_kv_clear(&found);
	free(key);
	free(value);
	return rc;
}

int srv_ha_reclaim(struct srv_ha *h, const char *occ_key, const char *old_run, const char *run_id,
                   double ttl, char *err, size_t errlen)
{
	long long lease_ttl = (long long)ceil(ttl > h->lease_ttl ? ttl : h->lease_ttl);
	char *key = claim_key(h, occ_key), *old = claim_value(h, old_run),
	     *value = claim_value(h, run_id);
	long long lease = 0;
	int rc = -1;
	if (!key || !old || !value)
		snprintf(err, errlen, "ha: out of memory");
	else if (lease_for(h, lease_ttl, &lease, err, errlen) == 0)
		rc = salve_etcd_replace_if(h->etcd, key, old, strlen(old), value, strlen(value),
		                           lease, err, errlen);
	free(key);
	free(old);
	free(value);
	return rc;
}

int srv_ha_unclaim(struct srv_ha *h, const char *occ_key, const char *run_id, char *err,
                   size_t errlen)
{
	char *key = claim_key(h, occ_key), *value = claim_value(h, run_id);
	int rc = -1;
	if (!key || !value)
		snprintf(err, errlen, "ha: out of memory");
	else
		rc = salve_etcd_delete_if(h->etcd, key, value, strlen(value), err, errlen) < 0 ? -1
		                                                                               : 0;
	free(key);
	free(value);
	return rc;
}

/* ---- the shared pause ---------------------------------------------------------------------- */

static char *pause_key(const struct srv_ha *h)
{
	size_t len = strlen(h->prefix) + 8;
	char *key = malloc(len);
	if (key)
		snprintf(key, len, "%s/pause", h->prefix);
	return key;
}

int srv_ha_paused(struct srv_ha *h, char *why, size_t whylen)
{
	double now = salve_now();
	why[0] = '\0';
	pthread_mutex_lock(&h->mu);
	int ask =
	    !h->pause_polling && (h->pause_polled == 0 || now - h->pause_polled >= PAUSE_POLL);
	if (ask)
		h->pause_polling = 1;
	pthread_mutex_unlock(&h->mu);
	if (ask) {
		char err[512] = "";
		char *key = pause_key(h);
		salve_etcd_kv kv = {0};
		int found = key ? salve_etcd_get(h->etcd, key, &kv, err, sizeof err) : -1;
		if (!key)
			snprintf(err, sizeof err, "out of memory");
		salve_etcd_kv_clear(&kv);
		free(key);
		pthread_mutex_lock(&h->mu);
		if (found >= 0) {
			h->paused = found;
			h->pause_error[0] = '\0';
		} else if (!h->pause_error[0]) {
			snprintf(h->pause_error, sizeof h->pause_error, "%s", err);
			snprintf(why, whylen, "%s", err); /* told once, until etcd answers again */
		}
		h->pause_polled = now;
		h->pause_polling = 0;
		pthread_mutex_unlock(&h->mu);
	}
	pthread_mutex_lock(&h->mu);
	int paused = h->paused;
	pthread_mutex_unlock(&h->mu);
	return paused;
}

int srv_ha_set_pause(struct srv_ha *h, int pause, const char *by, const char *reason, int *was,
                     char *err, size_t errlen)
{
	char *key = pause_key(h);
	if (!key) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	salve_etcd_kv kv = {0};
	int found = salve_etcd_get(h->etcd, key, &kv, err, errlen);
	salve_etcd_kv_clear(&kv);
	int rc = found < 0 ? -1 : 0;
	if (rc == 0 && pause) {
		char ts[64];
		salve_timestamp(ts, sizeof ts);
		json_t *v = json_pack("{s:s, s:s, s:s?, s:s}", "by", by ? by : "unknown",
		                      "paused_at", ts, "reason", reason, "replica", h->replica);
		char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(v);
		rc = text ? salve_etcd_put(h->etcd, key, text, strlen(text), 0, err, errlen) : -1;
		if (!text)
			snprintf(err, errlen, "ha: out of memory");
		free(text);
	} else if (rc == 0) {
		rc = salve_etcd_delete(h->etcd, key, err, errlen);
	}
	free(key);
	if (rc == 0) {
		*was = found;
		pthread_mutex_lock(&h->mu);
		h->paused = pause;
		h->pause_polled = salve_now();
		h->pause_error[0] = '\0';
		pthread_mutex_unlock(&h->mu);
	}
	return rc;
}
