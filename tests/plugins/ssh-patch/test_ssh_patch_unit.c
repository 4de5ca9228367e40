/*
 * ssh-patch pieces that need no server: shell quoting (checked against a real /bin/sh),
 * inventory parsing and host patterns, package-manager output parsers, durations, the action
 * table, and argument validation (ensure_line: test_ssh_patch_line.c).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "act.h"
#include "mock_host.h"
#include "mock_settings.h"

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
	DUR("1h30m", 5400);
	DUR("5min", -1); /* one grammar for the whole project: m, not min */
	DUR("nan", -1);
	DUR("inf", -1);
	DUR("0x10", -1);
	DUR("5 s", -1);
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
	/* With an inventory, only its hosts exist: localhost is not implicit (an alert label
	 * naming it must not reach this machine). */
	SELECTS("localhost", "ERROR: host pattern 'localhost': 'localhost' matches no group or "
	                     "host in the inventory (localhost is implicit only when no "
	                     "inventory is configured; add it to the inventory with "
	                     "ansible_connection: local)");
	SELECTS("localhost,db1", "ERROR: host pattern 'localhost,db1': 'localhost' matches no "
	                         "group or host in the inventory (localhost is implicit only "
	                         "when no inventory is configured; add it to the inventory with "
	                         "ansible_connection: local)");
	SELECTS("nosuch", "ERROR: host pattern 'nosuch': 'nosuch' matches no group or host in the "
	                  "inventory");
	SELECTS("web:&db:!web1", "ERROR: host pattern 'web:&db:!web1' selects no hosts");
}

/* Without any inventory, localhost is a local host (the main job's dry-run patch check of
 * this machine relies on it) and is never part of all. */
