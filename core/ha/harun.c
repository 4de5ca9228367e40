/* A run's owner key, lock and journal copy in etcd (see harun.h). */
#include "harun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct salve_ha_run {
	salve_ha_session *session;
	salve_etcd *etcd;
	char *run_id, *owner_key, *journal_prefix, *replica;
	char *lock_key, *lock_value; /* NULL without a lock (or a lock now naming another run) */
	long long fence, lease;
	int journaled;     /* its lines are in etcd (from its first mutation on) */
	int owned;         /* its owner key exists (from the start with a lock, else the first
	                    * mutation) */
	json_t *pending;   /* journal lines not in etcd yet: until the run's first mutation */
	char *owner_value; /* this object's own: {instance, replica, take} (take: random) */
	int maybe_owned;   /* a txn creating the owner key got no answer: it may have landed */
	int state;         /* 0 in order, 1 fenced, -1 etcd failed, -2 detached: no more appends */
	char state_why[512];
};

static char *key_of(const char *prefix, const char *a, const char *b, const char *c)
{
	size_t len = strlen(prefix) + strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 4;
	char *k = malloc(len);
	if (k)
		snprintf(k, len, "%s%s%s%s", prefix, a, b, c ? c : "");
	return k;
}

/* A lock's value: {"instance","replica","run"}, compact, sorted, compared byte for byte. */
static char *holder_value(const salve_ha_ident *id, const char *run_id)
{
	json_t *v = json_pack("{s:s, s:s, s:s}", "instance", id->instance, "replica", id->replica,
	                      "run", run_id);
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	return text;
}

static void holder_of(const char *value, size_t len, salve_ha_holder *h)
{
	memset(h, 0, sizeof *h);
	json_t *v = value ? json_loadb(value, len, 0, NULL) : NULL;
	const char *run = json_string_value(json_object_get(v, "run"));
	const char *replica = json_string_value(json_object_get(v, "replica"));
	snprintf(h->run, sizeof h->run, "%s", run ? run : "?");
	snprintf(h->replica, sizeof h->replica, "%s", replica ? replica : "?");
	json_decref(v);
}

static salve_ha_run *run_new(salve_ha_session *s, const salve_ha_ident *id, const char *run_id)
{
	salve_ha_run *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->session = s;
	r->etcd = salve_ha_session_etcd(s);
	r->run_id = strdup(run_id);
	r->replica = strdup(id->replica);
	r->owner_key = key_of(id->prefix, "/runs/", run_id, "/owner");
	r->journal_prefix = key_of(id->prefix, "/runs/", run_id, "/j/");
	r->pending = json_array();
	/* A value no other taking of this run (by this process either) writes: a create whose
	 * answer was lost is told ours by it (see mine). */
	char take[33];
	json_t *v = salve_random_id(take, sizeof take) == 0
	                ? json_pack("{s:s, s:s, s:s}", "instance", id->instance, "replica",
	                            id->replica, "take", take)
	                : NULL;
	r->owner_value = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	if (!r->pending || !r->owner_value || !r->run_id || !r->replica || !r->owner_key ||
	    !r->journal_prefix) {
		salve_ha_run_free(r);
		return NULL;
	}
	return r;
}

void salve_ha_run_free(salve_ha_run *r)
{
	if (!r)
		return;
	free(r->run_id);
	free(r->replica);
	free(r->owner_key);
	free(r->journal_prefix);
	free(r->lock_key);
	free(r->lock_value);
	free(r->owner_value);
	json_decref(r->pending);
	free(r);
}

/* What etcd holds of run_id: *owner (1 when its owner key exists) and *journal (1 when any
 * journal record does). 0, or -1 with err. */
