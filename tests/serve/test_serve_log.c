/* What salve serve writes to its log: alert text can never start a line of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "host.h"
#include "log.h"

static void expect_escape(const char *in, const char *want)
{
	char out[256];
	assert_string_equal(srv_log_escape(in, out, sizeof out), want);
}

static void test_escape(void **state)
{
	(void)state;
	/* The F11 attack: a label that forges a second log line. */
	expect_escape("web\nsalve: info: serve: run FAKE: success (exit 0)",
	              "web\\nsalve: info: serve: run FAKE: success (exit 0)");
	expect_escape("a\rb\tc", "a\\rb\\tc");
	expect_escape("\x1b[32mOK\x1b[0m", "\\x1b[32mOK\\x1b[0m");
	expect_escape("del\x7f nul-free \x01", "del\\x7f nul-free \\x01");
	/* C1 controls (U+009B is CSI) and bytes that are not UTF-8. */
	expect_escape("x\xc2\x9b"
	              "2J",
	              "x\\u009b2J");
	expect_escape("lone \x9b and \xff", "lone \\x9b and \\xff");
	expect_escape("\xe2\x82", "\\xe2\\x82"); /* a cut sequence */
	/* Printable text is kept as it is, UTF-8 and backslashes included. */
	expect_escape("caf\xc3\xa9 \xe2\x9c\x93 C:\\x", "caf\xc3\xa9 \xe2\x9c\x93 C:\\x");
	expect_escape("", "");
	expect_escape(NULL, "");
}

static void test_escape_truncates_whole(void **state)
{
	(void)state;
	char out[6];
	/* "ab" fits, "\n" (two bytes) would leave no room for the terminator: cut before it. */
	assert_string_equal(srv_log_escape("ab\ncd", out, 5), "ab\\n");
	assert_string_equal(srv_log_escape("abc\ncd", out, 5), "abc");
	assert_string_equal(srv_log_escape("\xc3\xa9\xc3\xa9\xc3\xa9", out, sizeof out),
	                    "\xc3\xa9\xc3\xa9");
}

static void test_srv_log_line(void **state)
{
	(void)state;
	/* srv_log writes one line to stderr: capture it through a pipe. */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fds[1], 2);
	srv_log(SALVE_LOG_ERROR, "serve: run %s: %s", "r1",
	        "x\nsalve: info: serve: run FAKE: success (exit 0)");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	char buf[1024];
	ssize_t n = read(fds[0], buf, sizeof buf - 1);
	close(fds[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(
	    buf,
	    "salve: error: serve: run r1: x\\nsalve: info: serve: run FAKE: success (exit 0)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_escape_truncates_whole),
	    cmocka_unit_test(test_srv_log_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