static void test_localhost_without_inventory(void **state)
{
	(void)state;
	char err[512];
	struct sp_inventory *inv = sp_inventory_load(NULL, err, sizeof err);
	assert_non_null(inv);
	size_t n;
	size_t *idx = sp_inventory_select(inv, "localhost", &n, err, sizeof err);
	assert_non_null(idx);
	assert_int_equal(n, 1);
	assert_string_equal(inv->hosts[idx[0]].name, "localhost");
	assert_int_equal(inv->hosts[idx[0]].local, 1);
	free(idx);
	assert_null(sp_inventory_select(inv, "all", &n, err, sizeof err));
	assert_string_equal(err, "host pattern 'all' selects no hosts");
	assert_null(sp_inventory_select(inv, "db1", &n, err, sizeof err));
	sp_inventory_free(inv);
	/* An inventory that names localhost itself: it is an ordinary host. */
	const char *y = "all:\n  hosts:\n    localhost: {ansible_connection: local}\n";
	inv = sp_inventory_parse(y, strlen(y), "l.yaml", err, sizeof err);
	assert_non_null(inv);
	idx = sp_inventory_select(inv, "all", &n, err, sizeof err);
	assert_int_equal(n, 1);
	free(idx);
	sp_inventory_free(inv);
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
	    {"all:\n  hosts:\n    a: {salve_lock_timeout: soon}\n",
	     "x.yaml: host a: salve_lock_timeout must be a duration"},
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

static void assert_contains(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("'%s' not in:\n%s", want, text);
}

static void test_scripts_quote_options(void **state)
{
	(void)state;
	struct sp_config cfg = {0};
	cfg.lock_timeout = 600;
	cfg.apt_options = json_pack("[s, s]", "-o", "Dir::Etc::sourcelist=/x y/list");
	char hname[] = "h";
	struct sp_host h = {.name = hname, .address = hname, .port = 22, .lock_timeout = -1};
	h.vars = json_pack("{s:s}", "salve_apt_options",
	                   "-o Dir::State::status=/r/status --no-install-recommends");
	json_t *pk = json_pack("[s]", "salve-dummy");
	char *s = sp_pending_script_for(&cfg, &h, 1, pk);
	/* The bound (the plugin's lock_timeout), then where apt keeps its locks: apt-config gets
	 * only the -o options, apt-get all of them. */
	assert_contains(s, "salve_bound=600 salve_bound_text='10m'\n");
	assert_contains(s, "eval \"$(apt-config '-o' 'Dir::Etc::sourcelist=/x y/list' '-o' "
	                   "'Dir::State::status=/r/status' shell salve_S Dir::State::status/f");
	assert_contains(s, "salve_wait lock 'apt lists' \"${salve_L}lock\"\n");
	assert_contains(s, "apt-get '-o' 'Dir::Etc::sourcelist=/x y/list' '-o' "
	                   "'Dir::State::status=/r/status' '--no-install-recommends' -q update "
	                   "2>&1 >/dev/null); then break; fi");
	assert_contains(s, "*'Could not get lock'*)");
	assert_contains(s, " -s -o Debug::NoLocking=1 install --only-upgrade -- 'salve-dummy'");
	assert_contains(s, "salve_wait pid \"$pm\" /var/run/dnf.pid");
	assert_contains(s, " -q check-update -- 'salve-dummy'");
	free(s);
	struct sp_pkglist l = {.manager = "apt"};
	char pname[] = "salve-dummy", pfrom[] = "1.0", pto[] = "1.1";
	struct sp_pkg p = {.name = pname, .from = pfrom, .to = pto};
	l.pkgs = &p;
	l.n = 1;
	/* A host's salve_lock_timeout wins over the plugin's. */
	h.lock_timeout = 90;
	s = sp_upgrade_script_for(&cfg, &h, &l);
	assert_contains(s, "salve_bound=90 salve_bound_text='90s'\n");
	assert_contains(s,
	                "salve_wait lock dpkg \"${salve_A}/lock-frontend\" \"${salve_A}/lock\"\n");
	assert_contains(s, " -o \"DPkg::Lock::Timeout=$(salve_left)\" -y -q -o "
	                   "Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
	                   "install --only-upgrade -- 'salve-dummy=1.1'\n");
	assert_contains(s, "salve_after lock dpkg");
	free(s);
	json_t *entry = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "manager", "apt", "packages",
	                          "name", "salve-dummy", "from", "1.0", "to", "1.1");
	s = sp_downgrade_script_for(&cfg, &h, entry);
	assert_contains(s, " -o \"DPkg::Lock::Timeout=$(salve_left)\" -y -q --allow-downgrades");
	assert_contains(s, "install -- 'salve-dummy=1.0'\n");
	free(s);
	json_decref(entry);
	strcpy(l.manager, "dnf");
	char rname[] = "kernel.x86_64", rto[] = "5.14.0-362.el9";
	struct sp_pkg rp = {.name = rname, .from = NULL, .to = rto};
	l.pkgs = &rp;
	s = sp_upgrade_script_for(&cfg, &h, &l);
	assert_contains(s, "pm='dnf'\nsalve_wait pid \"$pm\" /var/run/dnf.pid "
	                   "/var/lib/dnf/rpmdb_lock.pid /var/cache/dnf/metadata_lock.pid "
	                   "/var/cache/dnf/download_lock.pid /var/run/yum.pid\n");
	assert_contains(s, "LC_ALL=C \"$pm\" -y upgrade -- 'kernel-5.14.0-362.el9.x86_64'\n");
	free(s);
	entry = json_pack("{s:s, s:s, s:[]}", "manager", "dnf", "transaction", "42", "packages");
	s = sp_downgrade_script_for(&cfg, &h, entry);
	assert_contains(s, "salve_wait pid \"$pm\"");
	assert_contains(s, "history undo -- '42'");
	free(s);
	json_decref(entry);
	/* A transaction id that is not a number is refused, not quoted into a command. */
	entry =
	    json_pack("{s:s, s:s, s:[]}", "manager", "dnf", "transaction", "4; reboot", "packages");
	assert_null(sp_downgrade_script_for(&cfg, &h, entry));
	json_decref(entry);
	json_decref(pk);
	json_decref(h.vars);
	json_decref(cfg.apt_options);
}

