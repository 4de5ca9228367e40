/* What a route gives an alert (core/serve/render.c): its params and target, the refusal of
 * host patterns and lists from alert values, and the targets a run reaches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"
#include "route.h"

static void test_route_render_and_target(void **state)
{
	(void)state;
	json_error_t jerr;
	json_t *doc = json_loads(
	    "{\"routes\": [{\"name\": \"crash\", \"runbook\": \"r.lua\", \"params\": "
	    "{\"namespace\": "
	    "\"{{ labels.namespace }}\", \"pod\": \"{{ labels.pod }}\"}, \"target\": \"{{ "
	    "labels.namespace }}\"}, {\"name\": \"plain\", \"runbook\": \"r.lua\", \"params\": "
	    "{\"b\": \"{{ labels.pod }}\", \"a\": 1}, \"on_resolved\": {\"runbook\": \"done.lua\", "
	    "\"params\": {\"ns\": \"{{ labels.namespace }}\"}}}]}",
	    0, &jerr);
	srv_routes r;
	char err[1024];
	assert_int_equal(srv_routes_load(doc, "/srv/salve.yaml", "runbooks", &r, err, sizeof err),
	                 0);
	assert_string_equal(r.v[0].runbook, "/srv/runbooks/r.lua");
	assert_string_equal(r.v[1].resolved_runbook, "/srv/runbooks/done.lua");
	assert_int_equal(r.v[1].on_resolved, SRV_RESOLVED_RUN);
	json_t *c = json_pack("{s:s, s:{s:s, s:s}, s:s}", "status", "firing", "labels", "namespace",
	                      "shop", "pod", "web-7d9f", "fingerprint", "0123456789abcdef");
	json_t *params;
	char *target;
	assert_int_equal(srv_render_params(&r.v[0], c, 0, &params, &target, err, sizeof err), 0);
	assert_string_equal(target, "shop");
	free(target);
	json_decref(params);
	assert_int_equal(srv_render_params(&r.v[1], c, 0, &params, &target, err, sizeof err), 0);
	/* Without a target template the target is the params as canonical JSON. */
	assert_string_equal(target, "{\"a\":1,\"b\":\"web-7d9f\"}");
	free(target);
	json_decref(params);
	assert_int_equal(srv_render_params(&r.v[1], c, 1, &params, &target, err, sizeof err), 0);
	assert_string_equal(json_string_value(json_object_get(params, "ns")), "shop");
	free(target);
	json_decref(params);
	json_decref(c);
	srv_routes_free(&r);
	json_decref(doc);
}

static srv_routes load_routes(const char *json)
{
	json_error_t jerr;
	json_t *doc = json_loads(json, 0, &jerr);
	if (!doc)
		fail_msg("bad test JSON: %s", jerr.text);
	srv_routes r;
	char err[1024];
	if (srv_routes_load(doc, "/srv/salve.yaml", NULL, &r, err, sizeof err) < 0)
		fail_msg("%s", err);
	json_decref(doc);
	return r;
}

static json_t *host_alert(const char *host)
{
	return json_pack("{s:s, s:{s:s, s:s}, s:{s:s}, s:s, s:s}", "status", "firing", "labels",
	                 "alertname", "DiskFull", "host", host, "annotations", "summary",
	                 "disk full: 99%", "fingerprint", "0123456789abcdef", "startsAt",
	                 "2026-11-22T02:52:22.625Z");
}

