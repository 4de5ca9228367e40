/*
 * ssh-patch pieces that need no server: shell quoting (checked against a real /bin/sh),
 * inventory parsing and host patterns, package-manager output parsers, the lineinfile edit,
 * durations, the action table, and argument validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "act.h"
#include "mock_host.h"

const salve_plugin *salve_plugin_entry(void);

static char *quote(const char *s)
{
	struct sp_buf b = {0};
	assert_int_equal(sp_shell_quote(&b, s), 0);
	return sp_buf_take(&b);
}

static void test_quote_exact(void **state)
{
	(void)state;
	char *q = quote("it's");
	assert_string_equal(q, "'it'\\''s'");
	free(q);
	q = quote("");
	assert_string_equal(q, "''");
	free(q);
	q = quote("$(x) `y` \"z\"\n");
	assert_string_equal(q, "'$(x) `y` \"z\"\n'");
	free(q);
	json_t *argv = json_pack("[s, s]", "a", "b c");
	struct sp_buf b = {0};
	assert_int_equal(sp_shell_join(&b, argv), 0);
	assert_string_equal(b.data, "'a' 'b c'");
	sp_buf_free(&b);
	json_array_append_new(argv, json_stringn("nul\0byte", 8));
	assert_int_equal(sp_shell_join(&b, argv), -1);
	sp_buf_free(&b);
	json_decref(argv);
}

/* What /bin/sh makes of the quoted words: printf '%s\0' prints each argument it got. */
static void test_quote_survives_real_shell(void **state)
{
	(void)state;
	const char *hostile[] = {"; rm -rf /", "$(id)", "`id`",  "'", "''",    "\"",
	                         "\\",         "a\nb",  "$HOME", "*", "-n",    "",
	                         " x ",        "\t",    "!",     "~", "{a,b}", "#"};
	json_t *argv = json_pack("[s, s]", "printf", "%s\\0");
	struct sp_buf want = {0};
	for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
		json_array_append_new(argv, json_string(hostile[i]));
		sp_buf_add(&want, hostile[i], strlen(hostile[i]) + 1);
	}
	struct sp_buf line = {0};
	assert_int_equal(sp_shell_join(&line, argv), 0);
	json_decref(argv);
	char path[] = "/tmp/sp-quote-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, line.data, line.len), (ssize_t)line.len);
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "/bin/sh %s", path);
	FILE *p = popen(cmd, "r");
	char out[4096];
	size_t n = fread(out, 1, sizeof out, p);
	pclose(p);
	unlink(path);
	assert_int_equal(n, want.len);
	assert_memory_equal(out, want.data, want.len);
	sp_buf_free(&want);
	sp_buf_free(&line);
}

static void test_durations_and_bools(void **state)
{
	(void)state;
	json_t *v;
#define DUR(text, want)                                                                            \
	v = json_string(text);                                                                     \
	assert_true(sp_duration(v, 7) == (want));                                                  \
	json_decref(v)
	DUR("30", 30);
	DUR("30s", 30);
	DUR("5m", 300);
	DUR("2h", 7200);
	DUR("500ms", 0.5);
	DUR("1d", 86400);
	DUR("abc", -1);
	DUR("5x", -1);
	DUR("-1", -1);
	assert_true(sp_duration(NULL, 7) == 7);
	v = json_integer(12);
	assert_true(sp_duration(v, 7) == 12);
	json_decref(v);
	v = json_string("yes");
	assert_int_equal(sp_bool(v, 0), 1);
	json_decref(v);
	v = json_string("off");
	assert_int_equal(sp_bool(v, 1), 0);
	json_decref(v);
}

static const char inventory_yaml[] =
    "all:\n"
    "  vars:\n"
    "    ansible_user: deploy\n"
    "    tier: all\n"
    "  hosts:\n"
    "    lone:\n"
    "  children:\n"
    "    web:\n"
    "      vars:\n"
    "        tier: web\n"
    "        ansible_port: 2200\n"
    "      hosts:\n"
    "        web1:\n"
    "          ansible_host: 10.0.0.1\n"
    "        web2:\n"
    "          ansible_host: 10.0.0.2\n"
    "          tier: special\n"
    "      children:\n"
    "        canary:\n"
    "          hosts:\n"
    "            web3: {ansible_host: 10.0.0.3, ansible_ssh_private_key_file: /k}\n"
    "          vars: {tier: canary}\n"
    "    db:\n"
    "      hosts:\n"
    "        db1: {ansible_port: \"2222\", ansible_become: yes}\n"
    "        web1:\n"
    "    prod:\n"
    "      children:\n"
    "        web:\n"
    "        db:\n"
    "local:\n"
    "  hosts:\n"
    "    me: {ansible_connection: local}\n";

