#include <string.h>

#include "redact.h"
#include "schema.h"
#include "testutil.h"

static const salve_arg spec[] = {{"name", SALVE_T_STRING, SALVE_ARG_REQUIRED, NULL},
                                 {"replicas", SALVE_T_INT, 0, NULL},
                                 {"factor", SALVE_T_NUMBER, 0, NULL},
                                 {"hosts", SALVE_T_LIST, 0, NULL},
                                 {"token", SALVE_T_STRING, SALVE_ARG_SECRET, NULL},
                                 {NULL, 0, 0, NULL}};

static int check(const char *json, char *err)
{
	json_t *args = json_loads(json, 0, NULL);
	int rc = salve_args_validate(spec, args, err, 256);
	json_decref(args);
	return rc;
}

static void test_validation(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(check("{\"name\":\"w\",\"replicas\":3,\"factor\":1,\"hosts\":{}}", err),
	                 0);
	assert_int_equal(check("{\"replicas\":3}", err), -1);
	assert_string_equal(err, "missing required argument 'name' (string)");
	assert_int_equal(check("{\"name\":\"w\",\"replicas\":\"3\"}", err), -1);
	assert_string_equal(err, "argument 'replicas' must be int, got string");
	assert_int_equal(check("{\"name\":\"w\",\"replica\":3}", err), -1);
	assert_non_null(strstr(
	    err, "unknown argument 'replica' (takes: name, replicas, factor, hosts, token)"));
}

static void test_audit_copy_hides_secrets(void **state)
{
	(void)state;
	json_t *args = json_pack("{s:s, s:s}", "name", "w", "token", "abcdef123456");
	char err[256];
	assert_int_equal(salve_args_validate(spec, args, err, sizeof err), 0);
	json_t *copy = salve_args_for_audit(spec, args);
	assert_string_equal(json_string_value(json_object_get(copy, "token")), "[REDACTED]");
	/* Registered too: a plugin echoing it elsewhere is redacted. */
	char out[64];
	salve_redact_string("x abcdef123456", out, sizeof out);
	assert_string_equal(out, "x [REDACTED]");
	json_decref(copy);
	json_decref(args);
	salve_redact_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_validation),
	                                   cmocka_unit_test(test_audit_copy_hides_secrets)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
