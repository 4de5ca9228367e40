/* The HTTP client service (host->http_*) as the core offers it: loaded on first use from
 * salve-http.so beside this binary, against tests/core/http_fixture.py on 127.0.0.1 (plain
 * and TLS with a certificate made by openssl for the test). Asserts what the service
 * promises: libcurl mapped only once a request is sent, kept-alive connections, Retry-After
 * within the step's deadline, the response cap, cancellation, TLS verification, proxies only
 * when asked, and errors that carry neither the URL's secrets nor the token. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "host.h"
#include "redact.h"
#include "util.h"

extern char **environ;

struct fixture {
	pid_t pid;
	int port;
};

static struct fixture plain, tls;
static char cert[512], key[512], dir[256];
static const salve_host *H;

/* Starts http_fixture.py (with TLS when cert is given) and reads its port. */
static void start_fixture(struct fixture *f, int with_tls)
{
	const char *python = getenv("PYTHON") ? getenv("PYTHON") : "python3";
	char script[1024];
	snprintf(script, sizeof script, "%s/tests/core/http_fixture.py",
	         getenv("SALVE_SOURCE_DIR") ? getenv("SALVE_SOURCE_DIR") : "..");
	int out[2];
	assert_int_equal(pipe(out), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	char *argv_plain[] = {(char *)python, script, NULL};
	char tls_flag[] = "--tls";
	char *argv_tls[] = {(char *)python, script, tls_flag, cert, key, NULL};
	assert_int_equal(
	    posix_spawnp(&f->pid, python, &fa, NULL, with_tls ? argv_tls : argv_plain, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	FILE *r = fdopen(out[0], "r");
	assert_non_null(r);
	assert_int_equal(fscanf(r, "%d", &f->port), 1);
	fclose(r);
}

static void stop_fixture(struct fixture *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	f->pid = 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "%s", tu_tmpdir());
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
	         "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
	         "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null",
	         key, cert);
	assert_int_equal(system(cmd), 0);
	start_fixture(&plain, 0);
	start_fixture(&tls, 1);
	H = salve_host_table();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stop_fixture(&plain);
	stop_fixture(&tls);
	tu_cleanup();
	return 0;
}

/* A call as the engine makes one: deadline (0: none) and a cancel flag. */
static volatile sig_atomic_t cancel_flag;
static salve_run_info run = {.run_id = "r1", .runbook = "t", .cancel = &cancel_flag};

static salve_call make_call(double seconds)
{
	salve_call c;
	memset(&c, 0, sizeof c);
	c.run = &run;
	c.deadline = seconds > 0 ? salve_now() + seconds : 0;
	return c;
}

static const char *url(const struct fixture *f, const char *path)
{
	static char bufs[4][256];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, 256, "%s://127.0.0.1:%d%s", f == &tls ? "https" : "http", f->port, path);
	return b;
}

static salve_http_client *client(const salve_http_options *given)
{
	salve_http_options o = {.struct_size = sizeof o, .protocols = "http,https"};
	salve_http_client *c = H->http_client(NULL, given ? given : &o);
	assert_non_null(c);
	return c;
}

static int get(salve_http_client *c, salve_call *call, const char *u, salve_http_response *resp)
{
	salve_http_request req = {.struct_size = sizeof req, .method = "GET", .url = u};
	return H->http_request(call, c, &req, resp);
}

static json_t *stats(const struct fixture *f)
{
	salve_http_client *c = client(NULL);
	salve_call call = make_call(0);
	salve_http_response resp;
	salve_http_options o = {
	    .struct_size = sizeof o, .protocols = "http,https", .ca_file = cert};
	if (f == &tls) {
		H->http_client_free(c);
		c = client(&o);
	}
	assert_int_equal(get(c, &call, url(f, "/stats"), &resp), SALVE_OK);
	json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
	assert_non_null(j);
	H->http_response_clear(&resp);
	H->http_client_free(c);
	return j;
}

static int requests(const struct fixture *f)
{
	json_t *j = stats(f);
	int n = (int)json_integer_value(json_object_get(j, "requests"));
	json_decref(j);
	return n;
}

static int curl_mapped(void)
{
	char *maps = tu_read("/proc/self/maps");
	assert_non_null(maps);
	int mapped = strstr(maps, "libcurl") != NULL;
	free(maps);
	return mapped;
}

