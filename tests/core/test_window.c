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

/* Fuzz finding 14: 24:30 was accepted (the window then ended at 24:00), and sscanf's %d took
 * " 2: 0" and "+2:00". Only HH:MM with two digits each, 00:00 to 24:00, is a time. */
static void test_times_are_two_digits_each_up_to_24_00(void **state)
{
	(void)state;
	static const char *const refused[] = {
	    "22:00-24:30", "Sun 22:00-24:01", " 2: 0-04:00",
	    "+2:00-04:00", "02:00-+4:00",     "2:00-04:00",
	    "02:0-04:00",  "02:00-04:00 ",    "02:00-04:00x",
	    "24:00-02:00", "02:60-04:00",     "02:00--4:00",
	    "02:00 04:00", "02:00-04:00-",    "Sun  02:00-04:00",
	    "-1:00-04:00", "0x:00-04:00",     "",
	    "02:00-",      "02:00-4",
	};
	char err[256];
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		err[0] = '\0';
		if (salve_window_contains(refused[i], at(0, 3, 0), err, sizeof err) != -1)
			fail_msg("window \"%s\" was accepted", refused[i]);
		char want[128];
		snprintf(want, sizeof want, "window \"%s\": ", refused[i]);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("window \"%s\": error \"%s\" does not name it", refused[i], err);
	}
	assert_int_equal(salve_window_contains("22:00-24:30", at(0, 3, 0), err, sizeof err), -1);
	assert_string_equal(err, "window \"22:00-24:30\": times must be like 02:00-04:00 (HH:MM, "
	                         "00:00 to 24:00)");

	/* 24:00 ends a window at midnight; 00:00-24:00 is the whole day. */
	assert_int_equal(salve_window_contains("Sun 22:00-24:00", at(0, 23, 59), err, sizeof err),
	                 1);
	assert_int_equal(salve_window_contains("Sun 22:00-24:00", at(1, 0, 0), err, sizeof err), 0);
	assert_int_equal(salve_window_contains("Sun 22:00-24:00", at(0, 21, 59), err, sizeof err),
	                 0);
	assert_int_equal(salve_window_contains("00:00-24:00", at(3, 0, 0), err, sizeof err), 1);
	assert_int_equal(salve_window_contains("00:00-24:00", at(3, 23, 59), err, sizeof err), 1);
	assert_int_equal(salve_window_contains("23:59-00:01", at(4, 0, 0), err, sizeof err), 1);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_windows),
	    cmocka_unit_test(test_times_are_two_digits_each_up_to_24_00),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
