/* A string-keyed hash map (chained, grows at load 1) for the server's run index and dedup
 * table. Keys are copied; values are borrowed pointers the caller owns. Not thread-safe:
 * the server holds its mutex around every use. */
#ifndef SRV_STRMAP_H
#define SRV_STRMAP_H

#include <stddef.h>

typedef struct srv_strmap srv_strmap;

srv_strmap *srv_strmap_new(void);
/* Frees the map and its keys; values are left to the caller (see srv_strmap_next). */
void srv_strmap_free(srv_strmap *m);
void *srv_strmap_get(const srv_strmap *m, const char *key);
/* Sets key to value (replacing any previous value, which is returned through *old when old is
 * not NULL). 0, or -1 when out of memory. */
int srv_strmap_put(srv_strmap *m, const char *key, void *value, void **old);
/* Removes key; returns its value or NULL. */
void *srv_strmap_remove(srv_strmap *m, const char *key);
size_t srv_strmap_size(const srv_strmap *m);

/* Iteration: start with *cursor = 0; returns 1 with *key and *value set, 0 at the end. The map
 * must not change during an iteration (collect keys first, then remove them). */
int srv_strmap_next(const srv_strmap *m, size_t *cursor, const char **key, void **value);

#endif
