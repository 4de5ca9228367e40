/* Templates: what text an alert produces, and the errors people see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tmpl.h"

static json_t *ctx(void)
{
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s}, s:s, s:s, s:{s:s}}", "status",
	                 "firing", "labels", "alertname", "KubePodCrashLooping", "namespace",
	                 "shop", "pod", "web-7d9f", "container", "", "annotations", "summary",
	                 "web crash-loops", "fingerprint", "0123456789abcdef", "startsAt",
	                 "2026-11-22T02:52:22.625Z", "groupLabels", "cluster", "eu1");
}

static char *render(const char *text)
{
	char err[512];
	json_t *c = ctx();
	char *out = srv_tmpl_render(text, c, err, sizeof err);
	json_decref(c);
	if (!out)
		fail_msg("%s: %s", text, err);
	return out;
}

static void expect_render(const char *text, const char *want)
{
	char *got = render(text);
	assert_string_equal(got, want);
	free(got);
}

static void test_render(void **state)
{
	(void)state;
	expect_render("{{ labels.namespace }}", "shop");
	expect_render("{{labels.namespace}}/{{ labels.pod }}", "shop/web-7d9f");
	expect_render("no placeholders", "no placeholders");
	expect_render("{{ annotations.summary }}", "web crash-loops");
	expect_render("{{ fingerprint }}@{{ startsAt }}",
	              "0123456789abcdef@2026-11-22T02:52:22.625Z");
	expect_render("{{ groupLabels.cluster }}", "eu1");
	expect_render("{{ labels.team | default \"ops\" }}", "ops");
	/* An empty label counts as absent, as in Alertmanager. */
	expect_render("{{ labels.container | default \"main\" }}", "main");
	expect_render("{{ labels.container | default \"\" }}x", "x");
	expect_render("json {\"a\":{\"b\":1}} stays", "json {\"a\":{\"b\":1}} stays");
	/* Label values are data: nothing in them is interpreted. */
	json_t *c = ctx();
	json_object_set_new(json_object_get(c, "labels"), "pod",
	                    json_string("$(rm -rf /) {{ x }}"));
	char err[512];
	char *out = srv_tmpl_render("{{ labels.pod }}", c, err, sizeof err);
	assert_string_equal(out, "$(rm -rf /) {{ x }}");
	free(out);
	json_decref(c);
}

static void expect_error(const char *text, int at_render, const char *words)
{
	char err[512] = "";
	json_t *c = ctx();
	int failed = at_render ? srv_tmpl_render(text, c, err, sizeof err) == NULL
	                       : srv_tmpl_check(text, err, sizeof err) < 0;
	json_decref(c);
	if (!failed)
		fail_msg("%s: accepted", text);
	if (!strstr(err, words))
		fail_msg("%s: \"%s\" does not say \"%s\"", text, err, words);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{{ labels.namespace", 0, "unclosed {{");
	expect_error("{{ label.namespace }}", 0, "unknown name \"label\"");
	expect_error("{{ labels }}", 0, "labels needs a key");
	expect_error("{{ labels.a | upper }}", 0, "the only filter is | default");
	expect_error("{{ labels.a | default x }}", 0, "default takes a quoted value");
	expect_error("{{ }}", 0, "expected a name");
	expect_error("{{ labels.deployment }}", 1, "labels.deployment is not set on the alert");
	/* check accepts what render needs an alert for. */
	char err[256];
	assert_int_equal(srv_tmpl_check("{{ labels.deployment }}", err, sizeof err), 0);
}

static void test_render_json(void **state)
{
	(void)state;
	json_error_t jerr;
	json_t *tmpl = json_loads("{\"ns\": \"{{ labels.namespace }}\", \"replicas\": 3, \"dry\": "
	                          "true, \"tags\": [\"{{ labels.pod }}\", \"x\"]}",
	                          0, &jerr);
	json_t *c = ctx();
	char err[512];
	json_t *out = srv_tmpl_render_json(tmpl, c, "params", err, sizeof err);
	assert_non_null(out);
	char *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    s, "{\"dry\":true,\"ns\":\"shop\",\"replicas\":3,\"tags\":[\"web-7d9f\",\"x\"]}");
	free(s);
	json_decref(out);
	json_t *bad = json_pack("{s:[s]}", "tags", "{{ labels.nope }}");
	assert_null(srv_tmpl_render_json(bad, c, "params", err, sizeof err));
	assert_non_null(strstr(err, "params.tags[0]: labels.nope is not set"));
	assert_int_equal(srv_tmpl_check_json(bad, "params", err, sizeof err), 0);
	json_decref(bad);
	json_decref(tmpl);
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_render_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
