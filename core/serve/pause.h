/*
 * The pause switch: the file STATE_DIR/serve/paused (salve pause, POST /pause) stops the
 * server from starting runs; alerts are still received, audited and refused with paused.
 * s->paused mirrors the file; both functions take srv->mu themselves (callers must not hold
 * it) and wake the workers when it changes.
 */
#ifndef SRV_PAUSE_H
#define SRV_PAUSE_H

#include <jansson.h>

struct srv_server;

/* Re-reads the pause file (the CLI may have changed it). Anything at the path that is not a
 * pause file of ours pauses too, with a warning. */
void srv_pause_check(struct srv_server *s);
/* POST /pause (pause != 0) and /resume: writes or removes the file, audited. Returns the HTTP
 * status and *out (new reference). */
int srv_pause_set(struct srv_server *s, int pause, const char *by, const char *reason,
                  json_t **out);

#endif
