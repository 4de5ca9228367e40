/* Label matchers and route matching: Alertmanager's operators, anchoring, absent labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "matcher.h"
#include "route.h"

static json_t *labels(void)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "alertname", "CheckoutDown", "severity",
	                 "critical", "namespace", "shop", "empty", "");
}

static int matches(const char *text, const json_t *l)
{
	srv_matcher m;
	char err[512];
	if (srv_matcher_parse(text, &m, err, sizeof err) < 0)
		fail_msg("%s: %s", text, err);
	int r = srv_matcher_matches(&m, l);
	srv_matcher_free(&m);
	return r;
}

static void test_operators(void **state)
{
	(void)state;
	json_t *l = labels();
	assert_int_equal(matches("alertname = \"CheckoutDown\"", l), 1);
	assert_int_equal(matches("alertname=CheckoutDown", l), 1);
	assert_int_equal(matches("alertname = CheckoutDow", l), 0);
	assert_int_equal(matches("alertname != \"Other\"", l), 1);
	assert_int_equal(matches("alertname!=CheckoutDown", l), 0);
	assert_int_equal(matches("severity =~ \"critical|page\"", l), 1);
	assert_int_equal(matches("severity !~ \"critical|page\"", l), 0);
	assert_int_equal(matches("namespace =~ \"sh.*\"", l), 1);
	assert_int_equal(matches("namespace =~ \"[a-z]+\"", l), 1);
	json_decref(l);
}

static void test_regex_is_anchored(void **state)
{
	(void)state;
	json_t *l = labels();
	/* Alertmanager anchors: "crit" must not match "critical", nor "ritical". */
	assert_int_equal(matches("severity =~ \"crit\"", l), 0);
	assert_int_equal(matches("severity =~ \"ritical\"", l), 0);
	assert_int_equal(matches("severity =~ \"crit.*\"", l), 1);
	assert_int_equal(matches("severity !~ \"crit\"", l), 1);
	/* Alternation stays inside the anchors: ^(a|b)$, not ^a|b$. */
	assert_int_equal(matches("severity =~ \"warning|crit\"", l), 0);
	json_decref(l);
}

static void test_absent_label_is_empty(void **state)
{
	(void)state;
	json_t *l = labels();
	assert_int_equal(matches("team = \"\"", l), 1);
	assert_int_equal(matches("team != \"\"", l), 0);
	assert_int_equal(matches("team =~ \".*\"", l), 1);
	assert_int_equal(matches("team =~ \".+\"", l), 0);
	assert_int_equal(matches("empty = \"\"", l), 1);
	assert_int_equal(matches("namespace != \"\"", l), 1);
	json_decref(l);
}

static void test_quoting(void **state)
{
	(void)state;
	json_t *l = json_pack("{s:s, s:s}", "summary", "disk \"sda\" full", "path", "C:\\temp");
	assert_int_equal(matches("summary = \"disk \\\"sda\\\" full\"", l), 1);
	assert_int_equal(matches("path = \"C:\\\\temp\"", l), 1);
	assert_int_equal(matches("  summary   =   \"disk \\\"sda\\\" full\"  ", l), 1);
	json_decref(l);
	srv_matcher m;
	char err[512];
	assert_int_equal(srv_matcher_parse("alertname = \"x\"", &m, err, sizeof err), 0);
	char text[128];
	srv_matcher_format(&m, text, sizeof text);
	assert_string_equal(text, "alertname=\"x\"");
	srv_matcher_free(&m);
	assert_int_equal(srv_matcher_parse("a =~ \"b\\\"c\"", &m, err, sizeof err), 0);
	srv_matcher_format(&m, text, sizeof text);
	assert_string_equal(text, "a=~\"b\\\"c\"");
	srv_matcher_free(&m);
}

static void expect_refused(const char *text, const char *words)
{
	srv_matcher m;
	char err[512] = "";
	assert_int_equal(srv_matcher_parse(text, &m, err, sizeof err), -1);
	if (!strstr(err, words))
		fail_msg("%s: \"%s\" does not say \"%s\"", text, err, words);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("= \"x\"", "expected a label name");
	expect_refused("9lives = \"x\"", "expected a label name");
	expect_refused("alertname \"x\"", "expected =, !=, =~ or !~");
	expect_refused("alertname = \"x", "unterminated");
	expect_refused("alertname = \"x\" y", "unexpected text");
	expect_refused("instance =~ \"web-\\d+\"", "\\d (write [0-9])");
	expect_refused("alertname =~ \"(?i)disk\"", "(?...)");
	expect_refused("alertname =~ \"a.*?b\"", "lazy");
	expect_refused("alertname =~ \"a(b\"", "a '(' without its ')'");
	expect_refused("alertname =~ \"[a-\"", "a '[' without its ']'");
}

/* Fuzz bug (tests/fuzz/corpus/matcher/bug-backreference-shifted-by-anchor): a backreference
 * names a group by number, and the anchoring group ^(...)$ shifts the numbers: "(a)\1"
 * would mean something else once pasted in, and "(b\1)" compiled only there. RE2 has no
 * backreferences; a bracketed "\1" stays a literal. */
static void test_regex_backreference_refused(void **state)
{
	(void)state;
	expect_refused(
	    "severity =~ \"(a)\\\\1\"",
	    "refused: a backreference (\\1 to \\9), which Alertmanager's RE2 does not have");
	expect_refused("severity !~ \"(b\\\\5)\"", "a backreference");
	json_t *l = json_pack("{s:s}", "severity", "1");
	assert_int_equal(matches("severity =~ \"[\\\\1]\"", l), 1);
	json_decref(l);
}

