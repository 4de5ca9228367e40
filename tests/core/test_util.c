#include <string.h>

#include "testutil.h"
#include "util.h"

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
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_sha256_and_ids)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
