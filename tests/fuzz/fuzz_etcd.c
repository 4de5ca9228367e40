/* The etcd client (core/ha/etcd.c) against a hostile or broken etcd: every public call runs
 * on a client whose HTTP transport is this file's (injected through salve_etcd_new's loader),
 * which hands out the input's answers one per request, so the gateway's JSON is parsed along
 * the paths salve takes: failover, authentication and its renewal, range, txn (and
 * salve_etcd_txn_kvs on its answer), lease grant, keepalive and revoke, and base64 keys and
 * values.
 *
 * Input: a first line naming up to 4 calls (made in turn on one client) and options, then
 * one answer a line, such as
 *   get get auth
 *   200 {"header":{...},"token":"..."}
 *   200 {"header":{...},"kvs":[...]}
 *   503 {"error":"etcdserver: no leader","code":14}
 *   -
 * The calls: get, put, delete, delete_if, replace_if, create, grant, keepalive, revoke, txn,
 * prefix. The options: "auth": the client has a username (it authenticates first); "two": two
 * endpoints (failover); "keys": prefix asks for keys only. An answer line is a status, a space and
 * the body; "-" (or running out of lines) is a request that got no answer.
 *
 * Invariants: each call returns one of its documented results, and a refusal says why; a
 * call sends to a configured endpoint and its path, at most 4 requests per endpoint (a token,
 * the request, a renewed token, the request again); the Authorization header carries the
 * token the last authentication answered, without control characters; a key or value is
 * decoded only from base64 as etcd writes it (RFC 4648, padded) into exactly the bytes it
 * encodes (a key may stop at a NUL it encodes); a kv without a value has a NULL one. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ha/etcd.h"
#include "redact.h"

#define EP_A      "http://etcd-a.invalid:2379"
#define EP_B      "http://etcd-b.invalid:2379"
#define KEY       "/salve/fuzz/key"
#define MAX_LINES 64
#define MAX_CALLS 4

static struct {
	char *lines[MAX_LINES]; /* the answers, in order */
	size_t nlines, next;
	size_t requests, nendpoints; /* requests: of the current call */
	int auth;
	char *token;          /* what the last authentication answered (NULL before) */
	json_t *last;         /* the last answer's body as JSON (NULL: none or not JSON) */
	char expect_path[64]; /* the path the call sends to (besides authentication) */
} fz;

/* ---- the transport ---------------------------------------------------------------------- */

static int conn_token;

static httpsvc_conn *fake_open(const salve_http_options *o, char *err, size_t errlen)
{
	(void)o, (void)err, (void)errlen;
	return (httpsvc_conn *)&conn_token;
}

static void fake_close(httpsvc_conn *c)
{
	FUZZ_CHECK(c == (httpsvc_conn *)&conn_token, "closed a connection it was not given");
}

static char *fake_escape(const char *s)
{
	return strdup(s);
}

static const char *header_value(const salve_http_request *req, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		if (strncmp(req->headers[i], name, n) == 0)
			return req->headers[i] + n;
	return NULL;
}

static void check_request(const salve_http_request *req)
{
	FUZZ_CHECK(++fz.requests <= 4 * fz.nendpoints, "%zu requests for one call on %zu endpoints",
	           fz.requests, fz.nendpoints);
	FUZZ_CHECK(strcmp(req->method, "POST") == 0, "method %s", req->method);
	const char *path = NULL;
	if (strncmp(req->url, EP_A, strlen(EP_A)) == 0)
		path = req->url + strlen(EP_A);
	else if (fz.nendpoints == 2 && strncmp(req->url, EP_B, strlen(EP_B)) == 0)
		path = req->url + strlen(EP_B);
	FUZZ_CHECK(path, "a request to %s, not a configured endpoint", req->url);
	int authenticating = strcmp(path, "/v3/auth/authenticate") == 0;
	FUZZ_CHECK(authenticating || strcmp(path, fz.expect_path) == 0, "a request to %s, not %s",
	           path, fz.expect_path);
	FUZZ_CHECK(!authenticating || fz.auth, "authenticating without a username");
	json_t *sent = json_loadb(req->body, req->body_len, 0, NULL);
	FUZZ_CHECK(json_is_object(sent), "a request body that is not a JSON object: %.*s",
	           (int)req->body_len, req->body);
	json_decref(sent);
	const char *auth = header_value(req, "Authorization: ");
	if (authenticating || !fz.auth) {
		FUZZ_CHECK(!auth, "an Authorization header on %s", path);
		return;
	}
	FUZZ_CHECK(auth && fz.token, "%s without the token", path);
	FUZZ_CHECK(strcmp(auth, fz.token) == 0, "%s with token \"%s\", etcd gave \"%s\"", path,
	           auth, fz.token);
	for (const char *p = auth; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f,
		           "a control character (0x%02x) in the Authorization header",
		           (unsigned)(unsigned char)*p);
}

