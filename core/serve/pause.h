/*
 * The pause switch: the file STATE_DIR/serve/paused (salve pause, POST /pause) stops the
 * server from starting runs; alerts are still received, audited and refused with paused.
 * With `ha:` the switch is the key PREFIX/pause in etcd, shared by every replica: each
 * alert's decision reads it (ha.h, srv_ha_decide), and ha.c's watcher reads it every 0.25 s
 * for the workers (queued runs wait). The local file still pauses this replica alone.
 * s->paused mirrors them; the server's functions take srv->mu themselves (callers must not
 * hold it) unless they say "under mu", and wake the workers when it changes.
 */
#ifndef SRV_PAUSE_H
#define SRV_PAUSE_H

#include <jansson.h>
#include <stddef.h>

#include "route.h"

struct srv_server;

/* Re-reads the pause file (the CLI may have changed it) and, with ha:, the shared pause as
 * the watcher last read it (the first call starts the watcher, which reads etcd once before
 * it returns). Anything at the path that is not a pause file of ours pauses too, with a
 * warning. Never waits for etcd after the first call. */
void srv_pause_check(struct srv_server *s);
/* For each alert: srv_pause_check, unless (without ha:) the pause's generation shows no change
 * through salve since the last check (state.h): then nothing, not even a system call. */
void srv_pause_check_alert(struct srv_server *s);
/* Under mu: whether a worker may not start a run now: s->paused, or the shared pause as the
 * watcher last read it (not waiting for the tick to copy it). */
int srv_pause_blocks(struct srv_server *s);
/* Whether this replica's own pause file is there (with ha: the shared pause is decided with
 * each alert; this is what pauses one replica alone). */
int srv_pause_local(const struct srv_server *s);
/* POST /pause (pause != 0) and /resume: writes or removes the file (with ha: sets or
 * deletes the etcd key; resume removes the file too), audited. Returns the HTTP status (503
 * when etcd cannot be written) and *out (new reference). */
int srv_pause_set(struct srv_server *s, int pause, const char *by, const char *reason,
                  json_t **out);

/* salve pause / resume with `ha:` in conf: sets or lifts the shared pause in etcd (*was: it
 * was set). 1 done, 0 no `ha:` (the caller writes the file), -1 with err. */
int srv_pause_shared(const srv_conf *conf, int pause, const char *by, const char *reason, int *was,
                     char *err, size_t errlen);

#endif
