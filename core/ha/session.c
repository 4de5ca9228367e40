/* A process's lease in etcd and its keepalive thread (see session.h). */
#include "session.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

struct salve_ha_session {
	salve_etcd *etcd;
	double ttl;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_t thread;
	int stopping;
	long long lease; /* 0: none (lost, not granted again yet) */
	double deadline; /* monotonic: when etcd ends the lease unless kept alive */
	int suspended;   /* the last keepalive failed */
	char problem[512];
	/* Owner keys this process may hold without knowing (salve_ha_session_strand). */
	struct stranded {
		char *key, *value;
		struct stranded *next;
	} * stranded;
};

/* Mutations stop this long before the lease's deadline: a mutation started just before it
 * would otherwise finish after another replica took the run over. */
static double margin(const salve_ha_session *s)
{
	return s->ttl / 3 > 1.0 ? s->ttl / 3 : 1.0;
}

static int grant(salve_ha_session *s, char *err, size_t errlen)
{
	long long id = 0;
	double sent = salve_now();
	if (salve_etcd_lease_grant(s->etcd, (long long)ceil(s->ttl), &id, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	s->lease = id;
	s->deadline = sent + ceil(s->ttl);
	s->suspended = 0;
	s->problem[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void keep_alive_once(salve_ha_session *s)
{
	pthread_mutex_lock(&s->mu);
	long long id = s->lease;
	pthread_mutex_unlock(&s->mu);
	char err[512];
	if (!id) {
		if (grant(s, err, sizeof err) < 0) {
			pthread_mutex_lock(&s->mu);
			snprintf(s->problem, sizeof s->problem, "no lease: %s", err);
			pthread_mutex_unlock(&s->mu);
		}
		return;
	}
	long long ttl = 0;
	double sent = salve_now();
	int rc = salve_etcd_lease_keepalive(s->etcd, id, &ttl, err, sizeof err);
	pthread_mutex_lock(&s->mu);
	if (s->lease == id) {
		if (rc < 0) {
			s->suspended = 1;
			snprintf(s->problem, sizeof s->problem, "lease keepalive failed: %s", err);
		} else if (ttl <= 0) {
			s->lease = 0;
			s->suspended = 1;
			snprintf(s->problem, sizeof s->problem,
			         "lease %llx expired (etcd ended it): runs under it are fenced out",
			         (unsigned long long)id);
		} else {
			s->deadline = sent + (double)ttl;
			s->suspended = 0;
			s->problem[0] = '\0';
		}
	}
	pthread_mutex_unlock(&s->mu);
}

static void *keeper(void *arg)
{
	salve_ha_session *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		/* Every ttl/3, and every second while suspended or without a lease. */
		double every = s->suspended || !s->lease ? 1.0 : s->ttl / 3;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until); /* a clock step must not stall it */
		double t = (double)until.tv_sec + until.tv_nsec / 1e9 + every;
		until.tv_sec = (time_t)t;
		until.tv_nsec = (long)((t - floor(t)) * 1e9);
		pthread_cond_timedwait(&s->wake, &s->mu, &until);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->mu);
		keep_alive_once(s);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

salve_ha_session *salve_ha_session_open(salve_etcd *etcd, double ttl, char *err, size_t errlen)
{
	salve_ha_session *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "ha: out of memory");
		return NULL;
	}
	s->etcd = etcd;
	s->ttl = ttl;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (grant(s, err, errlen) < 0) {
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	if (pthread_create(&s->thread, NULL, keeper, s) != 0) {
		snprintf(err, errlen, "ha: cannot start the lease keepalive thread");
		salve_etcd_lease_revoke(etcd, s->lease, err + strlen(err), 0);
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	return s;
}

void salve_ha_session_close(salve_ha_session *s, int revoke)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	char err[512];
	if (revoke && s->lease)
		salve_etcd_lease_revoke(s->etcd, s->lease, err, sizeof err);
	while (s->stranded) {
		struct stranded *next = s->stranded->next;
		free(s->stranded->key);
		free(s->stranded->value);
		free(s->stranded);
		s->stranded = next;
	}
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Under s->mu: whether the lease may carry a mutation now. */
static int healthy_locked(salve_ha_session *s, char *why, size_t whylen)
{
	double left = s->deadline - salve_now();
	if (!s->lease || s->suspended) {
		snprintf(why, whylen, "%s", s->problem[0] ? s->problem : "no etcd lease");
		return 0;
	}
	if (left < margin(s)) {
		snprintf(why, whylen,
		         "the etcd lease was last confirmed %.1f s ago (TTL %.0f s): not trusted "
		         "to outlast a mutation",
		         ceil(s->ttl) - left, s->ttl);
		return 0;
	}
	return 1;
}

int salve_ha_session_lease(salve_ha_session *s, long long *lease, char *why, size_t whylen)
{
	pthread_mutex_lock(&s->mu);
	int ok = healthy_locked(s, why, whylen);
	*lease = ok ? s->lease : 0;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

int salve_ha_session_valid(salve_ha_session *s, long long lease, char *why, size_t whylen)
{
	pthread_mutex_lock(&s->mu);
	int ok = healthy_locked(s, why, whylen);
	if (ok && s->lease != lease) {
		snprintf(why, whylen, "the etcd lease this run started under (%llx) was lost",
		         (unsigned long long)lease);
		ok = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

int salve_ha_session_lost(salve_ha_session *s, long long lease)
{
	pthread_mutex_lock(&s->mu);
	int lost = s->lease != lease;
	pthread_mutex_unlock(&s->mu);
	return lost;
}

int salve_ha_session_wait(salve_ha_session *s, double timeout, char *why, size_t whylen)
{
	double until = salve_now() + timeout;
	for (;;) {
		long long lease;
		if (salve_ha_session_lease(s, &lease, why, whylen))
			return 1;
		if (salve_now() >= until)
			return 0;
		pthread_mutex_lock(&s->mu);
		pthread_cond_signal(&s->wake); /* try now, not at the next tick */
		pthread_mutex_unlock(&s->mu);
		nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
	}
}

salve_etcd *salve_ha_session_etcd(const salve_ha_session *s)
{
	return s->etcd;
}

double salve_ha_session_ttl(const salve_ha_session *s)
{
	return s->ttl;
}

void salve_ha_session_strand(salve_ha_session *s, const char *key, const char *value)
{
	struct stranded *st = calloc(1, sizeof *st);
	if (!st || !(st->key = strdup(key)) || !(st->value = strdup(value))) {
		if (st)
			free(st->key);
		free(st);
		return; /* out of memory: the key goes with the lease, as before */
	}
	pthread_mutex_lock(&s->mu);
	st->next = s->stranded;
	s->stranded = st;
	pthread_mutex_unlock(&s->mu);
}

size_t salve_ha_session_give_back(salve_ha_session *s, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	struct stranded *list = s->stranded;
	s->stranded = NULL;
	pthread_mutex_unlock(&s->mu);
	struct stranded *keep = NULL;
	size_t left = 0;
	while (list) {
		struct stranded *next = list->next;
		/* Deleted (it was ours) or not ours: either way settled. */
		if (salve_etcd_delete_if(s->etcd, list->key, list->value, strlen(list->value), err,
		                         errlen) < 0) {
			list->next = keep;
			keep = list;
			left++;
		} else {
			free(list->key);
			free(list->value);
			free(list);
		}
		list = next;
	}
	if (keep) {
		pthread_mutex_lock(&s->mu);
		struct stranded *tail = keep;
		while (tail->next)
			tail = tail->next;
		tail->next = s->stranded;
		s->stranded = keep;
		pthread_mutex_unlock(&s->mu);
	}
	return left;
}