/* Runs first: nothing has loaded the module yet. */
static void test_libcurl_loaded_on_first_request_only(void **state)
{
	(void)state;
	assert_false(curl_mapped());
	salve_http_client *c = client(NULL);
	assert_false(curl_mapped()); /* a plugin's init makes its client: still nothing */
	salve_call call = make_call(0);
	salve_http_response resp;
	assert_int_equal(get(c, &call, url(&plain, "/ok"), &resp), SALVE_OK);
	assert_true(curl_mapped());
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body_len, 5);
	assert_string_equal(resp.body, "hello");
	assert_int_equal(resp.attempts, 1);
	assert_string_equal(resp.error, "");
	H->http_response_clear(&resp);
	assert_null(resp.body);
	H->http_client_free(c);
}

static void test_connections_are_kept_alive(void **state)
{
	(void)state;
	json_t *before = stats(&plain);
	salve_http_client *c = client(NULL);
	salve_call call = make_call(0);
	for (int i = 0; i < 3; i++) {
		salve_http_response resp;
		assert_int_equal(get(c, &call, url(&plain, "/ok"), &resp), SALVE_OK);
		assert_int_equal(resp.new_connection, i == 0);
		H->http_response_clear(&resp);
	}
	H->http_client_free(c);
	json_t *after = stats(&plain);
	/* one connection for the three requests, one for each stats request */
	assert_int_equal(json_integer_value(json_object_get(after, "connections")) -
	                     json_integer_value(json_object_get(before, "connections")),
	                 2);
	json_decref(before);
	json_decref(after);
}

struct seen {
	int n;
	char results[8][16];
	double waits[8];
};

static void record(void *ud, const salve_http_attempt *a)
{
	struct seen *s = ud;
	if (s->n < 8) {
		snprintf(s->results[s->n], sizeof s->results[0], "%s", a->result);
		s->waits[s->n] = a->wait;
	}
	s->n++;
}

static void test_retry_after_honoured_within_the_deadline(void **state)
{
	(void)state;
	salve_http_client *c = client(NULL);
	salve_call call = make_call(20);
	struct seen s = {0};
	salve_http_request req = {.struct_size = sizeof req,
	                          .method = "GET",
	                          .url = url(&plain, "/busy/1"),
	                          .attempts = 3,
	                          .attempted = record,
	                          .ud = &s};
	salve_http_response resp;
	assert_int_equal(H->http_request(&call, c, &req, &resp), SALVE_OK);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "done");
	assert_int_equal(resp.attempts, 2);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.results[0], "retry");
	assert_true(s.waits[0] == 1.0); /* the server's Retry-After, not the 0.2 s backoff */
	assert_string_equal(s.results[1], "ok");
	H->http_response_clear(&resp);

	/* Retry-After: 1 with 0.9 s left: not waited for, not sent again */
	int sent = requests(&plain);
	call = make_call(0.9);
	memset(&s, 0, sizeof s);
	req.url = url(&plain, "/limit");
	assert_int_equal(H->http_request(&call, c, &req, &resp), SALVE_OK);
	assert_int_equal(resp.status, 429);
	assert_int_equal(resp.verdict, SALVE_ERR_RETRY);
	assert_int_equal(resp.stopped, SALVE_HTTP_STOP_DEADLINE);
	assert_true(resp.wait == 1.0);
	assert_int_equal(resp.attempts, 1);
	assert_string_equal(s.results[0], "failed");
	H->http_response_clear(&resp);
	assert_int_equal(requests(&plain), sent + 1 + 1); /* the 429, then the stats request */

	/* without attempts: one try, the 503 is the answer */
	call = make_call(0);
	req.url = url(&plain, "/busy/5");
	req.attempts = 0;
	assert_int_equal(H->http_request(&call, c, &req, &resp), SALVE_OK);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.stopped, SALVE_HTTP_STOP_ATTEMPTS);
	H->http_response_clear(&resp);
	H->http_client_free(c);
}

static void test_response_size_is_capped(void **state)
{
	(void)state;
	salve_http_options o = {.struct_size = sizeof o, .protocols = "http", .max_response = 1024};
	salve_http_client *c = client(&o);
	salve_call call = make_call(0);
	salve_http_response resp;
	assert_int_equal(get(c, &call, url(&plain, "/big"), &resp), SALVE_ERR);
	assert_string_equal(resp.error, "the response is larger than 1024 bytes");
	assert_int_equal(resp.status, 0);
	H->http_response_clear(&resp);
	H->http_client_free(c);
}

static void *cancel_soon(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	cancel_flag = 1;
	return NULL;
}

