/*
 * wedge: a plugin whose one action never returns and ignores cancellation and deadlines, as a
 * C call stuck in a kernel wait or a runaway loop would. It stands for everything the Lua
 * side cannot interrupt, so the serve tests can prove SIGTERM still ends the server within
 * shutdown_grace. The thread only ends with the process.
 */
#include <salve/plugin.h>
#include <unistd.h>

static int hold_run(salve_call *call, const json_t *args, json_t **result)
{
	(void)call;
	(void)args;
	(void)result;
	for (;;)
		sleep(3600);
	return SALVE_OK;
}

static const salve_arg no_args[] = {{NULL, 0, 0, NULL}};

static const salve_action actions[] = {
    {.name = "hold", .kind = SALVE_READ, .args = no_args, .run = hold_run},
    {.name = NULL},
};

static const salve_plugin descriptor = {
    SALVE_PLUGIN_HEADER,
    .name = "wedge",
    .version = "0.0.1",
    .description = "an action that never returns (salve serve's shutdown tests)",
    .actions = actions,
};

SALVE_PLUGIN_DECLARE(descriptor)
