/*
 * Ansible's YAML inventory (all / children / hosts / vars) and Ansible host patterns.
 *
 * The YAML is loaded with libyaml's document API and turned into JSON first; groups and
 * hosts are then walked from that. Variables apply Ansible's way: `all` vars, then group
 * vars ordered by depth (parents before children) and name, then host vars.
 */
#include "sp.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamljson.h"

/* Group nesting deeper than this is a cycle. */
#define MAX_DEPTH 64

struct builder {
	struct sp_inventory *inv;
	json_t *groups; /* name -> {depth, vars{}, hosts[idx], children[name]} */
	const char *origin;
	char *err;
	size_t errlen;
};

static long host_index(struct builder *b, const char *name)
{
	for (size_t i = 0; i < b->inv->nhosts; i++)
		if (strcmp(b->inv->hosts[i].name, name) == 0)
			return (long)i;
	struct sp_host *grown =
	    realloc(b->inv->hosts, (b->inv->nhosts + 1) * sizeof *b->inv->hosts);
	if (!grown)
		return -1;
	b->inv->hosts = grown;
	struct sp_host *h = &grown[b->inv->nhosts];
	memset(h, 0, sizeof *h);
	h->name = strdup(name);
	h->vars = json_object();
	return (long)b->inv->nhosts++;
}

static json_t *group_of(struct builder *b, const char *name, int depth)
{
	json_t *g = json_object_get(b->groups, name);
	if (!g) {
		g = json_pack("{s:i, s:{}, s:[], s:[]}", "depth", depth, "vars", "hosts",
		              "children");
		json_object_set_new(b->groups, name, g);
	} else if (json_integer_value(json_object_get(g, "depth")) > depth) {
		json_object_set_new(g, "depth", json_integer(depth));
	}
	return g;
}

static int add_unique_int(json_t *arr, long v)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x) if (json_integer_value(x) == v) return 0;
	return json_array_append_new(arr, json_integer(v));
}

static int add_unique_str(json_t *arr, const char *s)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x) if (strcmp(json_string_value(x), s) == 0) return 0;
	return json_array_append_new(arr, json_string(s));
}

static int walk_group(struct builder *b, const char *name, const json_t *def, int depth)
{
	if (depth > MAX_DEPTH) {
		snprintf(b->err, b->errlen, "%s: groups nested deeper than %d (a cycle?) at %s",
		         b->origin, MAX_DEPTH, name);
		return -1;
	}
	json_t *g = group_of(b, name, depth);
	if (json_is_null(def))
		return 0;
	if (!json_is_object(def)) {
		snprintf(b->err, b->errlen,
		         "%s: group %s must be a mapping (hosts, vars, children)", b->origin, name);
		return -1;
	}
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)def, key, val)
	{
		if (strcmp(key, "hosts") == 0) {
			if (json_is_null(val))
				continue;
			if (!json_is_object(val)) {
				snprintf(b->err, b->errlen,
				         "%s: %s.hosts must be a mapping of host names", b->origin,
				         name);
				return -1;
			}
			const char *hname;
			json_t *hvars;
			json_object_foreach(val, hname, hvars)
			{
				long idx = host_index(b, hname);
				if (idx < 0)
					return -1;
				add_unique_int(json_object_get(g, "hosts"), idx);
				if (json_is_object(hvars)) {
					json_object_update(b->inv->hosts[idx].vars, hvars);
				} else if (!json_is_null(hvars)) {
					snprintf(
					    b->err, b->errlen,
					    "%s: host %s in group %s: variables must be a mapping",
					    b->origin, hname, name);
					return -1;
				}
			}
		} else if (strcmp(key, "vars") == 0) {
			if (json_is_object(val))
				json_object_update(json_object_get(g, "vars"), val);
			else if (!json_is_null(val)) {
				snprintf(b->err, b->errlen, "%s: %s.vars must be a mapping",
				         b->origin, name);
				return -1;
			}
		} else if (strcmp(key, "children") == 0) {
			if (json_is_null(val))
				continue;
			if (!json_is_object(val)) {
				snprintf(b->err, b->errlen,
				         "%s: %s.children must be a mapping of group names",
				         b->origin, name);
				return -1;
			}
			const char *cname;
			json_t *cdef;
			json_object_foreach(val, cname, cdef)
			{
				add_unique_str(json_object_get(g, "children"), cname);
				if (walk_group(b, cname, cdef, depth + 1) < 0)
					return -1;
			}
		} else {
			snprintf(
			    b->err, b->errlen,
			    "%s: group %s has unknown key '%s' (expected hosts, vars, children)",
			    b->origin, name, key);
			return -1;
		}
	}
	return 0;
}

/* Every host in group name and the groups below it. Each group is visited once: walking once
 * per path cost 2^depth for a chain of diamonds (gN -> aN, bN -> gN+1), and a cycle ends. */
