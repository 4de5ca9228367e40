#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"
#include "testutil.h"

static void expect_refused(salve_registry *r, const char *name, const char *needle)
{
	enum salve_registry_error why;
	char err[1024];
	assert_null(salve_registry_get(r, name, 0, &why, err, sizeof err));
	assert_int_equal(why, SALVE_REG_INVALID);
	if (!strstr(err, needle))
		fail_msg("refusing %s: expected \"%s\" in \"%s\"", name, needle, err);
	assert_non_null(strstr(err, name)); /* names the file */
}

static void test_loader_refuses_bad_plugins(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_DIR", tu_path("kit"), 1);
	salve_registry *r = tu_registry(1);
	expect_refused(r, "badabi", "plugin ABI 99.2 is not supported by this salve (ABI 1.2)");
	expect_refused(r, "newminor", "plugin ABI 1.3 is not supported by this salve (ABI 1.2)");
	expect_refused(r, "noundo", "mutate action noundo.change has no undo");
	expect_refused(r, "nosymbol", "not a salve plugin (no salve_plugin_entry symbol)");
	expect_refused(r, "misnamed", "declares plugin somethingelse");
	enum salve_registry_error why;
	char err[1024];
	salve_loaded_plugin *old = salve_registry_get(r, "oldminor", 0, &why, err, sizeof err);
	if (!old)
		fail_msg("a plugin built for ABI 1.0 must load: %s", err);
	assert_int_equal(old->desc.abi_minor, 0);
	assert_null(salve_registry_get(r, "absent", 0, &why, err, sizeof err));
	assert_int_equal(why, SALVE_REG_NOT_FOUND);
	assert_non_null(strstr(err, "plugin \"absent\" not found (searched "));
	salve_loaded_plugin *p = salve_registry_get(r, "testkit", 1, &why, err, sizeof err);
	assert_non_null(p);
	assert_non_null(salve_plugin_action(p, "set"));
	assert_null(salve_plugin_action(p, "nope"));
	json_t *list = salve_registry_list(r);
	int saw_testkit = 0, saw_refused = 0;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		saw_testkit |= !strcmp(json_string_value(json_object_get(e, "name")), "testkit");
		saw_refused |= json_object_get(e, "error") != NULL;
	}
	assert_true(saw_testkit && saw_refused);
	json_decref(list);
	salve_registry_free(r);
}

static void test_world_writable_dir_is_refused(void **state)
{
	(void)state;
	char dir[256], cmd[1024];
	snprintf(dir, sizeof dir, "%s", tu_path("plugins"));
	mkdir(dir, 0777);
	chmod(dir, 0777);
	snprintf(cmd, sizeof cmd, "cp %s/testkit.so %s/", getenv("SALVE_TEST_PLUGIN_DIR"), dir);
	assert_int_equal(system(cmd), 0);
	const char *dirs[] = {dir, NULL};
	salve_registry *r = salve_registry_new(dirs, NULL);
	expect_refused(r, "testkit", "writable by group or others (mode 0777)");
	salve_registry_free(r);
	tu_cleanup();
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chmod(to, mode), 0);
}

/* The inode of the file mapped at addr, from /proc/self/maps (0 when none). */
static unsigned long mapped_inode(const void *addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 256];
	unsigned long inode = 0;
	while (f && fgets(line, sizeof line, f)) {
		uintptr_t lo, hi;
		unsigned long ino;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %*s %*s %lu", &lo, &hi, &ino) ==
		        3 &&
		    (uintptr_t)addr >= lo && (uintptr_t)addr < hi)
			inode = ino;
	}
	if (f)
		fclose(f);
	return inode;
}

/* F5: a plugin path that resolves into a directory others can write is refused, and the file
 * loaded is the one that was checked. */
static void test_symlink_into_a_writable_dir_is_refused(void **state)
{
	(void)state;
	char plugins[512], open_dir[512], safe_dir[512], target[1024], link[1024], cmd[2048];
	snprintf(plugins, sizeof plugins, "%s", tu_path("plugins"));
	snprintf(open_dir, sizeof open_dir, "%s", tu_path("open"));
	snprintf(safe_dir, sizeof safe_dir, "%s", tu_path("safe"));
	mkdir(plugins, 0755);
	mkdir(open_dir, 0755);
	chmod(open_dir, 0777);
	mkdir(safe_dir, 0755);
	char kit[1024];
	snprintf(kit, sizeof kit, "%s/testkit.so", getenv("SALVE_TEST_PLUGIN_DIR"));
	snprintf(target, sizeof target, "%s/testkit.so", open_dir);
	copy_file(kit, target, 0644);
	snprintf(link, sizeof link, "%s/testkit.so", plugins);
	assert_int_equal(symlink(target, link), 0);
	const char *dirs[] = {plugins, NULL};
	salve_registry *r = salve_registry_new(dirs, NULL);
	char want[1024];
	snprintf(want, sizeof want, "refusing %s: writable by group or others (mode 0777)",
	         open_dir);
	expect_refused(r, "testkit", want);
	salve_registry_free(r);

	/* The same link into a directory only we can write loads, and what is mapped is the
	 * file the link resolves to. */
	snprintf(target, sizeof target, "%s/testkit.so", safe_dir);
	copy_file(kit, target, 0644);
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	r = salve_registry_new(dirs, NULL);
	enum salve_registry_error why;
	char err[1024];
	salve_loaded_plugin *p = salve_registry_get(r, "testkit", 0, &why, err, sizeof err);
	if (!p)
		fail_msg("%s", err);
	struct stat st;
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(mapped_inode(p->desc.actions), (unsigned long)st.st_ino);
	salve_registry_free(r);

	/* A plugin file others can write is refused, and so is a link to one we do not own. */
	chmod(target, 0666);
	r = salve_registry_new(dirs, NULL);
	snprintf(want, sizeof want, "refusing %s: writable by group or others (mode 0666)", target);
	expect_refused(r, "testkit", want);
	salve_registry_free(r);
	snprintf(cmd, sizeof cmd, "chown 65534 '%s' && chmod 0644 '%s'", target, target);
	assert_int_equal(system(cmd), 0);
	r = salve_registry_new(dirs, NULL);
	snprintf(want, sizeof want, "refusing %s: owned by uid 65534", target);
	expect_refused(r, "testkit", want);
	salve_registry_free(r);
	tu_cleanup();
}

