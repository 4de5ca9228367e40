/* Named run locks: STATE_DIR/locks/<escaped key>.lock held with flock for the life of the
 * process (released by the kernel if it dies). The state dir and locks/ must be ours and not
 * group/world-writable, and a lock file must be a regular file we own (never a symlink), or
 * the lock is refused (SALVE_LOCK_ERROR, err says why). Not shared between threads of one
 * process: salve serve keeps its own in-process table on top. */
#ifndef SALVE_LOCK_H
#define SALVE_LOCK_H

#include <jansson.h>
#include <stddef.h>

typedef struct salve_lock salve_lock;

enum salve_lock_result { SALVE_LOCK_ACQUIRED = 0, SALVE_LOCK_BUSY = 1, SALVE_LOCK_ERROR = -1 };

/* wait != 0 blocks until free (up to timeout seconds; <= 0 forever). On BUSY, err names the
 * holder (run id and pid). */
enum salve_lock_result salve_lock_acquire(const char *state_dir, const char *key,
                                          const char *run_id, int wait, double timeout,
                                          salve_lock **out, char *err, size_t errlen);
void salve_lock_release(salve_lock *l);

/* Expands {name} placeholders of template from params (an object), a path parameter
 * canonical (no repeated or trailing slash: "/srv/data/" and "/srv//data" take the lock of
 * "/srv/data"); 0 or -1 with err. */
int salve_lock_key(const char *template_, const json_t *params, char *out, size_t outlen, char *err,
                   size_t errlen);

#endif