static void collect_members(struct builder *b, const char *name, json_t *out)
{
	json_t *seen = json_object(), *todo = json_array();
	json_object_set_new(seen, name, json_true());
	json_array_append_new(todo, json_string(name));
	size_t n;
	while ((n = json_array_size(todo)) > 0) {
		json_t *g =
		    json_object_get(b->groups, json_string_value(json_array_get(todo, n - 1)));
		json_array_remove(todo, n - 1);
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(g, "hosts"), i, x)
		    add_unique_int(out, (long)json_integer_value(x));
		json_array_foreach(json_object_get(g, "children"), i, x)
		{
			if (json_object_get(seen, json_string_value(x)))
				continue;
			json_object_set_new(seen, json_string_value(x), json_true());
			json_array_append(todo, x);
		}
	}
	json_decref(todo);
	json_decref(seen);
}

static int cmp_long(const void *a, const void *b)
{
	long x = json_integer_value(*(json_t *const *)a);
	long y = json_integer_value(*(json_t *const *)b);
	return (x > y) - (x < y);
}

static void sort_int_array(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v = malloc(n * sizeof *v + 1);
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof *v, cmp_long);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

struct group_ref {
	const char *name;
	long depth;
	json_t *vars;
};

static int cmp_group_ref(const void *a, const void *b)
{
	const struct group_ref *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return strcmp(x->name, y->name);
}

