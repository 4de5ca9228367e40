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

#include "redact.h"
#include "registry.h"
#include "schema.h"
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
	assert_int_equal(mapped_inode(p->desc.actions[0].name), (unsigned long)st.st_ino);
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

static salve_registry *bad_registry(const char *configs_json)
{
	const char *dirs[] = {getenv("SALVE_BAD_PLUGIN_DIR"), NULL};
	json_t *configs = configs_json ? json_loads(configs_json, 0, NULL) : NULL;
	salve_registry *r = salve_registry_new(dirs, configs);
	json_decref(configs);
	salve_registry_set_config_file(r, "/etc/salve/salve.yaml");
	return r;
}

static salve_loaded_plugin *load(salve_registry *r, const char *name, int init)
{
	enum salve_registry_error why;
	char err[1024];
	salve_loaded_plugin *p = salve_registry_get(r, name, init, &why, err, sizeof err);
	if (!p)
		fail_msg("%s must load: %s", name, err);
	return p;
}

static json_t *listed(json_t *list, const char *name)
{
	size_t i;
	json_t *e;
	json_array_foreach(
	    list, i, e) if (!strcmp(json_string_value(json_object_get(e, "name")), name)) return e;
	fail_msg("%s is not listed", name);
	return NULL;
}

static void expect_arg(const salve_arg *a, const char *name, enum salve_type type, unsigned flags,
                       const char *description)
{
	assert_string_equal(a->name, name);
	assert_int_equal(a->type, type);
	assert_int_equal(a->flags, flags);
	assert_string_equal(a->description, description);
}

/* Descriptors of ABI 1.0 and 1.1 end at fini and declare no element sizes: they load, their
 * arrays read with the 1.1 sizes, and their config keys are checked as before (no types). */
