/*
 * Recording: `salve run --record FILE` keeps every plugin call of a run (action, arguments,
 * phase, outcome, result, undo record; secrets redacted) and what its rollback undid, in the
 * fixture format salve test replays (replay.h). The recorder is a run's on_event subscriber.
 *
 * Ownership: the caller frees the recorder. Used by the run's thread.
 */
#ifndef SALVE_RECORD_H
#define SALVE_RECORD_H

#include <jansson.h>
#include <stddef.h>

typedef struct salve_recorder salve_recorder;

salve_recorder *salve_recorder_new(void);
void salve_recorder_free(salve_recorder *r);

/* A run's audit event (the on_event hook's signature; ctx is the recorder). */
void salve_recorder_event(void *ctx, const json_t *event);

/* The calls seen so far, as fixture entries (borrowed). */
const json_t *salve_recorder_calls(const salve_recorder *r);

/* Writes the fixture: {format: 1, runbook, source, params, mode, outcome, calls}, from the
 * run's summary (may be NULL) and params. 0, or -1 with err. */
int salve_recorder_write(const salve_recorder *r, const char *path, const json_t *summary,
                         const json_t *params, char *err, size_t errlen);

#endif
