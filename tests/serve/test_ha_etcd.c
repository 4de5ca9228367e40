/* core/ha/etcd.c against real etcd servers that test_serve_ha.py starts on 127.0.0.1 and names
 * in the environment: SALVE_TEST_ETCD (a cluster's client URLs, comma-separated),
 * SALVE_TEST_ETCD_DEAD (a URL where nothing listens), SALVE_TEST_ETCD_AUTH (a member with
 * authentication on, user SALVE_TEST_ETCD_USER, password in SALVE_TEST_ETCD_PASSWORD) and
 * SALVE_TEST_ETCD_TLS (a member that wants client certificates, with SALVE_TEST_ETCD_CA,
 * _CERT and _KEY). Every value is checked exactly; the keys live under /etcd-test/.
 * test_hostile_answers needs none of them: it replays answers no etcd gives (found by
 * tests/fuzz/fuzz_etcd.c) through a transport in this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ha/etcd.h"
#include "redact.h"

static const salve_httpsvc_ops *load_linked(char *err, size_t errlen)
{
	(void)err, (void)errlen;
	return salve_httpsvc_entry();
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		fail_msg("%s is not set: run through test_serve_ha.py", name);
	return v;
}

/* A client on the comma-separated endpoints. */
static salve_etcd *client(const char *endpoints, const char *user, const char *password, char *err,
                          size_t errlen)
{
	char copy[1024];
	const char *eps[8];
	size_t n = 0;
	snprintf(copy, sizeof copy, "%s", endpoints);
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 8;
	     t = strtok_r(NULL, ",", &save))
		eps[n++] = t;
	salve_etcd_options o = {.endpoints = eps,
	                        .nendpoints = n,
	                        .username = user,
	                        .password = password,
	                        .timeout = 2};
	return salve_etcd_new(&o, load_linked, err, errlen);
}

static void test_kv_and_txn(void **state)
{
	(void)state;
	char err[1024] = "";
	salve_etcd *e = client(env("SALVE_TEST_ETCD"), NULL, NULL, err, sizeof err);
	assert_non_null(e);
	salve_etcd_kv kv;
	assert_int_equal(salve_etcd_get(e, "/etcd-test/absent", &kv, err, sizeof err), 0);
	/* Bytes that are not text survive base64 both ways. */
	const char bin[] = {'a', '\0', '\n', (char)0xff, 'z'};
	assert_int_equal(salve_etcd_put(e, "/etcd-test/bin", bin, sizeof bin, 0, err, sizeof err),
	                 0);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/bin", &kv, err, sizeof err), 1);
	assert_int_equal(kv.len, sizeof bin);
	assert_memory_equal(kv.value, bin, sizeof bin);
	assert_true(kv.create_revision > 0 && kv.mod_revision == kv.create_revision);
	salve_etcd_kv_clear(&kv);

	salve_etcd_kv found;
	assert_int_equal(
	    salve_etcd_create(e, "/etcd-test/claim", "first", 5, 0, &found, err, sizeof err), 1);
	assert_null(found.value);
	assert_int_equal(
	    salve_etcd_create(e, "/etcd-test/claim", "second", 6, 0, &found, err, sizeof err), 0);
	assert_string_equal(found.value, "first");
	salve_etcd_kv_clear(&found);

	assert_int_equal(salve_etcd_replace_if(e, "/etcd-test/claim", "other", 5, "third", 5, 0,
	                                       err, sizeof err),
	                 0);
	assert_int_equal(salve_etcd_replace_if(e, "/etcd-test/claim", "first", 5, "third", 5, 0,
	                                       err, sizeof err),
	                 1);
	assert_int_equal(salve_etcd_delete_if(e, "/etcd-test/claim", "first", 5, err, sizeof err),
	                 0);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/claim", &kv, err, sizeof err), 1);
	assert_string_equal(kv.value, "third");
	salve_etcd_kv_clear(&kv);
	assert_int_equal(salve_etcd_delete_if(e, "/etcd-test/claim", "third", 5, err, sizeof err),
	                 1);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/claim", &kv, err, sizeof err), 0);
	assert_int_equal(salve_etcd_delete(e, "/etcd-test/bin", err, sizeof err), 0);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/bin", &kv, err, sizeof err), 0);
	salve_etcd_free(e);
}