/* F9: one alert whose label says "all" or "web*" must not reach the whole fleet. */
static void test_patterns_refused(void **state)
{
	(void)state;
	srv_routes r = load_routes(
	    "{\"routes\": [{\"name\": \"disk\", \"runbook\": \"r.lua\", \"params\": {\"hosts\": "
	    "\"{{ labels.host }}\", \"note\": \"{{ annotations.summary }}\", \"since\": \"{{ "
	    "startsAt }}\", \"group\": \"{{ labels.group | default \\\"all\\\" }}\"}, "
	    "\"allow_patterns\": [\"note\"]}]}");
	static const struct {
		const char *host, *what;
	} bad[] = {{"all", "the word all"},
	           {"ALL", "the word all"},
	           {"*", "'*'"},
	           {"s*", "'*'"},
	           {"web?", "'?'"},
	           {"a,b", "','"},
	           {"web:&prod", "':'"},
	           {"!db1", "'!'"},
	           {"~web.*", "'~'"},
	           {"web[1:3]", "'['"},
	           {"web1 web2", "whitespace"},
	           {"web1\nx", "whitespace"}};
	char err[1024];
	json_t *params;
	char *target;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *a = host_alert(bad[i].host);
		assert_int_equal(
		    srv_render_params(&r.v[0], a, 0, &params, &target, err, sizeof err), -2);
		assert_null(params);
		if (!strstr(err, "params.hosts: labels.host is") || !strstr(err, bad[i].what) ||
		    !strstr(err, "allow_patterns: [hosts]"))
			fail_msg("%s: %s", bad[i].host, err);
		json_decref(a);
	}
	/* One host name passes; the annotation with spaces and ':' is allowed by name; the
	 * normalized startsAt and the route's own default "all" are not values from the alert. */
	json_t *a = host_alert("db1.example.org");
	assert_int_equal(srv_render_params(&r.v[0], a, 0, &params, &target, err, sizeof err), 0);
	assert_string_equal(json_string_value(json_object_get(params, "hosts")), "db1.example.org");
	assert_string_equal(json_string_value(json_object_get(params, "note")), "disk full: 99%");
	assert_string_equal(json_string_value(json_object_get(params, "since")),
	                    "2026-11-22T02:52:22.625Z");
	assert_string_equal(json_string_value(json_object_get(params, "group")), "all");
	json_decref(params);
	free(target);
	json_decref(a);
	srv_routes_free(&r);
}

static json_t *targets_of(const srv_route *route, const char *host, int *unbounded)
{
	char err[1024];
	json_t *a = host_alert(host), *t;
	if (srv_render_targets(route, a, 0, &t, unbounded, err, sizeof err) < 0)
		fail_msg("%s", err);
	json_decref(a);
	return t;
}

static void expect_targets(const srv_route *route, const char *host, const char *want)
{
	int unbounded = 1;
	json_t *t = targets_of(route, host, &unbounded);
	char *got = json_dumps(t, JSON_COMPACT);
	assert_false(unbounded);
	assert_string_equal(got, want);
	free(got);
	json_decref(t);
}

static void expect_unbounded(const srv_route *route, const char *host)
{
	int unbounded = 0;
	json_t *t = targets_of(route, host, &unbounded);
	if (!unbounded)
		fail_msg("%s counted as bounded", host);
	json_decref(t);
}

/* Blast radius counts hosts, not alerts: a list allow_patterns let through is one target
 * per host; a pattern cannot be counted. */
static void test_targets_count_hosts(void **state)
{
	(void)state;
	srv_routes r = load_routes(
	    "{\"routes\": [{\"name\": \"t\", \"runbook\": \"r.lua\", \"params\": {\"hosts\": "
	    "\"{{ labels.host }}\"}, \"target\": \"host/{{ labels.host }}\", \"allow_patterns\": "
	    "true}, {\"name\": \"p\", \"runbook\": \"r.lua\", \"params\": {\"hosts\": \"{{ "
	    "labels.host }}\", \"n\": 1}, \"allow_patterns\": [\"hosts\"]}]}");
	expect_targets(&r.v[0], "web1", "[\"host/web1\"]");
	expect_targets(&r.v[0], "web1,web2:web3", "[\"host/web1\",\"host/web2\",\"host/web3\"]");
	expect_targets(&r.v[0], "web1 web2", "[\"host/web1\",\"host/web2\"]");
	/* Exclusions and intersections reach nothing more. */
	expect_targets(&r.v[0], "web1:!web2:&prod", "[\"host/web1\"]");
	/* Without a target template the targets are the params, one host each. */
	expect_targets(&r.v[1], "a,b",
	               "[\"{\\\"hosts\\\":\\\"a\\\",\\\"n\\\":1}\","
	               "\"{\\\"hosts\\\":\\\"b\\\",\\\"n\\\":1}\"]");
	expect_unbounded(&r.v[0], "all");
	expect_unbounded(&r.v[0], "web*");
	expect_unbounded(&r.v[0], "web1,db[1:9]");
	expect_unbounded(&r.v[0], "~db.*");
	expect_unbounded(&r.v[1], "all:!db1");
	srv_routes_free(&r);

	/* A pattern in a param the target template leaves out still cannot be counted. */
	r = load_routes("{\"routes\": [{\"name\": \"t\", \"runbook\": \"r.lua\", \"params\": "
	                "{\"hosts\": \"{{ labels.host }}\"}, \"target\": \"fixed\", "
	                "\"allow_patterns\": true}]}");
	expect_unbounded(&r.v[0], "*");
	expect_targets(&r.v[0], "web1,web2", "[\"fixed\"]");
	srv_routes_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_render_and_target),
	    cmocka_unit_test(test_patterns_refused),
	    cmocka_unit_test(test_targets_count_hosts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
