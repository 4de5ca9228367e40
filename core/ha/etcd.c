/* The etcd v3 client over the JSON gateway (see etcd.h). */
#include "etcd.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

/* gRPC status codes etcd's gateway returns in "code". */
#define GRPC_DEADLINE_EXCEEDED 4
#define GRPC_UNAVAILABLE       14
#define GRPC_UNAUTHENTICATED   16

struct salve_etcd {
	char **endpoints;
	size_t n;
	double timeout;
	char *username, *password;
	salve_http_client *http;
	pthread_mutex_t mu;
	size_t current; /* the endpoint tried first */
	char *token;    /* auth token, under mu */
};

/* ---- the transport's host: errors into the request's buffer, no deadline but ours ---- */

struct etcd_call {
	char err[512];
};

static void host_log(salve_call *call, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void host_log(salve_call *call, int level, const char *fmt, ...)
{
	(void)call, (void)level, (void)fmt;
}

static void host_fail(salve_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void host_fail(salve_call *call, const char *fmt, ...)
{
	struct etcd_call *c = (struct etcd_call *)call;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

static int host_cancelled(salve_call *call)
{
	(void)call;
	return 0;
}

static double host_remaining(salve_call *call)
{
	(void)call;
	return HUGE_VAL;
}

static void host_register_secret(salve_call *call, const char *value)
{
	(void)call;
	salve_redact_register(value);
}

static const salve_host etcd_host = {
    .struct_size = sizeof(salve_host),
    .abi_minor = 2,
    .log = host_log,
    .fail = host_fail,
    .cancelled = host_cancelled,
    .remaining = host_remaining,
    .register_secret = host_register_secret,
};

/* ---- base64 (the gateway's bytes) ---------------------------------------------------------- */

static char *b64_encode(const char *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
	return out;
}

/* NULL when text is not base64 as etcd writes it (RFC 4648, padded). EVP_DecodeBlock alone
 * also takes '=' and blanks where they do not belong, and the padding count below would then
 * be wrong: "====" decoded to -1 bytes. */
static char *b64_decode(const char *text, size_t *len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t tlen = strlen(text), pad = 0;
	while (pad < 2 && pad < tlen && text[tlen - 1 - pad] == '=')
		pad++;
	if (tlen % 4 || strspn(text, alphabet) != tlen - pad)
		return NULL;
	char *out = malloc(tlen / 4 * 3 + 1);
	if (!out)
		return NULL;
	int n = tlen ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)text, (int)tlen)
	             : 0;
	if (n < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	n -= (int)pad;
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

static json_t *b64_json(const char *data, size_t len)
{
	char *enc = b64_encode(data, len);
	json_t *v = enc ? json_string(enc) : NULL;
	free(enc);
	return v;
}

/* The gateway writes 64-bit integers as strings. */
static long long int64_of(const json_t *v)
{
	if (json_is_integer(v))
		return (long long)json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static json_t *int64_json(long long v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", v);
	return json_string(buf);
}

/* ---- requests with failover ---------------------------------------------------------------- */

static int take_any_answer(void *ud, const salve_http_attempt *a)
{
	(void)ud, (void)a;
	return SALVE_OK;
}

/* The longest auth token sent: one that would not fit the header is refused, not cut. */
#define MAX_TOKEN 2000

/* One POST to one endpoint: 0 with *status and *body (parsed, NULL when not JSON), -1 when no
 * answer (err). */
static int post_one(salve_etcd *e, const char *endpoint, const char *path, const char *body,
                    const char *token, long *status, json_t **answer, char *err, size_t errlen)
{
	char url[2048], auth[MAX_TOKEN + 32];
	snprintf(url, sizeof url, "%s%s", endpoint, path);
	const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: %s", token);
		headers[1] = auth;
	}
	salve_http_request req = {
	    .struct_size = sizeof req,
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    .body = body,
	    .body_len = strlen(body),
	    .timeout = e->timeout,
	    .attempts = 1,
	    .judge = take_any_answer,
	};
	salve_http_response resp;
	struct etcd_call call = {""};
	int rc = salve_http_client_request(&etcd_host, (salve_call *)&call, e->http, &req, &resp);
	if (token)
		explicit_bzero(auth, sizeof auth);
	if (rc != SALVE_OK || resp.status == 0) {
		snprintf(err, errlen, "%s: %s", endpoint,
		         resp.error[0] ? resp.error : (call.err[0] ? call.err : "no answer"));
		salve_http_response_clear(&resp);
		return -1;
	}
	*status = resp.status;
	*answer = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	salve_http_response_clear(&resp);
	return 0;
}

/* Whether an answered token can go in a header line: not too long, no control characters (a
 * CR LF in it would add headers of the answerer's choosing to every request). */
static int token_fits_header(const char *token)
{
	size_t len = strlen(token);
	if (len > MAX_TOKEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
			return 0;
	return 1;
}

/* Exchanges the password for a token on endpoint. 0 or -1. */
static int authenticate(salve_etcd *e, const char *endpoint, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s, s:s}", "name", e->username, "password", e->password);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body) {
		snprintf(err, errlen, "etcd: out of memory");
		return -1;
	}
	long status = 0;
	json_t *answer = NULL;
	int rc = post_one(e, endpoint, "/v3/auth/authenticate", body, NULL, &status, &answer, err,
	                  errlen);
	explicit_bzero(body, strlen(body));
	free(body);
	if (rc < 0)
		return -1;
	const char *token = json_string_value(json_object_get(answer, "token"));
	if (status != 200 || !token || !*token) {
		const char *msg = json_string_value(json_object_get(answer, "message"));
		snprintf(err, errlen, "%s: authentication as %s refused: %s", endpoint, e->username,
		         msg ? msg : "no token in the answer");
		json_decref(answer);
		return -1;
	}
	if (!token_fits_header(token)) {
		snprintf(err, errlen,
		         "%s: authentication as %s: the token answered is not one header line "
		         "(control characters, or longer than %d bytes)",
		         endpoint, e->username, MAX_TOKEN);
		json_decref(answer);
		return -1;
	}
	salve_redact_register(token);
	pthread_mutex_lock(&e->mu);
	free(e->token);
	e->token = strdup(token);
	pthread_mutex_unlock(&e->mu);
	json_decref(answer);
	return e->token ? 0 : -1;
}

/* Whether an error answer means "this member cannot serve it now; another may". */
static int try_elsewhere(long status, int code, const char *msg)
{
	return status == 503 || status == 504 || code == GRPC_UNAVAILABLE ||
	       code == GRPC_DEADLINE_EXCEEDED ||
	       (msg && (strstr(msg, "no leader") || strstr(msg, "timed out") ||
	                strstr(msg, "not capable") || strstr(msg, "leader changed")));
}

/* POSTs body (stolen) to path, failing over across the endpoints. The answer (new reference)
 * or NULL with err. */
static json_t *call(salve_etcd *e, const char *path, json_t *body, char *err, size_t errlen)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		snprintf(err, errlen, "etcd: out of memory");
		return NULL;
	}
	pthread_mutex_lock(&e->mu);
	size_t first = e->current;
	pthread_mutex_unlock(&e->mu);
	char last[768] = "no endpoint";
	json_t *result = NULL;
	int refused = 0;
	for (size_t i = 0; i < e->n && !result && !refused; i++) {
		size_t k = (first + i) % e->n;
		const char *endpoint = e->endpoints[k];
		int reauthenticated = 0;
		for (;;) {
			char *token = NULL;
			if (e->username) {
				pthread_mutex_lock(&e->mu);
				token = e->token ? strdup(e->token) : NULL;
				pthread_mutex_unlock(&e->mu);
				if (!token) {
					if (authenticate(e, endpoint, last, sizeof last) < 0)
						break;
					reauthenticated = 1;
					continue;
				}
			}
			long status = 0;
			json_t *answer = NULL;
			int rc = post_one(e, endpoint, path, text, token, &status, &answer, last,
			                  sizeof last);
			free(token);
			if (rc < 0)
				break;
			if (status == 200 && json_is_object(answer)) {
				result = answer;
				pthread_mutex_lock(&e->mu);
				e->current = k;
				pthread_mutex_unlock(&e->mu);
				break;
			}
			int code = (int)json_integer_value(json_object_get(answer, "code"));
			const char *msg = json_string_value(json_object_get(answer, "message"));
			snprintf(last, sizeof last, "%s: %s (HTTP %ld)", endpoint,
			         msg ? msg : "an answer that is not etcd's", status);
			int elsewhere = try_elsewhere(status, code, msg);
			json_decref(answer);
			if (code == GRPC_UNAUTHENTICATED && e->username && !reauthenticated) {
				pthread_mutex_lock(&e->mu);
				free(e->token);
				e->token = NULL;
				pthread_mutex_unlock(&e->mu);
				continue;
			}
			refused = !elsewhere;
			break;
		}
	}
	free(text);
	if (!result)
		snprintf(err, errlen, "etcd %s: %s", path,
		         refused ? last : "no endpoint could serve it; last");
	if (!result && !refused) {
		size_t used = strlen(err);
		snprintf(err + used, errlen - used, ": %s", last);
	}
	return result;
}

