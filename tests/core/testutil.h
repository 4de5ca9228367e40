/* Helpers shared by the core's cmocka tests. Not thread-safe. */
#ifndef SALVE_TESTUTIL_H
#define SALVE_TESTUTIL_H

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka needs the headers above first. */
#include <cmocka.h>

/* A fresh directory under /tmp, removed (recursively) by tu_cleanup(). Borrowed string. */
const char *tu_tmpdir(void);
void tu_cleanup(void);
/* path under the current tmpdir (static buffer rotation of 8). */
const char *tu_path(const char *name);
void tu_write(const char *path, const char *text);
/* File contents (malloc'd) or NULL. */
char *tu_read(const char *path);
/* How many times testkit's ACTION.CALLBACK ran (bytes of its counter file). */
int tu_calls(const char *dir, const char *action, const char *callback);
/* The registry over the test plugin dirs (testkit, host, bad plugins when bad != 0). */
struct salve_registry *tu_registry(int bad);
/* Every audit record of a log, as an array. */
json_t *tu_audit_records(const char *path);

#endif