static const char *var_str(const json_t *vars, const char *k1, const char *k2)
{
	const json_t *v = json_object_get(vars, k1);
	if (!v && k2)
		v = json_object_get(vars, k2);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int resolve_host(struct builder *b, size_t idx)
{
	struct sp_host *h = &b->inv->hosts[idx];
	size_t ng = json_object_size(b->groups);
	struct group_ref *refs = calloc(ng + 1, sizeof *refs);
	if (!refs)
		return -1;
	size_t nr = 0;
	const char *gname;
	json_t *g;
	json_object_foreach(b->groups, gname, g)
	{
		if (strcmp(gname, "all") == 0)
			continue;
		json_t *m = json_object_get(b->inv->groups, gname);
		size_t i;
		json_t *x;
		json_array_foreach(m, i, x)
		{
			if ((size_t)json_integer_value(x) == idx) {
				refs[nr].name = gname;
				refs[nr].depth =
				    (long)json_integer_value(json_object_get(g, "depth"));
				refs[nr].vars = json_object_get(g, "vars");
				nr++;
				break;
			}
		}
	}
	qsort(refs, nr, sizeof *refs, cmp_group_ref);
	json_t *merged = json_object();
	json_t *all = json_object_get(b->groups, "all");
	if (all)
		json_object_update(merged, json_object_get(all, "vars"));
	for (size_t i = 0; i < nr; i++)
		json_object_update(merged, refs[i].vars);
	free(refs);
	json_object_update(merged, h->vars);
	json_decref(h->vars);
	h->vars = merged;

	const char *addr = var_str(merged, "ansible_host", "ansible_ssh_host");
	h->address = strdup(addr ? addr : h->name);
	h->port = 22;
	json_t *port = json_object_get(merged, "ansible_port");
	if (!port)
		port = json_object_get(merged, "ansible_ssh_port");
	if (port) {
		long p = sp_long(port, 22);
		if (p < 1 || p > 65535) {
			snprintf(b->err, b->errlen, "%s: host %s: ansible_port must be 1..65535",
			         b->origin, h->name);
			return -1;
		}
		h->port = (int)p;
	}
	const char *user = var_str(merged, "ansible_user", "ansible_ssh_user");
	h->user = user ? strdup(user) : NULL;
	const char *key =
	    var_str(merged, "ansible_ssh_private_key_file", "ansible_private_key_file");
	h->key_file = key ? strdup(key) : NULL;
	const char *conn = var_str(merged, "ansible_connection", NULL);
	if (conn && strcmp(conn, "local") == 0) {
		h->local = 1;
	} else if (conn && strcmp(conn, "ssh") != 0 && strcmp(conn, "paramiko") != 0 &&
	           strcmp(conn, "smart") != 0) {
		snprintf(b->err, b->errlen,
		         "%s: host %s: ansible_connection '%s' is not supported (local or ssh)",
		         b->origin, h->name, conn);
		return -1;
	}
	h->become = sp_bool(json_object_get(merged, "ansible_become"), 0);
	h->lock_timeout = -1;
	const json_t *lt = json_object_get(merged, "salve_lock_timeout");
	if (lt) {
		h->lock_timeout = sp_duration(lt, -1);
		if (h->lock_timeout < 0) {
			snprintf(
			    b->err, b->errlen,
			    "%s: host %s: salve_lock_timeout must be a duration (seconds, or 30s, "
			    "5m, 1h)",
			    b->origin, h->name);
			return -1;
		}
	}
	return 0;
}

struct sp_inventory *sp_inventory_parse(const char *yaml, size_t len, const char *origin, char *err,
                                        size_t errlen)
{
	/* Ansible reads inventory values as strings; so do we (ansible_port: "2222" and 2222). */
	json_t *root = salve_yaml_parse(yaml, len, origin, SALVE_YAML_STRINGS, err, errlen);
	if (!root)
		return NULL;
	if (json_is_null(root)) {
		json_decref(root);
		root = json_object();
	}
	if (!json_is_object(root)) {
		json_decref(root);
		snprintf(err, errlen, "%s: an inventory is a mapping of groups (all: ...)", origin);
		return NULL;
	}

	struct sp_inventory *inv = calloc(1, sizeof *inv);
	struct builder b = {
	    .inv = inv, .groups = json_object(), .origin = origin, .err = err, .errlen = errlen};
	inv->groups = json_object();
	group_of(&b, "all", 0);
	const char *gname;
	json_t *gdef;
	int rc = 0;
	json_object_foreach(root, gname, gdef)
	{
		if (strcmp(gname, "all") != 0)
			add_unique_str(
			    json_object_get(json_object_get(b.groups, "all"), "children"), gname);
		if (walk_group(&b, gname, gdef, strcmp(gname, "all") == 0 ? 0 : 1) < 0) {
			rc = -1;
			break;
		}
	}
	json_decref(root);
	if (rc == 0) {
		json_t *g;
		json_object_foreach(b.groups, gname, g)
		{
			json_t *members = json_array();
			if (strcmp(gname, "all") == 0)
				for (size_t i = 0; i < inv->nhosts; i++)
					json_array_append_new(members, json_integer((json_int_t)i));
			else
				collect_members(&b, gname, members);
			sort_int_array(members);
			json_object_set_new(inv->groups, gname, members);
		}
		/* ungrouped: hosts that belong to no group but all. */
		json_t *ungrouped = json_array();
		for (size_t i = 0; i < inv->nhosts; i++) {
			int grouped = 0;
			json_t *m;
			json_object_foreach(inv->groups, gname, m)
			{
				if (strcmp(gname, "all") == 0 || strcmp(gname, "ungrouped") == 0)
					continue;
				size_t k;
				json_t *x;
				json_array_foreach(m, k, x) if ((size_t)json_integer_value(x) == i)
				    grouped = 1;
			}
			if (!grouped)
				json_array_append_new(ungrouped, json_integer((json_int_t)i));
		}
		if (!json_object_get(inv->groups, "ungrouped"))
			json_object_set_new(inv->groups, "ungrouped", ungrouped);
		else
			json_decref(ungrouped);
		for (size_t i = 0; i < inv->nhosts && rc == 0; i++)
			rc = resolve_host(&b, i);
	}
	json_decref(b.groups);
	if (rc < 0) {
		sp_inventory_free(inv);
		return NULL;
	}
	return inv;
}

struct sp_inventory *sp_inventory_load(const char *path, char *err, size_t errlen)
{
	if (!path || !*path) {
		struct sp_inventory *inv =
		    sp_inventory_parse("{}", 2, "(no inventory)", err, errlen);
		if (inv)
			inv->implicit_localhost = 1;
		return inv;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "inventory %s: %s", path, strerror(errno));
		return NULL;
	}
	struct sp_buf b = {0};
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		sp_buf_add(&b, chunk, n);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "inventory %s: read error", path);
		sp_buf_free(&b);
		return NULL;
	}
	struct sp_inventory *inv =
	    sp_inventory_parse(b.data ? b.data : "", b.len, path, err, errlen);
	sp_buf_free(&b);
	return inv;
}

void sp_inventory_free(struct sp_inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->nhosts; i++) {
		struct sp_host *h = &inv->hosts[i];
		free(h->name);
		free(h->address);
		free(h->user);
		free(h->key_file);
		json_decref(h->vars);
	}
	free(inv->hosts);
	json_decref(inv->groups);
	free(inv);
}

/* Mark in set[] every host a term names; returns how many it matched. */
static size_t match_term(struct sp_inventory *inv, const char *term, unsigned char *set)
{
	size_t hits = 0;
	if (strcmp(term, "all") == 0 || strcmp(term, "*") == 0) {
		for (size_t i = 0; i < inv->nhosts; i++)
			if (strcmp(inv->hosts[i].name, "localhost") != 0 ||
			    json_object_get(inv->hosts[i].vars, "__implicit") == NULL) {
				set[i] = 1;
				hits++;
			}
		return hits;
	}
	const char *gname;
	json_t *members;
	json_object_foreach(inv->groups, gname, members)
	{
		if (fnmatch(term, gname, 0) == 0) {
			size_t i;
			json_t *x;
			json_array_foreach(members, i, x)
			{
				set[json_integer_value(x)] = 1;
				hits++;
			}
		}
	}
	for (size_t i = 0; i < inv->nhosts; i++)
		if (fnmatch(term, inv->hosts[i].name, 0) == 0) {
			set[i] = 1;
			hits++;
		}
	return hits;
}

