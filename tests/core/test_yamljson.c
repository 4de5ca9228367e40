#include <string.h>

#include "testutil.h"
#include "yamljson.h"

static void test_types_and_nesting(void **state)
{
	(void)state;
	const char *y = "a: 1\nb: 2.5\nc: yes\nd: ~\ne: \"007\"\nf: [x, 'y']\ng: {h: text}\n";
	char err[256];
	json_t *v = salve_yaml_load_string(y, strlen(y), "t.yaml", err, sizeof err);
	assert_non_null(v);
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"a\":1,\"b\":2.5,\"c\":true,\"d\":null,\"e\":\"007\",\"f\":["
	                       "\"x\",\"y\"],\"g\":{\"h\":\"text\"}}");
	free(s);
	json_decref(v);
}

static void test_error_names_file_and_line(void **state)
{
	(void)state;
	const char *y = "a: 1\nb: [unclosed\nc: 2\n";
	char err[256];
	assert_null(salve_yaml_load_string(y, strlen(y), "bad.yaml", err, sizeof err));
	assert_non_null(strstr(err, "bad.yaml:"));
	assert_null(salve_yaml_load_file("/nonexistent/x.yaml", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/x.yaml: No such file"));
}

/* Fuzz finding 5 (tests/fuzz/corpus/config/bug-yaml-alias-bomb.yaml): 40 lines whose aliases
 * expand to 2^40 nodes. Refused once the aliases add 100000 nodes, naming the line where the
 * expansion that ran over is written. */
static void test_alias_bomb_refused(void **state)
{
	(void)state;
	char y[4096];
	size_t n = (size_t)snprintf(y, sizeof y, "a0: &a0 [x, x]\n");
	for (int i = 1; i < 40; i++)
		n += (size_t)snprintf(y + n, sizeof y - n, "a%d: &a%d [*a%d, *a%d]\n", i, i, i - 1,
		                      i - 1);
	char err[512];
	assert_null(salve_yaml_load_string(y, n, "bomb.yaml", err, sizeof err));
	/* 83 nodes of its own; a0..a13 expand to 65518 nodes, a14 (line 15) runs over. */
	assert_string_equal(err, "bomb.yaml:15:6: aliases expand the document to more than "
	                         "100083 nodes (an alias bomb?)");
	/* The same under the other scalar typings (inventories, kubeconfigs). */
	assert_null(salve_yaml_parse(y, n, "inv.yaml", SALVE_YAML_STRINGS, err, sizeof err));
	assert_non_null(strstr(err, "inv.yaml:15:6: aliases expand"));

	/* An alias naming the node it is in. */
	const char *loop = "a: &a [*a, *a]\n";
	assert_null(salve_yaml_load_string(loop, strlen(loop), "loop.yaml", err, sizeof err));
	assert_non_null(strstr(err, "loop.yaml:"));
}

/* Aliases within the budget expand as before, and a document's own nodes never count against
 * it: 150000 plain items load. */
static void test_aliases_and_large_documents_load(void **state)
{
	(void)state;
	const char *y = "base: &b {user: root, port: 22}\nweb: *b\ndb: [*b, *b]\n";
	char err[512];
	json_t *v = salve_yaml_load_string(y, strlen(y), "t.yaml", err, sizeof err);
	assert_non_null(v);
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"base\":{\"port\":22,\"user\":\"root\"},\"db\":[{\"port\":22,"
	                       "\"user\":\"root\"},{\"port\":22,\"user\":\"root\"}],\"web\":{"
	                       "\"port\":22,\"user\":\"root\"}}");
	free(s);
	json_decref(v);

	size_t items = 150000, cap = items * 3 + 8, n = 0;
	char *big = malloc(cap);
	big[n++] = '[';
	for (size_t i = 0; i < items; i++) {
		big[n++] = 'x';
		big[n++] = i + 1 < items ? ',' : ']';
	}
	v = salve_yaml_load_string(big, n, "big.yaml", err, sizeof err);
	assert_non_null(v);
	assert_int_equal(json_array_size(v), items);
	json_decref(v);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_types_and_nesting),
	                                   cmocka_unit_test(test_error_names_file_and_line),
	                                   cmocka_unit_test(test_alias_bomb_refused),
	                                   cmocka_unit_test(test_aliases_and_large_documents_load)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
