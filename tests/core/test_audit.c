#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "redact.h"
#include "testutil.h"
#include "util.h"

static int teardown(void **state)
{
	(void)state;
	tu_cleanup();
	return 0;
}

static void write_n(const char *path, int n, const char *who)
{
	char err[256];
	salve_audit *a = salve_audit_open(path, SALVE_AUDIT_SYNC_NONE, err, sizeof err);
	assert_non_null(a);
	for (int i = 0; i < n; i++) {
		json_t *r = json_pack("{s:s, s:i, s:s}", "event", "test", "i", i, "who", who);
		assert_int_equal(salve_audit_write(a, r, err, sizeof err), 0);
	}
	salve_audit_close(a);
}

/* Rewrites the log keeping lines for which keep(lineno) is true, editing line edit. */
static void rewrite(const char *path, int drop, int edit)
{
	char *text = tu_read(path);
	FILE *f = fopen(path, "w");
	int line = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		if (line == drop)
			continue;
		if (line == edit) {
			char *p = strstr(l, "\"i\":");
			if (p)
				p[4] = p[4] == '9' ? '8' : '9';
		}
		fprintf(f, "%s\n", l);
	}
	fclose(f);
	free(text);
}

static void test_intact_chain_verifies(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 5, "x");
	write_n(p, 3, "y"); /* a second writer continues the chain */
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "8 records, hash chain intact"));
}

static void test_edited_line_is_found(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 6, "x");
	rewrite(p, 0, 3);
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(
	    strstr(msg, "a.jsonl:4: hash chain broken: the previous line (3) was edited"));
}

static void test_removed_line_is_found(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 6, "x");
	rewrite(p, 3, 0);
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "a.jsonl:3: record seq 4 follows seq 2: 1 record(s) missing"));
}

static void test_truncated_tail_is_found(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 6, "x");
	rewrite(p, 6, 0);
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "1 record(s) removed from the end"));
}

static void test_concurrent_processes_keep_one_chain(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	pid_t kids[3];
	for (int k = 0; k < 3; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			write_n(p, 50, "kid");
			_exit(0);
		}
	}
	for (int k = 0; k < 3; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "150 records"));
}

static void test_secrets_redacted(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	salve_redact_register("TOPSECRETVALUE");
	char err[256];
	salve_audit *a = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	json_t *r = json_pack("{s:s, s:s}", "event", "x", "msg", "token TOPSECRETVALUE here");
	assert_int_equal(salve_audit_write(a, r, err, sizeof err), 0);
	salve_audit_close(a);
	char *text = tu_read(p);
	assert_null(strstr(text, "TOPSECRETVALUE"));
	assert_non_null(strstr(text, "token [REDACTED] here"));
	free(text);
	salve_redact_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_intact_chain_verifies, teardown),
	    cmocka_unit_test_teardown(test_edited_line_is_found, teardown),
	    cmocka_unit_test_teardown(test_removed_line_is_found, teardown),
	    cmocka_unit_test_teardown(test_truncated_tail_is_found, teardown),
	    cmocka_unit_test_teardown(test_concurrent_processes_keep_one_chain, teardown),
	    cmocka_unit_test_teardown(test_secrets_redacted, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