struct swapper {
	const char *dir;
	volatile int round, stop;
};

static void *swap_files(void *arg)
{
	struct swapper *sw = arg;
	char good[1024], evil[1024];
	while (!sw->stop) {
		snprintf(good, sizeof good, "%s/%d/testkit.so", sw->dir, sw->round);
		snprintf(evil, sizeof evil, "%s/%d/evil.so", sw->dir, sw->round);
		renameat2(AT_FDCWD, good, AT_FDCWD, evil, RENAME_EXCHANGE);
	}
	return NULL;
}

/* The audit's race: while the loader checks testkit.so, the name is swapped (renameat2
 * RENAME_EXCHANGE) with a world-writable library whose constructor runs when it is mapped.
 * Each round uses new names (hard links: dlopen would answer a name it knows without opening
 * the file). The loader maps the descriptor it checked, so the constructor never runs. */
static void test_a_swapped_file_is_never_loaded(void **state)
{
	(void)state;
	char dir[512], good[1024], evil[1024], marker[1024], path[1024];
	snprintf(dir, sizeof dir, "%s", tu_path("race"));
	snprintf(marker, sizeof marker, "%s", tu_path("evil-ran"));
	mkdir(dir, 0755);
	snprintf(path, sizeof path, "%s/testkit.so", getenv("SALVE_TEST_PLUGIN_DIR"));
	snprintf(good, sizeof good, "%s/good.so", dir);
	copy_file(path, good, 0644);
	snprintf(path, sizeof path, "%s/evil.so", getenv("SALVE_BAD_PLUGIN_DIR"));
	snprintf(evil, sizeof evil, "%s/evil.so", dir);
	copy_file(path, evil, 0666);
	setenv("SALVE_EVIL_MARKER", marker, 1);
	struct swapper sw = {dir, 0, 0};
	char round_dir[1024];
	snprintf(round_dir, sizeof round_dir, "%s/0", dir);
	mkdir(round_dir, 0755);
	snprintf(path, sizeof path, "%s/testkit.so", round_dir);
	assert_int_equal(link(good, path), 0);
	snprintf(path, sizeof path, "%s/evil.so", round_dir);
	assert_int_equal(link(evil, path), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, swap_files, &sw), 0);
	int loaded = 0;
	for (int i = 1; i <= 500; i++) {
		snprintf(round_dir, sizeof round_dir, "%s/%d", dir, i);
		mkdir(round_dir, 0755);
		snprintf(path, sizeof path, "%s/testkit.so", round_dir);
		assert_int_equal(link(good, path), 0);
		snprintf(path, sizeof path, "%s/evil.so", round_dir);
		assert_int_equal(link(evil, path), 0);
		sw.round = i;
		const char *dirs[] = {round_dir, NULL};
		salve_registry *r = salve_registry_new(dirs, NULL);
		enum salve_registry_error why;
		char err[1024];
		salve_loaded_plugin *p = salve_registry_get(r, "testkit", 0, &why, err, sizeof err);
		if (p) {
			assert_non_null(salve_plugin_action(p, "set")); /* testkit's, not evil's */
			loaded++;
		} else if (!strstr(err, "writable by group or others (mode 0666)") &&
		           !strstr(err, "No such file")) {
			fail_msg("unexpected refusal: %s", err);
		}
		salve_registry_free(r);
	}
	sw.stop = 1;
	pthread_join(t, NULL);
	unsetenv("SALVE_EVIL_MARKER");
	if (access(marker, F_OK) == 0)
		fail_msg("the swapped-in library ran its constructor (%d loads)", loaded);
	tu_cleanup();
}

static int never_runs(salve_call *call, const json_t *args, json_t **result)
{
	(void)call, (void)args, (void)result;
	return SALVE_ERR;
}

static void test_descriptor_rules(void **state)
{
	(void)state;
	static const salve_arg dup_args[] = {
	    {"a", SALVE_T_STRING, 0, NULL}, {"a", SALVE_T_INT, 0, NULL}, {NULL, 0, 0, NULL}};
	salve_action actions[] = {
	    {.name = "x", .kind = SALVE_READ, .args = dup_args, .run = never_runs}, {.name = NULL}};
	salve_plugin d = {.name = "p", .actions = actions};
	char err[256];
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
	assert_string_equal(err, "p.so: action x declares argument a twice");
	actions[0].args = NULL;
	actions[0].run = NULL;
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
	assert_string_equal(err, "p.so: read action p.x has no run");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loader_refuses_bad_plugins),
	    cmocka_unit_test(test_world_writable_dir_is_refused),
	    cmocka_unit_test(test_symlink_into_a_writable_dir_is_refused),
	    cmocka_unit_test(test_a_swapped_file_is_never_loaded),
	    cmocka_unit_test(test_descriptor_rules)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