/* ---- the client ---------------------------------------------------------------------------- */

salve_etcd *salve_etcd_new(const salve_etcd_options *o, salve_httpsvc_loader load, char *err,
                           size_t errlen)
{
	if (!o->nendpoints) {
		snprintf(err, errlen, "etcd: no endpoints");
		return NULL;
	}
	if (!o->cert_file != !o->key_file) {
		snprintf(err, errlen, "etcd: cert_file and key_file go together");
		return NULL;
	}
	salve_etcd *e = calloc(1, sizeof *e);
	if (!e || !(e->endpoints = calloc(o->nendpoints, sizeof *e->endpoints)))
		goto oom;
	pthread_mutex_init(&e->mu, NULL);
	for (size_t i = 0; i < o->nendpoints; i++) {
		const char *ep = o->endpoints[i];
		if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
			snprintf(err, errlen,
			         "etcd: endpoint %s: must start with http:// or https://", ep);
			salve_etcd_free(e);
			return NULL;
		}
		size_t len = strlen(ep);
		while (len > 0 && ep[len - 1] == '/')
			len--;
		if (!(e->endpoints[i] = strndup(ep, len)))
			goto oom;
		e->n++;
	}
	e->timeout = o->timeout > 0 ? o->timeout : 2;
	if (o->username && (!(e->username = strdup(o->username)) ||
	                    !(e->password = strdup(o->password ? o->password : ""))))
		goto oom;
	if (e->password)
		salve_redact_register(e->password);
	salve_http_options ho = {
	    .struct_size = sizeof ho,
	    .protocols = "http,https",
	    .ca_file = o->ca_file,
	    .cert_file = o->cert_file,
	    .key_file = o->key_file,
	    .connect_timeout = e->timeout,
	    .request_timeout = e->timeout,
	    .max_response = 4u << 20,
	};
	struct etcd_call c = {""};
	if (!(e->http = salve_http_client_new(&etcd_host, load, (salve_call *)&c, &ho))) {
		snprintf(err, errlen, "etcd: %s", c.err[0] ? c.err : "out of memory");
		salve_etcd_free(e);
		return NULL;
	}
	return e;
