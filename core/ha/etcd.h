/*
 * A small etcd v3 client over etcd's JSON gateway (POST /v3/kv/range, /v3/kv/put,
 * /v3/kv/txn, /v3/kv/deleterange, /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke,
 * /v3/auth/authenticate). It sends through the core's HTTP transport (httpsvc.h, libcurl in
 * the lazily loaded salve-http.so), so nothing here links libcurl.
 *
 * Endpoints fail over: a request that gets no answer, or an answer saying the member cannot
 * serve it now (no leader, unavailable, timed out), goes to the next endpoint, each attempt
 * bounded by the timeout; the endpoint that answered is tried first next time. A write that
 * timed out may still have been applied: callers make their writes idempotent (the claim
 * compares what it finds with what it wrote). With a username, the password is exchanged for
 * an auth token (sent in the Authorization header, registered for redaction, renewed once
 * when etcd refuses it).
 *
 * Ownership: options are copied by salve_etcd_new; a kv's value belongs to the caller until
 * salve_etcd_kv_clear. Threads: a client may be used from several threads at once.
 */
#ifndef SALVE_HA_ETCD_H
#define SALVE_HA_ETCD_H

#include <stddef.h>

#include "httpsvc/httpsvc.h"

typedef struct salve_etcd_options {
	const char *const *endpoints; /* "https://10.0.0.1:2379", ...; http:// is allowed */
	size_t nendpoints;
	const char *ca_file;              /* PEM CAs to trust (default: the system's) */
	const char *cert_file, *key_file; /* client certificate and key (PEM), both or neither */
	const char *username;             /* etcd user; NULL: no etcd authentication */
	const char *password;             /* its password (the value: the caller resolved it) */
	double timeout;                   /* seconds one attempt on one endpoint may take */
} salve_etcd_options;

typedef struct salve_etcd salve_etcd;

/* One key's value and revisions, as range or a failed create found it. */
typedef struct salve_etcd_kv {
	char *key;   /* NUL-terminated; filled by salve_etcd_range_prefix and salve_etcd_txn_kvs */
	char *value; /* NUL-terminated (len bytes before it); NULL with keys_only */
	size_t len;
	long long create_revision, mod_revision, lease;
} salve_etcd_kv;

/* A client; load finds the HTTP transport on the first request. NULL with err. */
salve_etcd *salve_etcd_new(const salve_etcd_options *o, salve_httpsvc_loader load, char *err,
                           size_t errlen);
void salve_etcd_free(salve_etcd *e);
void salve_etcd_kv_clear(salve_etcd_kv *kv);

/* The value of key: 1 found (kv filled), 0 absent, -1 error (err). */
int salve_etcd_get(salve_etcd *e, const char *key, salve_etcd_kv *kv, char *err, size_t errlen);
/* Sets key (attached to lease when lease != 0). 0 or -1. */
int salve_etcd_put(salve_etcd *e, const char *key, const char *value, size_t len, long long lease,
                   char *err, size_t errlen);
/* Deletes key. 0 or -1. */
int salve_etcd_delete(salve_etcd *e, const char *key, char *err, size_t errlen);
/* Deletes key only when its value is still exactly value (one txn): 1 deleted, 0 it holds
 * something else or nothing, -1 error. */
int salve_etcd_delete_if(salve_etcd *e, const char *key, const char *value, size_t len, char *err,
                         size_t errlen);
/* Sets key to value (on lease when not 0) only when its value is still exactly old (one
 * txn): 1 replaced, 0 it holds something else or nothing, -1 error. */
int salve_etcd_replace_if(salve_etcd *e, const char *key, const char *old, size_t oldlen,
                          const char *value, size_t len, long long lease, char *err, size_t errlen);
/* Creates key only if it does not exist (one txn: create_revision == 0 -> put with lease,
 * else range): 1 created, 0 it existed (*existing filled when not NULL), -1 error. */
int salve_etcd_create(salve_etcd *e, const char *key, const char *value, size_t len,
                      long long lease, salve_etcd_kv *existing, char *err, size_t errlen);

/* A lease of ttl seconds: 0 with *id, or -1. */
int salve_etcd_lease_grant(salve_etcd *e, long long ttl, long long *id, char *err, size_t errlen);
/* One keepalive: 0 with *ttl the seconds it now has (0: it had expired), or -1. */
int salve_etcd_lease_keepalive(salve_etcd *e, long long id, long long *ttl, char *err,
                               size_t errlen);
/* Revokes the lease (its keys go with it). 0 or -1. */
int salve_etcd_lease_revoke(salve_etcd *e, long long id, char *err, size_t errlen);

/* ---- transactions (for what the calls above do not cover) ----------------------------------
 *
 * Compares and operations are the gateway's JSON objects, built by the functions below (keys
 * and values base64-encoded for you). A prefix of "" means the key alone; a non-NULL prefix
 * flag means every key that starts with key. */

json_t *salve_etcd_cmp_create(const char *key, long long create_revision); /* == */
json_t *salve_etcd_cmp_mod(const char *key, long long mod_revision);       /* == */
json_t *salve_etcd_cmp_lease(const char *key, long long lease);            /* == */
json_t *salve_etcd_cmp_value(const char *key, const char *value, size_t len);
json_t *salve_etcd_op_put(const char *key, const char *value, size_t len, long long lease);
json_t *salve_etcd_op_delete(const char *key, int prefix);
json_t *salve_etcd_op_range(const char *key, int prefix, int keys_only);

/* One txn: if every compare holds, the success ops, else the failure ops (all three arrays
 * stolen; failure may be NULL). The answer (new reference) with *succeeded set, or NULL with
 * err. *revision (when not NULL) gets the store's revision after the txn. */
json_t *salve_etcd_txn(salve_etcd *e, json_t *compare, json_t *success, json_t *failure,
                       int *succeeded, long long *revision, char *err, size_t errlen);
/* The kvs of the i-th response of a txn answer when it is a range: *kvs (malloc'd, each
 * cleared with salve_etcd_kv_clear, the array freed with salve_etcd_kvs_free) and *n. 0, or
 * -1 with err. */
int salve_etcd_txn_kvs(const json_t *answer, size_t i, salve_etcd_kv **kvs, size_t *n, char *err,
                       size_t errlen);
/* Every key starting with prefix, sorted by key (keys_only: values left NULL). 0, or -1. */
int salve_etcd_range_prefix(salve_etcd *e, const char *prefix, int keys_only, salve_etcd_kv **kvs,
                            size_t *n, char *err, size_t errlen);
void salve_etcd_kvs_free(salve_etcd_kv *kvs, size_t n);

#endif
