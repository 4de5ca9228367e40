#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "window.h"

static time_t at(int wday_from_sun, int hour, int min)
{
	/* 2026-11-22 is a Sunday. */
	struct tm tm = {.tm_year = 126,
	                .tm_mon = 10,
	                .tm_mday = 22 + wday_from_sun,
	                .tm_hour = hour,
	                .tm_min = min,
	                .tm_isdst = -1};
	return mktime(&tm);
}

static void test_windows(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(salve_window_contains("Sun 02:00-04:00", at(0, 3, 0), err, sizeof err), 1);
	assert_int_equal(salve_window_contains("Sun 02:00-04:00", at(0, 4, 0), err, sizeof err), 0);
	assert_int_equal(salve_window_contains("Sun 02:00-04:00", at(1, 3, 0), err, sizeof err), 0);
	assert_int_equal(
	    salve_window_contains("Mon-Fri 22:00-06:00", at(5, 23, 0), err, sizeof err),
	    1); /* Fri night */
	assert_int_equal(salve_window_contains("Mon-Fri 22:00-06:00", at(6, 5, 0), err, sizeof err),
	                 1); /* Sat morning: Fri's */
	assert_int_equal(
	    salve_window_contains("Mon-Fri 22:00-06:00", at(6, 23, 0), err, sizeof err),
	    0); /* Sat night */
	assert_int_equal(salve_window_contains("Mon-Fri 22:00-06:00", at(1, 5, 0), err, sizeof err),
	                 0); /* Mon morning: Sun's */
	assert_int_equal(
	    salve_window_contains("Sat,Sun 00:00-23:59", at(0, 12, 0), err, sizeof err), 1);
	assert_int_equal(salve_window_contains("01:00-02:00", at(3, 1, 30), err, sizeof err), 1);
	assert_int_equal(salve_window_contains("Funday 01:00-02:00", at(3, 1, 30), err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "days must be like"));
	assert_int_equal(salve_window_contains("Sun 2am-4am", at(3, 1, 30), err, sizeof err), -1);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_windows)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