static int run_keys(salve_etcd *e, const char *prefix, const char *run_id, int *owner, int *journal,
                    char *err, size_t errlen)
{
	char *p = key_of(prefix, "/runs/", run_id, "/");
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	int rc = p ? salve_etcd_range_prefix(e, p, 1, &kvs, &n, err, errlen) : -1;
	*owner = *journal = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *rest = kvs[i].key + strlen(p);
		*owner |= strcmp(rest, "owner") == 0;
		*journal |= strncmp(rest, "j/", 2) == 0;
	}
	salve_etcd_kvs_free(kvs, n);
	free(p);
	return rc;
}

/* After a create of the owner key failed its compare or got no answer (a write that timed out
 * may still have landed, and a retry then finds the key there): whether the key holds this
 * object's own value. 1 yes (fence and owned set from it), 0 no or absent, -1 error. */
static int mine(salve_ha_run *r, char *err, size_t errlen)
{
	salve_etcd_kv kv;
	int found = salve_etcd_get(r->etcd, r->owner_key, &kv, err, errlen);
	if (found <= 0)
		return found;
	int ours =
	    kv.len == strlen(r->owner_value) && memcmp(kv.value, r->owner_value, kv.len) == 0;
	if (ours) {
		r->fence = kv.create_revision;
		r->owned = 1;
		r->maybe_owned = 0;
	}
	salve_etcd_kv_clear(&kv);
	return ours;
}

/* The put of the run's owner key, on its lease. */
static json_t *owner_put(const salve_ha_run *r)
{
	return salve_etcd_op_put(r->owner_key, r->owner_value, strlen(r->owner_value), r->lease);
}

/* One attempt at taking the lock (free when expect_mod is 0, else replacing the value seen
 * at that mod revision) with the owner key. 1 started, 0 the lock changed, -1 error. */
static int take(salve_ha_run *r, long long expect_mod, char *err, size_t errlen)
{
	json_t *cmp = json_array(), *ops = json_array();
	if (r->lock_key)
		json_array_append_new(cmp, expect_mod ? salve_etcd_cmp_mod(r->lock_key, expect_mod)
		                                      : salve_etcd_cmp_create(r->lock_key, 0));
	json_array_append_new(cmp, salve_etcd_cmp_create(r->owner_key, 0));
	if (r->lock_key)
		json_array_append_new(
		    ops, salve_etcd_op_put(r->lock_key, r->lock_value, strlen(r->lock_value), 0));
	json_array_append_new(ops, owner_put(r));
	int ok = 0;
	long long rev = 0;
	json_t *answer = salve_etcd_txn(r->etcd, cmp, ops, NULL, &ok, &rev, err, errlen);
	if (!answer) {
		/* It may have landed: then the owner key holds our value. */
		char why[256];
		return mine(r, why, sizeof why) == 1 ? 1 : -1;
	}
	json_decref(answer);
	if (ok) {
		r->fence = rev;
		r->owned = 1;
	}
	/* A compare that failed because an earlier attempt landed is told by the lock's value
	 * (salve_ha_run_start reads it next), not here: this path runs on every poll of a busy
	 * lock. */
	return ok;
}