static void test_cancel_and_deadline_end_a_hanging_request(void **state)
{
	(void)state;
	salve_http_options o = {
	    .struct_size = sizeof o, .protocols = "http", .request_timeout = 60};
	salve_http_client *c = client(&o);
	salve_call call = make_call(0);
	salve_http_response resp;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_soon, NULL), 0);
	assert_int_equal(get(c, &call, url(&plain, "/hang"), &resp), SALVE_ERR_CANCELED);
	pthread_join(t, NULL);
	assert_string_equal(resp.error, "cancelled");
	H->http_response_clear(&resp);
	/* a cancelled run sends nothing more */
	assert_int_equal(get(c, &call, url(&plain, "/ok"), &resp), SALVE_ERR_CANCELED);
	assert_int_equal(resp.attempts, 0);
	H->http_response_clear(&resp);
	cancel_flag = 0;

	/* the step's deadline, not the 60 s request timeout, ends the attempt */
	call = make_call(0.3);
	assert_int_equal(get(c, &call, url(&plain, "/hang"), &resp), SALVE_ERR_TIMEOUT);
	assert_non_null(strstr(resp.error, "the step's deadline passed (Timeout was reached"));
	H->http_response_clear(&resp);
	/* and once it passed nothing is sent */
	call.deadline = salve_now() - 1;
	assert_int_equal(get(c, &call, url(&plain, "/ok"), &resp), SALVE_ERR_TIMEOUT);
	assert_string_equal(resp.error, "the step's deadline passed");
	H->http_response_clear(&resp);
	H->http_client_free(c);
}

static void test_tls_is_verified_unless_insecure(void **state)
{
	(void)state;
	salve_call call = make_call(0);
	salve_http_response resp;
	/* the system's CAs do not know the test's certificate */
	salve_http_options o = {.struct_size = sizeof o};
	salve_http_client *c = client(&o);
	assert_int_equal(get(c, &call, url(&tls, "/ok"), &resp), SALVE_ERR);
	assert_non_null(strstr(resp.error, "certificate"));
	H->http_response_clear(&resp);
	/* https only by default: plain http is refused */
	assert_int_equal(get(c, &call, url(&plain, "/ok"), &resp), SALVE_ERR_INVALID);
	H->http_response_clear(&resp);
	H->http_client_free(c);

	o.ca_file = cert;
	c = client(&o);
	assert_int_equal(get(c, &call, url(&tls, "/ok"), &resp), SALVE_OK);
	assert_string_equal(resp.body, "hello");
	H->http_response_clear(&resp);
	H->http_client_free(c);

	char *pem = tu_read(cert);
	salve_http_options mem = {
	    .struct_size = sizeof mem, .ca_pem = pem, .ca_pem_len = strlen(pem)};
	c = client(&mem);
	free(pem); /* copied */
	assert_int_equal(get(c, &call, url(&tls, "/ok"), &resp), SALVE_OK);
	H->http_response_clear(&resp);
	H->http_client_free(c);

	salve_http_options insecure = {.struct_size = sizeof insecure, .insecure = 1};
	c = client(&insecure);
	assert_int_equal(get(c, &call, url(&tls, "/ok"), &resp), SALVE_OK);
	H->http_response_clear(&resp);
	H->http_client_free(c);

	insecure.ca_file = cert; /* contradictory: refused */
	c = client(&insecure);
	assert_int_equal(get(c, &call, url(&tls, "/ok"), &resp), SALVE_ERR);
	assert_string_equal(resp.error,
	                    "TLS verification cannot be both off (insecure) and given a CA");
	H->http_response_clear(&resp);
	H->http_client_free(c);
}

