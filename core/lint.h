/*
 * Checks a runbook's plugin calls before anything runs. Lua resolves x.action only when the
 * line executes, so a typo in a rollback would surface at 3 a.m. in the middle of a failure.
 * This pass tokenizes the source, finds `local x = plugin "name"` bindings and checks every
 * `x.action{...}` / `x:action{...}`: the action exists, literal arguments have the declared
 * types (a literal duration parses in the one duration grammar, a literal secret reference
 * has its form), no unknown argument is passed and, where the table is all `name = value`
 * fields, every required argument is there. It also finds, at their lines: a call the engine
 * would refuse where it stands (a non-read action in a step's `when` or `check` function, a
 * mutate action in its `verify`), io, require and os beyond the clock (not in the sandbox),
 * a param's literal default that does not fit its type, and unknown keys, events and channel
 * schemes in runbook{}'s notify table. Enum literals are not judged: argument descriptors
 * declare no allowed values. Pure; thread-safe.
 */
#ifndef SALVE_LINT_H
#define SALVE_LINT_H

#include <stddef.h>

#include "registry.h"

/* Every finding, sorted by line (in the order found within a line): a JSON array of
 * {"line": N, "message": "chunk:N: reason"}, empty when nothing is wrong. New reference.
 * chunk is the name used in messages (the runbook's path). plugins, when not NULL, is an
 * array the names of the plugins the runbook binds (and the registry has) are appended to,
 * each once. */
json_t *salve_lint_all(const char *source, size_t len, const char *chunk, salve_registry *reg,
                       json_t *plugins);

/* The first of salve_lint_all's findings: 0 when nothing is wrong, -1 with its message in
 * err (what the load path reports). */
int salve_lint(const char *source, size_t len, const char *chunk, salve_registry *reg, char *err,
               size_t errlen);

#endif