enum salve_ha_start salve_ha_run_start(salve_ha_session *s, const salve_ha_ident *id,
                                       const char *run_id, const char *lock_key, salve_ha_run **out,
                                       salve_ha_holder *holder, char *err, size_t errlen)
{
	*out = NULL;
	memset(holder, 0, sizeof *holder);
	salve_ha_run *r = run_new(s, id, run_id);
	if (!r || (lock_key && (!(r->lock_key = key_of(id->prefix, "/locks/", lock_key, NULL)) ||
	                        !(r->lock_value = holder_value(id, run_id))))) {
		snprintf(err, errlen, "ha: out of memory");
		goto fail;
	}
	if (!salve_ha_session_lease(s, &r->lease, err, errlen))
		goto fail;
	if (!lock_key) {
		/* Nothing in etcd until the run's first mutation: a run that changes nothing
		 * (its checks hold) costs etcd nothing, and one that dies before then left
		 * nothing to take over. */
		*out = r;
		return SALVE_HA_STARTED;
	}
	long long expect_mod = 0;
	for (int attempt = 0; attempt < 16; attempt++) {
		int rc = take(r, expect_mod, err, errlen);
		if (rc < 0)
			goto fail;
		if (rc == 1) {
			*out = r;
			return SALVE_HA_STARTED;
		}
		salve_etcd_kv kv;
		int found = salve_etcd_get(r->etcd, r->lock_key, &kv, err, errlen);
		if (found < 0)
			goto fail;
		if (!found) {
			expect_mod = 0;
			continue;
		}
		holder_of(kv.value, kv.len, holder);
		expect_mod = kv.mod_revision;
		int self =
		    kv.len == strlen(r->lock_value) && memcmp(kv.value, r->lock_value, kv.len) == 0;
		salve_etcd_kv_clear(&kv);
		if (self) {
			/* An earlier start of this same run took it and its answer was lost (the
			 * lock's value names this run of this process): this run holds it. */
			salve_etcd_kv ov;
			int got = salve_etcd_get(r->etcd, r->owner_key, &ov, err, errlen);
			if (got < 0)
				goto fail;
			if (got) {
				r->fence = ov.create_revision;
				r->owned = 1;
				free(r->owner_value);
				r->owner_value = ov.value;
				ov.value = NULL;
				salve_etcd_kv_clear(&ov);
				*out = r;
				return SALVE_HA_STARTED;
			}
			/* Its owner key went with an old lease: take the lock again. */
			continue;
		}
		int owner = 0, journal = 0;
		if (run_keys(r->etcd, id->prefix, holder->run, &owner, &journal, err, errlen) < 0)
			goto fail;
		if (owner) {
			char *okey = key_of(id->prefix, "/runs/", holder->run, "/owner");
			salve_etcd_kv ov;
			if (okey && salve_etcd_get(r->etcd, okey, &ov, err, errlen) == 1) {
				json_t *v = json_loadb(ov.value, ov.len, 0, NULL);
				holder->needs_human =
				    json_is_true(json_object_get(v, "needs_human"));
				json_decref(v);
				salve_etcd_kv_clear(&ov);
			}
			free(okey);
		}
		if (owner || journal) {
			salve_ha_run_free(r);
			return owner ? SALVE_HA_BUSY : SALVE_HA_ORPHAN;
		}
		/* Its run finished (or died before its first record): the lock is free. */
	}
	snprintf(err, errlen, "ha: lock %s kept changing: try again", lock_key);
fail:
	salve_ha_run_free(r);
	return SALVE_HA_ERROR;
}

/* The run's journal lines in seq order from a range answer. */
static json_t *lines_of(const salve_etcd_kv *kvs, size_t n)
{
	json_t *lines = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(lines, json_stringn(kvs[i].value ? kvs[i].value : "",
		                                          kvs[i].value ? kvs[i].len : 0));
	return lines;
}

/* After an adoption: the lock the header names, if it still names this run. */
static void adopt_lock(salve_ha_run *r, const salve_ha_ident *id, const json_t *lines)
{
	const char *first = json_string_value(json_array_get(lines, 0));
	json_t *header = first ? json_loads(first, 0, NULL) : NULL;
	const char *lock = json_string_value(json_object_get(header, "lock"));
	char err[512];
	salve_etcd_kv kv;
	char *key = lock ? key_of(id->prefix, "/locks/", lock, NULL) : NULL;
	if (key && salve_etcd_get(r->etcd, key, &kv, err, sizeof err) == 1) {
		salve_ha_holder h;
		holder_of(kv.value, kv.len, &h);
		if (strcmp(h.run, r->run_id) == 0) {
			r->lock_key = key;
			r->lock_value = kv.value;
			kv.value = NULL;
			key = NULL;
		}
		salve_etcd_kv_clear(&kv);
	}
	free(key);
	json_decref(header);
}

