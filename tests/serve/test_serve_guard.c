/* Guardrail structures with a driven clock, the string map, the metrics text format and the
 * server section of salve.yaml. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "metrics.h"
#include "route.h"
#include "strmap.h"

static void test_rate(void **state)
{
	(void)state;
	srv_rate r;
	assert_int_equal(srv_rate_init(&r, 3, 60), 0);
	double retry = -1;
	assert_int_equal(srv_rate_take(&r, 100, &retry), 1);
	assert_int_equal(srv_rate_take(&r, 110, &retry), 1);
	assert_int_equal(srv_rate_take(&r, 120, &retry), 1);
	assert_int_equal(srv_rate_take(&r, 130, &retry), 0);
	assert_true(retry > 29.99 && retry < 30.01); /* the start at 100 leaves the window at 160 */
	assert_int_equal(srv_rate_take(&r, 159.9, NULL), 0);
	assert_int_equal(srv_rate_take(&r, 160, NULL), 1);
	assert_int_equal(srv_rate_take(&r, 165, &retry), 0);
	assert_true(retry > 4.99 && retry < 5.01); /* next oldest: 110 -> 170 */
	srv_rate_free(&r);
	assert_int_equal(srv_rate_init(&r, 0, 0), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(srv_rate_take(&r, 1, NULL), 1);
	srv_rate_free(&r);
}

