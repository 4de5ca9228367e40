#include "json_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

json_t *tj_parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	if (!j)
		fail_msg("bad JSON in test: %s: %s", e.text, text);
	return j;
}

json_t *tj_at(const json_t *j, const char *pointer)
{
	const json_t *node = j;
	char buf[512];
	snprintf(buf, sizeof buf, "%s", pointer);
	for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && node;
	     tok = strtok_r(NULL, "/", &save)) {
		for (char *c = tok; *c; c++)
			if (*c == '~' && (c[1] == '1' || c[1] == '0')) {
				*c = c[1] == '1' ? '/' : '~';
				memmove(c + 1, c + 2, strlen(c + 2) + 1);
			}
		node = json_is_array(node) ? json_array_get(node, (size_t)atoi(tok))
		                           : json_object_get(node, tok);
	}
	return (json_t *)node;
}

const char *tj_str_at(const json_t *j, const char *pointer)
{
	return json_string_value(tj_at(j, pointer));
}

void assert_json_eq(const json_t *got, const char *want_text)
{
	json_t *want = tj_parse(want_text);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
		char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
		fail_msg("JSON differs\n got: %s\nwant: %s", g, w);
	}
	json_decref(want);
}

void assert_lines(json_t *lines, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	int ok = json_array_size(lines) == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(json_string_value(json_array_get(lines, i)), want[i]) == 0;
	if (!ok) {
		char *g = json_dumps(lines, JSON_INDENT(1));
		fail_msg("lines differ; got:\n%s", g);
	}
	json_decref(lines);
}
