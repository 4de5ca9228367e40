/* Plugins for the loader's tests, one per -DBAD_* (the file is named after it): the ways the
 * loader must refuse a plugin (badabi, newminor, noundo, nosymbol, misnamed, smallstride), the
 * library the race test swaps in (evil), and layouts other builds have that must load:
 * oldminor and v11 (descriptors of ABI 1.0 and 1.1, which declare no element sizes), v12 (a
 * 1.2 descriptor built before salve_action.results), wide (array elements larger than this
 * salve's, as fields appended later make them), early12 (settings as 1.2 first laid them
 * out, before they could nest) and typed (ABI 1.2: settings, duration and secret-reference
 * arguments). */
#include <salve/plugin.h>

#ifdef BAD_EVIL
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* What an attacker's library does: run code as soon as it is mapped. The loader test swaps
 * it in for a checked plugin and looks for the marker. */
__attribute__((constructor)) static void evil(void)
{
	const char *marker = getenv("SALVE_EVIL_MARKER");
	int fd = marker ? open(marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) : -1;
	if (fd >= 0)
		close(fd);
}
#endif

__attribute__((unused)) static int noop_run(salve_call *call, const json_t *args, json_t **result)
{
	(void)call;
	(void)args;
	(void)result;
	return SALVE_OK;
}

__attribute__((unused)) static int noop_check(salve_call *call, const json_t *args,
                                              json_t **observed)
{
	(void)call;
	(void)args;
	(void)observed;
	return SALVE_OK;
}

__attribute__((unused)) static int noop_apply(salve_call *call, const json_t *args, json_t **result,
                                              json_t **undo)
{
	(void)call;
	(void)args;
	(void)result;
	(void)undo;
	return SALVE_OK;
}

__attribute__((unused)) static int noop_undo(salve_call *call, const json_t *undo)
{
	(void)call;
	(void)undo;
	return SALVE_OK;
}

#if defined(BAD_OLDMINOR) || defined(BAD_V11) || defined(BAD_V12)
/* salve_action as 1.0 and 1.1 laid it out (and 1.2 until results was appended): it ends at
 * render. salve_arg has not changed since 1.0. */
struct action_1_1 {
	const char *name;
	enum salve_kind kind;
	const salve_arg *args;
	unsigned flags;
	const char *description;
	const char *target_arg;
	int (*run)(salve_call *call, const json_t *args, json_t **result);
	int (*check)(salve_call *call, const json_t *args, json_t **observed);
	int (*plan)(salve_call *call, const json_t *args, json_t **predicted);
	int (*apply)(salve_call *call, const json_t *args, json_t **result, json_t **undo);
	int (*undo)(salve_call *call, const json_t *undo);
	int (*render)(salve_call *call, const json_t *args, json_t **message);
};
_Static_assert(sizeof(struct action_1_1) == offsetof(salve_action, results),
               "the 1.1 action is salve_action up to results");

/* The descriptor as ABI 1.0 and 1.1 laid it out: it ends at fini and declares no element
 * sizes. */
struct descriptor_1_1 {
	uint32_t struct_size;
	uint16_t abi_major;
	uint16_t abi_minor;
	const char *name;
	const char *version;
	const char *description;
	const salve_action *actions;
	const salve_arg *config;
	int (*init)(const salve_host *host, const json_t *config, void **state, char *err,
	            size_t errlen);
	void (*fini)(void *state);
};

