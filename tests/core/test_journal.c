#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "testutil.h"

static void test_write_read_and_lock(void **state)
{
	(void)state;
	char err[512];
	json_t *hdr = json_pack("{s:s, s:s}", "t", "run", "run_id", "r1");
	salve_journal *j = salve_journal_create(tu_path("st"), "r1", hdr, err, sizeof err);
	json_decref(hdr);
	assert_non_null(j);
	assert_int_equal(salve_journal_append(j, json_pack("{s:s, s:i}", "t", "intent", "id", 1),
	                                      err, sizeof err),
	                 0);
	/* A live run's journal cannot be adopted by another process. */
	pid_t kid = fork();
	if (kid == 0) {
		salve_journal *other = salve_journal_adopt(salve_journal_path(j), err, sizeof err);
		_exit(other == NULL && strstr(err, "still going") ? 0 : 1);
	}
	int st;
	waitpid(kid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	json_t *list = salve_journal_list(tu_path("st"));
	assert_int_equal(json_array_size(list), 1);
	json_t *recs =
	    salve_journal_read(json_string_value(json_array_get(list, 0)), err, sizeof err);
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "t")),
	                    "intent");
	json_decref(recs);
	salve_journal_close(j, 0);
	salve_journal *again =
	    salve_journal_adopt(json_string_value(json_array_get(list, 0)), err, sizeof err);
	assert_non_null(again);
	salve_journal_close(again, 1);
	json_decref(list);
	list = salve_journal_list(tu_path("st"));
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	tu_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_write_read_and_lock)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