static int fake_request(const salve_host *host, salve_call *call, httpsvc_conn *c,
                        const salve_http_request *req, salve_http_response *resp)
{
	(void)host, (void)call, (void)c;
	check_request(req);
	int authenticating = strstr(req->url, "/v3/auth/authenticate") != NULL;
	json_decref(fz.last);
	fz.last = NULL;
	const char *line = fz.next < fz.nlines ? fz.lines[fz.next++] : "-";
	char *end;
	long status = strtol(line, &end, 10);
	if (end == line || status <= 0 || status > 999) {
		snprintf(resp->error, sizeof resp->error, "no answer (fuzz)");
		return SALVE_ERR;
	}
	const char *body = *end == ' ' ? end + 1 : end;
	size_t len = strlen(body);
	resp->status = status;
	resp->body = malloc(len + 1);
	FUZZ_CHECK(resp->body, "out of memory");
	memcpy(resp->body, body, len + 1);
	resp->body_len = len;
	fz.last = json_loadb(body, len, 0, NULL);
	if (authenticating) {
		/* The only token the client may send from now on (it sends none if it refuses
		 * this one). */
		const char *token = json_string_value(json_object_get(fz.last, "token"));
		if (status == 200 && token && *token) {
			free(fz.token);
			fz.token = strdup(token);
			FUZZ_CHECK(fz.token, "out of memory");
		}
	}
	return SALVE_OK;
}

static const salve_httpsvc_ops fake_ops = {
    .struct_size = sizeof fake_ops,
    .open = fake_open,
    .close = fake_close,
    .request = fake_request,
    .escape = fake_escape,
};

static const salve_httpsvc_ops *fake_load(char *err, size_t errlen)
{
	(void)err, (void)errlen;
	return &fake_ops;
}

/* ---- invariants on what was decoded ------------------------------------------------------ */

#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/* decoded (len bytes, NUL after them) is what the base64 text encodes, and text is base64 as
 * etcd writes it (RFC 4648, padded). A key is a C string: it may stop at a NUL it encodes. */
static void check_decoded(const char *text, const char *decoded, size_t len, int is_key,
                          const char *what)
{
	FUZZ_CHECK(decoded && decoded[len] == '\0', "%s not NUL-terminated", what);
	size_t tlen = strlen(text), pad = 0;
	while (pad < 2 && pad < tlen && text[tlen - 1 - pad] == '=')
		pad++;
	FUZZ_CHECK(tlen % 4 == 0 && strspn(text, B64_ALPHABET) == tlen - pad,
	           "%s: \"%s\" accepted, which is not base64", what, text);
	size_t want = tlen / 4 * 3 - pad;
	unsigned char *bytes = malloc(tlen / 4 * 3 + 1);
	FUZZ_CHECK(bytes, "out of memory");
	FUZZ_CHECK(EVP_DecodeBlock(bytes, (const unsigned char *)text, (int)tlen) >= 0,
	           "%s: \"%s\" does not decode", what, text);
	if (is_key)
		FUZZ_CHECK(len == want || (len < want && bytes[len] == 0),
		           "%s: \"%s\" (%zu bytes) decoded to %zu", what, text, want, len);
	else
		FUZZ_CHECK(len == want, "%s: \"%s\" (%zu bytes) decoded to %zu", what, text, want,
		           len);
	FUZZ_CHECK(memcmp(decoded, bytes, len) == 0, "%s: \"%s\" decoded to other bytes", what,
	           text);
	free(bytes);
}

/* kvs as decoded from the kv objects list (the answer's). */
static void check_kvs(const json_t *list, const salve_etcd_kv *kvs, size_t n)
{
	FUZZ_CHECK(n == json_array_size(list), "%zu kvs from a list of %zu", n,
	           json_array_size(list));
	FUZZ_CHECK(!n == !kvs, "%zu kvs in %p", n, (const void *)kvs);
	for (size_t i = 0; i < n; i++) {
		const json_t *kv = json_array_get(list, i);
		const char *key = json_string_value(json_object_get(kv, "key"));
		const char *value = json_string_value(json_object_get(kv, "value"));
		FUZZ_CHECK(kvs[i].key, "a kv without its key");
		check_decoded(key ? key : "", kvs[i].key, strlen(kvs[i].key), 1, "a key");
		if (value)
			check_decoded(value, kvs[i].value, kvs[i].len, 0, "a value");
		else
			FUZZ_CHECK(!kvs[i].value && !kvs[i].len, "a value from a kv without one");
	}
}