oom:
	snprintf(err, errlen, "etcd: out of memory");
	salve_etcd_free(e);
	return NULL;
}

void salve_etcd_free(salve_etcd *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->username);
	if (e->password) {
		explicit_bzero(e->password, strlen(e->password));
		free(e->password);
	}
	if (e->token) {
		explicit_bzero(e->token, strlen(e->token));
		free(e->token);
	}
	salve_http_client_free(e->http);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

void salve_etcd_kv_clear(salve_etcd_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof *kv);
}

/* The first kv of a range answer into kv: 1, 0 (none), -1 (not base64). */
static int first_kv(const json_t *range, salve_etcd_kv *kv, char *err, size_t errlen)
{
	const json_t *first = json_array_get(json_object_get(range, "kvs"), 0);
	if (!first)
		return 0;
	const char *value = json_string_value(json_object_get(first, "value"));
	size_t len = 0;
	char *decoded = b64_decode(value ? value : "", &len);
	if (!decoded) {
		snprintf(err, errlen, "etcd: a value that is not base64");
		return -1;
	}
	if (kv) {
		kv->value = decoded;
		kv->len = len;
		kv->create_revision = int64_of(json_object_get(first, "create_revision"));
		kv->mod_revision = int64_of(json_object_get(first, "mod_revision"));
		kv->lease = int64_of(json_object_get(first, "lease"));
	} else {
		free(decoded);
	}
	return 1;
}