static void test_leases(void **state)
{
	(void)state;
	char err[1024] = "";
	salve_etcd *e = client(env("SALVE_TEST_ETCD"), NULL, NULL, err, sizeof err);
	assert_non_null(e);
	long long id = 0, ttl = -1;
	assert_int_equal(salve_etcd_lease_grant(e, 30, &id, err, sizeof err), 0);
	assert_true(id != 0);
	assert_int_equal(salve_etcd_lease_keepalive(e, id, &ttl, err, sizeof err), 0);
	assert_int_equal(ttl, 30);
	assert_int_equal(
	    salve_etcd_create(e, "/etcd-test/leased", "x", 1, id, NULL, err, sizeof err), 1);
	salve_etcd_kv kv;
	assert_int_equal(salve_etcd_get(e, "/etcd-test/leased", &kv, err, sizeof err), 1);
	assert_int_equal(kv.lease, id);
	salve_etcd_kv_clear(&kv);
	/* Revoking the lease takes its keys; a keepalive then finds it gone (TTL 0). */
	assert_int_equal(salve_etcd_lease_revoke(e, id, err, sizeof err), 0);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/leased", &kv, err, sizeof err), 0);
	assert_int_equal(salve_etcd_lease_keepalive(e, id, &ttl, err, sizeof err), 0);
	assert_int_equal(ttl, 0);
	/* A revoke of a lease that is gone is etcd's refusal, said as such. */
	assert_int_equal(salve_etcd_lease_revoke(e, id, err, sizeof err), -1);
	assert_non_null(strstr(err, "lease not found"));
	salve_etcd_free(e);
}

static void test_failover(void **state)
{
	(void)state;
	char err[1024] = "", eps[1024];
	/* The dead endpoint first: the request goes on to the live ones. */
	snprintf(eps, sizeof eps, "%s,%s", env("SALVE_TEST_ETCD_DEAD"), env("SALVE_TEST_ETCD"));
	salve_etcd *e = client(eps, NULL, NULL, err, sizeof err);
	assert_non_null(e);
	assert_int_equal(salve_etcd_put(e, "/etcd-test/failover", "up", 2, 0, err, sizeof err), 0);
	salve_etcd_free(e);
	/* Only dead endpoints: an error naming the endpoint, no hang. */
	e = client(env("SALVE_TEST_ETCD_DEAD"), NULL, NULL, err, sizeof err);
	assert_non_null(e);
	salve_etcd_kv kv;
	assert_int_equal(salve_etcd_get(e, "/etcd-test/failover", &kv, err, sizeof err), -1);
	assert_non_null(strstr(err, "no endpoint could serve it"));
	assert_non_null(strstr(err, env("SALVE_TEST_ETCD_DEAD")));
	salve_etcd_free(e);
	/* What the client refuses to be made with. */
	const char *bad[] = {"ftp://127.0.0.1:1"};
	salve_etcd_options o = {.endpoints = bad, .nendpoints = 1};
	assert_null(salve_etcd_new(&o, load_linked, err, sizeof err));
	assert_string_equal(err, "etcd: endpoint ftp://127.0.0.1:1: must start with http:// or "
	                         "https://");
}

static void test_auth(void **state)
{
	(void)state;
	char err[1024] = "";
	const char *user = env("SALVE_TEST_ETCD_USER"), *password = env("SALVE_TEST_ETCD_PASSWORD");
	salve_etcd *e = client(env("SALVE_TEST_ETCD_AUTH"), user, password, err, sizeof err);
	assert_non_null(e);
	assert_int_equal(salve_etcd_put(e, "/etcd-test/auth", "ok", 2, 0, err, sizeof err), 0);
	salve_etcd_kv kv;
	assert_int_equal(salve_etcd_get(e, "/etcd-test/auth", &kv, err, sizeof err), 1);
	assert_string_equal(kv.value, "ok");
	salve_etcd_kv_clear(&kv);
	salve_etcd_free(e);
	/* Without credentials etcd refuses; with a wrong password too, and the error names the
	 * user, never the password. */
	e = client(env("SALVE_TEST_ETCD_AUTH"), NULL, NULL, err, sizeof err);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/auth", &kv, err, sizeof err), -1);
	assert_non_null(strstr(err, "user name is empty"));
	salve_etcd_free(e);
	e = client(env("SALVE_TEST_ETCD_AUTH"), user, "wrong-password-123", err, sizeof err);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/auth", &kv, err, sizeof err), -1);
	assert_non_null(strstr(err, "authentication as salve refused"));
	assert_null(strstr(err, "wrong-password-123"));
	/* The password was registered: whatever the core writes has it redacted. */
	char out[256];
	salve_redact_string("pw=wrong-password-123", out, sizeof out);
	assert_null(strstr(out, "wrong-password-123"));
	salve_etcd_free(e);
}