static void test_proxy_environment_only_when_asked(void **state)
{
	(void)state;
	char proxy[64];
	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", plain.port);
	setenv("http_proxy", proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	/* port 1 refuses connections: an answer can only come through the proxy */
	salve_call call = make_call(0);
	salve_http_response resp;
	salve_http_options o = {.struct_size = sizeof o, .protocols = "http"};
	salve_http_client *c = client(&o);
	assert_int_equal(get(c, &call, "http://127.0.0.1:1/ok", &resp), SALVE_ERR_RETRY);
	assert_int_equal(resp.status, 0);
	H->http_response_clear(&resp);
	H->http_client_free(c);

	json_t *before = stats(&plain);
	o.proxy_from_env = 1;
	c = client(&o);
	assert_int_equal(get(c, &call, "http://127.0.0.1:1/ok", &resp), SALVE_OK);
	assert_string_equal(resp.body, "hello");
	H->http_response_clear(&resp);
	H->http_client_free(c);
	unsetenv("http_proxy");

	o.proxy_from_env = 0;
	o.proxy = proxy;
	c = client(&o);
	assert_int_equal(get(c, &call, "http://127.0.0.1:1/ok", &resp), SALVE_OK);
	H->http_response_clear(&resp);
	H->http_client_free(c);
	json_t *after = stats(&plain);
	assert_int_equal(json_integer_value(json_object_get(after, "proxied")) -
	                     json_integer_value(json_object_get(before, "proxied")),
	                 2);
	json_decref(before);
	json_decref(after);
}

static void test_errors_carry_no_secrets(void **state)
{
	(void)state;
	salve_call call = make_call(0);
	salve_http_response resp;
	salve_http_client *c = client(NULL);
	/* the bearer token reaches the server and is redacted from then on */
	const char *token = "tok-3f9a-do-not-leak";
	salve_http_request req = {.struct_size = sizeof req,
	                          .method = "GET",
	                          .url = url(&plain, "/echo-auth"),
	                          .bearer_token = token};
	assert_int_equal(H->http_request(&call, c, &req, &resp), SALVE_OK);
	assert_string_equal(resp.body, "Bearer tok-3f9a-do-not-leak");
	char shown[256];
	salve_redact_string(resp.body, shown, sizeof shown);
	assert_null(strstr(shown, token));
	H->http_response_clear(&resp);

	/* a URL with a password and a token in its path: neither is in the error */
	req.url = "http://admin:pw-83kd@127.0.0.1:1/hooks/T000/B000/sekret-path-token";
	req.bearer_token = NULL;
	assert_int_equal(H->http_request(&call, c, &req, &resp), SALVE_ERR_RETRY);
	assert_true(resp.error[0] != '\0');
	assert_null(strstr(resp.error, "pw-83kd"));
	assert_null(strstr(resp.error, "sekret-path-token"));
	assert_null(strstr(resp.error, "/hooks/"));
	H->http_response_clear(&resp);

	/* basic auth's password is registered for redaction when the client is made */
	salve_http_options o = {.struct_size = sizeof o,
	                        .protocols = "http",
	                        .username = "u",
	                        .password = "basic-pw-7781"};
	salve_http_client *b = client(&o);
	req.url = url(&plain, "/echo-auth");
	assert_int_equal(H->http_request(&call, b, &req, &resp), SALVE_OK);
	assert_string_equal(resp.body, "Basic dTpiYXNpYy1wdy03Nzgx"); /* u:basic-pw-7781 */
	salve_redact_string(resp.body, shown, sizeof shown);
	assert_null(strstr(shown, "dTpiYXNpYy1wdy03Nzgx"));
	H->http_response_clear(&resp);
	H->http_client_free(b);
	H->http_client_free(c);
}

static void test_methods_and_bodies(void **state)
{
	(void)state;
	salve_call call = make_call(0);
	salve_http_response resp;
	salve_http_client *c = client(NULL);
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE", "HEAD"};
	for (size_t i = 0; i < 5; i++) {
		salve_http_request req = {.struct_size = sizeof req,
		                          .method = methods[i],
		                          .url = url(&plain, "/status/201"),
		                          .headers = headers,
		                          .body = i < 3 ? "{\"a\":1}" : NULL,
		                          .body_len = i < 3 ? 7 : 0};
		assert_int_equal(H->http_request(&call, c, &req, &resp), SALVE_OK);
		assert_int_equal(resp.status, 201);
		if (i < 4)
			assert_string_equal(resp.body, "status 201");
		else
			assert_null(resp.body); /* HEAD: no body */
		H->http_response_clear(&resp);
	}
	/* the client's escape */
	char *e = H->http_escape("a b/c?d=é");
	assert_string_equal(e, "a%20b%2Fc%3Fd%3D%C3%A9");
	free(e);
	H->http_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_libcurl_loaded_on_first_request_only),
	    cmocka_unit_test(test_connections_are_kept_alive),
	    cmocka_unit_test(test_retry_after_honoured_within_the_deadline),
	    cmocka_unit_test(test_response_size_is_capped),
	    cmocka_unit_test(test_cancel_and_deadline_end_a_hanging_request),
	    cmocka_unit_test(test_tls_is_verified_unless_insecure),
	    cmocka_unit_test(test_proxy_environment_only_when_asked),
	    cmocka_unit_test(test_errors_carry_no_secrets),
	    cmocka_unit_test(test_methods_and_bodies),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