static void test_older_descriptors_load(void **state)
{
	(void)state;
	salve_registry *r = bad_registry("{\"v11\": {\"dir\": \"/x\", \"level\": \"high\"}}");
	salve_loaded_plugin *old = load(r, "oldminor", 1);
	assert_int_equal(old->desc.abi_minor, 0);
	assert_int_equal(old->desc.struct_size, offsetof(salve_plugin, fini) + sizeof(void *));
	salve_loaded_plugin *p = load(r, "v11", 1);
	assert_int_equal(p->desc.abi_minor, 1);
	assert_int_equal(p->nactions, 2);
	const salve_action *change = salve_plugin_action(p, "change");
	assert_non_null(change);
	assert_int_equal(change->kind, SALVE_MUTATE);
	assert_non_null(change->undo);
	expect_arg(&change->args[0], "first", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one");
	expect_arg(&change->args[1], "second", SALVE_T_INT, 0, "two");
	assert_null(change->args[2].name);
	assert_null(change->results);
	expect_arg(&p->desc.config[1], "level", SALVE_T_INT, 0, "how much");
	assert_null(p->desc.settings);
	/* Host copies: laid out as this salve's structs, whatever the plugin declared. */
	assert_int_equal(p->desc.action_size, sizeof(salve_action));
	assert_int_equal(p->desc.arg_size, sizeof(salve_arg));
	assert_int_equal(p->desc.setting_size, sizeof(salve_setting));
	salve_registry_free(r);

	r = bad_registry("{\"v11\": {\"colour\": 1}}");
	enum salve_registry_error why;
	char err[1024];
	assert_null(salve_registry_get(r, "v11", 1, &why, err, sizeof err));
	assert_string_equal(err, "/etc/salve/salve.yaml: plugins.v11.colour: unknown setting "
	                         "(known: dir, level)");
	salve_registry_free(r);
}

/* A 1.2 descriptor built before salve_action.results was appended declares the shorter
 * action_size: the loader steps by it, and every action reads as declaring no results (taking
 * sizeof(salve_action) bytes of each would read the next action's name as results). */
static void test_actions_without_results_load(void **state)
{
	(void)state;
	salve_registry *r = bad_registry(NULL);
	salve_loaded_plugin *p = load(r, "v12", 1);
	assert_int_equal(p->desc.abi_minor, 2);
	assert_int_equal(p->nactions, 2);
	const salve_action *look = salve_plugin_action(p, "look");
	const salve_action *change = salve_plugin_action(p, "change");
	assert_non_null(look);
	assert_non_null(change);
	assert_null(look->results);
	assert_null(change->results);
	assert_int_equal(change->kind, SALVE_MUTATE);
	assert_non_null(change->undo);
	expect_arg(&look->args[1], "second", SALVE_T_INT, 0, "two");
	json_t *list = salve_registry_list(r);
	json_t *actions = json_object_get(listed(list, "v12"), "actions");
	assert_int_equal(json_array_size(actions), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *results = json_object_get(json_array_get(actions, i), "results");
		assert_true(json_is_array(results));
		assert_int_equal(json_array_size(results), 0);
	}
	json_decref(list);
	salve_registry_free(r);
}

/* Elements larger than this salve's (fields appended by a later build): the loader steps by
 * the declared sizes and takes the fields it knows; too small a size is refused. */
static void test_declared_element_sizes(void **state)
{
	(void)state;
	salve_registry *r = bad_registry(NULL);
	salve_loaded_plugin *p = load(r, "wide", 0);
	assert_int_equal(p->nactions, 2);
	assert_string_equal(p->desc.actions[0].name, "look");
	assert_string_equal(p->desc.actions[1].name, "again");
	assert_null(p->desc.actions[1].args);
	assert_null(p->desc.actions[2].name);
	const salve_arg *args = p->desc.actions[0].args;
	expect_arg(&args[0], "first", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one");
	expect_arg(&args[1], "second", SALVE_T_DURATION, 0, "two");
	assert_null(args[2].name);
	/* results are salve_arg arrays, walked with arg_size too */
	const salve_arg *results = p->desc.actions[0].results;
	assert_ptr_not_equal(results, args);
	expect_arg(&results[0], "first", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one");
	expect_arg(&results[1], "second", SALVE_T_DURATION, 0, "two");
	assert_null(results[2].name);
	assert_null(p->desc.actions[1].results);
	json_t *list = salve_registry_list(r);
	json_t *want = json_loads("[{\"name\": \"first\", \"type\": \"string\", \"description\": "
	                          "\"one\"}, {\"name\": \"second\", \"type\": \"duration\", "
	                          "\"description\": \"two\"}]",
	                          0, NULL);
	json_t *got = json_object_get(
	    json_array_get(json_object_get(listed(list, "wide"), "actions"), 0), "results");
	if (!json_equal(got, want))
		fail_msg("results listed: %s", json_dumps(got, 0));
	json_decref(want);
	json_decref(list);
	assert_string_equal(p->desc.settings[1].name, "label");
	assert_string_equal(p->desc.settings[1].default_value, "x");
	/* nested fields are walked with the same declared size and copied too */
	const salve_setting *limits = p->desc.settings[2].fields;
	assert_non_null(limits);
	assert_string_equal(limits[0].name, "burst");
	assert_int_equal(limits[0].flags, SALVE_SETTING_MIN);
	assert_true(limits[0].min == 1);
	assert_string_equal(limits[1].name, "rate");
	assert_int_equal(limits[1].type, SALVE_T_NUMBER);
	assert_null(limits[2].name);
	assert_null(p->desc.settings[3].name);
	/* settings of 1.2 as first released (32 bytes, before fields, choices and bounds) load,
	 * read as if those were NULL/0, and their defaults are filled in */
	salve_loaded_plugin *early = load(r, "early12", 0);
	assert_string_equal(early->desc.settings[1].name, "label");
	assert_string_equal(early->desc.settings[1].default_value, "x");
	assert_null(early->desc.settings[0].fields);
	assert_null(early->desc.settings[1].choices);
	assert_int_equal(early->desc.settings[1].flags, 0);
	assert_null(early->desc.settings[2].name);
	json_t *effective = NULL, *empty = json_object();
	char why[256];
	assert_int_equal(salve_settings_apply(early->desc.settings, empty, "plugins.early12",
	                                      &effective, why, sizeof why),
	                 0);
	assert_true(json_real_value(json_object_get(effective, "interval")) == 300.0);
	assert_string_equal(json_string_value(json_object_get(effective, "label")), "x");
	json_decref(effective);
	json_decref(empty);
	expect_refused(r, "smallstride",
	               "descriptor declares salve_action elements of 8 bytes; ABI 1.2 needs 96 to "
	               "64 KiB: build it with SALVE_PLUGIN_HEADER");
	salve_registry_free(r);
}

static char *init_error(const char *configs_json)
{
	salve_registry *r = bad_registry(configs_json);
	enum salve_registry_error why;
	char err[1024] = "";
	salve_loaded_plugin *p = salve_registry_get(r, "typed", 1, &why, err, sizeof err);
	salve_registry_free(r);
	if (p)
		fail_msg("typed initialised with %s", configs_json);
	return strdup(err);
}

static void expect_init_error(const char *configs_json, const char *want)
{
	char *err = init_error(configs_json);
	if (strcmp(err, want) != 0)
		fail_msg("config %s\n got: %s\nwant: %s", configs_json, err, want);
	free(err);
}

#define DURATION_WANTED                                                                            \
	"must be a duration such as \"30s\", \"5m\", \"1h30m\" or a number of seconds, got "

/* The typed config map: checked before init, defaults filled in, durations in seconds. */
static void test_settings_are_checked_before_init(void **state)
{
	(void)state;
	char out[512];
	snprintf(out, sizeof out, "%s", tu_path("init.json"));
	setenv("SALVE_TYPED_INIT_OUT", out, 1);
	expect_init_error("{}", "/etc/salve/salve.yaml: plugins.typed.endpoint: required setting "
	                        "is missing (string)");
	expect_init_error("{\"typed\": {\"endpoint\": \"e\", \"colour\": \"red\"}}",
	                  "/etc/salve/salve.yaml: plugins.typed.colour: unknown setting (known: "
	                  "endpoint, interval, retries, verbose, hosts, labels, token, password)");
	expect_init_error("{\"typed\": {\"endpoint\": \"e\", \"interval\": \"soon\"}}",
	                  "/etc/salve/salve.yaml: plugins.typed.interval: " DURATION_WANTED
	                  "\"soon\"");
	expect_init_error("{\"typed\": {\"endpoint\": \"e\", \"interval\": -5}}",
	                  "/etc/salve/salve.yaml: plugins.typed.interval: " DURATION_WANTED "-5");
	expect_init_error("{\"typed\": {\"endpoint\": \"e\", \"retries\": \"3\"}}",
	                  "/etc/salve/salve.yaml: plugins.typed.retries: must be int, got string");
	/* An inline credential where a reference belongs: refused, and never repeated. */
	char *err = init_error("{\"typed\": {\"endpoint\": \"e\", \"token\": \"hunter2-inline\"}}");
	assert_string_equal(err, "/etc/salve/salve.yaml: plugins.typed.token: must be a secret "
	                         "reference (env:NAME or file:/path), got a string of 14 bytes: "
	                         "inline secrets are refused");
	free(err);
	assert_null(tu_read(out)); /* init never ran */

	salve_registry *r =
	    bad_registry("{\"typed\": {\"endpoint\": \"e\", \"retries\": null, \"interval\": 45, "
	                 "\"token\": \"env:TYPED_TOKEN\", \"password\": \"pw-very-secret\"}}");
	load(r, "typed", 1);
	json_t *got = json_load_file(out, 0, NULL);
	json_t *want =
	    json_loads("{\"endpoint\": \"e\", \"retries\": 3, \"interval\": 45.0, "
	               "\"verbose\": false, \"hosts\": [\"a\"], \"labels\": {}, "
	               "\"token\": \"env:TYPED_TOKEN\", \"password\": \"pw-very-secret\"}",
	               0, NULL);
	if (!json_equal(got, want))
		fail_msg("init got %s", tu_read(out));
	json_decref(got);
	json_decref(want);
	/* A secret setting's value is redacted everywhere from then on. */
	char shown[64];
	salve_redact_string("x pw-very-secret", shown, sizeof shown);
	assert_string_equal(shown, "x [REDACTED]");
	salve_redact_clear();
	salve_registry_free(r);

	/* Only the required setting given: the defaults fill the rest. */
	r = bad_registry("{\"typed\": {\"endpoint\": \"e\"}}");
	load(r, "typed", 1);
	got = json_load_file(out, 0, NULL);
	want = json_loads("{\"endpoint\": \"e\", \"retries\": 3, \"interval\": 90.0, \"verbose\": "
	                  "false, \"hosts\": [\"a\"], \"labels\": {}}",
	                  0, NULL);
	if (!json_equal(got, want))
		fail_msg("init got %s", tu_read(out));
	json_decref(got);
	json_decref(want);
	salve_registry_free(r);
	unsetenv("SALVE_TYPED_INIT_OUT");
	tu_cleanup();
}

/* salve plugins --json: every setting with its type, default and description. */
static void test_plugins_list_shows_settings(void **state)
{
	(void)state;
	salve_registry *r = bad_registry(NULL);
	json_t *list = salve_registry_list(r);
	json_t *typed = listed(list, "typed");
	json_t *want = json_loads(
	    "[{\"name\": \"endpoint\", \"type\": \"string\", \"required\": true, \"secret\": false,"
	    "  \"description\": \"where to ask\"},"
	    " {\"name\": \"interval\", \"type\": \"duration\", \"required\": false, \"secret\": "
	    "false,"
	    "  \"default\": \"1m30s\", \"description\": \"how often\"},"
	    " {\"name\": \"retries\", \"type\": \"int\", \"required\": false, \"secret\": false,"
	    "  \"default\": \"3\", \"description\": \"attempts\"},"
	    " {\"name\": \"verbose\", \"type\": \"bool\", \"required\": false, \"secret\": false,"
	    "  \"default\": \"false\", \"description\": \"more logs\"},"
	    " {\"name\": \"hosts\", \"type\": \"list\", \"required\": false, \"secret\": false,"
	    "  \"default\": \"[\\\"a\\\"]\", \"description\": \"hosts to ask\"},"
	    " {\"name\": \"labels\", \"type\": \"map\", \"required\": false, \"secret\": false,"
	    "  \"default\": \"{}\", \"description\": \"labels to add\"},"
	    " {\"name\": \"token\", \"type\": \"secret_ref\", \"required\": false, \"secret\": "
	    "false,"
	    "  \"description\": \"the API token's reference\"},"
	    " {\"name\": \"password\", \"type\": \"string\", \"required\": false, \"secret\": true,"
	    "  \"description\": \"an inline credential\"}]",
	    0, NULL);
	assert_non_null(want);
	if (!json_equal(json_object_get(typed, "settings"), want))
		fail_msg("settings: %s", json_dumps(json_object_get(typed, "settings"), 0));
	json_decref(want);
	json_t *arg = json_array_get(
	    json_object_get(json_array_get(json_object_get(typed, "actions"), 0), "args"), 0);
	assert_string_equal(json_string_value(json_object_get(arg, "type")), "duration");
	/* A 1.1 plugin's config keys are listed the same way. */
	json_t *v11 = listed(list, "v11");
	assert_string_equal(json_string_value(json_object_get(v11, "abi")), "1.1");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(v11, "settings"), 1), "name")),
	                    "level");
	json_decref(list);
	salve_registry_free(r);
}

