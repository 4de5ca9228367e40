/* Payload parsing with the Alertmanager 0.25 captures, time normalization, fingerprints and
 * the dedup keys built from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"
#include "util.h"

static json_t *fixture(const char *name)
{
	const char *dir = getenv("SALVE_FIXTURES_DIR");
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir ? dir : "../fixtures", name);
	size_t len;
	char *text = salve_read_file(path, &len);
	if (!text)
		fail_msg("cannot read %s", path);
	char err[512];
	json_t *v = srv_alert_parse_json(text, len, 32, err, sizeof err);
	free(text);
	if (!v)
		fail_msg("%s: %s", path, err);
	return v;
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		fail_msg("no string %s", key);
	return s;
}

static void test_firing_fixture(void **state)
{
	(void)state;
	json_t *p = fixture("alertmanager-payload-firing.json");
	char err[512];
	json_t *alerts = srv_alerts_from_alertmanager(p, err, sizeof err);
	assert_non_null(alerts);
	assert_int_equal(json_array_size(alerts), 1);
	json_t *a = json_array_get(alerts, 0);
	assert_string_equal(str(a, "status"), "firing");
	assert_string_equal(str(a, "fingerprint"), "ff878461ae8abf23");
	assert_string_equal(str(a, "startsAt"), "2026-11-22T02:52:22.625Z");
	/* Alertmanager's zero time while firing means "not set". */
	assert_string_equal(str(a, "endsAt"), "");
	assert_string_equal(str(a, "receiver"), "webhook");
	assert_string_equal(str(json_object_get(a, "labels"), "deployment"), "web");
	assert_string_equal(str(json_object_get(a, "annotations"), "summary"),
	                    "checkout web deployment is down");
	assert_string_equal(str(json_object_get(a, "groupLabels"), "service"), "checkout");
	assert_string_equal(str(a, "generatorURL"),
	                    "http://vm:19090/graph?g0.expr=vector%281%29&g0.tab=1");
	/* Our fingerprint of the labels is Alertmanager's. */
	char fp[32];
	srv_alert_fingerprint(json_object_get(a, "labels"), fp, sizeof fp);
	assert_string_equal(fp, "ff878461ae8abf23");
	json_decref(alerts);
	json_decref(p);
}

static void test_resolved_fixture_same_occurrence(void **state)
{
	(void)state;
	json_t *pf = fixture("alertmanager-payload-firing.json");
	json_t *pr = fixture("alertmanager-payload-resolved.json");
	char err[512];
	json_t *f = srv_alerts_from_alertmanager(pf, err, sizeof err);
	json_t *r = srv_alerts_from_alertmanager(pr, err, sizeof err);
	json_t *af = json_array_get(f, 0), *ar = json_array_get(r, 0);
	assert_string_equal(str(ar, "status"), "resolved");
	assert_string_equal(str(ar, "endsAt"), "2026-11-22T02:53:48.625Z");
	char kf[512], kr[512], kres[512];
	srv_alert_occurrence_key("route", af, 0, kf, sizeof kf);
	srv_alert_occurrence_key("route", ar, 0, kr, sizeof kr);
	srv_alert_occurrence_key("route", ar, 1, kres, sizeof kres);
	assert_string_equal(kf, kr);
	assert_string_not_equal(kf, kres);
	json_decref(f);
	json_decref(r);
	json_decref(pf);
	json_decref(pr);
}

static void expect_time(const char *in, const char *want)
{
	char out[64];
	if (srv_alert_time_normalize(in, out, sizeof out) < 0)
		fail_msg("%s refused", in);
	assert_string_equal(out, want);
}

