/* The ssh-patch plugin's Ansible inventory (sp_inventory_parse) and host patterns
 * (sp_inventory_select). Input: the first line is a host pattern, the rest the inventory.
 * Invariants: every host has a name, an address and a port in 1..65535, and belongs to `all`;
 * every group's members are valid, sorted, distinct host indexes; a selection is non-empty,
 * strictly increasing and within the inventory; `all` selects every host the file names. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "sp.h"

static void check_indexes(const json_t *arr, size_t nhosts, const char *what)
{
	FUZZ_CHECK(json_is_array(arr), "%s is not an array", what);
	long prev = -1;
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x)
	{
		FUZZ_CHECK(json_is_integer(x), "%s[%zu] is not an index", what, i);
		long idx = (long)json_integer_value(x);
		FUZZ_CHECK(idx > prev && (size_t)idx < nhosts,
		           "%s[%zu] = %ld: not increasing or past %zu hosts", what, i, idx, nhosts);
		prev = idx;
	}
}

int fuzz_one(const uint8_t *data, size_t size)
{
	char *pattern, *yaml;
	size_t len;
	fuzz_split_line(data, size, &pattern, &yaml, &len);
	char err[2048] = "";
	struct sp_inventory *inv = sp_inventory_parse(yaml, len, "inventory.yaml", err, sizeof err);
	if (!inv) {
		FUZZ_CHECK(strstr(err, "inventory.yaml") != NULL,
		           "refusal does not name the file: %s", err);
		goto out;
	}
	size_t named = inv->nhosts;
	for (size_t i = 0; i < inv->nhosts; i++) {
		const struct sp_host *h = &inv->hosts[i];
		FUZZ_CHECK(h->name && h->address, "host %zu has no name or address", i);
		FUZZ_CHECK(h->port >= 1 && h->port <= 65535, "host %s: port %d", h->name, h->port);
		FUZZ_CHECK(json_is_object(h->vars), "host %s: vars is not a mapping", h->name);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(inv->hosts[k].name, h->name) != 0, "host %s listed twice",
			           h->name);
	}
	const char *gname;
	json_t *members;
	json_object_foreach(inv->groups, gname, members) check_indexes(members, inv->nhosts, gname);
	FUZZ_CHECK(json_array_size(json_object_get(inv->groups, "all")) == inv->nhosts,
	           "all has %zu of %zu hosts", json_array_size(json_object_get(inv->groups, "all")),
	           inv->nhosts);

	size_t n = 0;
	size_t *sel = sp_inventory_select(inv, pattern, &n, err, sizeof err);
	if (sel) {
		FUZZ_CHECK(n > 0, "pattern '%s': an empty selection returned", pattern);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(sel[i] < inv->nhosts && (i == 0 || sel[i] > sel[i - 1]),
			           "pattern '%s': selection[%zu] = %zu", pattern, i, sel[i]);
		free(sel);
	} else {
		FUZZ_CHECK(n == 0 && err[0], "pattern '%s': refused without a reason", pattern);
	}
	if (named > 0) {
		sel = sp_inventory_select(inv, "all", &n, err, sizeof err);
		FUZZ_CHECK(sel && n == named, "'all' selects %zu of %zu hosts", sel ? n : 0, named);
		free(sel);
	}
	sp_inventory_free(inv);
out:
	free(pattern);
	free(yaml);
	return 0;
}
