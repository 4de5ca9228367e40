/* A string-keyed hash map (chained, grows at load 1) for the server's run index and dedup
 * table. Keys are copied; values are borrowed pointers the caller owns. Not thread-safe:
 * the server holds its mutex around every use. */
#ifndef SALVE_SERVE_STRMAP_H
#define SALVE_SERVE_STRMAP_H

#include <stddef.h>

typedef struct salve_strmap salve_strmap;

salve_strmap *salve_strmap_new(void);
/* Frees the map and its keys; values are left to the caller (see salve_strmap_next). */
void salve_strmap_free(salve_strmap *m);
void *salve_strmap_get(const salve_strmap *m, const char *key);
/* Sets key to value (replacing any previous value, which is returned through *old when old is
 * not NULL). 0, or -1 when out of memory. */
int salve_strmap_put(salve_strmap *m, const char *key, void *value, void **old);
/* Removes key; returns its value or NULL. */
void *salve_strmap_remove(salve_strmap *m, const char *key);
size_t salve_strmap_size(const salve_strmap *m);

/* Iteration: start with *cursor = 0; returns 1 with *key and *value set, 0 at the end. The map
 * must not change during an iteration (collect keys first, then remove them). */
int salve_strmap_next(const salve_strmap *m, size_t *cursor, const char **key, void **value);

#endif