/* The run's journal lines, read fenced by our ownership: the range answer, or NULL. */
static json_t *journal_read(salve_ha_run *r, char *err, size_t errlen)
{
	int ok = 0;
	json_t *answer =
	    salve_etcd_txn(r->etcd, json_pack("[o]", salve_etcd_cmp_create(r->owner_key, r->fence)),
	                   json_pack("[o]", salve_etcd_op_range(r->journal_prefix, 1, 0)), NULL,
	                   &ok, NULL, err, errlen);
	if (answer && !ok) {
		snprintf(err, errlen, "run %s: its owner key changed while it was being taken",
		         r->run_id);
		json_decref(answer);
		return NULL;
	}
	return answer;
}

int salve_ha_run_adopt(salve_ha_session *s, const salve_ha_ident *id, const char *run_id,
                       salve_ha_run **out, json_t **lines, char *err, size_t errlen)
{
	*out = NULL;
	*lines = NULL;
	salve_ha_run *r = run_new(s, id, run_id);
	if (!r) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	if (!salve_ha_session_lease(s, &r->lease, err, errlen)) {
		salve_ha_run_free(r);
		return -1;
	}
	/* Owned only if nobody owns it and its journal is there: one txn. The range goes with
	 * it, so the lines read are the ones owned. */
	json_t *cmp = json_pack("[o]", salve_etcd_cmp_create(r->owner_key, 0));
	json_t *ops =
	    json_pack("[o, o]", owner_put(r), salve_etcd_op_range(r->journal_prefix, 1, 0));
	int ok = 0;
	long long rev = 0;
	size_t at = 1; /* the range's answer: after the put's */
	json_t *answer = salve_etcd_txn(r->etcd, cmp, ops, NULL, &ok, &rev, err, errlen);
	if (answer && ok) {
		r->fence = rev;
		r->owned = 1;
	} else {
		/* Another taker was first, or this create landed and its answer was lost (no
		 * answer, or a retry that found the key): the owner key's value says which. */
		int answered = answer != NULL;
		json_decref(answer);
		answer = NULL;
		char why[512];
		int ours = mine(r, why, sizeof why);
		at = 0;
		if (ours == 1 && !(answer = journal_read(r, err, errlen)) &&
		    salve_etcd_delete_if(r->etcd, r->owner_key, r->owner_value,
		                         strlen(r->owner_value), why, sizeof why) < 0)
			/* Ours, but its lines could not be read, nor the key given back: nobody
			 * else would take the run over while this process's lease lives. */
			salve_ha_session_strand(s, r->owner_key, r->owner_value);
		if (ours < 0)
			/* Perhaps ours (the create may have landed): the same. */
			salve_ha_session_strand(s, r->owner_key, r->owner_value);
		if (!answer) {
			if (ours < 0)
				snprintf(err, errlen, "%s", why);
			salve_ha_run_free(r);
			return ours == 0 && answered ? 0 : -1;
		}
	}
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	if (salve_etcd_txn_kvs(answer, at, &kvs, &n, err, errlen) < 0 || n == 0) {
		json_decref(answer);
		if (n == 0) {
			/* Finished meanwhile: give the owner key back. */
			salve_etcd_delete(r->etcd, r->owner_key, err, errlen);
			salve_ha_run_free(r);
			return 0;
		}
		salve_ha_run_free(r);
		return -1;
	}
	json_decref(answer);
	*lines = lines_of(kvs, n);
	salve_etcd_kvs_free(kvs, n);
	adopt_lock(r, id, *lines);
	*out = r;
	return 1;
}