static void test_targets(void **state)
{
	(void)state;
	srv_targets t;
	srv_targets_init(&t, 2, 100);
	size_t n;
	assert_int_equal(srv_targets_take(&t, "a", 0, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(srv_targets_take(&t, "b", 10, &n), 1);
	assert_int_equal(srv_targets_would_allow(&t, "c", 20), 0);
	assert_int_equal(srv_targets_take(&t, "c", 20, &n), 0);
	assert_int_equal(n, 2);
	/* A target already in the window is no new blast radius. */
	assert_int_equal(srv_targets_take(&t, "a", 30, &n), 1);
	/* b leaves the window at 110; a was seen again at 30 and stays until 130. */
	assert_int_equal(srv_targets_take(&t, "c", 109, &n), 0);
	assert_int_equal(srv_targets_take(&t, "c", 110, &n), 1);
	assert_int_equal(srv_targets_would_allow(&t, "d", 120), 0);
	assert_int_equal(srv_targets_would_allow(&t, "d", 130), 1);
	srv_targets_free(&t);
}

static void test_dedup(void **state)
{
	(void)state;
	srv_dedup *d = srv_dedup_new(0);
	const char *run, *why;
	double ago;
	assert_int_equal(srv_dedup_check(d, "k", 0, &run, &why, &ago), 0);
	assert_int_equal(srv_dedup_start(d, "k", "run1", 60), 0);
	assert_int_equal(srv_dedup_check(d, "k", 1000, &run, &why, &ago), 1);
	assert_string_equal(run, "run1");
	assert_string_equal(why, "active");  /* active never expires */
	srv_dedup_end(d, "k", "run2", 1000); /* not the holder: ignored */
	assert_int_equal(srv_dedup_check(d, "k", 1001, &run, &why, &ago), 1);
	assert_string_equal(why, "active");
	srv_dedup_end(d, "k", "run1", 1000);
	assert_int_equal(srv_dedup_check(d, "k", 1030, &run, &why, &ago), 1);
	assert_string_equal(why, "cooldown");
	assert_true(ago > 29.99 && ago < 30.01);
	assert_int_equal(srv_dedup_expire(d, 1059), 0);
	assert_int_equal(srv_dedup_check(d, "k", 1060, &run, &why, &ago), 0);
	assert_int_equal(srv_dedup_expire(d, 1060), 1);
	assert_int_equal(srv_dedup_size(d), 0);
	srv_dedup_start(d, "q", "run3", 600);
	srv_dedup_release(d, "q", "other");
	assert_int_equal(srv_dedup_size(d), 1);
	srv_dedup_release(d, "q", "run3");
	assert_int_equal(srv_dedup_size(d), 0);
	/* Many keys: growth and expiry over a large table. */
	char key[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "key%d", i);
		srv_dedup_start(d, key, "r", i % 2 ? 10 : 1000);
		srv_dedup_end(d, key, "r", 0);
	}
	assert_int_equal(srv_dedup_size(d), 5000);
	assert_int_equal(srv_dedup_expire(d, 100), 2500);
	assert_int_equal(srv_dedup_check(d, "key2", 100, &run, &why, &ago), 1);
	assert_int_equal(srv_dedup_check(d, "key3", 100, &run, &why, &ago), 0);
	srv_dedup_free(d);
}

/* The bound: the least recently changed keys go first, an active run's keys never, and the
 * evictions are counted; resolved occurrences live in the same table. */
static void test_dedup_lru(void **state)
{
	(void)state;
	srv_dedup *d = srv_dedup_new(3);
	const char *run, *why;
	double ago;
	srv_dedup_start(d, "active", "r0", 600); /* held by a running run: never evicted */
	srv_dedup_start(d, "a", "r1", 600);
	srv_dedup_end(d, "a", "r1", 10);
	assert_int_equal(srv_dedup_remember_resolved(d, "res", 11, 100), 0);
	assert_int_equal(srv_dedup_check(d, "res", 50, &run, &why, &ago), 1);
	assert_string_equal(why, "resolved");
	assert_true(ago > 38.99 && ago < 39.01);
	assert_int_equal(srv_dedup_take_evictions(d), 0);
	srv_dedup_start(d, "b", "r2", 600); /* full: "a" (oldest not active) goes */
	assert_int_equal(srv_dedup_take_evictions(d), 1);
	assert_int_equal(srv_dedup_check(d, "a", 20, &run, &why, &ago), 0);
	assert_int_equal(srv_dedup_check(d, "active", 20, &run, &why, &ago), 1);
	assert_int_equal(srv_dedup_size(d), 3);
	srv_dedup_end(d, "b", "r2", 30);
	srv_dedup_start(d, "c", "r3", 600); /* "res" is now the oldest not active */
	assert_int_equal(srv_dedup_take_evictions(d), 1);
	assert_int_equal(srv_dedup_check(d, "res", 31, &run, &why, &ago), 0);
	assert_int_equal(srv_dedup_check(d, "b", 31, &run, &why, &ago), 1);
	/* Only active keys left: the table grows past its bound rather than drop one. */
	srv_dedup_start(d, "b", "r4", 600);
	srv_dedup_start(d, "e", "r5", 600);
	assert_int_equal(srv_dedup_size(d), 4);
	assert_int_equal(srv_dedup_take_evictions(d), 0);
	srv_dedup_free(d);
}

/* Making room evicts the least recently changed key without an active run, however many
 * active keys there are (they are on a list of their own: accepting a run never walks them);
 * a key whose run ends goes back to the evictable ones, as the most recent. */
static void test_dedup_room_beside_actives(void **state)
{
	(void)state;
	srv_dedup *d = srv_dedup_new(1000);
	char key[32], run[32];
	for (int i = 0; i < 999; i++) {
		snprintf(key, sizeof key, "active-%d", i);
		snprintf(run, sizeof run, "r%d", i);
		srv_dedup_start(d, key, run, 600);
	}
	srv_dedup_start(d, "x", "rx", 600);
	srv_dedup_end(d, "x", "rx", 1);
	srv_dedup_start(d, "y", "ry", 600); /* full: x goes, no active key */
	assert_int_equal(srv_dedup_take_evictions(d), 1);
	const char *r, *why;
	double ago;
	assert_int_equal(srv_dedup_check(d, "x", 2, &r, &why, &ago), 0);
	assert_int_equal(srv_dedup_check(d, "active-0", 2, &r, &why, &ago), 1);
	srv_dedup_end(d, "active-0", "r0", 3);
	srv_dedup_end(d, "y", "ry", 4);
	srv_dedup_start(d, "z", "rz", 600); /* active-0 ended before y: it goes */
	assert_int_equal(srv_dedup_take_evictions(d), 1);
	assert_int_equal(srv_dedup_check(d, "active-0", 5, &r, &why, &ago), 0);
	assert_int_equal(srv_dedup_check(d, "y", 5, &r, &why, &ago), 1);
	assert_string_equal(why, "cooldown");
	srv_dedup_free(d);
}

/* Changes kept for the durable copy, and put back from it. */
static void test_dedup_changes(void **state)
{
	(void)state;
	srv_dedup *d = srv_dedup_new(0);
	srv_dedup_start(d, "before", "r0", 60); /* before recording: not kept */
	srv_dedup_record_changes(d, 1);
	srv_dedup_start(d, "k", "r1", 60);
	srv_dedup_end(d, "k", "r1", 5);
	srv_dedup_start(d, "q", "r2", 60);
	srv_dedup_release(d, "q", "r2");
	srv_dedup_remember_resolved(d, "res", 7, 100);
	size_t n = 0;
	srv_dedup_change *c = srv_dedup_take_changes(d, &n);
	assert_int_equal(n, 5);
	static const enum srv_dedup_change_kind kinds[] = {SRV_DEDUP_ACTIVE, SRV_DEDUP_ENDED,
	                                                   SRV_DEDUP_ACTIVE, SRV_DEDUP_RELEASED,
	                                                   SRV_DEDUP_RESOLVED};
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(c[i].kind, kinds[i]);
		if (i)
			assert_true(c[i].seq > c[i - 1].seq);
	}
	assert_string_equal(c[1].key, "k");
	assert_string_equal(c[1].run_id, "r1");
	assert_true(c[1].at == 5 && c[1].cooldown == 60);
	srv_dedup_take_changes(d, &n);
	assert_int_equal(n, 0);
	size_t m = 0;
	srv_dedup_change *snap = srv_dedup_snapshot(d, &m);
	/* Keys without an active run, least recently changed first, then the active ones. */
	assert_int_equal(m, 3); /* k (ended), res (resolved), before (active) */
	assert_string_equal(snap[0].key, "k");
	assert_string_equal(snap[1].key, "res");
	assert_int_equal(snap[2].kind, SRV_DEDUP_ACTIVE);
	assert_string_equal(snap[2].key, "before");
	/* A fresh table from the snapshot: an active key comes back ended (its run died). */
	srv_dedup *back = srv_dedup_new(0);
	for (size_t i = 0; i < m; i++)
		assert_int_equal(srv_dedup_restore(back, &snap[i], 100), 0);
	const char *run, *why;
	double ago;
	assert_int_equal(srv_dedup_check(back, "before", 110, &run, &why, &ago), 1);
	assert_string_equal(why, "cooldown");
	assert_string_equal(run, "r0");
	assert_int_equal(srv_dedup_check(back, "res", 110, &run, &why, &ago), 1);
	assert_string_equal(why, "resolved");
	assert_int_equal(srv_dedup_check(back, "before", 160, &run, &why, &ago), 0);
	/* Seq goes on from what was restored. */
	srv_dedup_record_changes(back, 1);
	srv_dedup_start(back, "new", "r9", 1);
	srv_dedup_change *more = srv_dedup_take_changes(back, &n);
	assert_int_equal(n, 1);
	assert_true(more[0].seq > snap[m - 1].seq);
	srv_dedup_changes_free(more, n);
	srv_dedup_changes_free(snap, m);
	srv_dedup_changes_free(c, 5);
	srv_dedup_free(back);
	srv_dedup_free(d);
}