/* ---- the calls -------------------------------------------------------------------------- */

static void run_get(salve_etcd *e, char *err, size_t errlen)
{
	salve_etcd_kv kv;
	int rc = salve_etcd_get(e, KEY, &kv, err, errlen);
	FUZZ_CHECK(rc >= -1 && rc <= 1, "get returned %d", rc);
	if (rc == 1) {
		const json_t *first = json_array_get(json_object_get(fz.last, "kvs"), 0);
		const char *value = json_string_value(json_object_get(first, "value"));
		check_decoded(value ? value : "", kv.value, kv.len, 0, "get's value");
	} else {
		FUZZ_CHECK(!kv.key && !kv.value && !kv.len, "get returned %d with a value", rc);
	}
	salve_etcd_kv_clear(&kv);
}

static void run_create(salve_etcd *e, char *err, size_t errlen)
{
	salve_etcd_kv existing;
	int rc = salve_etcd_create(e, KEY, "mine", 4, 42, &existing, err, errlen);
	FUZZ_CHECK(rc >= -1 && rc <= 1, "create returned %d", rc);
	if (rc == 0) {
		const json_t *range = json_object_get(
		    json_array_get(json_object_get(fz.last, "responses"), 0), "response_range");
		const json_t *first = json_array_get(json_object_get(range, "kvs"), 0);
		const char *value = json_string_value(json_object_get(first, "value"));
		check_decoded(value ? value : "", existing.value, existing.len, 0,
		              "the value a failed create found");
	} else {
		FUZZ_CHECK(!existing.value, "create returned %d with what it found", rc);
	}
	salve_etcd_kv_clear(&existing);
}

static void run_txn(salve_etcd *e, char *err, size_t errlen)
{
	int succeeded = -1;
	long long revision = -1;
	json_t *answer = salve_etcd_txn(
	    e, json_pack("[o]", salve_etcd_cmp_create(KEY, 0)),
	    json_pack("[o,o]", salve_etcd_op_range("/salve/fuzz/", 1, 0),
	              salve_etcd_op_put(KEY, "v", 1, 0)),
	    json_pack("[o]", salve_etcd_op_range(KEY, 0, 1)), &succeeded, &revision, err, errlen);
	if (!answer) {
		FUZZ_CHECK(err[0], "txn refused without a reason");
		return;
	}
	FUZZ_CHECK(json_is_object(answer), "txn answered a non-object");
	FUZZ_CHECK(succeeded == 0 || succeeded == 1, "txn: succeeded %d", succeeded);
	for (size_t i = 0; i < 3; i++) {
		salve_etcd_kv *kvs = (salve_etcd_kv *)&kvs;
		size_t n = 99;
		err[0] = '\0';
		int rc = salve_etcd_txn_kvs(answer, i, &kvs, &n, err, errlen);
		FUZZ_CHECK(rc == 0 || rc == -1, "txn_kvs returned %d", rc);
		const json_t *range = json_object_get(
		    json_array_get(json_object_get(answer, "responses"), i), "response_range");
		if (rc == 0)
			check_kvs(json_object_get(range, "kvs"), kvs, n);
		else
			FUZZ_CHECK(err[0] && !kvs && !n,
			           "txn_kvs refused without a reason or left kvs");
		salve_etcd_kvs_free(kvs, n);
	}
	json_decref(answer);
}

static void run_prefix(salve_etcd *e, int keys_only, char *err, size_t errlen)
{
	salve_etcd_kv *kvs = (salve_etcd_kv *)&kvs;
	size_t n = 99;
	int rc = salve_etcd_range_prefix(e, "/salve/fuzz/", keys_only, &kvs, &n, err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -1, "range_prefix returned %d", rc);
	if (rc == 0)
		check_kvs(json_object_get(fz.last, "kvs"), kvs, n);
	else
		FUZZ_CHECK(!kvs && !n, "range_prefix failed and left kvs");
	salve_etcd_kvs_free(kvs, n);
}

enum op { GET, PUT, DELETE, DELETE_IF, REPLACE_IF, CREATE, GRANT, KEEPALIVE, REVOKE, TXN, PREFIX };