static struct sp_inventory *load_inv(void)
{
	char err[512];
	struct sp_inventory *inv = sp_inventory_parse(inventory_yaml, sizeof inventory_yaml - 1,
	                                              "test.yaml", err, sizeof err);
	if (!inv)
		fail_msg("%s", err);
	return inv;
}

static const struct sp_host *find(struct sp_inventory *inv, const char *name)
{
	for (size_t i = 0; i < inv->nhosts; i++)
		if (strcmp(inv->hosts[i].name, name) == 0)
			return &inv->hosts[i];
	fail_msg("no host %s", name);
	return NULL;
}

static void test_inventory_vars(void **state)
{
	(void)state;
	struct sp_inventory *inv = load_inv();
	const struct sp_host *w1 = find(inv, "web1");
	assert_string_equal(w1->address, "10.0.0.1");
	assert_int_equal(w1->port, 2200);
	assert_string_equal(w1->user, "deploy");
	assert_int_equal(w1->local, 0);
	assert_string_equal(json_string_value(json_object_get(w1->vars, "tier")), "web");
	/* host vars beat group vars; a child group's vars beat its parent's. */
	assert_string_equal(json_string_value(json_object_get(find(inv, "web2")->vars, "tier")),
	                    "special");
	const struct sp_host *w3 = find(inv, "web3");
	assert_string_equal(json_string_value(json_object_get(w3->vars, "tier")), "canary");
	assert_int_equal(w3->port, 2200);
	assert_string_equal(w3->key_file, "/k");
	const struct sp_host *db1 = find(inv, "db1");
	assert_int_equal(db1->port, 2222);
	assert_int_equal(db1->become, 1);
	assert_string_equal(db1->address, "db1");
	assert_int_equal(find(inv, "me")->local, 1);
	assert_string_equal(json_string_value(json_object_get(find(inv, "lone")->vars, "tier")),
	                    "all");
	sp_inventory_free(inv);
}

static char *select_names(const char *pattern)
{
	struct sp_inventory *inv = load_inv();
	char err[512];
	size_t n;
	size_t *idx = sp_inventory_select(inv, pattern, &n, err, sizeof err);
	struct sp_buf b = {0};
	if (!idx) {
		sp_buf_printf(&b, "ERROR: %s", err);
	} else {
		for (size_t i = 0; i < n; i++)
			sp_buf_printf(&b, "%s%s", i ? "," : "", inv->hosts[idx[i]].name);
	}
	free(idx);
	sp_inventory_free(inv);
	return sp_buf_take(&b);
}

#define SELECTS(pattern, want)                                                                     \
	do {                                                                                       \
		char *got = select_names(pattern);                                                 \
		assert_string_equal(got, want);                                                    \
		free(got);                                                                         \
	} while (0)

static void test_host_patterns(void **state)
{
	(void)state;
	SELECTS("all", "lone,web1,web2,web3,db1,me");
	SELECTS("web", "web1,web2,web3");
	SELECTS("canary", "web3");
	SELECTS("db", "web1,db1");
	SELECTS("web,db", "web1,web2,web3,db1");
	SELECTS("web:db", "web1,web2,web3,db1");
	SELECTS("web:!canary", "web1,web2");
	SELECTS("web,!web2", "web1,web3");
	SELECTS("web:&db", "web1");
	SELECTS("prod:&db:!web1", "db1");
	SELECTS("!web", "lone,db1,me");
	SELECTS("web1, db1", "web1,db1");
	SELECTS("web*", "web1,web2,web3");
	SELECTS("ungrouped", "lone");
	SELECTS("local", "me");
	/* localhost is implicit (local connection) when named, never part of all. */
	SELECTS("localhost", "localhost");
	SELECTS("localhost,db1", "db1,localhost");
	SELECTS("nosuch", "ERROR: host pattern 'nosuch': 'nosuch' matches no group or host in the "
	                  "inventory");
	SELECTS("web:&db:!web1", "ERROR: host pattern 'web:&db:!web1' selects no hosts");
}