static void test_strmap(void **state)
{
	(void)state;
	srv_strmap *m = srv_strmap_new();
	static int values[3000];
	char key[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(srv_strmap_put(m, key, &values[i], NULL), 0);
	}
	assert_int_equal(srv_strmap_size(m), 3000);
	void *old = NULL;
	srv_strmap_put(m, "k7", &values[8], &old);
	assert_ptr_equal(old, &values[7]);
	assert_ptr_equal(srv_strmap_get(m, "k7"), &values[8]);
	assert_ptr_equal(srv_strmap_remove(m, "k9"), &values[9]);
	assert_null(srv_strmap_get(m, "k9"));
	assert_null(srv_strmap_remove(m, "k9"));
	size_t cursor = 0, seen = 0;
	const char *k;
	void *v;
	while (srv_strmap_next(m, &cursor, &k, &v))
		seen++;
	assert_int_equal(seen, 2999);
	srv_strmap_free(m);
}

static void test_metrics_text(void **state)
{
	(void)state;
	srv_metrics *m = srv_metrics_new();
	const double b[] = {0.1, 1};
	srv_metrics_declare(m, "x_total", SRV_COUNTER, "Things.", NULL, 0);
	srv_metrics_declare(m, "x_depth", SRV_GAUGE, "Depth.", NULL, 0);
	srv_metrics_declare(m, "x_seconds", SRV_HISTOGRAM, "Durations.", b, 2);
	char l1[128], l2[128];
	srv_metrics_labels(l1, sizeof l1, "route", "a\"b\\c\nd", "reason", "x", NULL);
	srv_metrics_labels(l2, sizeof l2, "route", "b", NULL);
	assert_string_equal(l1, "route=\"a\\\"b\\\\c\\nd\",reason=\"x\"");
	srv_metrics_add(m, "x_total", l2, 1);
	srv_metrics_add(m, "x_total", l2, 2);
	srv_metrics_add(m, "x_total", l1, 1);
	srv_metrics_add(m, "nope", "", 1);
	srv_metrics_set(m, "x_depth", "", 7);
	srv_metrics_set(m, "x_depth", "", 4);
	srv_metrics_observe(m, "x_seconds", l2, 0.05);
	srv_metrics_observe(m, "x_seconds", l2, 0.5);
	srv_metrics_observe(m, "x_seconds", l2, 3);
	assert_true(srv_metrics_value(m, "x_total", l2) == 3);
	assert_true(srv_metrics_value(m, "x_seconds", l2) == 3);
	char *text = srv_metrics_render(m);
	assert_string_equal(text, "# HELP x_total Things.\n"
	                          "# TYPE x_total counter\n"
	                          "x_total{route=\"b\"} 3\n"
	                          "x_total{route=\"a\\\"b\\\\c\\nd\",reason=\"x\"} 1\n"
	                          "# HELP x_depth Depth.\n"
	                          "# TYPE x_depth gauge\n"
	                          "x_depth 4\n"
	                          "# HELP x_seconds Durations.\n"
	                          "# TYPE x_seconds histogram\n"
	                          "x_seconds_bucket{route=\"b\",le=\"0.1\"} 1\n"
	                          "x_seconds_bucket{route=\"b\",le=\"1\"} 2\n"
	                          "x_seconds_bucket{route=\"b\",le=\"+Inf\"} 3\n"
	                          "x_seconds_sum{route=\"b\"} 3.55\n"
	                          "x_seconds_count{route=\"b\"} 3\n");
	free(text);
	srv_metrics_free(m);
}

static int conf_error(const char *json, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loads(json, 0, &jerr);
	if (!doc)
		fail_msg("bad test JSON %s", json);
	srv_conf c;
	int rc = srv_conf_load(doc, NULL, &c, err, errlen);
	if (rc == 0) {
		srv_routes r;
		rc = srv_routes_load(doc, NULL, c.runbook_dir, &r, err, errlen);
		if (rc == 0)
			srv_routes_free(&r);
	}
	srv_conf_free(&c);
	json_decref(doc);
	return rc;
}

static void expect_conf_error(const char *json, const char *words)
{
	char err[1024] = "";
	if (conf_error(json, err, sizeof err) == 0)
		fail_msg("%s accepted", json);
	if (!strstr(err, words))
		fail_msg("%s: \"%s\" does not say \"%s\"", json, err, words);
}

