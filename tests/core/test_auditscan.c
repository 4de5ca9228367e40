/* auditscan: the streaming chain check agrees with salve_audit_verify, top-level fields are
 * found only at the top level, and RFC 3339 times parse exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "auditscan.h"
#include "testutil.h"
#include "util.h"

static int teardown(void **state)
{
	(void)state;
	tu_cleanup();
	return 0;
}

static void write_n(const char *path, int n)
{
	char err[256];
	salve_audit *a = salve_audit_open(path, SALVE_AUDIT_SYNC_NONE, err, sizeof err);
	assert_non_null(a);
	for (int i = 0; i < n; i++) {
		json_t *r =
		    json_pack("{s:s, s:s, s:i, s:{s:s}}", "event", i % 2 ? "step_end" : "action",
		              "run", "0123456789abcdef", "i", i, "params", "run", "nested");
		assert_int_equal(salve_audit_write(a, r, err, sizeof err), 0);
	}
	salve_audit_close(a);
}

struct seen {
	int lines;
	long long last_seq;
	char events[16][48];
	char runs[16][72];
};

static int collect(void *ctx, const struct salve_scan_line *l)
{
	struct seen *s = ctx;
	if (s->lines < 16) {
		memcpy(s->events[s->lines], l->event, sizeof l->event);
		memcpy(s->runs[s->lines], l->run, sizeof l->run);
	}
	s->lines++;
	s->last_seq = l->seq;
	return 0;
}

static void test_intact_log_is_read_whole(void **state)
{
	(void)state;
	const char *path = tu_path("a.jsonl");
	write_n(path, 5);
	struct seen s = {0};
	struct salve_scan_result res;
	assert_int_equal(salve_scan_log(path, collect, &s, &res), 0);
	assert_int_equal(res.intact, 1);
	assert_int_equal(res.records, 5);
	assert_int_equal(s.lines, 5);
	assert_int_equal(s.last_seq, 5);
	assert_string_equal(s.events[0], "action");
	assert_string_equal(s.events[1], "step_end");
	/* the top-level run, not params.run */
	assert_string_equal(s.runs[4], "0123456789abcdef");
	char msg[1024];
	assert_int_equal(salve_audit_verify(path, msg, sizeof msg), 0);
}

/* Every way verify names a broken log, the scan names too, at the same line. */
static void expect_broken(const char *path, const char *needle)
{
	struct seen s = {0};
	struct salve_scan_result res;
	char msg[1024];
	assert_int_equal(salve_scan_log(path, collect, &s, &res), 0);
	assert_int_equal(res.intact, 0);
	assert_non_null(strstr(res.verdict, needle));
	assert_int_equal(salve_audit_verify(path, msg, sizeof msg), 1);
}

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
			p[4] = p[4] == '9' ? '8' : '9';
		}
		fprintf(f, "%s\n", l);
	}
	fclose(f);
	free(text);
}

static void test_edited_line_breaks_the_next(void **state)
{
	(void)state;
	const char *path = tu_path("a.jsonl");
	write_n(path, 5);
	rewrite(path, 0, 2);
	expect_broken(path, ":3: hash chain broken");
}

static void test_removed_line_is_named(void **state)
{
	(void)state;
	const char *path = tu_path("a.jsonl");
	write_n(path, 5);
	rewrite(path, 3, 0);
	expect_broken(path, "record seq 4 follows seq 2: 1 record(s) missing");
}

static void test_removed_end_and_edited_last_are_caught_by_the_head(void **state)
{
	(void)state;
	const char *path = tu_path("a.jsonl");
	write_n(path, 5);
	rewrite(path, 5, 0);
	expect_broken(path, "1 record(s) removed from the end");
	const char *p2 = tu_path("b.jsonl");
	write_n(p2, 5);
	rewrite(p2, 0, 5);
	expect_broken(p2, "the last record was edited");
}