/* Fuzz bug #7 (tests/fuzz/corpus/matcher/bug-regex-anchor-escape): pasted into ^(%s)$,
 * "x)|(.*" became ^(x)|(.*)$ and matched every alert. */
static void test_regex_cannot_escape_anchors(void **state)
{
	(void)state;
	expect_refused("severity =~ \"x)|(.*\"", "severity =~ \"x)|(.*\": refused: a ')' without");
	expect_refused("severity !~ \"x)|(.*\"", "a ')' without its '('");
	expect_refused("severity =~ \")(\"", "a ')' without its '('");
	expect_refused("severity =~ \"(x\"", "a '(' without its ')'");
	/* Escaped and bracketed parentheses are literals and need no partner. */
	json_t *l = json_pack("{s:s, s:s}", "severity", "x)", "path", "(a)");
	assert_int_equal(matches("severity =~ \"x\\\\)\"", l), 1);
	assert_int_equal(matches("severity =~ \"x[)]\"", l), 1);
	assert_int_equal(matches("severity =~ \"y|x[)]\"", l), 1);
	assert_int_equal(matches("path =~ \"[(]a[)]\"", l), 1);
	assert_int_equal(matches("path =~ \"[]()]a[])]\"", l), 1);
	assert_int_equal(matches("path =~ \"[[:punct:]]a[[:punct:]]\"", l), 1);
	json_decref(l);
	/* An escaped ')' cannot close the '(' that follows it. */
	expect_refused("severity =~ \"x\\\\)|(.*\"", "a '(' without its ')'");
}

/* Fuzz bug #8 (tests/fuzz/corpus/matcher/bug-nested-quantifier-blowup): glibc's regcomp
 * took seconds and hundreds of MB on stacked quantifiers. They are refused before regcomp. */
static void test_regex_repetition_limits(void **state)
{
	(void)state;
	expect_refused("severity =~ \"a++++++++++++++++++++\"",
	               "severity =~ \"a++++++++++++++++++++\": refused: nested or stacked "
	               "repetition");
	static const char *const bad[] = {"a**",   "a+?",       "a*{2}",    "a{2}{3}",   "(a+)*",
	                                  "(a*)+", "(a|b*){2}", "((a+)b)*", "x(y(z?))+", "[ab]+*"};
	char text[64];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "job =~ \"%s\"", bad[i]);
		expect_refused(text, "job =~");
	}
	expect_refused("job =~ \"*a\"", "nothing to repeat");
	expect_refused("job =~ \"a|+\"", "nothing to repeat");
	expect_refused("job =~ \"a{1001}\"", "a repeat count above 1000");
	expect_refused(
	    "job =~ \"((((((((((((((((((((((((((((((((((x))))))))))))))))))))))))))))))))"
	    "))\"",
	    "groups nested more than 32 deep");
	/* Ordinary patterns keep working. */
	json_t *l = json_pack("{s:s, s:s, s:s, s:s}", "job", "api-server", "code", "503", "s",
	                      "aaab", "braces", "a{b}");
	assert_int_equal(matches("job =~ \"(api|web)-.*\"", l), 1);
	assert_int_equal(matches("code =~ \"5..\"", l), 1);
	assert_int_equal(matches("s =~ \"a+b*\"", l), 1);
	assert_int_equal(matches("s =~ \"a{3}b?\"", l), 1);
	assert_int_equal(matches("s =~ \"(a|b){4}\"", l), 1);
	assert_int_equal(matches("s =~ \"a\\\\+*b\"", l), 0); /* a literal '+' repeated */
	assert_int_equal(matches("braces =~ \"a[{]b[}]\"", l), 1);
	json_decref(l);
}

static srv_routes load_routes(const char *yaml_json)
{
	json_error_t jerr;
	json_t *doc = json_loads(yaml_json, 0, &jerr);
	if (!doc)
		fail_msg("bad test JSON: %s", jerr.text);
	srv_routes r;
	char err[1024];
	if (srv_routes_load(doc, "/etc/salve/salve.yaml", NULL, &r, err, sizeof err) < 0)
		fail_msg("%s", err);
	json_decref(doc);
	return r;
}

static void test_route_match_explains(void **state)
{
	(void)state;
	srv_routes r =
	    load_routes("{\"routes\": [{\"name\": \"a\", \"runbook\": \"x.lua\", \"matchers\": "
	                "[\"alertname = CheckoutDown\", \"severity =~ warning\"]},"
	                "{\"name\": \"b\", \"runbook\": \"/abs/y.lua\", \"match\": {\"alertname\": "
	                "\"CheckoutDown\"}, \"match_re\": {\"team\": \"ops|sre\"}}]}");
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].runbook, "/etc/salve/x.lua");
	assert_string_equal(r.v[1].runbook, "/abs/y.lua");
	json_t *l = labels();
	char why[512];
	assert_int_equal(srv_route_match(&r.v[0], l, why, sizeof why), 0);
	assert_string_equal(why, "severity=~\"warning\" does not hold: severity is \"critical\"");
	assert_int_equal(srv_route_match(&r.v[1], l, why, sizeof why), 0);
	assert_string_equal(why, "team=~\"ops|sre\" does not hold: the alert has no team label");
	json_object_set_new(l, "team", json_string("sre"));
	assert_int_equal(srv_route_match(&r.v[1], l, why, sizeof why), 1);
	json_decref(l);
	srv_routes_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_operators),
	    cmocka_unit_test(test_regex_is_anchored),
	    cmocka_unit_test(test_regex_cannot_escape_anchors),
	    cmocka_unit_test(test_regex_backreference_refused),
	    cmocka_unit_test(test_regex_repetition_limits),
	    cmocka_unit_test(test_absent_label_is_empty),
	    cmocka_unit_test(test_quoting),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_route_match_explains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
