/*
 * Replay: a run whose plugin calls are answered from a fixture instead of by the plugins
 * (salve test). A fixture is what `salve run --record` wrote, or the same written by hand:
 *
 *   {"format": 1, "calls": [{"step", "phase", "call": "plugin.action", "args",
 *                            "outcome", "status", "result", "undo", "error"}, ...]}
 *
 * with "phase": "undo" for what a rollback undid. Calls are answered in order: each must be
 * the fixture's next call, with the same arguments (as audited: secret arguments are
 * [REDACTED] on both sides); anything else fails the step, showing the call. Injections
 * override an answer: [{"call": "plugin.action", "n": 1, "error": "msg" | "timeout": true |
 * "result": {...}, "outcome": "changed"}], counted per call name (n is 1-based).
 *
 * Ownership: salve_replay_new copies what it is given; the caller frees with
 * salve_replay_free. One replay serves one run on one thread.
 */
#ifndef SALVE_REPLAY_H
#define SALVE_REPLAY_H

#include <jansson.h>
#include <stddef.h>

typedef struct salve_replay salve_replay;

/* fixture: the object above; inject: an array or NULL. NULL with err when malformed. */
salve_replay *salve_replay_new(const json_t *fixture, const json_t *inject, char *err,
                               size_t errlen);
void salve_replay_free(salve_replay *r);

/* The answer to one call, as the fixture recorded it (with injections applied):
 * {outcome, status, result?, undo?, error?}, a new reference; or NULL with err when the call
 * is not the one the fixture expects next. call is "plugin.action"; args as audited. */
json_t *salve_replay_answer(salve_replay *r, const char *step, const char *call, const json_t *args,
                            char *err, size_t errlen);

/* The plugin status an answer stands for (SALVE_OK when it names none and did not fail). */
int salve_replay_status(const json_t *answer);

/* An undo during rollback (inject it as "undo:plugin.action"): 0 (undone), or -1 with err when the
 * fixture or an injection says it failed. */
int salve_replay_undo(salve_replay *r, const char *call, const char *target, char *err,
                      size_t errlen);

/* Fixture calls never asked for (a new reference: [{step, call}]), for the test report. */
json_t *salve_replay_unused(const salve_replay *r);

#endif