static json_t *key_json(const char *key)
{
	return b64_json(key, strlen(key));
}

int salve_etcd_get(salve_etcd *e, const char *key, salve_etcd_kv *kv, char *err, size_t errlen)
{
	memset(kv, 0, sizeof *kv);
	json_t *answer =
	    call(e, "/v3/kv/range", json_pack("{s:o}", "key", key_json(key)), err, errlen);
	if (!answer)
		return -1;
	int rc = first_kv(answer, kv, err, errlen);
	json_decref(answer);
	return rc;
}

int salve_etcd_put(salve_etcd *e, const char *key, const char *value, size_t len, long long lease,
                   char *err, size_t errlen)
{
	json_t *req = json_pack("{s:o, s:o}", "key", key_json(key), "value", b64_json(value, len));
	if (req && lease)
		json_object_set_new(req, "lease", int64_json(lease));
	json_t *answer = call(e, "/v3/kv/put", req, err, errlen);
	json_decref(answer);
	return answer ? 0 : -1;
}

int salve_etcd_delete(salve_etcd *e, const char *key, char *err, size_t errlen)
{
	json_t *answer =
	    call(e, "/v3/kv/deleterange", json_pack("{s:o}", "key", key_json(key)), err, errlen);
	json_decref(answer);
	return answer ? 0 : -1;
}

static int txn_succeeded(const json_t *answer)
{
	/* The gateway leaves out false values. */
	return json_is_true(json_object_get(answer, "succeeded"));
}

/* One txn: if key's value is exactly old, then then_op (stolen). 1 done, 0 not, -1 error. */
static int if_value(salve_etcd *e, const char *key, const char *old, size_t oldlen, json_t *then_op,
                    char *err, size_t errlen)
{
	json_t *req = json_pack("{s:[{s:s, s:s, s:o, s:o}], s:[o]}", "compare", "target", "VALUE",
	                        "result", "EQUAL", "key", key_json(key), "value",
	                        b64_json(old, oldlen), "success", then_op);
	json_t *answer = call(e, "/v3/kv/txn", req, err, errlen);
	if (!answer)
		return -1;
	int done = txn_succeeded(answer);
	json_decref(answer);
	return done;
}

int salve_etcd_delete_if(salve_etcd *e, const char *key, const char *value, size_t len, char *err,
                         size_t errlen)
{
	return if_value(e, key, value, len,
	                json_pack("{s:{s:o}}", "request_delete_range", "key", key_json(key)), err,
	                errlen);
}

int salve_etcd_replace_if(salve_etcd *e, const char *key, const char *old, size_t oldlen,
                          const char *value, size_t len, long long lease, char *err, size_t errlen)
{
	json_t *put = json_pack("{s:o, s:o}", "key", key_json(key), "value", b64_json(value, len));
	if (put && lease)
		json_object_set_new(put, "lease", int64_json(lease));
	return if_value(e, key, old, oldlen, json_pack("{s:o}", "request_put", put), err, errlen);
}

