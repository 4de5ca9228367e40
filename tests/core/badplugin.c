/* Deliberately broken plugins: each -DBAD_* builds one way the loader must refuse. */
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
#elif defined(BAD_OLDMINOR)
    .abi_minor = 0, /* a 1.0 plugin: must still load */
#else
    .abi_minor = SALVE_PLUGIN_ABI_MINOR,
#endif
#ifdef BAD_MISNAMED
    .name = "somethingelse",
#elif defined(BAD_BADABI)
    .name = "badabi",
#elif defined(BAD_NOUNDO)
    .name = "noundo",
#elif defined(BAD_NEWMINOR)
    .name = "newminor",
#elif defined(BAD_OLDMINOR)
    .name = "oldminor",
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