static void test_missing_head_and_torn_line(void **state)
{
	(void)state;
	const char *path = tu_path("a.jsonl");
	write_n(path, 3);
	char head[4200];
	snprintf(head, sizeof head, "%s.head", path);
	unlink(head);
	expect_broken(path, ".head is missing");
	const char *p2 = tu_path("b.jsonl");
	write_n(p2, 3);
	char *text = tu_read(p2);
	assert_int_equal(truncate(p2, (off_t)strlen(text) - 1), 0); /* its newline */
	free(text);
	expect_broken(p2, "last line is incomplete");
}

static void test_unreadable_log(void **state)
{
	(void)state;
	struct seen s = {0};
	struct salve_scan_result res;
	assert_int_equal(salve_scan_log(tu_path("nope.jsonl"), collect, &s, &res), -1);
	assert_non_null(strstr(res.verdict, "nope.jsonl"));
	assert_int_equal(salve_scan_log(tu_tmpdir(), collect, &s, &res), -1);
	assert_non_null(strstr(res.verdict, "not a regular file"));
}

/* jansson keeps the last of duplicate keys; the scan must read such a line the same way, or
 * a report and `salve audit verify` would disagree about one log. */
static void test_duplicate_seq_is_read_as_verify_reads_it(void **state)
{
	(void)state;
	const char *path = tu_path("dup.jsonl");
	char line[256], hash[65], head[160], headpath[4200];
	snprintf(line, sizeof line, "{\"seq\":2,\"seq\":1,\"event\":\"x\",\"prev\":\"%064d\"}", 0);
	char text[300];
	snprintf(text, sizeof text, "%s\n", line);
	tu_write(path, text);
	salve_sha256_hex(line, strlen(line), hash);
	snprintf(head, sizeof head, "{\"seq\":1,\"hash\":\"%s\"}\n", hash);
	snprintf(headpath, sizeof headpath, "%s.head", path);
	tu_write(headpath, head);
	char msg[1024];
	assert_int_equal(salve_audit_verify(path, msg, sizeof msg), 0);
	struct seen s = {0};
	struct salve_scan_result res;
	assert_int_equal(salve_scan_log(path, collect, &s, &res), 0);
	assert_int_equal(res.intact, 1);
	assert_int_equal(s.last_seq, 1);
}

static int stop_at_two(void *ctx, const struct salve_scan_line *l)
{
	(void)ctx;
	return l->lineno == 2 ? 7 : 0;
}

static void test_callback_stops_the_scan(void **state)
{
	(void)state;
	const char *path = tu_path("a.jsonl");
	write_n(path, 4);
	struct salve_scan_result res;
	assert_int_equal(salve_scan_log(path, stop_at_two, NULL, &res), 7);
}

static void test_fields_are_top_level_only(void **state)
{
	(void)state;
	const char *text = "{\"params\":{\"run\":\"inner\",\"x\":[\"run\",{\"run\":1}]},"
	                   "\"note\":\"\\\"run\\\":\\\"fake\\\"\",\"run\":\"outer\","
	                   "\"drill\":true,\"n\":12,\"run\":\"second\"}";
	struct salve_field f[4] = {{.key = "run"}, {.key = "drill"}, {.key = "n"}, {.key = "gone"}};
	assert_int_equal(salve_scan_fields(text, strlen(text), f, 4), 3);
	char buf[64];
	assert_string_equal(salve_field_str(&f[0], buf, sizeof buf), "outer"); /* first wins */
	assert_int_equal(f[1].string, 0);
	assert_int_equal(f[1].len, 4);
	assert_memory_equal(f[1].val, "true", 4);
	assert_int_equal(f[2].len, 2);
	assert_null(f[3].val);
}