static void test_tls(void **state)
{
	(void)state;
	char err[1024] = "";
	const char *eps[] = {env("SALVE_TEST_ETCD_TLS")};
	salve_etcd_options o = {.endpoints = eps,
	                        .nendpoints = 1,
	                        .ca_file = env("SALVE_TEST_ETCD_CA"),
	                        .cert_file = env("SALVE_TEST_ETCD_CERT"),
	                        .key_file = env("SALVE_TEST_ETCD_KEY"),
	                        .timeout = 2};
	salve_etcd *e = salve_etcd_new(&o, load_linked, err, sizeof err);
	assert_non_null(e);
	assert_int_equal(salve_etcd_put(e, "/etcd-test/tls", "ok", 2, 0, err, sizeof err), 0);
	salve_etcd_free(e);
	/* Without the client certificate the member refuses the handshake. */
	o.cert_file = o.key_file = NULL;
	e = salve_etcd_new(&o, load_linked, err, sizeof err);
	salve_etcd_kv kv;
	assert_int_equal(salve_etcd_get(e, "/etcd-test/tls", &kv, err, sizeof err), -1);
	salve_etcd_free(e);
	/* Without the CA the server's certificate is not trusted. */
	o.ca_file = NULL;
	o.cert_file = env("SALVE_TEST_ETCD_CERT");
	o.key_file = env("SALVE_TEST_ETCD_KEY");
	e = salve_etcd_new(&o, load_linked, err, sizeof err);
	assert_int_equal(salve_etcd_get(e, "/etcd-test/tls", &kv, err, sizeof err), -1);
	assert_non_null(strstr(err, "certificate"));
	salve_etcd_free(e);
}

/* ---- answers no etcd gives, through a transport in this process ---- */

static struct {
	const char *const *answers; /* bodies answered with 200, NULL-terminated */
	size_t sent;                /* requests answered */
	int authorized;             /* a request carried an Authorization header */
} replay;

static httpsvc_conn *replay_open(const salve_http_options *o, char *err, size_t errlen)
{
	(void)o, (void)err, (void)errlen;
	return (httpsvc_conn *)&replay;
}

static void replay_close(httpsvc_conn *c)
{
	(void)c;
}

static char *replay_escape(const char *s)
{
	return strdup(s);
}

static int replay_request(const salve_host *host, salve_call *call, httpsvc_conn *c,
                          const salve_http_request *req, salve_http_response *resp)
{
	(void)host, (void)call, (void)c;
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		if (strncmp(req->headers[i], "Authorization:", 14) == 0)
			replay.authorized = 1;
	const char *body = replay.answers[replay.sent];
	if (!body) {
		snprintf(resp->error, sizeof resp->error, "no more answers to replay");
		return SALVE_ERR;
	}
	replay.sent++;
	resp->status = 200;
	resp->body = strdup(body);
	resp->body_len = strlen(body);
	return SALVE_OK;
}

static const salve_httpsvc_ops replay_ops = {
    .struct_size = sizeof replay_ops,
    .open = replay_open,
    .close = replay_close,
    .request = replay_request,
    .escape = replay_escape,
};

static const salve_httpsvc_ops *load_replay(char *err, size_t errlen)
{
	(void)err, (void)errlen;
	return &replay_ops;
}

/* A client whose requests get answers (user: it authenticates first). */
static salve_etcd *replayed(const char *const *answers, const char *user)
{
	replay.answers = answers;
	replay.sent = 0;
	replay.authorized = 0;
	const char *eps[] = {"http://127.0.0.1:9"};
	salve_etcd_options o = {.endpoints = eps,
	                        .nendpoints = 1,
	                        .username = user,
	                        .password = "pw-1234",
	                        .timeout = 1};
	char err[512];
	salve_etcd *e = salve_etcd_new(&o, load_replay, err, sizeof err);
	assert_non_null(e);
	return e;
}