static void test_status_names(void **state)
{
	(void)state;
	const struct {
		int code;
		const char *name;
	} all[] = {{SALVE_OK, "SALVE_OK"},
	           {SALVE_HOLDS, "SALVE_HOLDS"},
	           {SALVE_ERR, "SALVE_ERR"},
	           {SALVE_ERR_RETRY, "SALVE_ERR_RETRY"},
	           {SALVE_ERR_INVALID, "SALVE_ERR_INVALID"},
	           {SALVE_ERR_TIMEOUT, "SALVE_ERR_TIMEOUT"},
	           {SALVE_ERR_CANCELED, "SALVE_ERR_CANCELED"},
	           {SALVE_ERR_NOTFOUND, "SALVE_ERR_NOTFOUND"},
	           {7, "unknown"},
	           {-99, "unknown"}};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		assert_string_equal(salve_status_name(all[i].code), all[i].name);
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
	actions[0].results = dup_args;
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
	assert_string_equal(err, "p.so: the results of action x declares argument a twice");
	actions[0].results = NULL;
	actions[0].run = NULL;
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
	assert_string_equal(err, "p.so: read action p.x has no run");
	actions[0].run = never_runs;

	salve_setting settings[] = {
	    {.name = "wait", .type = SALVE_T_DURATION, .default_value = "5m"}, {.name = NULL}};
	d.settings = settings;
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), 0);
	d.config = dup_args;
	assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
	assert_string_equal(
	    err, "p.so: plugin p declares both config and settings: settings replaces config");
	d.config = NULL;
	const struct {
		salve_setting s;
		const char *want;
	} wrong[] = {
	    {{.name = "every", .type = SALVE_T_DURATION, .default_value = "soon"},
	     "p.so: plugin p: setting every has a default that does not fit its type duration "
	     "(" DURATION_WANTED "\"soon\")"},
	    {{.name = "n", .type = SALVE_T_INT, .default_value = "1.5"},
	     "p.so: plugin p: setting n has a default that does not fit its type int (must be int, "
	     "got number)"},
	    {{.name = "l", .type = SALVE_T_LIST, .default_value = "[1,"},
	     "p.so: plugin p: setting l has a default that does not fit its type list (not a value "
	     "of that type)"},
	    {{.name = "url",
	      .type = SALVE_T_STRING,
	      .flags = SALVE_ARG_REQUIRED,
	      .default_value = "http://x"},
	     "p.so: plugin p: setting url is required and has a default: declare one or the other"},
	    {{.name = "pw",
	      .type = SALVE_T_STRING,
	      .flags = SALVE_ARG_SECRET,
	      .default_value = "hunter2"},
	     "p.so: plugin p: setting pw is a secret and has a default: a credential in the plugin "
	     "file"},
	    {{.name = "t", .type = (enum salve_type)42},
	     "p.so: plugin p: setting t has an invalid type"},
	    {{.name = "wait", .type = SALVE_T_STRING},
	     "p.so: plugin p: setting wait is declared twice"},
	};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		salve_setting two[] = {settings[0], wrong[i].s, {.name = NULL}};
		d.settings = two;
		assert_int_equal(salve_descriptor_check(&d, "p.so", err, sizeof err), -1);
		assert_string_equal(err, wrong[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loader_refuses_bad_plugins),
	    cmocka_unit_test(test_world_writable_dir_is_refused),
	    cmocka_unit_test(test_symlink_into_a_writable_dir_is_refused),
	    cmocka_unit_test(test_a_swapped_file_is_never_loaded),
	    cmocka_unit_test(test_older_descriptors_load),
	    cmocka_unit_test(test_actions_without_results_load),
	    cmocka_unit_test(test_declared_element_sizes),
	    cmocka_unit_test(test_settings_are_checked_before_init),
	    cmocka_unit_test(test_plugins_list_shows_settings),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_descriptor_rules)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