static void test_conf(void **state)
{
	(void)state;
	json_error_t jerr;
	json_t *doc = json_loads("{\"server\": {\"listen\": \"0.0.0.0:9095\", \"max_body\": "
	                         "\"64KiB\", \"workers\": 8, \"approval_timeout\": \"5m\", "
	                         "\"tokens\": {\"hooks\": \"env:HOOK_TOKEN\"}}}",
	                         0, &jerr);
	srv_conf c;
	char err[512];
	assert_int_equal(srv_conf_load(doc, NULL, &c, err, sizeof err), 0);
	assert_string_equal(c.listen, "0.0.0.0:9095");
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.queue_size, 256);
	assert_true(c.approval_timeout == 300);
	assert_string_equal(c.tokens[SRV_TOKEN_HOOKS], "env:HOOK_TOKEN");
	assert_null(c.tokens[SRV_TOKEN_READ]);
	assert_int_equal(c.dedup_size, 100000);
	assert_true(c.resolved_memory == 86400);
	srv_conf_free(&c);
	json_decref(doc);
	doc =
	    json_loads("{\"server\": {\"dedup_size\": 50, \"resolved_memory\": \"6h\"}}", 0, &jerr);
	assert_int_equal(srv_conf_load(doc, NULL, &c, err, sizeof err), 0);
	assert_int_equal(c.dedup_size, 50);
	assert_true(c.resolved_memory == 21600);
	srv_conf_free(&c);
	json_decref(doc);
	expect_conf_error("{\"server\": {\"dedup_size\": 0}}", "server.dedup_size");
	expect_conf_error("{\"server\": {\"resolved_memory\": \"nan\"}}", "server.resolved_memory");

	expect_conf_error("{\"server\": {\"tokens\": {\"hooks\": \"s3cr3t-token-value\"}}}",
	                  "server.tokens.hooks: must be a reference");
	char err2[1024];
	conf_error("{\"server\": {\"tokens\": {\"hooks\": \"s3cr3t-token-value\"}}}", err2,
	           sizeof err2);
	assert_null(strstr(err2, "s3cr3t")); /* an inline token is never echoed */
	expect_conf_error("{\"server\": {\"listn\": \"x\"}}", "server: unknown key 'listn'");
	expect_conf_error("{\"server\": {\"max_body\": \"lots\"}}", "server.max_body");
	expect_conf_error("{\"server\": {\"max_body\": 1000000000001}}", "server.max_body");
	expect_conf_error("{\"server\": {\"tls\": {\"cert\": \"/c.pem\"}}}",
	                  "needs both cert and key");
	expect_conf_error("{\"routes\": [{\"runbook\": \"x.lua\"}]}",
	                  "routes[0]: every route needs a name");
	expect_conf_error("{\"routes\": [{\"name\": \"a b\", \"runbook\": \"x.lua\"}]}",
	                  "may only use letters");
	expect_conf_error("{\"routes\": [{\"name\": \"a\"}]}",
	                  "routes[0] (a): runbook is required");
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\"}, {\"name\": \"a\", "
	                  "\"runbook\": \"y\"}]}",
	                  "routes[1]: route name \"a\" is used twice");
	expect_conf_error(
	    "{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"rate_limit\": \"5\"}]}",
	    "rate_limit: must be RUNS/DURATION");
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"on_resolved\": "
	                  "\"explode\"}]}",
	                  "on_resolved: must be ignore, cancel or");
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"params\": {\"n\": "
	                  "\"{{ lables.x }}\"}}]}",
	                  "routes[0] (a).params.n: \"{{ lables.x }}\": unknown name \"lables\"");
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"matchers\": "
	                  "[\"severity ~= x\"]}]}",
	                  "routes[0] (a).matchers[0]: matcher \"severity ~= x\"");
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"cooldwn\": 5}]}",
	                  "unknown key 'cooldwn'");

	int count;
	double window;
	assert_int_equal(srv_parse_rate("10/1h", &count, &window), 0);
	assert_int_equal(count, 10);
	assert_true(window == 3600);
	assert_int_equal(srv_parse_rate("0/1h", &count, &window), -1);
	assert_int_equal(srv_parse_rate("5/", &count, &window), -1);
	assert_int_equal(srv_parse_rate("3/1h30m", &count, &window), 0);
	assert_true(window == 5400);
}