/* A value of "====" was decoded to -1 bytes, the NUL written before the buffer; '=' inside
 * and blanks around (which EVP_DecodeBlock takes) gave wrong lengths. Only RFC 4648 base64
 * decodes now. */
static void check_get_value(const char *b64, int rc, const char *want, size_t len)
{
	char body[256], err[512] = "";
	snprintf(body, sizeof body, "{\"kvs\":[{\"key\":\"L2s=\",\"value\":\"%s\"}]}", b64);
	const char *answers[] = {body, NULL};
	salve_etcd *e = replayed(answers, NULL);
	salve_etcd_kv kv;
	assert_int_equal(salve_etcd_get(e, "/k", &kv, err, sizeof err), rc);
	if (rc == 1) {
		assert_int_equal(kv.len, len);
		assert_memory_equal(kv.value, want, len + 1);
	} else {
		assert_string_equal(err, "etcd: a value that is not base64");
		assert_null(kv.value);
	}
	salve_etcd_kv_clear(&kv);
	salve_etcd_free(e);
}

/* An authentication answer whose token is len bytes of 'a'. */
static void token_answer(char *buf, size_t size, size_t len)
{
	size_t at = (size_t)snprintf(buf, size, "{\"token\":\"");
	assert_true(at + len + 3 <= size);
	memset(buf + at, 'a', len);
	snprintf(buf + at + len, size - at - len, "\"}");
}

static void test_hostile_answers(void **state)
{
	(void)state;
	check_get_value("====", -1, NULL, 0);
	check_get_value("eA=A", -1, NULL, 0);
	check_get_value("eHk=    ", -1, NULL, 0);
	check_get_value("    eHk=", -1, NULL, 0);
	check_get_value("eHk==", -1, NULL, 0);
	check_get_value("eHk=", 1, "xy", 2);
	check_get_value("eA==", 1, "x", 1);
	check_get_value("", 1, "", 0);

	/* The same for the keys of a range. */
	char err[512] = "";
	static const char *const bad_key[] = {
	    "{\"kvs\":[{\"key\":\"L3NhbHZlL3J1b=MvNDIvb3duZXI=\",\"value\":\"eA==\"}]}", NULL};
	salve_etcd *e = replayed(bad_key, NULL);
	salve_etcd_kv *kvs = NULL;
	size_t n = 1;
	assert_int_equal(salve_etcd_range_prefix(e, "/salve/", 0, &kvs, &n, err, sizeof err), -1);
	assert_string_equal(err, "etcd: a key or value that is not base64");
	assert_null(kvs);
	assert_int_equal(n, 0);
	salve_etcd_free(e);

	/* A token with CR LF would have put headers of etcd's choosing in every request; one
	 * longer than the header buffer went out cut. Both are refused before any request. */
	char long_answer[2100];
	token_answer(long_answer, sizeof long_answer, 2001);
	const char *const injected[] = {"{\"token\":\"abcd\\r\\nX-Injected: 1\"}", "{\"kvs\":[]}",
	                                NULL};
	const char *const too_long[] = {long_answer, "{\"kvs\":[]}", NULL};
	const char *const *refused[] = {injected, too_long};
	for (size_t i = 0; i < 2; i++) {
		e = replayed(refused[i], "salve");
		salve_etcd_kv kv;
		assert_int_equal(salve_etcd_get(e, "/k", &kv, err, sizeof err), -1);
		assert_non_null(strstr(err,
		                       "authentication as salve: the token answered is not one "
		                       "header line"));
		assert_int_equal(replay.sent, 1);
		assert_false(replay.authorized);
		salve_etcd_free(e);
	}
	/* 2000 bytes still go, whole. */
	token_answer(long_answer, sizeof long_answer, 2000);
	const char *const longest[] = {long_answer, "{\"kvs\":[]}", NULL};
	e = replayed(longest, "salve");
	salve_etcd_kv kv;
	assert_int_equal(salve_etcd_get(e, "/k", &kv, err, sizeof err), 0);
	assert_int_equal(replay.sent, 2);
	assert_true(replay.authorized);
	salve_etcd_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kv_and_txn), cmocka_unit_test(test_leases),
	    cmocka_unit_test(test_failover),   cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_tls),        cmocka_unit_test(test_hostile_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