json_t *salve_ha_orphans(salve_etcd *e, const char *prefix, char *err, size_t errlen)
{
	char *p = key_of(prefix, "/runs/", "", NULL);
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	if (!p || salve_etcd_range_prefix(e, p, 1, &kvs, &n, err, errlen) < 0) {
		free(p);
		return NULL;
	}
	/* Keys come sorted: a run's owner and journal keys are neighbours. */
	json_t *orphans = json_array();
	size_t plen = strlen(p);
	for (size_t i = 0; i < n;) {
		const char *rest = kvs[i].key + plen;
		size_t idlen = strcspn(rest, "/");
		int owner = 0, journal = 0;
		size_t k = i;
		for (; k < n && strncmp(kvs[k].key + plen, rest, idlen + 1) == 0; k++) {
			const char *tail = kvs[k].key + plen + idlen + 1;
			owner |= strcmp(tail, "owner") == 0;
			journal |= strncmp(tail, "j/", 2) == 0;
		}
		if (journal && !owner)
			json_array_append_new(orphans, json_stringn(rest, idlen));
		i = k > i ? k : i + 1;
	}
	salve_etcd_kvs_free(kvs, n);
	free(p);
	return orphans;
}

int salve_ha_run_exists(salve_etcd *e, const char *prefix, const char *run_id, char *err,
                        size_t errlen)
{
	int owner = 0, journal = 0;
	if (run_keys(e, prefix, run_id, &owner, &journal, err, errlen) < 0)
		return -1;
	return journal;
}

/* Names who owns the run now, after a compare failed. */
static void fenced_why(salve_ha_run *r, const json_t *answer)
{
	salve_etcd_kv *kvs = NULL;
	size_t n = 0;
	char err[256];
	salve_ha_holder h = {.run = "", .replica = "?"};
	if (answer && salve_etcd_txn_kvs(answer, 0, &kvs, &n, err, sizeof err) == 0 && n)
		holder_of(kvs[0].value, kvs[0].len, &h);
	snprintf(r->state_why, sizeof r->state_why,
	         "run %s is no longer this process's in etcd (%s%s): fenced out, it writes and "
	         "changes nothing more",
	         r->run_id, n ? "now owned by replica " : "its lease ended", n ? h.replica : "");
	salve_etcd_kvs_free(kvs, n);
	r->state = 1;
}

/* A fenced txn: if the owner key is still ours, ops (stolen). 0 done, 1 fenced, -1 error. */
static int fenced_txn(salve_ha_run *r, json_t *ops, char *err, size_t errlen)
{
	if (r->state) {
		json_decref(ops);
		snprintf(err, errlen, "%s", r->state_why);
		return r->state == 1 ? 1 : -1;
	}
	int ok = 0;
	json_t *answer = salve_etcd_txn(
	    r->etcd, json_pack("[o]", salve_etcd_cmp_create(r->owner_key, r->fence)), ops,
	    json_pack("[o]", salve_etcd_op_range(r->owner_key, 0, 0)), &ok, NULL, err, errlen);
	if (!answer) {
		r->state = -1;
		snprintf(r->state_why, sizeof r->state_why,
		         "the journal in etcd stopped at an earlier record: %s", err);
		return -1;
	}
	if (!ok) {
		fenced_why(r, answer);
		snprintf(err, errlen, "%s", r->state_why);
	}
	json_decref(answer);
	return ok ? 0 : 1;
}

/* The put of journal line seq. */
static json_t *line_op(const salve_ha_run *r, long long seq, const char *line, size_t len)
{
	char suffix[32];
	snprintf(suffix, sizeof suffix, "%012lld", seq);
	char *key = key_of(r->journal_prefix, suffix, "", NULL);
	json_t *op = key ? salve_etcd_op_put(key, line, len, 0) : NULL;
	free(key);
	return op;
}

/* The first mutation of a run without a lock: its owner key is created (on the lease that is
 * current now) with every line so far, in one txn. 0, or -1 with err. */