/* F10: rate_limit: 2/nan let every alert through, cooldown: nan disabled dedup. */
static void test_durations_strict(void **state)
{
	(void)state;
	static const char *const bad[] = {"nan",    "NaN",    "inf",   "-inf", "infinity", "0x10",
	                                  "0x1p4s", "1e3",    "1e309", "-5s",  "+5s",      " 5s",
	                                  "5s ",    "5 s",    "s",     ".5s",  "5.s",      "5x",
	                                  "5sm",    "99999d", ""};
	int count;
	double v;
	char rate[64];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (srv_parse_duration(bad[i], &v) == 0)
			fail_msg("duration \"%s\" accepted as %g", bad[i], v);
		snprintf(rate, sizeof rate, "2/%s", bad[i]);
		if (srv_parse_rate(rate, &count, &v) == 0)
			fail_msg("rate \"%s\" accepted", rate);
	}
	static const char *const bad_rates[] = {"nan/1h", "0x2/1h", "2.5/1h", "-2/1h",
	                                        "2/0s",   "2/0",    " 2/1h"};
	for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++)
		if (srv_parse_rate(bad_rates[i], &count, &v) == 0)
			fail_msg("rate \"%s\" accepted", bad_rates[i]);
	static const struct {
		const char *text;
		double want;
	} good[] = {{"0", 0},        {"0s", 0},    {"30", 30},      {"1.5s", 1.5},
	            {"250ms", 0.25}, {"10m", 600}, {"1h30m", 5400}, {"2d", 172800}};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		assert_int_equal(srv_parse_duration(good[i].text, &v), 0);
		assert_true(v == good[i].want);
	}
	/* Every duration and rate key of the config refuses them, naming the key. */
	static const char *const server_keys[] = {"connection_timeout", "lock_timeout",
	                                          "approval_timeout",   "max_targets_window",
	                                          "request_timeout",    "shutdown_grace"};
	static const char *const route_keys[] = {"cooldown", "max_targets_window"};
	char json[512], words[128];
	for (size_t k = 0; k < sizeof server_keys / sizeof server_keys[0]; k++) {
		for (size_t i = 0; i < 4; i++) {
			snprintf(json, sizeof json, "{\"server\": {\"%s\": \"%s\"}}",
			         server_keys[k], (const char *[]){"nan", "inf", "0x10", "1e9"}[i]);
			snprintf(words, sizeof words, "server.%s: must be a duration",
			         server_keys[k]);
			expect_conf_error(json, words);
		}
	}
	for (size_t k = 0; k < sizeof route_keys / sizeof route_keys[0]; k++) {
		for (size_t i = 0; i < 4; i++) {
			snprintf(json, sizeof json,
			         "{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"%s\": "
			         "\"%s\"}]}",
			         route_keys[k], (const char *[]){"nan", "inf", "0x10", "1e9"}[i]);
			snprintf(words, sizeof words, "routes[0] (a).%s: must be a duration",
			         route_keys[k]);
			expect_conf_error(json, words);
		}
	}
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"rate_limit\": "
	                  "\"2/nan\"}]}",
	                  "routes[0] (a).rate_limit: must be RUNS/DURATION");
	expect_conf_error("{\"server\": {\"request_timeout\": \"0s\"}}",
	                  "server.request_timeout: at least 1s");
	expect_conf_error("{\"server\": {\"max_alerts\": 0}}", "server.max_alerts");
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", \"params\": "
	                  "{\"h\": \"x\"}, \"allow_patterns\": [\"hosts\"]}]}",
	                  "allow_patterns: \"hosts\" is not one of the route's params");
	expect_conf_error("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x\", "
	                  "\"allow_patterns\": \"yes\"}]}",
	                  "allow_patterns: must be true, false or a list");
}

/* Fuzz bug #3 (tests/fuzz/corpus/config/bug-max-body-nan.yaml): "nan" passed n <= 0 and
 * the range check, then (size_t)NaN was undefined behaviour. */
static void test_sizes_strict(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "nan", "NaN", "nanKiB", "inf", "-inf", "infinity", "0x10", "1e3",    "1e309",  "-5",
	    "+5",  " 5",  "0",      "0.4", ".5K",  "5.K",      "2TB",  "1001GB", "5 lots", ""};
	size_t size;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *v = json_string(bad[i]);
		if (srv_parse_size(v, &size) == 0)
			fail_msg("size \"%s\" accepted as %zu", bad[i], size);
		json_decref(v);
	}
	static const struct {
		const char *text;
		size_t want;
	} good[] = {{"1", 1},
	            {"64KiB", 65536},
	            {"1.5K", 1536},
	            {"2 MB", 2000000},
	            {"1000GB", 1000000000000}};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		json_t *v = json_string(good[i].text);
		assert_int_equal(srv_parse_size(v, &size), 0);
		assert_int_equal(size, good[i].want);
		json_decref(v);
	}
	json_t *real = json_real(1e300); /* a YAML real such as 1e300 */
	assert_int_equal(srv_parse_size(real, &size), -1);
	json_decref(real);
	json_t *zero = json_integer(0);
	assert_int_equal(srv_parse_size(zero, &size), -1);
	json_decref(zero);
	/* The YAML replayed as salve-serve reads it: YAML nan is the string "nan". */
	expect_conf_error("{\"server\": {\"max_body\": \"nan\"}}",
	                  "server.max_body: must be a size");
	expect_conf_error("{\"server\": {\"max_header\": \"nan\"}}",
	                  "server.max_header: must be a size");
}

static void test_targets_keys(void **state)
{
	(void)state;
	srv_targets t;
	srv_targets_init(&t, 3, 60);
	const char *two[] = {"a", "b"};
	const char *three[] = {"c", "d", "c"};
	assert_true(srv_targets_would_allow_keys(&t, two, 2, 0));
	assert_int_equal(srv_targets_take(&t, "a", 0, NULL), 1);
	assert_int_equal(srv_targets_take(&t, "b", 0, NULL), 1);
	/* c, d, c is two new targets: 2 + 2 > 3. */
	assert_false(srv_targets_would_allow_keys(&t, three, 3, 1));
	assert_true(srv_targets_would_allow_keys(&t, three, 1, 1));
	assert_true(srv_targets_would_allow_keys(&t, two, 2, 1));    /* already seen */
	assert_true(srv_targets_would_allow_keys(&t, three, 3, 61)); /* the window moved */
	srv_targets_free(&t);
	srv_targets_init(&t, 0, 60);
	assert_true(srv_targets_would_allow_keys(&t, three, 3, 0));
	srv_targets_free(&t);
}

