#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock.h"
#include "testutil.h"

static void test_key_templates(void **state)
{
	(void)state;
	json_t *p = json_pack("{s:s, s:i}", "namespace", "prod", "n", 3);
	char key[256], err[256];
	assert_int_equal(salve_lock_key("k8s/{namespace}/{n}", p, key, sizeof key, err, sizeof err),
	                 0);
	assert_string_equal(key, "k8s/prod/3");
	assert_int_equal(salve_lock_key("x/{missing}", p, key, sizeof key, err, sizeof err), -1);
	assert_non_null(strstr(err, "parameter missing has no value"));
	json_decref(p);
}

static void test_contention_and_hostile_keys(void **state)
{
	(void)state;
	char err[512];
	salve_lock *l = NULL;
	assert_int_equal(salve_lock_acquire(tu_path("st"), "../../etc/passwd", "run-a", 0, 0, &l,
	                                    err, sizeof err),
	                 SALVE_LOCK_ACQUIRED);
	/* The key stays inside the locks dir. */
	char *held = tu_read(tu_path("st/locks/%2E.%2F..%2Fetc%2Fpasswd.lock"));
	assert_non_null(held);
	assert_non_null(strstr(held, "run run-a"));
	free(held);
	pid_t kid = fork();
	if (kid == 0) {
		salve_lock *other = NULL;
		int r = salve_lock_acquire(tu_path("st"), "../../etc/passwd", "run-b", 0, 0, &other,
		                           err, sizeof err);
		_exit(r == SALVE_LOCK_BUSY && strstr(err, "held by run run-a") ? 0 : 1);
	}
	int st;
	waitpid(kid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	salve_lock_release(l);
	kid = fork();
	if (kid == 0) {
		salve_lock *other = NULL;
		int r = salve_lock_acquire(tu_path("st"), "../../etc/passwd", "run-b", 1, 2, &other,
		                           err, sizeof err);
		_exit(r == SALVE_LOCK_ACQUIRED ? 0 : 1);
	}
	waitpid(kid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	tu_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_key_templates),
	                                   cmocka_unit_test(test_contention_and_hostile_keys)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
