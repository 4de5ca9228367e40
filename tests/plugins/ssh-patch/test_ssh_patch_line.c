/*
 * ensure_line (act_line.c) without a server: the lineinfile edit, and the action on local
 * hosts for real. A stand-in `sh` first on PATH logs every command the plugin starts (which
 * script, on which file) and then runs it with /bin/sh, so the tests count what each call
 * sent to each host: check reads each host once; plan and apply act on what check read
 * (host->observed) and reach only the hosts to change, one command each; a file changed
 * since check is edited again from what the write command sent back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "act.h"
#include "mock_host.h"
#include "mock_settings.h"

const salve_plugin *salve_plugin_entry(void);

#define EDIT(old, line, re, want, want_changed, want_what)                                         \
	do {                                                                                       \
		size_t nl;                                                                         \
		int ch;                                                                            \
		const char *what;                                                                  \
		char err[200];                                                                     \
		char *got =                                                                        \
		    sp_line_edit(old, strlen(old), line, re, &nl, &ch, &what, err, sizeof err);    \
		assert_non_null(got);                                                              \
		assert_string_equal(got, want);                                                    \
		assert_int_equal(ch, want_changed);                                                \
		assert_string_equal(what, want_what);                                              \
		free(got);                                                                         \
	} while (0)

static void test_line_edit(void **state)
{
	(void)state;
	EDIT("", "a=1", NULL, "a=1\n", 1, "append");
	EDIT("x\n", "a=1", NULL, "x\na=1\n", 1, "append");
	EDIT("x", "a=1", NULL, "x\na=1\n", 1, "append");
	EDIT("x\na=1\ny", "a=1", NULL, "x\na=1\ny", 0, "none");
	EDIT("a=0\nb\na=2\n", "a=1", "^a=", "a=0\nb\na=1\n", 1, "replace");
	EDIT("a=1\n", "a=1", "^a=", "a=1\n", 0, "none");
	/* regexp without a match but the exact line present: nothing to do (Ansible). */
	EDIT("k\na=1\n", "a=1", "^zzz", "k\na=1\n", 0, "none");
	EDIT("#Port 22\n", "Port 2222", "^#?Port ", "Port 2222\n", 1, "replace");
	size_t nl;
	int ch;
	const char *what;
	char err[200];
	assert_null(sp_line_edit("x", 1, "y", "(", &nl, &ch, &what, err, sizeof err));
	assert_non_null(strstr(err, "regexp '('"));
}

/* ---- the action on local hosts --------------------------------------------------------- */

static char dir[64];
static char *saved_path;

static const char *in_dir(const char *name)
{
	static char buf[4][512];
	static int n;
	char *b = buf[n++ % 4];
	snprintf(b, sizeof buf[0], "%s/%s", dir, name);
	return b;
}