struct cooled {
	char keys[256];
};

static void note_cooling(void *arg, const char *key, const char *run_id, double left)
{
	struct cooled *c = arg;
	char item[64];
	snprintf(item, sizeof item, "%s%s=%s/%.0f", c->keys[0] ? " " : "", key, run_id, left);
	strncat(c->keys, item, sizeof c->keys - strlen(c->keys) - 1);
}

/* What GET /routes lists as cooling down: ended runs' keys within their cooldown, oldest
 * first; not an active run's key, a remembered resolve or an expired key. */
static void test_dedup_each_cooling(void **state)
{
	(void)state;
	srv_dedup *d = srv_dedup_new(0);
	srv_dedup_start(d, "a", "r1", 100);
	srv_dedup_end(d, "a", "r1", 10);
	srv_dedup_start(d, "b", "r2", 30);
	srv_dedup_end(d, "b", "r2", 20);
	srv_dedup_start(d, "running", "r3", 100);
	srv_dedup_remember_resolved(d, "res", 20, 1000);
	struct cooled c = {{0}};
	srv_dedup_each_cooling(d, 40, note_cooling, &c);
	assert_string_equal(c.keys, "a=r1/70 b=r2/10");
	memset(&c, 0, sizeof c);
	srv_dedup_each_cooling(d, 50, note_cooling, &c); /* b ended 30 s ago: cooled */
	assert_string_equal(c.keys, "a=r1/60");
	memset(&c, 0, sizeof c);
	srv_dedup_each_cooling(d, 110, note_cooling, &c);
	assert_string_equal(c.keys, "");
	srv_dedup_free(d);
}