int salve_etcd_create(salve_etcd *e, const char *key, const char *value, size_t len,
                      long long lease, salve_etcd_kv *existing, char *err, size_t errlen)
{
	if (existing)
		memset(existing, 0, sizeof *existing);
	json_t *put = json_pack("{s:o, s:o}", "key", key_json(key), "value", b64_json(value, len));
	if (put && lease)
		json_object_set_new(put, "lease", int64_json(lease));
	json_t *req = json_pack("{s:[{s:s, s:s, s:o, s:s}], s:[{s:o}], s:[{s:{s:o}}]}", "compare",
	                        "target", "CREATE", "result", "EQUAL", "key", key_json(key),
	                        "create_revision", "0", "success", "request_put", put, "failure",
	                        "request_range", "key", key_json(key));
	json_t *answer = call(e, "/v3/kv/txn", req, err, errlen);
	if (!answer)
		return -1;
	if (txn_succeeded(answer)) {
		json_decref(answer);
		return 1;
	}
	const json_t *range = json_object_get(
	    json_array_get(json_object_get(answer, "responses"), 0), "response_range");
	int found = first_kv(range, existing, err, errlen);
	json_decref(answer);
	if (found < 0)
		return -1;
	if (!found) {
		/* It existed at the compare and not at the range: the same txn sees one revision,
		 * so this is not etcd speaking. */
		snprintf(err, errlen, "etcd: a failed create without the key it found");
		return -1;
	}
	return 0;
}

int salve_etcd_lease_grant(salve_etcd *e, long long ttl, long long *id, char *err, size_t errlen)
{
	json_t *answer =
	    call(e, "/v3/lease/grant", json_pack("{s:o}", "TTL", int64_json(ttl)), err, errlen);
	if (!answer)
		return -1;
	*id = int64_of(json_object_get(answer, "ID"));
	const char *why = json_string_value(json_object_get(answer, "error"));
	json_decref(answer);
	if (!*id || (why && *why)) {
		snprintf(err, errlen, "etcd: lease of %lld s not granted: %s", ttl,
		         why && *why ? why : "no ID in the answer");
		return -1;
	}
	return 0;
}

int salve_etcd_lease_keepalive(salve_etcd *e, long long id, long long *ttl, char *err,
                               size_t errlen)
{
	/* A stream on the gateway: one request in, one {"result": ...} out. */
	json_t *answer =
	    call(e, "/v3/lease/keepalive", json_pack("{s:o}", "ID", int64_json(id)), err, errlen);
	if (!answer)
		return -1;
	const json_t *result = json_object_get(answer, "result");
	if (!result) {
		snprintf(err, errlen, "etcd: a keepalive answer without its result");
		json_decref(answer);
		return -1;
	}
	*ttl = int64_of(json_object_get(result, "TTL"));
	json_decref(answer);
	return 0;
}

int salve_etcd_lease_revoke(salve_etcd *e, long long id, char *err, size_t errlen)
{
	json_t *answer =
	    call(e, "/v3/lease/revoke", json_pack("{s:o}", "ID", int64_json(id)), err, errlen);
	json_decref(answer);
	return answer ? 0 : -1;
}

/* ---- transactions ------------------------------------------------------------------------- */

/* The first key after every key that starts with key: etcd's range_end for a prefix. */
static json_t *prefix_end_json(const char *key)
{
	size_t len = strlen(key);
	char *end = malloc(len + 1);
	if (!end)
		return NULL;
	memcpy(end, key, len + 1);
	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	json_t *v;
	if (len == 0) {
		v = json_string("AA=="); /* "\0": every key */
	} else {
		end[len - 1] = (char)((unsigned char)end[len - 1] + 1);
		v = b64_json(end, len);
	}
	free(end);
	return v;
}

static json_t *compare(const char *target, const char *field, json_t *key, json_t *value)
{
	return json_pack("{s:s, s:s, s:o, s:o}", "target", target, "result", "EQUAL", "key", key,
	                 field, value);
}

json_t *salve_etcd_cmp_create(const char *key, long long create_revision)
{
	return compare("CREATE", "create_revision", key_json(key), int64_json(create_revision));
}

json_t *salve_etcd_cmp_mod(const char *key, long long mod_revision)
{
	return compare("MOD", "mod_revision", key_json(key), int64_json(mod_revision));
}

json_t *salve_etcd_cmp_lease(const char *key, long long lease)
{
	return compare("LEASE", "lease", key_json(key), int64_json(lease));
}

json_t *salve_etcd_cmp_value(const char *key, const char *value, size_t len)
{
	return compare("VALUE", "value", key_json(key), b64_json(value, len));
}