static int own_now(salve_ha_run *r, json_t *ops, char *err, size_t errlen)
{
	char why[512];
	if (!salve_ha_session_lease(r->session, &r->lease, why, sizeof why)) {
		json_decref(ops);
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	json_array_insert_new(ops, 0, owner_put(r));
	int ok = 0;
	long long rev = 0;
	json_t *answer =
	    salve_etcd_txn(r->etcd, json_pack("[o]", salve_etcd_cmp_create(r->owner_key, 0)), ops,
	                   NULL, &ok, &rev, err, errlen);
	if (answer && ok) {
		json_decref(answer);
		r->fence = rev;
		r->owned = 1;
		return 0;
	}
	/* No answer, or a retry that found the key: ours if it holds our value (the lines went
	 * with it, one txn). Unknown: finish looks again. */
	int answered = answer != NULL;
	json_decref(answer);
	int ours = mine(r, why, sizeof why);
	if (ours == 1)
		return 0;
	r->maybe_owned = ours < 0 || !answered;
	if (answered)
		snprintf(err, errlen, "ha: run %s is already known to etcd", r->run_id);
	return -1;
}

int salve_ha_run_append(salve_ha_run *r, long long seq, const char *line, size_t len, int mutation,
                        char *err, size_t errlen)
{
	if (r->state) {
		snprintf(err, errlen, "%s", r->state_why);
		return r->state == 1 ? 1 : -1;
	}
	json_t *op = line_op(r, seq, line, len);
	if (!op) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	if (!mutation && !r->journaled) {
		/* Before the first mutation the lines wait: etcd gets them with it. */
		json_array_append_new(r->pending, op);
		return 0;
	}
	json_t *ops = r->pending;
	r->pending = json_array();
	json_array_append_new(ops, op);
	int rc;
	if (r->owned) {
		rc = fenced_txn(r, ops, err, errlen);
	} else if ((rc = own_now(r, ops, err, errlen)) < 0) {
		r->state = -1;
		snprintf(r->state_why, sizeof r->state_why,
		         "the journal in etcd stopped at an earlier record: %s", err);
	}
	if (rc == 0)
		r->journaled = 1;
	return rc;
}

void salve_ha_run_detach(salve_ha_run *r, const char *why)
{
	if (r->state)
		return;
	r->state = -2;
	snprintf(r->state_why, sizeof r->state_why,
	         "the journal in etcd stopped at an earlier record: %s", why);
}

int salve_ha_run_confirm(salve_ha_run *r, char *err, size_t errlen)
{
	if (!r->owned)
		return 1; /* nothing of it is in etcd: nobody can have taken it over */
	if (r->state == -1) {
		snprintf(err, errlen, "%s", r->state_why);
		return -1;
	}
	if (r->state == 1) {
		snprintf(err, errlen, "%s", r->state_why);
		return 0;
	}
	int ok = 0;
	json_t *answer = salve_etcd_txn(
	    r->etcd, json_pack("[o]", salve_etcd_cmp_create(r->owner_key, r->fence)), json_array(),
	    json_pack("[o]", salve_etcd_op_range(r->owner_key, 0, 0)), &ok, NULL, err, errlen);
	if (!answer) {
		if (!r->state) {
			r->state = -1;
			snprintf(r->state_why, sizeof r->state_why, "etcd did not answer: %s", err);
		}
		return -1;
	}
	if (!ok) {
		fenced_why(r, answer);
		snprintf(err, errlen, "%s", r->state_why);
	}
	json_decref(answer);
	return ok;
}

int salve_ha_run_finish(salve_ha_run *r, char *err, size_t errlen)
{
	if (r->state == 1) {
		snprintf(err, errlen, "%s", r->state_why);
		return 1;
	}
	if (!r->owned && r->maybe_owned) {
		int ours = mine(r, err, errlen); /* its first mutation got no answer */
		if (ours < 0)
			return -1;
		r->maybe_owned = 0;
	}
	if (!r->owned)
		return 0; /* it never reached etcd */
	r->state = 0;     /* an earlier failed append does not stop the keys from going */
	json_t *cmp = json_pack("[o]", salve_etcd_cmp_create(r->owner_key, r->fence));
	if (r->lock_key)
		json_array_append_new(
		    cmp, salve_etcd_cmp_value(r->lock_key, r->lock_value, strlen(r->lock_value)));
	json_t *ops = json_pack("[o, o]", salve_etcd_op_delete(r->journal_prefix, 1),
	                        salve_etcd_op_delete(r->owner_key, 0));
	if (r->lock_key)
		json_array_append_new(ops, salve_etcd_op_delete(r->lock_key, 0));
	int ok = 0;
	json_t *answer = salve_etcd_txn(r->etcd, cmp, ops, NULL, &ok, NULL, err, errlen);
	if (!answer)
		return -1;
	json_decref(answer);
	if (ok)
		return 0;
	if (r->lock_key) {
		/* The lock names another run now (it cannot while we own the run, but a lock
		 * taken by hand must not keep our keys alive): go without it. */
		free(r->lock_key);
		r->lock_key = NULL;
		return salve_ha_run_finish(r, err, errlen);
	}
	snprintf(err, errlen, "run %s: fenced out: another process owns it in etcd", r->run_id);
	r->state = 1;
	snprintf(r->state_why, sizeof r->state_why, "%s", err);
	return 1;
}

int salve_ha_run_release(salve_ha_run *r, char *err, size_t errlen)
{
	return fenced_txn(r, json_pack("[o]", salve_etcd_op_delete(r->owner_key, 0)), err, errlen);
}

int salve_ha_run_park(salve_ha_run *r, char *err, size_t errlen)
{
	json_t *v = json_pack("{s:b, s:s}", "needs_human", 1, "run", r->run_id);
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	if (!text) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	r->state = 0;
	int rc =
	    fenced_txn(r, json_pack("[o]", salve_etcd_op_put(r->owner_key, text, strlen(text), 0)),
	               err, errlen);
	free(text);
	return rc;
}

int salve_ha_run_resolve(salve_etcd *e, const char *prefix, const char *run_id, char *err,
                         size_t errlen)
{
	char *run_prefix = key_of(prefix, "/runs/", run_id, "/");
	char *first = key_of(prefix, "/runs/", run_id, "/j/000000000001");
	salve_etcd_kv header = {0};
	if (!run_prefix || !first || salve_etcd_get(e, first, &header, err, errlen) < 0) {
		free(run_prefix);
		free(first);
		return -1;
	}
	json_t *h = header.value ? json_loadb(header.value, header.len, 0, NULL) : NULL;
	const char *lock = json_string_value(json_object_get(h, "lock"));
	char *lock_key = lock ? key_of(prefix, "/locks/", lock, NULL) : NULL;
	json_decref(h);
	salve_etcd_kv_clear(&header);
	int done = 0;
	json_t *answer =
	    salve_etcd_txn(e, json_array(), json_pack("[o]", salve_etcd_op_delete(run_prefix, 1)),
	                   NULL, &done, NULL, err, errlen);
	int rc = answer ? 0 : -1;
	json_decref(answer);
	salve_etcd_kv kv;
	if (rc == 0 && lock_key && salve_etcd_get(e, lock_key, &kv, err, errlen) == 1) {
		salve_ha_holder who;
		holder_of(kv.value, kv.len, &who);
		if (strcmp(who.run, run_id) == 0 &&
		    salve_etcd_delete_if(e, lock_key, kv.value, kv.len, err, errlen) < 0)
			rc = -1;
		salve_etcd_kv_clear(&kv);
	}
	free(lock_key);
	free(run_prefix);
	free(first);
	return rc;
}

long long salve_ha_run_fence(const salve_ha_run *r)
{
	return r->fence;
}

const char *salve_ha_run_replica(const salve_ha_run *r)
{
	return r->replica;
}

long long salve_ha_run_lease(const salve_ha_run *r)
{
	return r->lease;
}

salve_ha_session *salve_ha_run_session(const salve_ha_run *r)
{
	return r->session;
}

int salve_ha_run_fenced(const salve_ha_run *r)
{
	return r->state == 1;
}
