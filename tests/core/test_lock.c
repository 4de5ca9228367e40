#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	/* One path, written three ways, is one lock; a relative value is kept as written. */
	const char *paths[] = {"/srv/data", "/srv/data/", "//srv//data//"};
	for (size_t i = 0; i < 3; i++) {
		p = json_pack("{s:s}", "path", paths[i]);
		assert_int_equal(
		    salve_lock_key("files/{path}", p, key, sizeof key, err, sizeof err), 0);
		assert_string_equal(key, "files//srv/data");
		json_decref(p);
	}
	p = json_pack("{s:s}", "path", "/");
	assert_int_equal(salve_lock_key("files/{path}", p, key, sizeof key, err, sizeof err), 0);
	assert_string_equal(key, "files//");
	json_decref(p);
	p = json_pack("{s:s}", "path", "a//b/");
	assert_int_equal(salve_lock_key("f/{path}", p, key, sizeof key, err, sizeof err), 0);
	assert_string_equal(key, "f/a//b/");
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

/* A symlink planted as a lock file used to be followed and truncated: refused now, and the
 * file it points at is untouched. */
static void test_planted_lock_files_are_refused(void **state)
{
	(void)state;
	char err[1024];
	salve_lock *l = NULL;
	tu_write(tu_path("passwd"), "root:x:0:0::/root:/bin/sh\n");
	assert_int_equal(
	    salve_lock_acquire(tu_path("st"), "other", "run-a", 0, 0, &l, err, sizeof err),
	    SALVE_LOCK_ACQUIRED);
	salve_lock_release(l);
	assert_int_equal(symlink(tu_path("passwd"), tu_path("st/locks/x.lock")), 0);
	assert_int_equal(salve_lock_acquire(tu_path("st"), "x", "run-a", 0, 0, &l, err, sizeof err),
	                 SALVE_LOCK_ERROR);
	assert_non_null(strstr(err, "x.lock is a symbolic link: refused"));
	assert_int_equal(link(tu_path("passwd"), tu_path("st/locks/y.lock")), 0);
	assert_int_equal(salve_lock_acquire(tu_path("st"), "y", "run-a", 0, 0, &l, err, sizeof err),
	                 SALVE_LOCK_ERROR);
	assert_non_null(strstr(err, "y.lock: it has other hard links: refused"));
	char *text = tu_read(tu_path("passwd"));
	assert_string_equal(text, "root:x:0:0::/root:/bin/sh\n");
	free(text);
	tu_cleanup();
}

static void test_state_dir_must_be_ours(void **state)
{
	(void)state;
	char err[1024], want[1024];
	salve_lock *l = NULL;
	mkdir(tu_path("open"), 0700);
	chmod(tu_path("open"), 0775);
	assert_int_equal(
	    salve_lock_acquire(tu_path("open"), "k", "run-a", 0, 0, &l, err, sizeof err),
	    SALVE_LOCK_ERROR);
	snprintf(want, sizeof want,
	         "state dir %s is writable by group or others (mode 0775): refused",
	         tu_path("open"));
	assert_non_null(strstr(err, want));
	/* locks/ itself, too. */
	mkdir(tu_path("st"), 0700);
	mkdir(tu_path("st/locks"), 0700);
	chmod(tu_path("st/locks"), 0777);
	assert_int_equal(salve_lock_acquire(tu_path("st"), "k", "run-a", 0, 0, &l, err, sizeof err),
	                 SALVE_LOCK_ERROR);
	assert_non_null(strstr(err, "locks is writable by group or others (mode 0777)"));
	if (geteuid() == 0) {
		mkdir(tu_path("theirs"), 0700);
		assert_int_equal(chown(tu_path("theirs"), 65534, 65534), 0);
		assert_int_equal(
		    salve_lock_acquire(tu_path("theirs"), "k", "run-a", 0, 0, &l, err, sizeof err),
		    SALVE_LOCK_ERROR);
		assert_non_null(
		    strstr(err, "is owned by uid 65534, not by the user running salve"));
	}
	tu_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_key_templates),
	                                   cmocka_unit_test(test_contention_and_hostile_keys),
	                                   cmocka_unit_test(test_planted_lock_files_are_refused),
	                                   cmocka_unit_test(test_state_dir_must_be_ours)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