static void test_times(void **state)
{
	(void)state;
	expect_time("2026-11-22T02:52:22.625Z", "2026-11-22T02:52:22.625Z");
	expect_time("2026-11-22T02:52:22.625000000Z", "2026-11-22T02:52:22.625Z");
	expect_time("2026-11-22T02:52:22.625123456Z", "2026-11-22T02:52:22.625123456Z");
	expect_time("2026-11-22T02:52:22.6251234567Z", "2026-11-22T02:52:22.625123456Z");
	expect_time("2026-11-22T02:52:22Z", "2026-11-22T02:52:22Z");
	expect_time("2026-11-22T02:52:22.000Z", "2026-11-22T02:52:22Z");
	expect_time("2026-11-22T04:52:22.625+02:00", "2026-11-22T02:52:22.625Z");
	expect_time("2026-11-21T23:22:22.625-03:30", "2026-11-22T02:52:22.625Z");
	expect_time("2026-11-22t02:52:22z", "2026-11-22T02:52:22Z");
	expect_time("0001-01-01T00:00:00Z", "");
	char out[64];
	const char *bad[] = {"2026-11-22",
	                     "2026-11-22T02:52:22",
	                     "2026-13-22T02:52:22Z",
	                     "2026-11-22T02:52:22.Z",
	                     "yesterday",
	                     "2026-11-22T02:52:22+0200",
	                     "2026-11-22T02:52:22Zjunk"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (srv_alert_time_normalize(bad[i], out, sizeof out) == 0)
			fail_msg("%s accepted as %s", bad[i], out);
}

/* Fuzz bug #9 (tests/fuzz/corpus/alert/bug-year-below-1000.json): strftime's %Y printed
 * year 999 as "999-12-31T...", which is not RFC 3339. Four digits always; an offset that
 * carries the time out of years 1..9999 is refused. */
static void test_times_four_digit_years(void **state)
{
	(void)state;
	json_error_t jerr;
	json_t *p = json_loads("{\"labels\":{\"alertname\":\"Old\"},"
	                       "\"startsAt\":\"0999-12-31T23:00:00Z\"}",
	                       0, &jerr);
	char err[512] = "";
	json_t *a = srv_alerts_from_generic(p, err, sizeof err);
	if (!a)
		fail_msg("%s", err);
	assert_string_equal(str(json_array_get(a, 0), "startsAt"), "0999-12-31T23:00:00Z");
	json_decref(a);
	json_decref(p);

	expect_time("0009-03-04T05:06:07.5Z", "0009-03-04T05:06:07.5Z");
	expect_time("1000-01-01T00:30:00+01:00", "0999-12-31T23:30:00Z");
	expect_time("0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00Z");
	expect_time("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z");
	const char *bad[] = {"0000-06-01T00:00:00Z", "0001-01-01T00:30:00+01:00",
	                     "9999-12-31T23:30:00-01:00"};
	char out[64];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (srv_alert_time_normalize(bad[i], out, sizeof out) == 0)
			fail_msg("%s accepted as %s", bad[i], out);
}

static void expect_payload_error(const char *json, int generic, const char *words)
{
	json_error_t jerr;
	json_t *p = json_loads(json, JSON_DECODE_ANY, &jerr);
	if (!p)
		fail_msg("bad test JSON %s", json);
	char err[512] = "";
	json_t *a = generic ? srv_alerts_from_generic(p, err, sizeof err)
	                    : srv_alerts_from_alertmanager(p, err, sizeof err);
	json_decref(p);
	if (a) {
		json_decref(a);
		fail_msg("%s accepted", json);
	}
	if (!strstr(err, words))
		fail_msg("%s: \"%s\" does not say \"%s\"", json, err, words);
}

static void test_payload_errors(void **state)
{
	(void)state;
	expect_payload_error("[]", 0, "must be a JSON object");
	expect_payload_error("{\"version\": \"3\", \"alerts\": []}", 0, "version \"4\"");
	expect_payload_error("{\"version\": \"4\"}", 0, "alerts: must be an array (missing)");
	expect_payload_error(
	    "{\"alerts\": [{\"labels\": {\"a\": \"b\"}}, {\"labels\": {\"a\": 1}}]}", 0,
	    "alerts[1].labels.a: must be a string, not integer");
	expect_payload_error("{\"alerts\": [{\"labels\": {}}]}", 0, "at least one label");
	expect_payload_error("{\"alerts\": [{\"labels\": {\"a\": \"b\"}, \"status\": \"ok\"}]}", 0,
	                     "alerts[0].status");
	expect_payload_error("{\"alerts\": [{\"labels\": {\"a\": \"b\"}, \"startsAt\": \"noon\"}]}",
	                     0, "alerts[0].startsAt: not an RFC 3339 time");
	expect_payload_error("{\"annotations\": {\"a\": \"b\"}}", 1, "alert.labels");
	expect_payload_error("[{\"labels\": {\"a\": \"b\"}}, 3]", 1, "[1]: must be an object");
	expect_payload_error("\"text\"", 1, "the payload must be an alert object");
}

static void test_generic_forms(void **state)
{
	(void)state;
	const char *forms[] = {
	    "{\"labels\": {\"alertname\": \"CheckoutDown\", \"deployment\": \"web\", "
	    "\"namespace\": "
	    "\"shop\", \"service\": \"checkout\", \"severity\": \"critical\"}}",
	    "[{\"labels\": {\"alertname\": \"CheckoutDown\", \"deployment\": \"web\", "
	    "\"namespace\": \"shop\", \"service\": \"checkout\", \"severity\": \"critical\"}}]",
	    "{\"alerts\": [{\"labels\": {\"severity\": \"critical\", \"alertname\": "
	    "\"CheckoutDown\", \"deployment\": \"web\", \"namespace\": \"shop\", \"service\": "
	    "\"checkout\"}}]}",
	};
	for (size_t i = 0; i < 3; i++) {
		json_error_t jerr;
		json_t *p = json_loads(forms[i], 0, &jerr);
		char err[512];
		json_t *a = srv_alerts_from_generic(p, err, sizeof err);
		assert_non_null(a);
		assert_int_equal(json_array_size(a), 1);
		json_t *x = json_array_get(a, 0);
		assert_string_equal(str(x, "status"), "firing");
		/* Computed the way Alertmanager does: the same labels, the fixture's print. */
		assert_string_equal(str(x, "fingerprint"), "ff878461ae8abf23");
		assert_string_equal(str(x, "startsAt"), "");
		assert_int_equal(json_object_size(json_object_get(x, "annotations")), 0);
		json_decref(a);
		json_decref(p);
	}
}

static void test_json_limits(void **state)
{
	(void)state;
	char err[512];
	json_t *v = srv_alert_parse_json("{\"a\": [1, 2", 11, 32, err, sizeof err);
	assert_null(v);
	assert_non_null(strstr(err, "invalid JSON at line 1 column"));
	char deep[200];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	assert_null(srv_alert_parse_json(deep, n, 32, err, sizeof err));
	assert_string_equal(err, "JSON nested 40 levels deep; at most 32 are accepted");
	v = srv_alert_parse_json(deep, n, 40, err, sizeof err);
	assert_non_null(v);
	assert_int_equal(srv_alert_json_depth(v), 40);
	json_decref(v);
	v = json_integer(1);
	assert_int_equal(srv_alert_json_depth(v), 0);
	json_decref(v);
}

static void test_keys(void **state)
{
	(void)state;
	json_t *a = json_pack("{s:s, s:s}", "fingerprint", "ff878461ae8abf23", "startsAt",
	                      "2026-11-22T02:52:22.625Z");
	char k1[256], k2[256], t1[256], t2[256], t3[256];
	srv_alert_occurrence_key("r1", a, 0, k1, sizeof k1);
	srv_alert_occurrence_key("r2", a, 0, k2, sizeof k2);
	assert_string_equal(k1, "o\x1f"
	                        "r1\x1f"
	                        "ff878461ae8abf23\x1f"
	                        "2026-11-22T02:52:22.625Z");
	assert_string_not_equal(k1, k2);
	json_object_set_new(a, "startsAt", json_string("2026-11-22T03:00:00Z"));
	srv_alert_occurrence_key("r1", a, 0, k2, sizeof k2);
	assert_string_not_equal(k1, k2); /* a new occurrence of the same alert */
	srv_alert_target_key("r1", "{\"ns\":\"shop\"}", t1, sizeof t1);
	srv_alert_target_key("r1", "{\"ns\":\"shop\"}", t2, sizeof t2);
	srv_alert_target_key("r1", "{\"ns\":\"cart\"}", t3, sizeof t3);
	assert_string_equal(t1, t2);
	assert_string_not_equal(t1, t3);
	assert_int_equal(strlen(t1), 2 + 2 + 1 + 64);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_firing_fixture),
	    cmocka_unit_test(test_resolved_fixture_same_occurrence),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_times_four_digit_years),
	    cmocka_unit_test(test_payload_errors),
	    cmocka_unit_test(test_generic_forms),
	    cmocka_unit_test(test_json_limits),
	    cmocka_unit_test(test_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