static const struct {
	const char *name, *path;
} ops[] = {
    [GET] = {"get", "/v3/kv/range"},
    [PUT] = {"put", "/v3/kv/put"},
    [DELETE] = {"delete", "/v3/kv/deleterange"},
    [DELETE_IF] = {"delete_if", "/v3/kv/txn"},
    [REPLACE_IF] = {"replace_if", "/v3/kv/txn"},
    [CREATE] = {"create", "/v3/kv/txn"},
    [GRANT] = {"grant", "/v3/lease/grant"},
    [KEEPALIVE] = {"keepalive", "/v3/lease/keepalive"},
    [REVOKE] = {"revoke", "/v3/lease/revoke"},
    [TXN] = {"txn", "/v3/kv/txn"},
    [PREFIX] = {"prefix", "/v3/kv/range"},
};

static void run(enum op op, int keys_only, salve_etcd *e, char *err, size_t errlen)
{
	int rc = 0;
	long long n = -7;
	switch (op) {
	case GET:
		run_get(e, err, errlen);
		return;
	case CREATE:
		run_create(e, err, errlen);
		return;
	case TXN:
		run_txn(e, err, errlen);
		return;
	case PREFIX:
		run_prefix(e, keys_only, err, errlen);
		return;
	case PUT:
		rc = salve_etcd_put(e, KEY, "value", 5, 7, err, errlen);
		break;
	case DELETE:
		rc = salve_etcd_delete(e, KEY, err, errlen);
		break;
	case DELETE_IF:
		rc = salve_etcd_delete_if(e, KEY, "old", 3, err, errlen);
		FUZZ_CHECK(rc >= -1 && rc <= 1, "delete_if returned %d", rc);
		break;
	case REPLACE_IF:
		rc = salve_etcd_replace_if(e, KEY, "old", 3, "new", 3, 7, err, errlen);
		FUZZ_CHECK(rc >= -1 && rc <= 1, "replace_if returned %d", rc);
		break;
	case GRANT:
		rc = salve_etcd_lease_grant(e, 10, &n, err, errlen);
		FUZZ_CHECK(rc < 0 || n != 0, "a lease granted without an ID");
		break;
	case KEEPALIVE:
		rc = salve_etcd_lease_keepalive(e, 7, &n, err, errlen);
		FUZZ_CHECK(rc < 0 || json_object_get(fz.last, "result"),
		           "keepalive: an answer without its result taken (TTL %lld)", n);
		break;
	case REVOKE:
		rc = salve_etcd_lease_revoke(e, 7, err, errlen);
		break;
	}
	FUZZ_CHECK(rc >= -1 && rc <= 1, "%s returned %d", ops[op].name, rc);
	FUZZ_CHECK(rc >= 0 || err[0], "%s refused without a reason", ops[op].name);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	char *first, *rest;
	size_t rest_len;
	fuzz_split_line(data, size, &first, &rest, &rest_len);

	memset(&fz, 0, sizeof fz);
	for (char *p = rest; fz.nlines < MAX_LINES && p < rest + rest_len;) {
		char *nl = memchr(p, '\n', (size_t)(rest + rest_len - p));
		if (nl)
			*nl = '\0';
		fz.lines[fz.nlines++] = p;
		if (!nl)
			break;
		p = nl + 1;
	}

	enum op calls[MAX_CALLS];
	size_t ncalls = 0;
	int two = 0, keys_only = 0;
	for (char *save = NULL, *w = strtok_r(first, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "auth") == 0)
			fz.auth = 1;
		else if (strcmp(w, "two") == 0)
			two = 1;
		else if (strcmp(w, "keys") == 0)
			keys_only = 1;
		for (size_t i = 0; i < sizeof ops / sizeof ops[0] && ncalls < MAX_CALLS; i++)
			if (strcmp(w, ops[i].name) == 0)
				calls[ncalls++] = (enum op)i;
	}

	const char *eps[] = {EP_A, EP_B};
	fz.nendpoints = two ? 2 : 1;
	salve_etcd_options o = {.endpoints = eps,
	                        .nendpoints = fz.nendpoints,
	                        .username = fz.auth ? "salve" : NULL,
	                        .password = fz.auth ? "fuzz-password" : NULL,
	                        .timeout = 1};
	char err[1024] = "";
	salve_etcd *e = ncalls ? salve_etcd_new(&o, fake_load, err, sizeof err) : NULL;
	FUZZ_CHECK(e || !ncalls, "no client: %s", err);
	for (size_t i = 0; i < ncalls; i++) {
		snprintf(fz.expect_path, sizeof fz.expect_path, "%s", ops[calls[i]].path);
		fz.requests = 0;
		err[0] = '\0';
		run(calls[i], keys_only, e, err, sizeof err);
	}
	salve_etcd_free(e);
	json_decref(fz.last);
	free(fz.token);
	salve_redact_clear();
	free(first);
	free(rest);
	return 0;
}
