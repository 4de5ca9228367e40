/* host.ensure_line: absolute normalized paths only, a missing file created only with
 * create = true (as ssh-patch.ensure_line), and an undo that never overwrites a file
 * something else changed since the run wrote it. */
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mock_host.h"

const salve_plugin *salve_plugin_entry(void);

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/salve-host-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(mock_init(salve_plugin_entry(), NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mock_fini();
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[512];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

static const char *file(const char *name)
{
	static char bufs[4][256];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, 256, "%s/%s", dir, name);
	return b;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *line_args(const char *path, const char *line)
{
	static char buf[1024];
	json_t *a = json_pack("{s:s, s:s}", "path", path, "line", line);
	char *s = json_dumps(a, JSON_COMPACT);
	snprintf(buf, sizeof buf, "%s", s);
	free(s);
	json_decref(a);
	return buf;
}

/* line_args with "create": true. */
static char *create_args(const char *path, const char *line)
{
	static char buf[1024];
	json_t *a = json_pack("{s:s, s:s, s:b}", "path", path, "line", line, "create", 1);
	char *s = json_dumps(a, JSON_COMPACT);
	snprintf(buf, sizeof buf, "%s", s);
	free(s);
	json_decref(a);
	return buf;
}

static void test_missing_file_needs_create(void **state)
{
	(void)state;
	const char *path = file("typo.conf");
	char expected[512];
	snprintf(expected, sizeof expected, "%s does not exist (set create=true to create it)",
	         path);
	json_t *out = NULL, *undo = NULL;
	/* check, plan and apply all refuse, with ssh-patch's words, and nothing is created */
	assert_int_equal(mock_check("ensure_line", line_args(path, "a = 1"), &out),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), expected);
	assert_null(out);
	assert_int_equal(mock_plan("ensure_line", line_args(path, "a = 1"), &out),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), expected);
	assert_null(out);
	assert_int_equal(mock_apply("ensure_line", line_args(path, "a = 1"), &out, &undo),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(), expected);
	assert_null(out);
	assert_null(undo);
	assert_null(get(path));
	/* "create": false says the same */
	assert_int_equal(mock_check("ensure_line",
	                            "{\"path\": \"/nonexistent-salve/x\", \"line\": \"a\", "
	                            "\"create\": false}",
	                            &out),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(mock_last_error(),
	                    "/nonexistent-salve/x does not exist (set create=true to create it)");

	/* with create = true: a change is needed, apply creates the file, the check then holds */
	assert_int_equal(mock_check("ensure_line", create_args(path, "a = 1"), &out), SALVE_OK);
	assert_false(json_is_true(json_object_get(out, "exists")));
	json_decref(out);
	assert_int_equal(mock_exec("ensure_line", create_args(path, "a = 1"), &out, &undo),
	                 SALVE_OK);
	assert_true(json_is_true(json_object_get(out, "created")));
	json_decref(out);
	assert_string_equal(get(path), "a = 1\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(mock_check("ensure_line", create_args(path, "a = 1"), &out), SALVE_HOLDS);
	json_decref(out);
	/* an existing file needs no create */
	assert_int_equal(mock_check("ensure_line", line_args(path, "b = 2"), &out), SALVE_OK);
	json_decref(out);
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_OK);
	assert_null(get(path));
	json_decref(undo);
}

static void test_paths_must_be_absolute_and_normalized(void **state)
{
	(void)state;
	static const char *const bad[] = {"etc/x.conf",
	                                  "./x.conf",
	                                  "/etc/../etc/x.conf",
	                                  "/etc/./x.conf",
	                                  "/etc//x.conf",
	                                  "/etc/x.conf/",
	                                  "/tmp/..",
	                                  "",
	                                  "/"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		json_t *out = NULL, *undo = NULL;
		assert_int_equal(mock_check("ensure_line", line_args(bad[i], "a = 1"), &out),
		                 SALVE_ERR_INVALID);
		assert_non_null(strstr(mock_last_error(), "path \"") &&
		                strstr(mock_last_error(), " must "));
		assert_int_equal(mock_apply("ensure_line", line_args(bad[i], "a = 1"), &out, &undo),
		                 SALVE_ERR_INVALID);
		assert_null(undo);
		json_decref(out);
		json_t *rec =
		    json_pack("{s:s, s:b, s:s, s:s}", "path", bad[i], "existed", 1, "content",
		              "x\n", "after_sha256",
		              "0000000000000000000000000000000000000000000000000000000000000000");
		assert_int_equal(mock_undo("ensure_line", rec), SALVE_ERR_INVALID);
		json_decref(rec);
	}
	assert_int_equal(mock_check("ensure_line", line_args("etc/x.conf", "a"), &(json_t *){NULL}),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(), "path \"etc/x.conf\" must be an absolute path");
	assert_int_equal(
	    mock_check("ensure_line", line_args("/etc/../x.conf", "a"), &(json_t *){NULL}),
	    SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "path \"/etc/../x.conf\" must be normalized (no . or .. components)");
	/* Nothing was created anywhere. */
	assert_int_equal(access("etc", F_OK), -1);
}

static void sha_hex(const char *text, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void test_undo_checks_what_was_written(void **state)
{
	(void)state;
	const char *path = file("a.conf");
	put(path, "x = 1\n");
	json_t *out = NULL, *undo = NULL;
	assert_int_equal(mock_apply("ensure_line", line_args(path, "y = 2"), &out, &undo),
	                 SALVE_OK);
	json_decref(out);
	assert_string_equal(get(path), "x = 1\ny = 2\n");
	char want[65];
	sha_hex("x = 1\ny = 2\n", want);
	assert_string_equal(json_string_value(json_object_get(undo, "after_sha256")), want);
	assert_string_equal(json_string_value(json_object_get(undo, "content")), "x = 1\n");

	/* Something else changed the file since: undo leaves it for a human. */
	put(path, "x = 1\ny = 2\nz = 3\n");
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "changed since this run wrote it"));
	assert_non_null(strstr(mock_last_error(), "a human must look"));
	assert_string_equal(get(path), "x = 1\ny = 2\nz = 3\n");
	/* Removed since: the same. */
	unlink(path);
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "was removed since this run wrote it"));
	assert_null(get(path));

	/* Still what the run wrote: restored; a second undo (after a crash) is a no-op. */
	put(path, "x = 1\ny = 2\n");
	chmod(path, 0640);
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_OK);
	assert_string_equal(get(path), "x = 1\n");
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_OK);
	assert_string_equal(get(path), "x = 1\n");

	/* A record that does not say what was written is not trusted. */
	json_object_del(undo, "after_sha256");
	put(path, "anything\n");
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "does not say what was written"));
	assert_string_equal(get(path), "anything\n");
	json_decref(undo);
}

static void test_undo_of_a_created_file(void **state)
{
	(void)state;
	const char *path = file("new.conf");
	json_t *out = NULL, *undo = NULL;
	assert_int_equal(mock_apply("ensure_line", create_args(path, "a = 1"), &out, &undo),
	                 SALVE_OK);
	json_decref(out);
	assert_false(json_is_true(json_object_get(undo, "existed")));
	put(path, "a = 1\nmine = 1\n");
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_ERR);
	assert_string_equal(get(path), "a = 1\nmine = 1\n");
	put(path, "a = 1\n");
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_OK);
	assert_null(get(path));
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_OK);
	json_decref(undo);
	/* No temporary file is left beside it. */
	DIR *d = opendir(dir);
	struct dirent *e;
	int others = 0;
	while ((e = readdir(d)))
		others += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(others, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_paths_must_be_absolute_and_normalized, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file_needs_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_undo_checks_what_was_written, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_undo_of_a_created_file, setup, teardown)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