json_t *salve_etcd_op_put(const char *key, const char *value, size_t len, long long lease)
{
	json_t *put = json_pack("{s:o, s:o}", "key", key_json(key), "value", b64_json(value, len));
	if (put && lease)
		json_object_set_new(put, "lease", int64_json(lease));
	return json_pack("{s:o}", "request_put", put);
}

static json_t *keyed(const char *key, int prefix)
{
	json_t *req = json_pack("{s:o}", "key", key_json(key));
	if (req && prefix)
		json_object_set_new(req, "range_end", prefix_end_json(key));
	return req;
}

json_t *salve_etcd_op_delete(const char *key, int prefix)
{
	return json_pack("{s:o}", "request_delete_range", keyed(key, prefix));
}

json_t *salve_etcd_op_range(const char *key, int prefix, int keys_only)
{
	json_t *req = keyed(key, prefix);
	if (req && keys_only)
		json_object_set_new(req, "keys_only", json_true());
	return json_pack("{s:o}", "request_range", req);
}

json_t *salve_etcd_txn(salve_etcd *e, json_t *compare_ops, json_t *success, json_t *failure,
                       int *succeeded, long long *revision, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:o, s:o}", "compare", compare_ops, "success", success);
	if (req && failure)
		json_object_set_new(req, "failure", failure);
	else
		json_decref(failure);
	json_t *answer = call(e, "/v3/kv/txn", req, err, errlen);
	if (!answer)
		return NULL;
	*succeeded = txn_succeeded(answer);
	if (revision)
		*revision =
		    int64_of(json_object_get(json_object_get(answer, "header"), "revision"));
	return answer;
}

/* Every kv of a range answer. */
static int range_kvs(const json_t *range, salve_etcd_kv **kvs, size_t *n, char *err, size_t errlen)
{
	const json_t *list = json_object_get(range, "kvs");
	*kvs = NULL;
	*n = 0;
	size_t count = json_array_size(list);
	if (!count)
		return 0;
	salve_etcd_kv *out = calloc(count, sizeof *out);
	if (!out) {
		snprintf(err, errlen, "etcd: out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		const json_t *kv = json_array_get(list, i);
		const char *key = json_string_value(json_object_get(kv, "key"));
		const char *value = json_string_value(json_object_get(kv, "value"));
		size_t klen = 0;
		out[i].key = b64_decode(key ? key : "", &klen);
		if (value)
			out[i].value = b64_decode(value, &out[i].len);
		if (!out[i].key || (value && !out[i].value)) {
			snprintf(err, errlen, "etcd: a key or value that is not base64");
			salve_etcd_kvs_free(out, i + 1);
			return -1;
		}
		out[i].create_revision = int64_of(json_object_get(kv, "create_revision"));
		out[i].mod_revision = int64_of(json_object_get(kv, "mod_revision"));
		out[i].lease = int64_of(json_object_get(kv, "lease"));
	}
	*kvs = out;
	*n = count;
	return 0;
}

int salve_etcd_txn_kvs(const json_t *answer, size_t i, salve_etcd_kv **kvs, size_t *n, char *err,
                       size_t errlen)
{
	const json_t *range = json_object_get(
	    json_array_get(json_object_get(answer, "responses"), i), "response_range");
	return range_kvs(range, kvs, n, err, errlen);
}

int salve_etcd_range_prefix(salve_etcd *e, const char *prefix, int keys_only, salve_etcd_kv **kvs,
                            size_t *n, char *err, size_t errlen)
{
	json_t *req = keyed(prefix, 1);
	if (req && keys_only)
		json_object_set_new(req, "keys_only", json_true());
	json_t *answer = call(e, "/v3/kv/range", req, err, errlen);
	if (!answer) {
		*kvs = NULL;
		*n = 0;
		return -1;
	}
	int rc = range_kvs(answer, kvs, n, err, errlen);
	json_decref(answer);
	return rc;
}

void salve_etcd_kvs_free(salve_etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		salve_etcd_kv_clear(&kvs[i]);
	free(kvs);
}
