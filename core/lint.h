/*
 * Checks a runbook's plugin calls before anything runs. Lua resolves x.action only when the
 * line executes, so a typo in a rollback would surface at 3 a.m. in the middle of a failure.
 * This pass tokenizes the source, finds `local x = plugin "name"` bindings and checks every
 * `x.action{...}` / `x:action{...}`: the action exists, literal arguments have the declared
 * types (a literal duration parses in the one duration grammar, a literal secret reference
 * has its form), no unknown argument is passed and, where the table is all `name = value`
 * fields, every required argument is there. Pure; thread-safe.
 */
#ifndef SALVE_LINT_H
#define SALVE_LINT_H

#include <stddef.h>

#include "registry.h"

/* 0 when nothing is wrong, -1 with "chunk:line: plugin.action: reason" in err. chunk is the
 * name used in messages (the runbook's path). */
int salve_lint(const char *source, size_t len, const char *chunk, salve_registry *reg, char *err,
               size_t errlen);

#endif