static void add_implicit_localhost(struct sp_inventory *inv)
{
	struct sp_host *grown = realloc(inv->hosts, (inv->nhosts + 1) * sizeof *inv->hosts);
	if (!grown)
		return;
	inv->hosts = grown;
	struct sp_host *h = &grown[inv->nhosts++];
	memset(h, 0, sizeof *h);
	h->name = strdup("localhost");
	h->address = strdup("localhost");
	h->port = 22;
	h->local = 1;
	h->lock_timeout = -1;
	h->vars = json_pack("{s:s, s:b}", "ansible_connection", "local", "__implicit", 1);
}

size_t *sp_inventory_select(struct sp_inventory *inv, const char *pattern, size_t *n, char *err,
                            size_t errlen)
{
	*n = 0;
	if (!pattern || !*pattern) {
		snprintf(err, errlen, "empty host pattern");
		return NULL;
	}
	/* Terms are comma-separated; without a comma, colon-separated (Ansible's older form). */
	char *copy = strdup(pattern);
	const char *sep = strchr(copy, ',') ? "," : ":";
	char *terms[256];
	size_t nterms = 0;
	for (char *save = NULL, *t = strtok_r(copy, sep, &save); t;
	     t = strtok_r(NULL, sep, &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		char *end = t + strlen(t);
		while (end > t && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*t)
			continue;
		if (nterms == sizeof terms / sizeof *terms) {
			snprintf(err, errlen, "host pattern has more than %zu terms",
			         sizeof terms / sizeof *terms);
			free(copy);
			return NULL;
		}
		terms[nterms++] = t;
	}
	/* With an inventory only its hosts exist: a pattern (perhaps from an alert label) must
	 * not reach this machine through a name the inventory never gave. */
	for (size_t i = 0; inv->implicit_localhost && i < nterms; i++) {
		const char *name = terms[i] + (terms[i][0] == '&' || terms[i][0] == '!');
		if (strcmp(name, "localhost") == 0) {
			int known = 0;
			for (size_t k = 0; k < inv->nhosts; k++)
				known |= strcmp(inv->hosts[k].name, "localhost") == 0;
			if (!known)
				add_implicit_localhost(inv);
		}
	}
	size_t nh = inv->nhosts;
	unsigned char *uni = calloc(nh + 1, 1);
	unsigned char *tmp = calloc(nh + 1, 1);
	int have_union = 0;
	size_t *out = NULL;
	for (size_t i = 0; i < nterms; i++)
		if (terms[i][0] != '&' && terms[i][0] != '!')
			have_union = 1;
	if (!have_union)
		match_term(inv, "all", uni);
	int ok = 1;
	/* Ansible's order: unions, then intersections, then exclusions. */
	for (int pass = 0; pass < 3 && ok; pass++) {
		for (size_t i = 0; i < nterms && ok; i++) {
			char kind = terms[i][0] == '&' ? '&' : terms[i][0] == '!' ? '!' : '+';
			if ((pass == 0 && kind != '+') || (pass == 1 && kind != '&') ||
			    (pass == 2 && kind != '!'))
				continue;
			const char *name = terms[i] + (kind != '+');
			memset(tmp, 0, nh + 1);
			int is_group = json_object_get(inv->groups, name) != NULL;
			if (match_term(inv, name, tmp) == 0 && !is_group) {
				snprintf(err, errlen,
				         "host pattern '%s': '%s' matches no group or host in the "
				         "inventory%s",
				         pattern, name,
				         strcmp(name, "localhost") == 0
				             ? " (localhost is implicit only when no inventory is "
				               "configured; add it to the inventory with "
				               "ansible_connection: local)"
				             : "");
				ok = 0;
				break;
			}
			for (size_t k = 0; k < nh; k++) {
				if (kind == '+')
					uni[k] |= tmp[k];
				else if (kind == '&')
					uni[k] &= tmp[k];
				else if (tmp[k])
					uni[k] = 0;
			}
		}
	}
	if (ok) {
		out = malloc((nh + 1) * sizeof *out);
		for (size_t k = 0; k < nh; k++)
			if (uni[k])
				out[(*n)++] = k;
		if (*n == 0) {
			snprintf(err, errlen, "host pattern '%s' selects no hosts", pattern);
			free(out);
			out = NULL;
		}
	}
	free(uni);
	free(tmp);
	free(copy);
	return out;
}