/* server.ui_prefix: a plain path or nothing; the shared check also vets X-Forwarded-Prefix. */
static void test_plain_prefix(void **state)
{
	(void)state;
	char out[256];
	assert_int_equal(srv_plain_prefix("/ops/salve/", out, sizeof out), 0);
	assert_string_equal(out, "/ops/salve");
	assert_int_equal(srv_plain_prefix("/", out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(srv_plain_prefix("/a-b_c.d~e/9", out, sizeof out), 0);
	assert_string_equal(out, "/a-b_c.d~e/9");
	static const char *const bad[] = {"",       "salve",      "/a/../b",   "/a..b", "//evil",
	                                  "/a//b",  "/.hidden",   "/a b",      "/a?b",  "/a#b",
	                                  "/x\"><", "/a%2e%2e/b", "/\xc3\xa9", NULL};
	for (const char *const *b = bad; *b; b++)
		if (srv_plain_prefix(*b, out, sizeof out) == 0)
			fail_msg("prefix \"%s\" accepted", *b);
	char longer[300];
	memset(longer, 'a', sizeof longer - 1);
	longer[0] = '/';
	longer[201] = '\0';
	assert_int_equal(srv_plain_prefix(longer, out, sizeof out), -1);
	longer[200] = '\0';
	assert_int_equal(srv_plain_prefix(longer, out, sizeof out), 0);

	json_error_t jerr;
	srv_conf c;
	char err[512];
	json_t *doc = json_loads("{\"server\": {\"listen\": \"127.0.0.1:1\"}}", 0, &jerr);
	assert_int_equal(srv_conf_load(doc, NULL, &c, err, sizeof err), 0);
	assert_string_equal(c.ui_prefix, "");
	srv_conf_free(&c);
	json_decref(doc);
	doc = json_loads("{\"server\": {\"ui_prefix\": \"/ops/salve/\"}}", 0, &jerr);
	assert_int_equal(srv_conf_load(doc, NULL, &c, err, sizeof err), 0);
	assert_string_equal(c.ui_prefix, "/ops/salve");
	srv_conf_free(&c);
	json_decref(doc);
	expect_conf_error("{\"server\": {\"ui_prefix\": \"/a/../b\"}}",
	                  "server.ui_prefix: must be");
	expect_conf_error("{\"server\": {\"ui_prefix\": 5}}", "server.ui_prefix: must be");
}

/* A document through one replica's decision after another: the same answers as one
 * srv_rate and srv_targets kept in memory (test_rate, test_targets). */
static json_t *take_through_doc(json_t *doc, int count, double window, const char *target,
                                double now, int *allowed, double *retry)
{
	srv_rate r;
	srv_targets t;
	assert_int_equal(srv_rate_init(&r, count, window), 0);
	srv_targets_init(&t, 2, 100);
	assert_int_equal(srv_window_load(doc, &r, &t), 0);
	*allowed = srv_targets_would_allow(&t, target, now) && srv_rate_take(&r, now, retry);
	if (*allowed)
		srv_targets_take(&t, target, now, NULL);
	json_t *next = srv_window_dump(&r, &t, now);
	srv_rate_free(&r);
	srv_targets_free(&t);
	json_decref(doc);
	return next;
}

static void test_window_docs(void **state)
{
	(void)state;
	json_t *doc = NULL;
	int ok;
	double retry = -1;
	doc = take_through_doc(doc, 3, 60, "a", 100, &ok, &retry);
	assert_true(ok);
	doc = take_through_doc(doc, 3, 60, "a", 110, &ok, &retry);
	assert_true(ok);
	doc = take_through_doc(doc, 3, 60, "b", 120, &ok, &retry);
	assert_true(ok);
	doc = take_through_doc(doc, 3, 60, "a", 130, &ok, &retry);
	assert_false(ok);
	assert_true(retry > 29.99 && retry < 30.01); /* the start at 100 leaves at 160 */
	doc = take_through_doc(doc, 3, 60, "a", 160, &ok, &retry);
	assert_true(ok);
	/* Starts out of the window are not kept: the document stays small. */
	assert_int_equal(json_array_size(json_object_get(doc, "rate")), 3);
	/* a and b are the two targets of the window (max 2): c is refused until b leaves at
	 * 220 (seen at 120, window 100). */
	doc = take_through_doc(doc, 0, 60, "c", 200, &ok, &retry);
	assert_false(ok);
	doc = take_through_doc(doc, 0, 60, "c", 220, &ok, &retry);
	assert_true(ok);
	json_t *targets = json_object_get(doc, "targets");
	assert_int_equal(json_object_size(targets), 2);
	assert_true(json_real_value(json_object_get(targets, "a")) == 160);
	assert_true(json_real_value(json_object_get(targets, "c")) == 220);
	/* More starts than the count (a replica with a larger limit wrote it): the newest. */
	json_t *many = json_pack("{s:[f, f, f, f], s:{s:s}}", "rate", 1.0, 2.0, 3.0, 4.0, "targets",
	                         "bad", "not a time");
	srv_rate r;
	srv_targets t;
	assert_int_equal(srv_rate_init(&r, 2, 60), 0);
	srv_targets_init(&t, 5, 60);
	assert_int_equal(srv_window_load(many, &r, &t), 0);
	assert_int_equal(r.used, 2);
	assert_true(r.times[0] == 3 && r.times[1] == 4);
	assert_int_equal(t.n, 0);
	srv_rate_free(&r);
	srv_targets_free(&t);
	json_decref(many);
	json_decref(doc);
}

static void test_breaker_next(void **state)
{
	(void)state;
	int opened = -1;
	/* Success without failures, and a run that neither succeeded nor failed: no change. */
	assert_null(srv_breaker_next(NULL, 2, 1, 0, "r0", "x", "a", "t0", &opened));
	assert_int_equal(opened, 0);
	assert_null(srv_breaker_next(NULL, 2, 0, 0, "r0", "x", "a", "t0", &opened));
	json_t *one = srv_breaker_next(NULL, 2, 0, 1, "r1", "boom", "a", "t1", &opened);
	assert_int_equal(opened, 0);
	assert_int_equal(json_integer_value(json_object_get(one, "failures")), 1);
	assert_string_equal(json_string_value(json_object_get(one, "counted")), "r1");
	assert_false(srv_breaker_open(one));
	json_t *two = srv_breaker_next(one, 2, 0, 1, "r2", "boom again", "b", "t2", &opened);
	assert_int_equal(opened, 1);
	assert_true(srv_breaker_open(two));
	assert_string_equal(json_string_value(json_object_get(two, "reason")),
	                    "last failed run r2: boom again");
	assert_string_equal(json_string_value(json_object_get(two, "replica")), "b");
	assert_string_equal(json_string_value(json_object_get(two, "opened_at")), "t2");
	/* Open already: counted, not opened again. A success resets the count, not the circuit
	 * (only a reset closes it, as on one server). */
	json_t *three = srv_breaker_next(two, 2, 0, 1, "r3", "x", "a", "t3", &opened);
	assert_int_equal(opened, 0);
	assert_int_equal(json_integer_value(json_object_get(three, "failures")), 3);
	assert_string_equal(json_string_value(json_object_get(three, "last_run")), "r2");
	json_t *ok = srv_breaker_next(three, 2, 1, 0, "r4", "", "a", "t4", &opened);
	assert_int_equal(json_integer_value(json_object_get(ok, "failures")), 0);
	assert_true(srv_breaker_open(ok));
	/* No breaker: failures counted, never open. */
	json_t *off = srv_breaker_next(three, 0, 0, 1, "r5", "x", "a", "t5", &opened);
	assert_false(srv_breaker_open(off) && opened);
	json_t *none = srv_breaker_next(NULL, 0, 0, 1, "r5", "x", "a", "t5", &opened);
	assert_false(srv_breaker_open(none));
	json_decref(none);
	json_decref(off);
	json_decref(ok);
	json_decref(three);
	json_decref(two);
	json_decref(one);
}

static void test_shared_decide(void **state)
{
	(void)state;
	const char *ab[] = {"a", "b"}, *c[] = {"c"};
	srv_shared_limits lim = {.rate_count = 2,
	                         .rate_window = 60,
	                         .max_targets = 3,
	                         .targets_window = 100,
	                         .server_max_targets = 2,
	                         .server_targets_window = 100};
	srv_shared_result res;
	json_t *open = json_pack("{s:i, s:b}", "failures", 3, "open", 1);
	/* The order of the single server: resolved, pause, circuit, claims, limits. */
	srv_shared_view v = {
	    .resolved = 1, .paused = 1, .circuit = open, .claimed = 1, .target_held = 1};
	static const enum srv_shared_verdict order[] = {SRV_SHARED_IGNORED, SRV_SHARED_PAUSED,
	                                                SRV_SHARED_CIRCUIT, SRV_SHARED_CLAIMED,
	                                                SRV_SHARED_TARGET};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		assert_int_equal(srv_shared_decide(&v, &lim, ab, 2, 1000, &res), 0);
		assert_int_equal(res.verdict, order[i]);
		assert_null(res.route_window);
		switch (i) {
		case 0:
			v.resolved = 0;
			break;
		case 1:
			v.paused = 0;
			break;
		case 2:
			v.circuit = NULL;
			break;
		case 3:
			v.claimed = 0;
			break;
		default:
			v.target_held = 0;
		}
	}
	/* Free: the run takes its targets and a rate slot in both documents. */
	assert_int_equal(srv_shared_decide(&v, &lim, ab, 2, 1000, &res), 0);
	assert_int_equal(res.verdict, SRV_SHARED_RUN);
	assert_int_equal(json_array_size(json_object_get(res.route_window, "rate")), 1);
	assert_int_equal(json_object_size(json_object_get(res.route_window, "targets")), 2);
	assert_int_equal(json_object_size(json_object_get(res.server_window, "targets")), 2);
	assert_int_equal(json_array_size(json_object_get(res.server_window, "rate")), 0);
	json_t *route = json_incref(res.route_window), *server = json_incref(res.server_window);
	srv_shared_result_clear(&res);
	v.route_window = route;
	v.server_window = server;
	/* c is a third target: the route (3) has room, the server (2) not. */
	assert_int_equal(srv_shared_decide(&v, &lim, c, 1, 1001, &res), 0);
	assert_int_equal(res.verdict, SRV_SHARED_BLAST_SERVER);
	lim.max_targets = 2;
	assert_int_equal(srv_shared_decide(&v, &lim, c, 1, 1001, &res), 0);
	assert_int_equal(res.verdict, SRV_SHARED_BLAST_ROUTE);
	/* a again: no new target; the second rate slot, then the rate is spent. */
	assert_int_equal(srv_shared_decide(&v, &lim, ab, 1, 1010, &res), 0);
	assert_int_equal(res.verdict, SRV_SHARED_RUN);
	json_decref(route);
	route = json_incref(res.route_window);
	v.route_window = route;
	srv_shared_result_clear(&res);
	assert_int_equal(srv_shared_decide(&v, &lim, ab, 1, 1020, &res), 0);
	assert_int_equal(res.verdict, SRV_SHARED_RATE);
	assert_true(res.retry_in > 39.99 && res.retry_in < 40.01);
	/* Limits off: nothing to write. */
	srv_shared_limits none = {0};
	assert_int_equal(srv_shared_decide(&v, &none, ab, 2, 1020, &res), 0);
	assert_int_equal(res.verdict, SRV_SHARED_RUN);
	assert_null(res.route_window);
	assert_null(res.server_window);
	json_decref(route);
	json_decref(server);
	json_decref(open);
}

static void test_stale_age(void **state)
{
	(void)state;
	/* 2026-11-22T02:52:22.625Z is 1795315942.625 s after the epoch. */
	const char *at = "2026-11-22T02:52:22.625Z";
	double wall = 1795315942.625;
	assert_true(fabs(srv_stale_age(at, 0, 0, wall + 90) - 90) < 0.001);
	/* This process saw it longer ago than the wall clock says (the clock was set back):
	 * the longer. */
	assert_true(fabs(srv_stale_age(at, 10, 200, wall + 90) - 190) < 0.001);
	assert_true(fabs(srv_stale_age("not a time", 10, 200, wall) - 190) < 0.001);
	assert_true(srv_stale_age(NULL, 0, 200, wall) < 0);
	/* server.stale_after: 1h by default, 0 turns it off, a duration otherwise. */
	json_error_t jerr;
	srv_conf c;
	char err[512];
	json_t *doc = json_loads("{}", 0, &jerr);
	assert_int_equal(srv_conf_load(doc, NULL, &c, err, sizeof err), 0);
	assert_true(c.stale_after == 3600);
	srv_conf_free(&c);
	json_decref(doc);
	doc = json_loads("{\"server\": {\"stale_after\": \"90s\"}}", 0, &jerr);
	assert_int_equal(srv_conf_load(doc, NULL, &c, err, sizeof err), 0);
	assert_true(c.stale_after == 90);
	srv_conf_free(&c);
	json_decref(doc);
	expect_conf_error("{\"server\": {\"stale_after\": \"-5s\"}}", "server.stale_after");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_dedup),
	    cmocka_unit_test(test_dedup_lru),
	    cmocka_unit_test(test_dedup_room_beside_actives),
	    cmocka_unit_test(test_dedup_changes),
	    cmocka_unit_test(test_strmap),
	    cmocka_unit_test(test_metrics_text),
	    cmocka_unit_test(test_conf),
	    cmocka_unit_test(test_durations_strict),
	    cmocka_unit_test(test_sizes_strict),
	    cmocka_unit_test(test_targets_keys),
	    cmocka_unit_test(test_dedup_each_cooling),
	    cmocka_unit_test(test_plain_prefix),
	    cmocka_unit_test(test_window_docs),
	    cmocka_unit_test(test_breaker_next),
	    cmocka_unit_test(test_shared_decide),
	    cmocka_unit_test(test_stale_age),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