static void test_escaped_strings_are_flagged(void **state)
{
	(void)state;
	const char *text = "{\"a\":\"x\\ny\",\"b\":\"plain\\\\\",\"c\":\"ok\"}";
	struct salve_field f[3] = {{.key = "a"}, {.key = "b"}, {.key = "c"}};
	assert_int_equal(salve_scan_fields(text, strlen(text), f, 3), 3);
	char buf[64];
	assert_int_equal(f[0].escaped, 1);
	assert_string_equal(salve_field_str(&f[0], buf, sizeof buf), ""); /* read it with jansson */
	assert_int_equal(f[1].escaped, 1);
	assert_int_equal(f[2].escaped, 0);
	assert_string_equal(salve_field_str(&f[2], buf, sizeof buf), "ok");
	assert_string_equal(salve_field_str(&f[2], buf, 2), ""); /* does not fit */
}

static void test_malformed_objects_are_refused(void **state)
{
	(void)state;
	const char *bad[] = {"",
	                     "[1]",
	                     "{\"a\":\"open",
	                     "{\"a\" 1}",
	                     "{\"a\":{\"b\":1}",
	                     "{a:1}",
	                     "{\"a\":1 \"b\":2}"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct salve_field f = {.key = "b"};
		assert_int_equal(salve_scan_fields(bad[i], strlen(bad[i]), &f, 1), -1);
	}
	struct salve_field f = {.key = "a"};
	assert_int_equal(salve_scan_fields("{ }", 3, &f, 1), 0);
}

static void test_rfc3339(void **state)
{
	(void)state;
	double t;
	assert_int_equal(salve_parse_rfc3339("1970-01-01T00:00:00.000Z", &t), 0);
	assert_true(t == 0);
	assert_int_equal(salve_parse_rfc3339("2026-12-04T21:46:23.763Z", &t), 0);
	assert_true(t > 1796420783.762 && t < 1796420783.764);
	/* the slow path agrees with the fast one */
	double slow;
	assert_int_equal(salve_parse_rfc3339("2026-12-04T21:46:23.763000Z", &slow), 0);
	assert_true(slow > t - 1e-6 && slow < t + 1e-6);
	assert_int_equal(salve_parse_rfc3339("2026-12-04T23:46:23.763+02:00", &slow), 0);
	assert_true(slow > t - 1e-6 && slow < t + 1e-6);
	assert_int_equal(salve_parse_rfc3339("2024-02-29T00:00:00Z", &t), 0);
	assert_true(t == 1709164800);
	const char *bad[] = {"2026-12-04",
	                     "2026-12-04T21:46:23",
	                     "2026-13-04T21:46:23.763Z",
	                     "2026-12-04T21:46:23.Z",
	                     "2026-12-04T21:46:23.763+2:00",
	                     "yesterday",
	                     "2026-12-04T21:46:23.763Zjunk"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(salve_parse_rfc3339(bad[i], &t), -1);
	char buf[40];
	salve_format_rfc3339(1796420783.7634, buf, sizeof buf);
	assert_string_equal(buf, "2026-12-04T21:46:23.763Z");
	salve_format_rfc3339(1796420783.9996, buf, sizeof buf);
	assert_string_equal(buf, "2026-12-04T21:46:24.000Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_intact_log_is_read_whole, teardown),
	    cmocka_unit_test_teardown(test_edited_line_breaks_the_next, teardown),
	    cmocka_unit_test_teardown(test_removed_line_is_named, teardown),
	    cmocka_unit_test_teardown(test_removed_end_and_edited_last_are_caught_by_the_head,
	                              teardown),
	    cmocka_unit_test_teardown(test_missing_head_and_torn_line, teardown),
	    cmocka_unit_test_teardown(test_unreadable_log, teardown),
	    cmocka_unit_test_teardown(test_callback_stops_the_scan, teardown),
	    cmocka_unit_test_teardown(test_duplicate_seq_is_read_as_verify_reads_it, teardown),
	    cmocka_unit_test(test_fields_are_top_level_only),
	    cmocka_unit_test(test_escaped_strings_are_flagged),
	    cmocka_unit_test(test_malformed_objects_are_refused),
	    cmocka_unit_test(test_rfc3339),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
