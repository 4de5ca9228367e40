#include <string.h>

#include "testutil.h"
#include "util.h"

static void test_escape_controls(void **state)
{
	(void)state;
	char out[128];
	salve_escape_controls("ok\r\033[32msuccess\nsalve: info: forged\x7f\x01", out, sizeof out,
	                      0);
	assert_string_equal(out, "ok\\r\\x1b[32msuccess\\nsalve: info: forged\\x7f\\x01");
	salve_escape_controls("a\tb", out, sizeof out, 1);
	assert_string_equal(out, "a\tb");
	salve_escape_controls("a\tb", out, sizeof out, 0);
	assert_string_equal(out, "a\\tb");
	/* UTF-8 stays; the C1 CSI (U+009B) a terminal would act on does not. */
	salve_escape_controls("caf\xc3\xa9 \xc2\x9b"
	                      "2J",
	                      out, sizeof out, 0);
	assert_string_equal(out, "caf\xc3\xa9 \\u009b2J");
	/* Cut at a whole escape, never half of one. */
	salve_escape_controls("abc\033def", out, 7, 0);
	assert_string_equal(out, "abc");
	salve_escape_controls("", out, sizeof out, 0);
	assert_string_equal(out, "");
}

static void test_sha256_and_ids(void **state)
{
	(void)state;
	char hex[65];
	salve_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	char a[33], b[33];
	assert_int_equal(salve_random_id(a, sizeof a), 0);
	assert_int_equal(salve_random_id(b, sizeof b), 0);
	assert_int_equal(strlen(a), 32);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_escape_controls),
	                                   cmocka_unit_test(test_sha256_and_ids)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