/* Runs a script under /bin/sh; returns its exit status, stderr in err. */
static int run_sh(const char *script, char *err, size_t errlen)
{
	char path[] = "/tmp/sp-lock-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "/bin/sh %s 2>&1 >/dev/null", path);
	FILE *p = popen(cmd, "r");
	size_t n = fread(err, 1, errlen - 1, p);
	err[n] = '\0';
	int status = pclose(p);
	unlink(path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The lock wait of the package scripts, run for real: a lock held through /proc/locks (flock
 * here; apt's fcntl locks are in the sshd test) and a dnf-style pid file of a live process
 * make it wait and then give up after the bound, naming the lock, the holder and the bound;
 * a pid file of a dead process or a free lock let it through at once. */
static void test_lock_wait_script(void **state)
{
	(void)state;
	char dir[] = "/tmp/sp-locks-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char lockfile[128], pidfile[128], cmd[512], err[4096], want[512];
	snprintf(lockfile, sizeof lockfile, "%s/lock", dir);
	snprintf(pidfile, sizeof pidfile, "%s/dnf.pid", dir);
	FILE *f = fopen(lockfile, "w");
	fclose(f);

	json_t *files = json_pack("[s]", lockfile);
	char *script = sp_lock_wait_script(1, "lock", "dpkg", files);
	assert_int_equal(run_sh(script, err, sizeof err), 0);
	assert_string_equal(err, "");
	/* flock(1) holds the lock from a child that lives until we kill it. */
	pid_t holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		/* Its own group: killing it also ends the sleep that shares its lock. */
		setpgid(0, 0);
		execlp("flock", "flock", "-x", lockfile, "sleep", "60", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		snprintf(cmd, sizeof cmd, "grep -q ' %d ' /proc/locks", (int)holder);
		if (system(cmd) == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(run_sh(script, err, sizeof err), 75);
	snprintf(want, sizeof want,
	         "salve: waiting for the dpkg lock held by PID %d (flock)\n"
	         "salve: gave up waiting for the dpkg lock (%s) held by PID %d (flock) after 1s "
	         "(lock_timeout)\n",
	         (int)holder, lockfile, (int)holder);
	assert_string_equal(err, want);
	free(script);
	/* A zero bound gives up at the first look. */
	script = sp_lock_wait_script(0, "lock", "dpkg", files);
	assert_int_equal(run_sh(script, err, sizeof err), 75);
	snprintf(want, sizeof want,
	         "salve: waiting for the dpkg lock held by PID %d (flock)\n"
	         "salve: gave up waiting for the dpkg lock (%s) held by PID %d (flock) after 0s "
	         "(lock_timeout)\n",
	         (int)holder, lockfile, (int)holder);
	assert_string_equal(err, want);
	free(script);
	json_decref(files);

	/* dnf/yum: the PID in the pid file is alive (the flock child). */
	f = fopen(pidfile, "w");
	fprintf(f, "%d\n", (int)holder);
	fclose(f);
	files = json_pack("[s, s]", "/nonexistent/yum.pid", pidfile);
	script = sp_lock_wait_script(1, "pid", "dnf", files);
	assert_int_equal(run_sh(script, err, sizeof err), 75);
	snprintf(want, sizeof want,
	         "salve: waiting for the dnf lock held by PID %d (flock)\n"
	         "salve: gave up waiting for the dnf lock (%s) held by PID %d (flock) after 1s "
	         "(lock_timeout)\n",
	         (int)holder, pidfile, (int)holder);
	assert_string_equal(err, want);
	kill(-holder, SIGKILL);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	/* The holder is gone: its stale pid file no longer holds anything. */
	assert_int_equal(run_sh(script, err, sizeof err), 0);
	assert_string_equal(err, "");
	free(script);
	json_decref(files);
	unlink(pidfile);
	unlink(lockfile);
	rmdir(dir);
}

static void test_descriptor_and_validation(void **state)
{
	(void)state;
	const salve_plugin *p = salve_plugin_entry();
	assert_string_equal(p->name, "ssh-patch");
	assert_int_equal(p->abi_major, SALVE_PLUGIN_ABI_MAJOR);
	/* The core refuses unknown settings, wrong types, bad durations, values out of range
	 * and an unknown engine before init, as for every plugin; init refuses a passphrase it
	 * cannot resolve. */
	const struct {
		const char *config, *refusal;
	} refused[] = {
	    {"{\"forkz\": 3}",
	     "plugins.ssh-patch.forkz: unknown setting (known: inventory, known_hosts, accept_new, "
	     "agent, user, private_key_file, private_key_passphrase, forks, connect_timeout, "
	     "command_timeout, max_output, apt_options, dnf_options, reboot_command, systemctl, "
	     "refresh, engine, lock_timeout)"},
	    {"{\"lock_timeout\": \"soon\"}",
	     "plugins.ssh-patch.lock_timeout: must be a duration such as \"30s\", \"5m\", "
	     "\"1h30m\" or a number of seconds, got \"soon\""},
	    {"{\"forks\": \"8\"}", "plugins.ssh-patch.forks: must be int, got string"},
	    {"{\"agent\": \"no\"}", "plugins.ssh-patch.agent: must be bool, got string"},
	    {"{\"apt_options\": {\"o\": 1}}",
	     "plugins.ssh-patch.apt_options: must be a string or a list of strings, got table"},
	    {"{\"private_key_passphrase\": \"hunter2\"}",
	     "plugins.ssh-patch.private_key_passphrase: must be a secret reference (env:NAME or "
	     "file:/path), got a string of 7 bytes: inline secrets are refused"},
	    {"{\"engine\": \"fibers\"}",
	     "plugins.ssh-patch.engine: must be one of poll, threads, got \"fibers\""},
	    {"{\"forks\": 0}", "plugins.ssh-patch.forks: must be at least 1, got 0"},
	    {"{\"command_timeout\": \"0s\"}",
	     "plugins.ssh-patch.command_timeout: must be more than 0s, got 0s"},
	    {"{\"connect_timeout\": 0}",
	     "plugins.ssh-patch.connect_timeout: must be more than 0s, got 0s"},
	    {"{\"max_output\": 1023}",
	     "plugins.ssh-patch.max_output: must be at least 1024, got 1023"},
	    {"{\"dnf_options\": [\"-q\", 3]}",
	     "plugins.ssh-patch.dnf_options[1]: must be a non-empty string"},
	    {"{\"private_key_passphrase\": \"env:SP_UNSET_VAR_X\"}",
	     "ssh-patch: private_key_passphrase: cannot resolve the secret reference"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		assert_int_equal(mock_init_settings(p, refused[i].config), SALVE_ERR_INVALID);
		assert_string_equal(mock_settings_error(), refused[i].refusal);
		mock_fini();
	}
	/* The defaults are the declaration's; durations reach init in seconds. */
	char *effective = mock_settings_effective(p, "{\"forks\": 8, \"lock_timeout\": \"1m30s\"}");
	assert_non_null(effective);
	assert_string_equal(
	    effective,
	    "{\"accept_new\":false,\"agent\":true,\"apt_options\":[],\"command_timeout\":1800.0,"
	    "\"connect_timeout\":10.0,\"dnf_options\":[],\"engine\":\"poll\",\"forks\":8,"
	    "\"known_hosts\":\"~/.ssh/known_hosts\",\"lock_timeout\":90.0,\"max_output\":4194304,"
	    "\"reboot_command\":\"nohup sh -c 'sleep 2; shutdown -r now || systemctl reboot || "
	    "reboot' >/dev/null 2>&1 &\",\"refresh\":true,\"systemctl\":\"systemctl\"}");
	free(effective);
	/* a lone option is a list of one; the bounds' edges are in */
	effective = mock_settings_effective(p, "{\"apt_options\": \"-q\", \"forks\": 1, "
	                                       "\"max_output\": 1024, \"engine\": \"threads\"}");
	assert_non_null(effective);
	assert_non_null(strstr(effective, "\"apt_options\":[\"-q\"],"));
	assert_non_null(strstr(effective, "\"engine\":\"threads\",\"forks\":1,"));
	assert_non_null(strstr(effective, "\"max_output\":1024,"));
	free(effective);
	assert_int_equal(mock_init_settings(p, "{}"), SALVE_OK);
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

static void test_escape_for_people(void **state)
{
	(void)state;
	const char raw[] = "a\x1b[31mb\r\n\t\x7f\xff \xc3\xa9 \xc2\x9b end\\x";
	struct sp_buf b = {0};
	assert_int_equal(sp_buf_add_escaped(&b, raw, sizeof raw - 1), 0);
	assert_string_equal(b.data, "a\\x1b[31mb\\x0d\\x0a\\x09\\x7f\\xff \xc3\xa9 \\u009b end\\x");
	sp_buf_free(&b);
	/* Cut to fit, never inside a UTF-8 sequence. */
	char out[4];
	sp_escape_into(out, sizeof out, "ab\xc3\xa9");
	assert_string_equal(out, "ab");
	char d[8];
	sp_duration_text(600, d, sizeof d);
	assert_string_equal(d, "10m");
	sp_duration_text(0.2, d, sizeof d);
	assert_string_equal(d, "1s");
	sp_duration_text(7200, d, sizeof d);
	assert_string_equal(d, "2h");
}

static int has_control_bytes(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* F11: remote output that tries to rewrite the terminal line reaches people escaped, in
 * error messages and in progress lines (both engines). */
static void test_control_bytes_escaped(void **state)
{
	(void)state;
	const char *engines[] = {"{}", "{\"engine\": \"threads\"}"};
	for (int e = 0; e < 2; e++) {
		assert_int_equal(mock_init_settings(salve_plugin_entry(), engines[e]), SALVE_OK);
		json_t *res = NULL;
		/* A failed step made to look like a success: erase the line, CR, green "done". */
		assert_int_equal(
		    mock_run("query",
		             "{\"hosts\": \"localhost\", \"shell\": \"printf 'disk "
		             "full\\\\033[2K\\\\rstep ok: \\\\033[32mdone\\\\033[0m\\\\n' >&2; "
		             "exit 1\"}",
		             &res),
		    SALVE_ERR);
		assert_string_equal(mock_last_error(),
		                    "query: 1 of 1 hosts failed: host localhost: exit status 1: "
		                    "disk full\\x1b[2K\\x0dstep ok: \\x1b[32mdone\\x1b[0m");
		assert_false(has_control_bytes(mock_last_error()));
		/* The raw bytes stay in the result's stderr (data, escaped by the audit log). */
		const json_t *h = json_object_get(json_object_get(res, "hosts"), "localhost");
		assert_non_null(
		    strstr(json_string_value(json_object_get(h, "stderr")), "\x1b[2K\r"));
		json_decref(res);
		/* A wait line becomes a progress line, escaped, while the command runs. */
		mock_reset_records();
		assert_int_equal(mock_run("query",
		                          "{\"hosts\": \"localhost\", \"shell\": \"echo 'salve: "
		                          "waiting for the dpkg lock held by PID 7 "
		                          "(ev\\u001b[2Jil)' >&2; echo 'not a wait line' >&2; "
		                          "sleep 0.3\"}",
		                          &res),
		                 SALVE_OK);
		json_decref(res);
		assert_string_equal(mock_logs(), "[progress] localhost: waiting for the dpkg lock "
		                                 "held by PID 7 (ev\\x1b[2Jil)\n");
		assert_null(strchr(mock_logs(), '\x1b'));
		mock_fini();
	}
}

/* F8: a local command sees PATH, LANG=C and what the action declares; never salve's own
 * environment, where env: secrets live. The exact attack: printenv SLACK_URL. */
static void test_local_environment_is_clean(void **state)
{
	(void)state;
	setenv("SLACK_URL", "https://hooks.slack.com/services/T000/B000/s3cr3t", 1);
	assert_int_equal(mock_init_settings(salve_plugin_entry(), "{}"), SALVE_OK);
	json_t *res = NULL;
	assert_int_equal(mock_run("query",
	                          "{\"hosts\": \"localhost\", \"argv\": [\"printenv\", "
	                          "\"SLACK_URL\"], \"allow_failures\": 1}",
	                          &res),
	                 SALVE_OK);
	const json_t *h = json_object_get(json_object_get(res, "hosts"), "localhost");
	assert_int_equal(json_integer_value(json_object_get(h, "rc")), 1);
	assert_string_equal(json_string_value(json_object_get(h, "stdout")), "");
	json_decref(res);
	/* The whole environment, exactly. */
	char want[4096];
	snprintf(want, sizeof want, "PATH=%s\nLANG=C\n", getenv("PATH"));
	assert_int_equal(mock_run("query", "{\"hosts\": \"localhost\", \"argv\": [\"env\"]}", &res),
	                 SALVE_OK);
	h = json_object_get(json_object_get(res, "hosts"), "localhost");
	assert_string_equal(json_string_value(json_object_get(h, "stdout")), want);
	json_decref(res);
	/* What the action declares is there; a shell= command is no different. */
	assert_int_equal(mock_run("query",
	                          "{\"hosts\": \"localhost\", \"shell\": \"printenv GREETING; "
	                          "printenv SLACK_URL; echo rc=$?\", \"env\": {\"GREETING\": "
	                          "\"hi there\"}}",
	                          &res),
	                 SALVE_OK);
	h = json_object_get(json_object_get(res, "hosts"), "localhost");
	assert_string_equal(json_string_value(json_object_get(h, "stdout")), "hi there\nrc=1\n");
	json_decref(res);
	assert_null(strstr(mock_logs(), "s3cr3t"));
	/* Over SSH the declared environment goes in front of the command, quoted. */
	mock_set_mode(SALVE_MODE_DRY_RUN);
	assert_int_equal(mock_plan("exec",
	                           "{\"hosts\": \"localhost\", \"argv\": [\"deploy\"], \"env\": "
	                           "{\"A\": \"x'y\"}}",
	                           &res),
	                 SALVE_OK);
	h = json_object_get(json_object_get(res, "hosts"), "localhost");
	assert_string_equal(json_string_value(json_object_get(h, "command")),
	                    "env -- 'A=x'\\''y' 'deploy'");
	json_decref(res);
	mock_set_mode(SALVE_MODE_APPLY);
	assert_int_equal(mock_run("query",
	                          "{\"hosts\": \"localhost\", \"argv\": [\"true\"], \"env\": "
	                          "{\"1X\": \"a\"}}",
	                          &res),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "exec: env: '1X' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
	mock_fini();
	unsetenv("SLACK_URL");
}

static void test_unit_names_and_paths(void **state)
{
	(void)state;
	char why[200];
	const char *good_units[] = {"nginx.service",
	                            "nginx",
	                            "php8.2-fpm",
	                            "getty@tty1.service",
	                            "systemd-fsck@dev-disk-by\\x2duuid-1.service",
	                            "a:b_c.timer",
	                            "foo@.service",
	                            "backup.target"};
	for (size_t i = 0; i < sizeof good_units / sizeof *good_units; i++)
		if (!sp_valid_unit_name(good_units[i], why, sizeof why))
			fail_msg("'%s' refused: %s", good_units[i], why);
	const char *bad_units[] = {"--version", "-Hroot@x",    "-.mount",     "",    "@x.service",
	                           ".service",  "a b.service", "a/b.service", "a;b", "x\n.service"};
	for (size_t i = 0; i < sizeof bad_units / sizeof *bad_units; i++)
		if (sp_valid_unit_name(bad_units[i], why, sizeof why))
			fail_msg("'%s' accepted", bad_units[i]);
	char long_unit[300];
	memset(long_unit, 'a', 256);
	long_unit[256] = '\0';
	assert_false(sp_valid_unit_name(long_unit, why, sizeof why));

	const char *good_paths[] = {"/etc/ssh/sshd_config", "/a", "/x/{host}.conf", "/a/.hidden",
	                            "/a/b..c"};
	for (size_t i = 0; i < sizeof good_paths / sizeof *good_paths; i++)
		if (!sp_valid_path(good_paths[i], why, sizeof why))
			fail_msg("'%s' refused: %s", good_paths[i], why);
	const char *bad_paths[] = {"etc/passwd", "",        "/",       "/etc/../etc/shadow",
	                           "/etc/./x",   "/etc//x", "/etc/x/", "/..",
	                           "/etc/x\n",   "./x",     "/a/.."};
	for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++)
		if (sp_valid_path(bad_paths[i], why, sizeof why))
			fail_msg("'%s' accepted", bad_paths[i]);
}

/* F9: option-looking unit names are refused before anything runs; a valid one reaches
 * systemctl after "--". Paths must be absolute and normalized. With an inventory, an
 * unlisted localhost does not resolve. */
static void test_hostile_operands_refused(void **state)
{
	(void)state;
	char dir[] = "/tmp/sp-f9-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char fake[128], log[128], inv[128], cfg[512];
	snprintf(fake, sizeof fake, "%s/systemctl", dir);
	snprintf(log, sizeof log, "%s/calls", dir);
	FILE *f = fopen(fake, "w");
	fprintf(f, "#!/bin/sh\necho \"$*\" >> %s\necho active\n", log);
	fclose(f);
	chmod(fake, 0755);
	snprintf(cfg, sizeof cfg, "{\"systemctl\": \"%s\"}", fake);
	assert_int_equal(mock_init_settings(salve_plugin_entry(), cfg), SALVE_OK);
	json_t *res = NULL, *undo = NULL;
	const char *attacks[] = {"--version", "-Hroot@evil.example"};
	for (size_t i = 0; i < 2; i++) {
		char args[256], want[300];
		snprintf(args, sizeof args,
		         "{\"hosts\": \"localhost\", \"name\": \"%s\", \"state\": \"restarted\"}",
		         attacks[i]);
		assert_int_equal(mock_check("service", args, &res), SALVE_ERR_INVALID);
		assert_int_equal(mock_apply("service", args, &res, &undo), SALVE_ERR_INVALID);
		snprintf(
		    want, sizeof want,
		    "service: name '%s' is not a systemd unit name: a unit name must not start "
		    "with '-' (e.g. nginx.service)",
		    attacks[i]);
		assert_string_equal(mock_last_error(), want);
	}
	assert_int_equal(access(log, F_OK), -1); /* systemctl never ran */
	assert_int_equal(mock_check("service",
	                            "{\"hosts\": \"localhost\", \"name\": \"web.service\", "
	                            "\"state\": \"started\"}",
	                            &res),
	                 SALVE_HOLDS);
	json_decref(res);
	f = fopen(log, "r");
	assert_non_null(f);
	char line[256];
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_string_equal(line, "is-active -- web.service\n");
	unlink(log);

	const char *paths[][2] = {
	    {"etc/motd", "ensure_line: path 'etc/motd' must be an absolute path (salve never uses "
	                 "a working directory)"},
	    {"/etc/../root/.ssh/authorized_keys",
	     "ensure_line: path '/etc/../root/.ssh/authorized_keys' must be normalized: no empty, "
	     "'.' or '..' components and no trailing '/'"},
	    {"/etc//motd", "must be normalized"},
	    {"/etc/./motd", "must be normalized"},
	};
	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
		char args[256];
		snprintf(args, sizeof args,
		         "{\"hosts\": \"localhost\", \"path\": \"%s\", \"line\": \"x\"}",
		         paths[i][0]);
		assert_int_equal(mock_check("ensure_line", args, &res), SALVE_ERR_INVALID);
		if (!strstr(mock_last_error(), paths[i][1]))
			fail_msg("%s: error '%s'", paths[i][0], mock_last_error());
	}
	/* An undo record with such a path is refused too. */
	json_t *bad = json_pack("{s:s, s:{}}", "path", "/tmp/../etc/passwd", "hosts");
	assert_int_equal(mock_undo("ensure_line", bad), SALVE_ERR_INVALID);
	json_decref(bad);
	mock_fini();

	/* With an inventory: localhost is not implicit, before anything runs. */
	snprintf(inv, sizeof inv, "%s/inventory.yaml", dir);
	f = fopen(inv, "w");
	fputs("all:\n  hosts:\n    me: {ansible_connection: local}\n", f);
	fclose(f);
	snprintf(cfg, sizeof cfg, "{\"inventory\": \"%s\"}", inv);
	assert_int_equal(mock_init_settings(salve_plugin_entry(), cfg), SALVE_OK);
	char marker[128], args[512];
	snprintf(marker, sizeof marker, "%s/ran", dir);
	snprintf(args, sizeof args, "{\"hosts\": \"localhost\", \"argv\": [\"touch\", \"%s\"]}",
	         marker);
	assert_int_equal(mock_apply("exec", args, &res, &undo), SALVE_ERR_NOTFOUND);
	assert_non_null(strstr(mock_last_error(),
	                       "'localhost' matches no group or host in the inventory (localhost "
	                       "is implicit only when no inventory is configured"));
	assert_int_equal(access(marker, F_OK), -1);
	snprintf(args, sizeof args, "{\"hosts\": \"me\", \"argv\": [\"touch\", \"%s\"]}", marker);
	assert_int_equal(mock_apply("exec", args, &res, &undo), SALVE_OK);
	json_decref(res);
	assert_int_equal(access(marker, F_OK), 0);
	mock_fini();
	unlink(marker);
	unlink(inv);
	unlink(fake);
	rmdir(dir);
}

static void test_inventory_groups_walked_once(void **state);

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
	    cmocka_unit_test(test_localhost_without_inventory),
	    cmocka_unit_test(test_scripts_quote_options),
	    cmocka_unit_test(test_lock_wait_script),
	    cmocka_unit_test(test_descriptor_and_validation),
	    cmocka_unit_test(test_escape_for_people),
	    cmocka_unit_test(test_control_bytes_escaped),
	    cmocka_unit_test(test_local_environment_is_clean),
	    cmocka_unit_test(test_unit_names_and_paths),
	    cmocka_unit_test(test_hostile_operands_refused),
	    cmocka_unit_test(test_inventory_groups_walked_once),
	};
	return cmocka_run_group_tests_name("ssh_patch_unit", tests, NULL, NULL);
}

/* The members of group name, as host names joined by ",". */
static char *members_of(struct sp_inventory *inv, const char *name)
{
	struct sp_buf b = {0};
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(inv->groups, name), i, x)
	{
		if (i)
			sp_buf_add(&b, ",", 1);
		const char *host = inv->hosts[json_integer_value(x)].name;
		sp_buf_add(&b, host, strlen(host));
	}
	sp_buf_add(&b, "", 1);
	return sp_buf_take(&b);
}

static void assert_members(struct sp_inventory *inv, const char *group, const char *want)
{
	char *got = members_of(inv, group);
	if (strcmp(got, want) != 0)
		fail_msg("group %s: members \"%s\", wanted \"%s\"", group, got, want);
	free(got);
}

/* Fuzz finding 6 (tests/fuzz/corpus/inventory/bug-group-diamond-blowup): 30 levels of
 * gN: {children: {aN, bN}}, aN and bN: {children: {gN+1}} made collect_members walk 2^30
 * paths (a 3 KB inventory hung). Each group is walked once now; cycles end, and a chain longer
 * than the old depth cut (64) keeps its deepest members. */
static void test_inventory_groups_walked_once(void **state)
{
	(void)state;
	struct sp_buf y = {0};
	char line[256];
	sp_buf_addstr(&y, "all:\n  children:\n");
	for (int i = 0; i < 30; i++) {
		int n =
		    snprintf(line, sizeof line,
		             "    g%d:\n      children: {a%d: , b%d: }\n"
		             "    a%d:\n      children: {g%d: }\n"
		             "    b%d:\n      children: {g%d: }\n%s",
		             i, i, i, i, i + 1, i, i + 1, i == 12 ? "      hosts: {db1: }\n" : "");
		sp_buf_add(&y, line, (size_t)n);
	}
	sp_buf_addstr(&y, "    g30:\n      hosts: {web1: }\n");
	char err[512];
	struct sp_inventory *inv =
	    sp_inventory_parse(y.data, y.len, "diamond.yaml", err, sizeof err);
	if (!inv)
		fail_msg("%s", err);
	assert_members(inv, "g0", "db1,web1");
	assert_members(inv, "a0", "db1,web1");
	assert_members(inv, "g12", "db1,web1");
	assert_members(inv, "b12", "db1,web1");
	assert_members(inv, "a12", "web1");
	assert_members(inv, "g13", "web1");
	assert_members(inv, "g30", "web1");
	size_t n;
	size_t *sel = sp_inventory_select(inv, "b0", &n, err, sizeof err);
	assert_non_null(sel);
	assert_int_equal(n, 2);
	free(sel);
	sp_inventory_free(inv);
	sp_buf_free(&y);

	/* A cycle of top-level groups: each holds the other's hosts. */
	const char *cycle = "p:\n  hosts: {h1: }\n  children: {q: }\n"
	                    "q:\n  hosts: {h2: }\n  children: {p: }\n";
	inv = sp_inventory_parse(cycle, strlen(cycle), "cycle.yaml", err, sizeof err);
	if (!inv)
		fail_msg("%s", err);
	assert_members(inv, "p", "h1,h2");
	assert_members(inv, "q", "h1,h2");
	sp_inventory_free(inv);

	/* A chain of 100 top-level groups, c0 -> c1 -> ... -> c99 (which holds the host). */
	struct sp_buf chain = {0};
	for (int i = 0; i < 99; i++) {
		int k = snprintf(line, sizeof line, "c%d:\n  children: {c%d: }\n", i, i + 1);
		sp_buf_add(&chain, line, (size_t)k);
	}
	sp_buf_addstr(&chain, "c99:\n  hosts: {deep: }\n");
	inv = sp_inventory_parse(chain.data, chain.len, "chain.yaml", err, sizeof err);
	if (!inv)
		fail_msg("%s", err);
	assert_members(inv, "c0", "deep");
	assert_members(inv, "c50", "deep");
	sp_inventory_free(inv);
	sp_buf_free(&chain);
}