static void put(const char *name, const char *text)
{
	FILE *f = fopen(in_dir(name), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The whole file, or "<absent>". Borrowed until the next call. */
static const char *got(const char *name)
{
	static char buf[4096];
	FILE *f = fopen(in_dir(name), "r");
	if (!f)
		return "<absent>";
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int by_text(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The commands started since the last call, one "read FILE" or "write FILE" a line (the
 * file without the directory), sorted (hosts run at once), and start a new log. */
static const char *commands(void)
{
	static char buf[4096];
	char log[4096], *lines[64];
	size_t n = 0;
	snprintf(log, sizeof log, "%s", got("commands.log"));
	if (strcmp(log, "<absent>") == 0)
		log[0] = '\0';
	unlink(in_dir("commands.log"));
	for (char *save = NULL, *l = strtok_r(log, "\n", &save); l && n < 64;
	     l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	qsort(lines, n, sizeof *lines, by_text);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\n", lines[i]);
	return buf;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sp-line-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(mkdir(in_dir("bin"), 0755), 0);
	/* $1 is -c, $2 the script, $3 the name, $4 the file. With the file "meddle" present,
	 * every write command first changes the file it is about to write, as someone else
	 * editing it at that moment. */
	char sh[2048];
	snprintf(
	    sh, sizeof sh,
	    "#!/bin/sh\n"
	    "case $2 in *'printf W'*) kind=write ;; *'printf E'*) kind=read ;; *) kind=other ;; "
	    "esac\n"
	    "echo \"$kind ${4##*/}\" >>%s/commands.log\n"
	    "if [ $kind = write ] && [ -e %s/meddle ]; then echo \"meddled=$$\" >>\"$4\"; fi\n"
	    "exec /bin/sh \"$@\"\n",
	    dir, dir);
	put("bin/sh", sh);
	chmod(in_dir("bin/sh"), 0755);
	saved_path = strdup(getenv("PATH"));
	char path[4096];
	snprintf(path, sizeof path, "%s:%s", in_dir("bin"), saved_path);
	setenv("PATH", path, 1);
	char inv[1024];
	snprintf(inv, sizeof inv,
	         "all:\n"
	         "  vars: {ansible_connection: local}\n"
	         "  hosts:\n"
	         "    a: {}\n"
	         "    b: {}\n"
	         "    c: {}\n");
	put("inventory.yaml", inv);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mock_fini();
	setenv("PATH", saved_path, 1);
	free(saved_path);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void init_plugin(void)
{
	char cfg[600];
	snprintf(cfg, sizeof cfg, "{\"inventory\": \"%s\"}", in_dir("inventory.yaml"));
	assert_int_equal(mock_init_settings(salve_plugin_entry(), cfg), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
}

/* a holds the line, b lacks it, c does not exist. */
static const char *three_files(void)
{
	put("a.conf", "x=0\nsalve=1\n");
	put("b.conf", "x=0\n");
	unlink(in_dir("c.conf"));
	static char args[1024];
	snprintf(args, sizeof args,
	         "{\"hosts\": \"all\", \"path\": \"%s/{host}.conf\", \"line\": \"salve=1\", "
	         "\"create\": true}",
	         dir);
	return args;
}

static const json_t *host_of(const json_t *res, const char *host)
{
	const json_t *h = json_object_get(json_object_get(res, "hosts"), host);
	if (!h)
		fail_msg("no result for host %s", host);
	return h;
}

static const char *str_of(const json_t *res, const char *host, const char *key)
{
	const char *s = json_string_value(json_object_get(host_of(res, host), key));
	return s ? s : "<none>";
}

static int changed_of(const json_t *res, const char *host)
{
	return json_is_true(json_object_get(host_of(res, host), "changed"));
}

static void test_apply_reaches_only_hosts_to_change(void **state)
{
	(void)state;
	init_plugin();
	const char *args = three_files();
	/* b's mode, and as root its owner, survive the edit (another owner: chown runs). */
	chmod(in_dir("b.conf"), 0640);
	int root = geteuid() == 0;
	if (root)
		assert_int_equal(chown(in_dir("b.conf"), 65534, 65534), 0);
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	/* check: one read a host; what it read travels with its observed, for b and c only. */
	assert_int_equal(mock_check("ensure_line", args, &obs), SALVE_OK);
	assert_string_equal(commands(), "read a.conf\nread b.conf\nread c.conf\n");
	assert_true(json_is_true(json_object_get(host_of(obs, "a"), "present")));
	assert_null(json_object_get(host_of(obs, "a"), "seen"));
	const json_t *seen = json_object_get(host_of(obs, "b"), "seen");
	assert_string_equal(json_string_value(json_object_get(seen, "content_b64")), "eD0wCg==");
	assert_true(json_is_true(json_object_get(seen, "existed")));
	assert_string_equal(json_string_value(json_object_get(seen, "path")), in_dir("b.conf"));
	seen = json_object_get(host_of(obs, "c"), "seen");
	assert_false(json_is_true(json_object_get(seen, "existed")));
	json_decref(obs);
	/* apply: one command for b, one for c; a is not contacted. */
	assert_int_equal(mock_apply("ensure_line", args, &res, &undo), SALVE_OK);
	assert_string_equal(commands(), "write b.conf\nwrite c.conf\n");
	assert_string_equal(got("a.conf"), "x=0\nsalve=1\n");
	assert_string_equal(got("b.conf"), "x=0\nsalve=1\n");
	assert_string_equal(got("c.conf"), "salve=1\n");
	struct stat sb;
	assert_int_equal(stat(in_dir("b.conf"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	if (root) {
		assert_int_equal(sb.st_uid, 65534);
		assert_int_equal(sb.st_gid, 65534);
	}
	assert_int_equal(stat(in_dir("c.conf"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(sb.st_uid, geteuid());
	assert_false(changed_of(res, "a"));
	assert_string_equal(str_of(res, "a", "edit"), "none");
	assert_null(json_object_get(host_of(res, "a"), "seen"));
	assert_null(json_object_get(host_of(res, "a"), "present"));
	assert_true(changed_of(res, "b"));
	assert_string_equal(str_of(res, "b", "edit"), "append");
	assert_string_equal(str_of(res, "c", "edit"), "create");
	assert_int_equal(json_integer_value(json_object_get(res, "ok")), 3);
	json_decref(res);
	const json_t *uh = json_object_get(undo, "hosts");
	assert_int_equal(json_object_size(uh), 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(uh, "b"), "content_b64")),
	    "eD0wCg==");
	assert_false(json_is_true(json_object_get(json_object_get(uh, "c"), "existed")));
	/* Applied again, as the core runs it: check finds the line everywhere and holds. */
	assert_int_equal(mock_exec("ensure_line", args, &res, NULL), SALVE_HOLDS);
	assert_string_equal(commands(), "read a.conf\nread b.conf\nread c.conf\n");
	assert_false(changed_of(res, "b"));
	json_decref(res);
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_OK);
	json_decref(undo);
	assert_string_equal(got("a.conf"), "x=0\nsalve=1\n");
	assert_string_equal(got("b.conf"), "x=0\n");
	assert_string_equal(got("c.conf"), "<absent>");
}

static void test_plan_needs_no_host(void **state)
{
	(void)state;
	init_plugin();
	const char *args = three_files();
	mock_set_mode(SALVE_MODE_DRY_RUN);
	json_t *res = NULL;
	assert_int_equal(mock_exec("ensure_line", args, &res, NULL), SALVE_OK);
	assert_string_equal(commands(), "read a.conf\nread b.conf\nread c.conf\n");
	assert_true(json_is_true(json_object_get(res, "planned")));
	assert_false(changed_of(res, "a"));
	assert_string_equal(str_of(res, "a", "edit"), "none");
	assert_true(changed_of(res, "b"));
	assert_string_equal(str_of(res, "b", "edit"), "append");
	assert_string_equal(str_of(res, "c", "edit"), "create");
	assert_string_equal(str_of(res, "c", "path"), in_dir("c.conf"));
	assert_string_equal(str_of(res, "c", "line"), "salve=1");
	assert_null(json_object_get(host_of(res, "b"), "seen"));
	json_decref(res);
	assert_string_equal(got("b.conf"), "x=0\n");
	assert_string_equal(got("c.conf"), "<absent>");
	/* Without a check before it, plan reads every host itself. */
	assert_int_equal(mock_plan("ensure_line", args, &res), SALVE_OK);
	assert_string_equal(commands(), "read a.conf\nread b.conf\nread c.conf\n");
	assert_string_equal(str_of(res, "b", "edit"), "append");
	json_decref(res);
}

/* Between check and apply someone else writes the line into b and another line into c. */
static void test_file_changed_since_check(void **state)
{
	(void)state;
	init_plugin();
	const char *args = three_files();
	put("c.conf", "");
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("ensure_line", args, &obs), SALVE_OK);
	json_decref(obs);
	assert_string_equal(commands(), "read a.conf\nread b.conf\nread c.conf\n");
	put("b.conf", "x=0\nsalve=1\n");
	put("c.conf", "other=2\n");
	assert_int_equal(mock_apply("ensure_line", args, &res, &undo), SALVE_OK);
	/* b: its one command sent back the new content, which holds the line: done. c: edited
	 * again from what its command sent back, and written in a second round. */
	assert_string_equal(commands(), "write b.conf\nwrite c.conf\nwrite c.conf\n");
	assert_string_equal(got("b.conf"), "x=0\nsalve=1\n");
	assert_string_equal(got("c.conf"), "other=2\nsalve=1\n");
	assert_false(changed_of(res, "b"));
	assert_string_equal(str_of(res, "b", "edit"), "none");
	assert_true(changed_of(res, "c"));
	assert_string_equal(str_of(res, "c", "edit"), "append");
	json_decref(res);
	/* Undo puts back what was replaced (the other writer's line), and leaves b alone. */
	const json_t *uh = json_object_get(undo, "hosts");
	assert_null(json_object_get(uh, "b"));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(uh, "c"), "content_b64")),
	    "b3RoZXI9Mgo=");
	assert_int_equal(mock_undo("ensure_line", undo), SALVE_OK);
	json_decref(undo);
	assert_string_equal(got("c.conf"), "other=2\n");
	assert_string_equal(got("b.conf"), "x=0\nsalve=1\n");

	/* A file that disappeared since check is created again only with create=true. */
	char nocreate[1024];
	snprintf(nocreate, sizeof nocreate,
	         "{\"hosts\": \"b\", \"path\": \"%s/{host}.conf\", \"line\": \"y=1\"}", dir);
	assert_int_equal(mock_check("ensure_line", nocreate, &obs), SALVE_OK);
	json_decref(obs);
	unlink(in_dir("b.conf"));
	assert_int_equal(mock_apply("ensure_line", nocreate, &res, &undo), SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "b.conf does not exist (set create=true"));
	assert_string_equal(str_of(res, "b", "error"),
	                    mock_last_error() + strlen("ensure_line: 1 of 1 hosts failed: "));
	assert_int_equal(json_object_size(json_object_get(undo, "hosts")), 0);
	assert_string_equal(got("b.conf"), "<absent>");
	json_decref(res);
	json_decref(undo);
}

/* A file that changes under every write is given up on, unwritten and with nothing to undo. */
static void test_file_that_keeps_changing(void **state)
{
	(void)state;
	init_plugin();
	const char *args = three_files();
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("ensure_line", args, &obs), SALVE_OK);
	json_decref(obs);
	commands();
	put("meddle", "");
	assert_int_equal(mock_apply("ensure_line", args, &res, &undo), SALVE_ERR);
	assert_string_equal(commands(), "write b.conf\nwrite b.conf\nwrite b.conf\n"
	                                "write c.conf\nwrite c.conf\nwrite c.conf\n");
	char want[700];
	snprintf(want, sizeof want,
	         "host b: %s kept changing while it was edited (3 times); not writing",
	         in_dir("b.conf"));
	assert_string_equal(str_of(res, "b", "error"), want);
	assert_non_null(strstr(mock_last_error(), "ensure_line: 2 of 3 hosts failed: "));
	assert_false(changed_of(res, "b"));
	assert_null(strstr(got("b.conf"), "salve=1"));
	assert_int_equal(json_object_size(json_object_get(undo, "hosts")), 0);
	json_decref(res);
	json_decref(undo);
}

/* A 1.1 host has no observed service: apply reads every host first, as check does. */
static void test_older_host_without_observed(void **state)
{
	(void)state;
	mock_set_host_abi(1);
	init_plugin();
	const char *args = three_files();
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_exec("ensure_line", args, &res, &undo), SALVE_OK);
	assert_string_equal(commands(), "read a.conf\nread a.conf\nread b.conf\nread b.conf\n"
	                                "read c.conf\nread c.conf\nwrite b.conf\nwrite c.conf\n");
	assert_string_equal(got("b.conf"), "x=0\nsalve=1\n");
	assert_string_equal(got("c.conf"), "salve=1\n");
	assert_false(changed_of(res, "a"));
	assert_true(changed_of(res, "b"));
	json_decref(res);
	assert_int_equal(json_object_size(json_object_get(undo, "hosts")), 2);
	json_decref(undo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_edit),
	    cmocka_unit_test_setup_teardown(test_apply_reaches_only_hosts_to_change, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plan_needs_no_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_changed_since_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_that_keeps_changing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_older_host_without_observed, setup, teardown),
	};
	return cmocka_run_group_tests_name("ssh_patch_line", tests, NULL, NULL);
}
