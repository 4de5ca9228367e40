/* The one duration grammar (core/duration): what it takes, and every near miss it refuses. */
#include <math.h>
#include <string.h>

#include "duration.h"
#include "testutil.h"

static void accepts(const char *text, double want)
{
	double s = -1;
	if (salve_parse_duration(text, &s) != 0)
		fail_msg("\"%s\" was refused", text);
	if (fabs(s - want) > 1e-9)
		fail_msg("\"%s\" gave %.9f, want %.9f", text, s, want);
}

static void refuses(const char *text)
{
	double s = 42;
	if (salve_parse_duration(text, &s) == 0)
		fail_msg("\"%s\" was accepted as %f", text, s);
	assert_true(s == 42); /* untouched on error */
}

static void test_grammar(void **state)
{
	(void)state;
	accepts("30s", 30);
	accepts("5m", 300);
	accepts("2h30m", 9000);
	accepts("1d12h", 129600);
	accepts("250ms", 0.25);
	accepts("1.5s", 1.5);
	accepts("1m30s500ms", 90.5);
	accepts("12", 12);
	accepts("0.5", 0.5);
	accepts("0", 0);
	accepts("0s", 0);
}

static void test_refuses_what_strtod_would_take(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",      "nan",    "NaN",  "inf",    "infinity", "-inf", "nans", "infs",
	    "0x10",  "0x1p4s", "1e3",  "1e3s",   "-5s",      "+5s",  " 5s",  "5s ",
	    "5 s",   "5min",   "m",    "s",      "5x",       "5s3",  "1.",   ".5",
	    "1..5s", "5ss",    "3msx", "1h-30m", "10 ",      "\t1s", "1,5s", "99999999999999999999",
	    "4000d", "1e400"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		refuses(bad[i]);
}

static void test_upper_bound(void **state)
{
	(void)state;
	accepts("3650d", SALVE_DURATION_MAX);
	refuses("3650d1s");
	refuses("87600h1ms");
}

static void test_from_json(void **state)
{
	(void)state;
	double s = -1;
	json_t *v = json_integer(90);
	assert_int_equal(salve_duration_from_json(v, &s), 0);
	assert_true(s == 90);
	json_decref(v);
	v = json_real(0.25);
	assert_int_equal(salve_duration_from_json(v, &s), 0);
	assert_true(s == 0.25);
	json_decref(v);
	v = json_string("1h");
	assert_int_equal(salve_duration_from_json(v, &s), 0);
	assert_true(s == 3600);
	json_decref(v);
	json_t *bad[] = {json_integer(-1), json_real(1e12), json_string("nan"), json_true(),
	                 json_null(),      json_object(),   json_string("")};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		s = 7;
		assert_int_equal(salve_duration_from_json(bad[i], &s), -1);
		assert_true(s == 7);
		json_decref(bad[i]);
	}
	assert_int_equal(salve_duration_from_json(NULL, &s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grammar),
	    cmocka_unit_test(test_refuses_what_strtod_would_take),
	    cmocka_unit_test(test_upper_bound),
	    cmocka_unit_test(test_from_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