static void test_inventory_errors(void **state)
{
	(void)state;
	char err[512];
	const char *bad[][2] = {
	    {"all: [1, 2]\n", "group all must be a mapping"},
	    {"all:\n  hostz: {}\n", "unknown key 'hostz'"},
	    {"all:\n  hosts:\n    a: {ansible_port: 99999}\n", "ansible_port must be 1..65535"},
	    {"all:\n  hosts:\n    a: {ansible_connection: winrm}\n",
	     "ansible_connection 'winrm' is not supported"},
	    {"all: {hosts: [\n", "x.yaml:2:1: did not find expected node content"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct sp_inventory *inv =
		    sp_inventory_parse(bad[i][0], strlen(bad[i][0]), "x.yaml", err, sizeof err);
		assert_null(inv);
		if (!strstr(err, bad[i][1]))
			fail_msg("inventory %zu: error '%s' lacks '%s'", i, err, bad[i][1]);
	}
}

static void test_apt_parser(void **state)
{
	(void)state;
	const char *out =
	    "NOTE: This is only a simulation!\n"
	    "Reading package lists...\n"
	    "The following packages will be upgraded:\n"
	    "  libc6 salve-dummy\n"
	    "Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian:12.5/stable [amd64]) []\n"
	    "Inst salve-dummy [1.0] (1.1 localhost [all])\n"
	    "Inst newdep (0.5 Debian:12.5/stable [amd64])\n"
	    "Conf libc6 (2.36-9+deb12u4 Debian:12.5/stable [amd64])\n";
	struct sp_pkglist l = {0};
	assert_int_equal(sp_parse_apt_sim(out, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.pkgs[0].name, "libc6");
	assert_string_equal(l.pkgs[0].from, "2.36-9+deb12u3");
	assert_string_equal(l.pkgs[0].to, "2.36-9+deb12u4");
	assert_string_equal(l.pkgs[1].name, "salve-dummy");
	assert_null(l.pkgs[2].from);
	assert_string_equal(l.pkgs[2].to, "0.5");
	sp_pkglist_free(&l);
}

static void test_dnf_parser(void **state)
{
	(void)state;
	const char *cu = "Last metadata expiration check: 0:12:01 ago.\n"
	                 "\n"
	                 "kernel.x86_64                5.14.0-362.8.1.el9_3     baseos\n"
	                 "openssl-libs.x86_64          1:3.0.7-25.el9_3         baseos\n"
	                 "a-very-long-package-name-that-wraps.noarch\n"
	                 "                             2.0-1.el9                appstream\n"
	                 "Obsoleting Packages\n"
	                 "grub2-tools.x86_64           1:2.06-70.el9            baseos\n";
	const char *rpm = "kernel.x86_64 0:5.14.0-284.11.1.el9_2\n"
	                  "openssl-libs.x86_64 1:3.0.7-24.el9\n"
	                  "a-very-long-package-name-that-wraps.noarch 0:1.0-1.el9\n";
	struct sp_pkglist l = {0};
	assert_int_equal(sp_parse_dnf(cu, rpm, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.pkgs[0].name, "kernel.x86_64");
	assert_string_equal(l.pkgs[0].from, "5.14.0-284.11.1.el9_2");
	assert_string_equal(l.pkgs[0].to, "5.14.0-362.8.1.el9_3");
	assert_string_equal(l.pkgs[1].from, "1:3.0.7-24.el9");
	assert_string_equal(l.pkgs[1].to, "1:3.0.7-25.el9_3");
	assert_string_equal(l.pkgs[2].name, "a-very-long-package-name-that-wraps.noarch");
	assert_string_equal(l.pkgs[2].to, "2.0-1.el9");
	sp_pkglist_free(&l);

	char err[200];
	char text[2048];
	snprintf(text, sizeof text, "@@salve-manager dnf\n%s@@salve-installed\n%s", cu, rpm);
	assert_int_equal(sp_parse_pending(text, &l, err, sizeof err), 0);
	assert_string_equal(l.manager, "dnf");
	assert_int_equal(l.n, 3);
	sp_pkglist_free(&l);
	assert_int_equal(sp_parse_pending("garbage", &l, err, sizeof err), -1);
	assert_non_null(strstr(err, "marker"));
}

static void test_scripts_quote_options(void **state)
{
	(void)state;
	struct sp_config cfg = {0};
	cfg.apt_options = json_pack("[s, s]", "-o", "Dir::Etc::sourcelist=/x y/list");
	char hname[] = "h";
	struct sp_host h = {.name = hname, .address = hname, .port = 22};
	h.vars = json_pack("{s:s}", "salve_apt_options", "-o Dir::State::status=/r/status");
	json_t *pk = json_pack("[s]", "salve-dummy");
	char *s = sp_pending_script_for(&cfg, &h, 1, pk);
	assert_non_null(strstr(s, "apt-get '-o' 'Dir::Etc::sourcelist=/x y/list' '-o' "
	                          "'Dir::State::status=/r/status' -q update >/dev/null"));
	assert_non_null(
	    strstr(s, " -s -o Debug::NoLocking=1 install --only-upgrade 'salve-dummy'"));
	free(s);
	struct sp_pkglist l = {.manager = "apt"};
	char pname[] = "salve-dummy", pfrom[] = "1.0", pto[] = "1.1";
	struct sp_pkg p = {.name = pname, .from = pfrom, .to = pto};
	l.pkgs = &p;
	l.n = 1;
	s = sp_upgrade_script_for(&cfg, &h, &l);
	assert_non_null(strstr(s, "install --only-upgrade 'salve-dummy=1.1'"));
	free(s);
	json_t *entry = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "manager", "apt", "packages",
	                          "name", "salve-dummy", "from", "1.0", "to", "1.1");
	s = sp_downgrade_script_for(&cfg, &h, entry);
	assert_non_null(strstr(s, "--allow-downgrades"));
	assert_non_null(strstr(s, "install 'salve-dummy=1.0'"));
	free(s);
	json_decref(entry);
	entry = json_pack("{s:s, s:s, s:[]}", "manager", "dnf", "transaction", "42", "packages");
	s = sp_downgrade_script_for(&cfg, &h, entry);
	assert_non_null(strstr(s, "history undo '42'"));
	free(s);
	json_decref(entry);
	json_decref(pk);
	json_decref(h.vars);
	json_decref(cfg.apt_options);
}

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

static void test_descriptor_and_validation(void **state)
{
	(void)state;
	const salve_plugin *p = salve_plugin_entry();
	assert_string_equal(p->name, "ssh-patch");
	assert_int_equal(p->abi_major, SALVE_PLUGIN_ABI_MAJOR);
	/* Unknown settings and bad values are refused at init, naming the setting. */
	assert_int_equal(mock_init(p, "{\"forkz\": 3}"), SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "unknown setting 'forkz'"));
	mock_fini();
	assert_int_equal(mock_init(p, "{\"engine\": \"fibers\"}"), SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "engine must be poll or threads"));
	mock_fini();
	assert_int_equal(mock_init(p, "{\"private_key_passphrase\": \"env:SP_UNSET_VAR_X\"}"),
	                 SALVE_ERR_INVALID);
	mock_fini();
	assert_int_equal(mock_init(p, "{}"), SALVE_OK);
	const char *kinds[][2] = {{"exec", "m"},   {"query", "r"},  {"pending", "r"},
	                          {"patch", "m"},  {"reboot", "m"}, {"ensure_line", "m"},
	                          {"service", "m"}};
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		const salve_action *a = mock_action(kinds[i][0]);
		assert_non_null(a);
		assert_int_equal(a->kind, kinds[i][1][0] == 'r' ? SALVE_READ : SALVE_MUTATE);
	}
	assert_true(mock_action("reboot")->flags & SALVE_ACTION_NO_UNDO);
	assert_false(mock_action("patch")->flags & SALVE_ACTION_NO_UNDO);
	json_t *res = NULL, *undo = NULL;
	/* Argument errors, before any connection. */
	assert_int_equal(mock_apply("exec", "{\"hosts\": \"localhost\"}", &res, &undo),
	                 SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "exactly one of argv"));
	assert_int_equal(
	    mock_apply("exec", "{\"hosts\": \"localhost\", \"argv\": [\"a\", 3]}", &res, &undo),
	    SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "argv[2]"));
	assert_int_equal(
	    mock_apply("exec", "{\"hosts\": \"nosuch\", \"argv\": [\"true\"]}", &res, &undo),
	    SALVE_ERR_NOTFOUND);
	assert_non_null(strstr(mock_last_error(), "'nosuch' matches no group or host"));
	assert_int_equal(
	    mock_check("patch", "{\"hosts\": \"localhost\", \"packages\": [\"a b\"]}", &res),
	    SALVE_ERR_INVALID);
	assert_int_equal(
	    mock_plan("patch", "{\"hosts\": \"localhost\", \"reboot\": \"maybe\"}", &res),
	    SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "reboot must be never, if-required or always"));
	assert_int_equal(
	    mock_check("ensure_line",
	               "{\"hosts\": \"localhost\", \"path\": \"rel\", \"line\": \"x\"}", &res),
	    SALVE_ERR_INVALID);
	assert_int_equal(mock_check("service",
	                            "{\"hosts\": \"localhost\", \"name\": \"-x\", \"state\": "
	                            "\"started\"}",
	                            &res),
	                 SALVE_ERR_INVALID);
	/* Undo records without their hosts' connection details are refused. */
	json_t *bad = json_pack("{s:{s:{}}}", "hosts", "h1");
	assert_int_equal(mock_undo("patch", bad), SALVE_ERR_INVALID);
	json_decref(bad);
	/* exec's and reboot's undo are no-ops that succeed. */
	json_t *empty = json_object();
	assert_int_equal(mock_undo("exec", empty), SALVE_OK);
	assert_int_equal(mock_undo("reboot", empty), SALVE_OK);
	json_decref(empty);
	/* A local command, for real: exit status and both streams. */
	assert_int_equal(mock_run("query",
	                          "{\"hosts\": \"localhost\", \"shell\": \"echo out; echo err >&2; "
	                          "exit 3\", \"allow_failures\": 1}",
	                          &res),
	                 SALVE_OK);
	const json_t *h = json_object_get(json_object_get(res, "hosts"), "localhost");
	assert_int_equal(json_integer_value(json_object_get(h, "rc")), 3);
	assert_string_equal(json_string_value(json_object_get(h, "stdout")), "out\n");
	assert_string_equal(json_string_value(json_object_get(h, "stderr")), "err\n");
	assert_int_equal(json_integer_value(json_object_get(res, "failed")), 1);
	json_decref(res);
	/* stdin reaches the command. */
	assert_int_equal(mock_run("query",
	                          "{\"hosts\": \"localhost\", \"argv\": [\"cat\"], "
	                          "\"stdin\": \"piped\\n\"}",
	                          &res),
	                 SALVE_OK);
	h = json_object_get(json_object_get(res, "hosts"), "localhost");
	assert_string_equal(json_string_value(json_object_get(h, "stdout")), "piped\n");
	json_decref(res);
	/* Cancellation stops the call. */
	mock_set_cancelled(1);
	assert_int_equal(mock_run("query",
	                          "{\"hosts\": \"localhost\", \"argv\": [\"sleep\", "
	                          "\"20\"]}",
	                          &res),
	                 SALVE_ERR_CANCELED);
	json_decref(res);
	mock_set_cancelled(0);
	mock_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quote_exact),
	    cmocka_unit_test(test_quote_survives_real_shell),
	    cmocka_unit_test(test_durations_and_bools),
	    cmocka_unit_test(test_inventory_vars),
	    cmocka_unit_test(test_host_patterns),
	    cmocka_unit_test(test_inventory_errors),
	    cmocka_unit_test(test_apt_parser),
	    cmocka_unit_test(test_dnf_parser),
	    cmocka_unit_test(test_scripts_quote_options),
	    cmocka_unit_test(test_line_edit),
	    cmocka_unit_test(test_descriptor_and_validation),
	};
	return cmocka_run_group_tests_name("ssh_patch_unit", tests, NULL, NULL);
}