static const salve_arg look_args[] = {{"first", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one"},
                                      {"second", SALVE_T_INT, 0, "two"},
                                      {NULL, 0, 0, NULL}};
__attribute__((unused)) static const salve_arg config_args[] = {
    {"dir", SALVE_T_STRING, 0, "a place"},
    {"level", SALVE_T_INT, 0, "how much"},
    {NULL, 0, 0, NULL}};
static const struct action_1_1 old_actions[] = {
    {.name = "look", .kind = SALVE_READ, .args = look_args, .run = noop_run},
    {.name = "change",
     .kind = SALVE_MUTATE,
     .args = look_args,
     .check = noop_check,
     .plan = noop_check,
     .apply = noop_apply,
     .undo = noop_undo},
    {.name = NULL},
};

#ifdef BAD_V12
/* Built against 1.2's plugin.h before results was appended: SALVE_PLUGIN_HEADER recorded
 * the shorter action. Read with this salve's size, each action's results would be the next
 * action's name. */
static const salve_plugin descriptor = {
    .struct_size = sizeof(salve_plugin),
    .abi_major = SALVE_PLUGIN_ABI_MAJOR,
    .abi_minor = 2,
    .action_size = sizeof(struct action_1_1),
    .arg_size = sizeof(salve_arg),
    .setting_size = sizeof(salve_setting),
    .name = "v12",
    .version = "0",
    .actions = (const salve_action *)(const void *)old_actions,
};
SALVE_PLUGIN_DECLARE(descriptor)
#else
static const struct descriptor_1_1 old_descriptor = {
    .struct_size = sizeof(struct descriptor_1_1),
    .abi_major = 1,
#ifdef BAD_OLDMINOR
    .abi_minor = 0,
    .name = "oldminor",
#else
    .abi_minor = 1,
    .name = "v11",
    .config = config_args,
#endif
    .version = "0",
    .actions = (const salve_action *)(const void *)old_actions,
};

__attribute__((visibility("default"))) const salve_plugin *salve_plugin_entry(void);
const salve_plugin *salve_plugin_entry(void)
{
	return (const salve_plugin *)(const void *)&old_descriptor;
}
#endif

#elif defined(BAD_EARLY12)
/* A plugin built against 1.2 before settings could nest: its salve_setting ended at
 * description (32 bytes) and its header declared that size. */
struct early_setting {
	const char *name;
	enum salve_type type;
	unsigned flags;
	const char *default_value;
	const char *description;
};
static const struct early_setting early_settings[] = {
    {"interval", SALVE_T_DURATION, 0, "5m", "how often"},
    {"label", SALVE_T_STRING, 0, "x", "a label"},
    {NULL, 0, 0, NULL, NULL},
};
static const salve_action early_actions[] = {
    {.name = "look", .kind = SALVE_READ, .run = noop_run},
    {.name = NULL},
};
static const salve_plugin descriptor = {
    .struct_size = sizeof(salve_plugin),
    .abi_major = SALVE_PLUGIN_ABI_MAJOR,
    .abi_minor = 2,
    .name = "early12",
    .version = "0",
    .actions = early_actions,
    .settings = (const salve_setting *)(const void *)early_settings,
    .action_size = sizeof(salve_action),
    .arg_size = sizeof(salve_arg),
    .setting_size = sizeof(struct early_setting),
};
SALVE_PLUGIN_DECLARE(descriptor)

#elif defined(BAD_WIDE)
/* Each element carries fields this salve does not know, as a later minor's would: the loader
 * must step by the declared sizes and take only the fields it knows. */
struct wide_arg {
	salve_arg arg;
	const char *later;
};
struct wide_setting {
	salve_setting setting;
	const char *later;
};
struct wide_action {
	salve_action action;
	const char *later[3];
};

static const struct wide_arg wide_args[] = {
    {{"first", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one"}, "later"},
    {{"second", SALVE_T_DURATION, 0, "two"}, "later"},
    {{NULL, 0, 0, NULL}, NULL},
};
static const struct wide_setting wide_limits[] = {
    {{.name = "burst",
      .type = SALVE_T_INT,
      .flags = SALVE_SETTING_MIN,
      .default_value = "5",
      .min = 1},
     "later"},
    {{.name = "rate", .type = SALVE_T_NUMBER}, "later"},
    {{.name = NULL}, NULL},
};
static const struct wide_setting wide_settings[] = {
    {{.name = "interval",
      .type = SALVE_T_DURATION,
      .default_value = "5m",
      .description = "how often"},
     "later"},
    {{.name = "label", .type = SALVE_T_STRING, .default_value = "x", .description = "a label"},
     "later"},
    {{.name = "limits", .type = SALVE_T_MAP, .fields = &wide_limits[0].setting}, "later"},
    {{.name = NULL}, NULL},
};
static const struct wide_action wide_actions[] = {
    {{.name = "look",
      .kind = SALVE_READ,
      .args = &wide_args[0].arg,
      .run = noop_run,
      .results = &wide_args[0].arg},
     {"later", "later", "later"}},
    {{.name = "again", .kind = SALVE_READ, .run = noop_run}, {"later", "later", "later"}},
    {{.name = NULL}, {NULL, NULL, NULL}},
};

static const salve_plugin descriptor = {
    .struct_size = sizeof(salve_plugin),
    .abi_major = SALVE_PLUGIN_ABI_MAJOR,
    .abi_minor = SALVE_PLUGIN_ABI_MINOR,
    .name = "wide",
    .version = "0",
    .actions = &wide_actions[0].action,
    .settings = &wide_settings[0].setting,
    .action_size = sizeof(struct wide_action),
    .arg_size = sizeof(struct wide_arg),
    .setting_size = sizeof(struct wide_setting),
};
SALVE_PLUGIN_DECLARE(descriptor)

#elif defined(BAD_TYPED)
#include <stdio.h>
#include <stdlib.h>

/* Writes the configuration init received to $SALVE_TYPED_INIT_OUT, for the test to compare. */
static int typed_init(const salve_host *host, const json_t *config, void **state, char *err,
                      size_t errlen)
{
	(void)host;
	(void)err;
	(void)errlen;
	*state = NULL;
	const char *out = getenv("SALVE_TYPED_INIT_OUT");
	if (out && json_dump_file(config, out, JSON_SORT_KEYS | JSON_COMPACT) < 0)
		return -1;
	return 0;
}

static int echo_run(salve_call *call, const json_t *args, json_t **result)
{
	(void)call;
	*result = json_deep_copy(args);
	return SALVE_OK;
}

static const salve_arg wait_args[] = {
    {"timeout", SALVE_T_DURATION, SALVE_ARG_REQUIRED, "how long"},
    {"token", SALVE_T_SECRET_REF, 0, "a credential's reference"},
    {NULL, 0, 0, NULL},
};
static const salve_setting typed_settings[] = {
    {.name = "endpoint",
     .type = SALVE_T_STRING,
     .flags = SALVE_ARG_REQUIRED,
     .description = "where to ask"},
    {.name = "interval",
     .type = SALVE_T_DURATION,
     .default_value = "1m30s",
     .description = "how often"},
    {.name = "retries", .type = SALVE_T_INT, .default_value = "3", .description = "attempts"},
    {.name = "verbose", .type = SALVE_T_BOOL, .default_value = "false", .description = "more logs"},
    {.name = "hosts",
     .type = SALVE_T_LIST,
     .default_value = "[\"a\"]",
     .description = "hosts to ask"},
    {.name = "labels", .type = SALVE_T_MAP, .default_value = "{}", .description = "labels to add"},
    {.name = "token", .type = SALVE_T_SECRET_REF, .description = "the API token's reference"},
    {.name = "password",
     .type = SALVE_T_STRING,
     .flags = SALVE_ARG_SECRET,
     .description = "an inline credential"},
    {.name = NULL},
};
static const salve_action typed_actions[] = {
    {.name = "wait", .kind = SALVE_READ, .args = wait_args, .run = echo_run},
    {.name = NULL},
};

static const salve_plugin descriptor = {
    SALVE_PLUGIN_HEADER,        .name = "typed",    .version = "0", .actions = typed_actions,
    .settings = typed_settings, .init = typed_init,
};
SALVE_PLUGIN_DECLARE(descriptor)

#else
static const salve_action actions[] = {
#ifdef BAD_NOUNDO
    {.name = "change",
     .kind = SALVE_MUTATE,
     .check = noop_check,
     .plan = noop_check,
     .apply = noop_apply},
#else
    {.name = "look", .kind = SALVE_READ, .run = noop_run},
#endif
    {.name = NULL},
};

static const salve_plugin descriptor = {
    .struct_size = sizeof(salve_plugin),
#ifdef BAD_BADABI
    .abi_major = 99,
#else
    .abi_major = SALVE_PLUGIN_ABI_MAJOR,
#endif
#ifdef BAD_NEWMINOR
    .abi_minor = SALVE_PLUGIN_ABI_MINOR + 1,
#else
    .abi_minor = SALVE_PLUGIN_ABI_MINOR,
#endif
#ifdef BAD_SMALLSTRIDE
    .action_size = 8, /* not even a name and a kind */
#endif
#ifdef BAD_MISNAMED
    .name = "somethingelse",
#elif defined(BAD_BADABI)
    .name = "badabi",
#elif defined(BAD_NOUNDO)
    .name = "noundo",
#elif defined(BAD_NEWMINOR)
    .name = "newminor",
#elif defined(BAD_SMALLSTRIDE)
    .name = "smallstride",
#elif defined(BAD_EVIL)
    .name = "testkit",
#else
    .name = "nosymbol",
#endif
    .version = "0",
    .actions = actions,
};

#ifndef BAD_NOSYMBOL
SALVE_PLUGIN_DECLARE(descriptor)
#else
__attribute__((visibility("default"))) const salve_plugin *not_the_entry(void);
const salve_plugin *not_the_entry(void)
{
	(void)noop_apply;
	(void)noop_check;
	return &descriptor;
}
#endif
#endif
