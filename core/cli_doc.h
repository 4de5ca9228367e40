/*
 * salve doc and salve stubs: each plugin's descriptor read back for people (an ansible-doc
 * style reference) and for editors (LuaLS ---@meta annotation files).
 *
 * Both take argv[0] = the command name, open the environment themselves (the config and the
 * plugin search path from g), and return an exit status (exitcodes.h). Not thread-safe
 * (getopt); main.c calls them once.
 */
#ifndef SALVE_CLI_DOC_H
#define SALVE_CLI_DOC_H

#include "cli.h"

/* salve doc [PLUGIN[.ACTION]]: the plugins found; one plugin's actions and settings; one
 * action's kind, undo, target, arguments, result fields and an example call. */
int salve_cmd_doc(const struct salve_cli_globals *g, int argc, char **argv);

/* salve stubs --out DIR: DIR/salve.lua (the runbook globals) and DIR/NAME.lua for every
 * plugin that loads: each action typed by its args class and returning its result class. */
int salve_cmd_stubs(const struct salve_cli_globals *g, int argc, char **argv);

#endif
