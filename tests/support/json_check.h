/*
 * JSON assertions for cmocka tests: parse expected JSON, walk to a value, compare. A mismatch
 * fails the running test showing what was got and what was wanted. Returned pointers are
 * borrowed from their argument except tj_parse's, which is the caller's. One test thread.
 */
#ifndef SALVE_TEST_JSON_CHECK_H
#define SALVE_TEST_JSON_CHECK_H

#include <jansson.h>

/* JSON text (any value) parsed; bad JSON fails the test. */
json_t *tj_parse(const char *text);
/* The value at an RFC 6901 pointer ("/a/b~1c/0"), NULL when absent. */
json_t *tj_at(const json_t *j, const char *pointer);
/* The string at a pointer, NULL when absent or not a string. */
const char *tj_str_at(const json_t *j, const char *pointer);

/* got equals the JSON text want_text. */
void assert_json_eq(const json_t *got, const char *want_text);
/* lines is exactly the strings of want (NULL-terminated), in order; lines is released. */
void assert_lines(json_t *lines, const char *const *want);

#endif
