/* JSON helpers the actions share: pointers, merge patches, change lists, and the record a
 * patch leaves so that undo can put back exactly what it changed. */
#include "k8s.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decode one RFC 6901 reference token (~1 -> '/', ~0 -> '~') into out. */
static void unescape_token(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
			out[o++] = s[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* Append "/token" (escaped) to a malloc'd path. */
static char *path_join(const char *base, const char *token)
{
	size_t bl = strlen(base), tl = strlen(token);
	char *p = malloc(bl + 2 * tl + 2);
	if (!p)
		return NULL;
	memcpy(p, base, bl);
	size_t o = bl;
	p[o++] = '/';
	for (size_t i = 0; i < tl; i++) {
		if (token[i] == '~') {
			p[o++] = '~';
			p[o++] = '0';
		} else if (token[i] == '/') {
			p[o++] = '~';
			p[o++] = '1';
		} else {
			p[o++] = token[i];
		}
	}
	p[o] = '\0';
	return p;
}

static int array_index(const char *tok, size_t size, size_t *idx)
{
	if (!*tok || (tok[0] == '0' && tok[1]))
		return -1;
	char *end;
	unsigned long v = strtoul(tok, &end, 10);
	if (*end || !isdigit((unsigned char)tok[0]) || v >= size)
		return -1;
	*idx = v;
	return 0;
}

json_t *k8s_ptr_get(const json_t *root, const char *pointer)
{
	if (!root || !pointer)
		return NULL;
	if (!*pointer)
		return (json_t *)root;
	if (*pointer != '/')
		return NULL;
	const json_t *node = root;
	const char *p = pointer + 1;
	char *tok = malloc(strlen(pointer) + 1);
	if (!tok)
		return NULL;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		unescape_token(p, n, tok);
		if (json_is_object(node)) {
			node = json_object_get(node, tok);
		} else if (json_is_array(node)) {
			size_t idx;
			node = array_index(tok, json_array_size(node), &idx) == 0
			           ? json_array_get(node, idx)
			           : NULL;
		} else {
			node = NULL;
		}
		if (!node || !slash)
			break;
		p = slash + 1;
	}
	free(tok);
	return (json_t *)node;
}

json_t *k8s_child_object(json_t *obj, const char *key)
{
	json_t *c = json_object_get(obj, key);
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(obj, key, c);
	}
	return c;
}

json_t *k8s_merge_diff(const json_t *from, const json_t *to)
{
	if (!json_is_object(from) || !json_is_object(to))
		return json_deep_copy(to);
	json_t *patch = json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)from, key, v)
	{
		if (!json_object_get(to, key))
			json_object_set_new(patch, key, json_null());
	}
	json_object_foreach((json_t *)to, key, v)
	{
		json_t *old = json_object_get(from, key);
		if (!old) {
			json_object_set_new(patch, key, json_deep_copy(v));
		} else if (json_is_object(old) && json_is_object(v)) {
			json_t *sub = k8s_merge_diff(old, v);
			if (json_object_size(sub) > 0)
				json_object_set_new(patch, key, sub);
			else
				json_decref(sub);
		} else if (!json_equal(old, v)) {
			json_object_set_new(patch, key, json_deep_copy(v));
		}
	}
	return patch;
}

void k8s_merge_apply(json_t **target, const json_t *patch)
{
	if (!json_is_object(patch)) {
		json_decref(*target);
		*target = json_deep_copy(patch);
		return;
	}
	if (!json_is_object(*target)) {
		json_decref(*target);
		*target = json_object();
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)patch, key, v)
	{
		if (json_is_null(v)) {
			json_object_del(*target, key);
			continue;
		}
		json_t *child = json_incref(json_object_get(*target, key));
		k8s_merge_apply(&child, v);
		json_object_set_new(*target, key, child);
	}
}

/* Server-maintained fields that change on every write and say nothing about the change. */
static int ignored_path(const char *path)
{
	static const char *const ignored[] = {
	    "/status",
	    "/metadata/resourceVersion",
	    "/metadata/managedFields",
	    "/metadata/generation",
	    "/metadata/creationTimestamp",
	    "/metadata/uid",
	    "/metadata/selfLink",
	};
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		if (strcmp(path, ignored[i]) == 0)
			return 1;
	return 0;
}

static void add_change(json_t *out, const char *path, const json_t *a, const json_t *b)
{
	json_array_append_new(out, json_pack("{s:s, s:O, s:O}", "path", path, "before",
	                                     a ? (json_t *)a : json_null(), "after",
	                                     b ? (json_t *)b : json_null()));
}

static void changes_walk(json_t *out, const char *path, const json_t *a, const json_t *b)
{
	if (ignored_path(path))
		return;
	if (json_is_object(a) && json_is_object(b)) {
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)a, key, v)
		{
			char *p = path_join(path, key);
			if (p)
				changes_walk(out, p, v, json_object_get(b, key));
			free(p);
		}
		json_object_foreach((json_t *)b, key, v)
		{
			if (json_object_get(a, key))
				continue;
			char *p = path_join(path, key);
			if (p && !ignored_path(p))
				add_change(out, p, NULL, v);
			free(p);
		}
		return;
	}
	if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
		for (size_t i = 0; i < json_array_size(a); i++) {
			char idx[32];
			snprintf(idx, sizeof idx, "%zu", i);
			char *p = path_join(path, idx);
			if (p)
				changes_walk(out, p, json_array_get(a, i), json_array_get(b, i));
			free(p);
		}
		return;
	}
	if (!a || !b || !json_equal(a, b))
		add_change(out, path, a, b);
}

json_t *k8s_changes(const json_t *before, const json_t *after)
{
	json_t *out = json_array();
	changes_walk(out, "", before, after);
	return out;
}

static int is_zero(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return 1;
	if (json_is_string(v))
		return json_string_length(v) == 0;
	if (json_is_integer(v))
		return json_integer_value(v) == 0;
	if (json_is_real(v))
		return json_real_value(v) == 0.0;
	if (json_is_object(v)) { /* a struct whose every field is zero is the zero struct */
		const char *key;
		json_t *m;
		json_object_foreach((json_t *)v, key, m)
		{
			if (!is_zero(m))
				return 0;
		}
		return 1;
	}
	if (json_is_array(v))
		return json_array_size(v) == 0;
	return 0;
}

int k8s_semantic_equal(const json_t *a, const json_t *b)
{
	if (is_zero(a) && is_zero(b))
		return 1;
	if (!a || !b)
		return 0;
	if (json_is_object(a) && json_is_object(b)) {
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)a, key, v)
		{
			if (!k8s_semantic_equal(v, json_object_get(b, key)))
				return 0;
		}
		json_object_foreach((json_t *)b, key, v)
		{
			if (!json_object_get(a, key) && !is_zero(v))
				return 0;
		}
		return 1;
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!k8s_semantic_equal(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

/* ---- what a patch touches -------------------------------------------------------------------
 * Each record is {path, present, value}: the value `path` had before the patch, or that it was
 * absent. Undo rebuilds the object with those values and sends the difference. */

static void record(json_t *out, const char *path, const json_t *old)
{
	for (size_t i = 0; i < json_array_size(out); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(out, i), "path")),
		           path) == 0)
			return;
	if (old)
		json_array_append_new(out, json_pack("{s:s, s:b, s:O}", "path", path, "present", 1,
		                                     "value", (json_t *)old));
	else
		json_array_append_new(out, json_pack("{s:s, s:b}", "path", path, "present", 0));
}

static int merge_touched(json_t *out, const char *path, const json_t *cur, const json_t *patch)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)patch, key, v)
	{
		json_t *old = json_is_object(cur) ? json_object_get(cur, key) : NULL;
		char *p = path_join(path, key);
		if (!p)
			return -1;
		if (!old) {
			if (!json_is_null(v)) /* deleting what is absent changes nothing */
				record(out, p, NULL);
		} else if (json_is_object(v) && json_is_object(old)) {
			if (merge_touched(out, p, old, v) < 0) {
				free(p);
				return -1;
			}
		} else {
			record(out, p, old);
		}
		free(p);
	}
	return 0;
}

/* Record the old value at pointer `ptr`, stopping at the first array (indices shift) or the
 * first absent object member (everything below it is new). */
static int pointer_touched(json_t *out, const json_t *current, const char *ptr, char *err,
                           size_t errlen)
{
	if (!*ptr) {
		snprintf(err, errlen,
		         "a patch operation on the whole object (path \"\") is refused");
		return -1;
	}
	if (*ptr != '/') {
		snprintf(err, errlen, "patch path \"%.200s\" does not start with '/'", ptr);
		return -1;
	}
	char *tok = malloc(strlen(ptr) + 1);
	char *at = strdup("");
	if (!tok || !at) {
		free(tok);
		free(at);
		return -1;
	}
	const json_t *node = current;
	const char *p = ptr + 1;
	for (;;) {
		if (!json_is_object(node)) {
			record(out, at, node); /* an array or a scalar: restore it whole */
			break;
		}
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		unescape_token(p, n, tok);
		char *next = path_join(at, tok);
		free(at);
		at = next;
		if (!at)
			break;
		const json_t *child = json_object_get(node, tok);
		if (!child || !slash) {
			record(out, at, child);
			break;
		}
		node = child;
		p = slash + 1;
	}
	free(tok);
	free(at);
	return 0;
}

json_t *k8s_patch_touched(const json_t *current, const json_t *patch, int json_patch, char *err,
                          size_t errlen)
{
	json_t *out = json_array();
	if (!json_patch) {
		if (!json_is_object(patch)) {
			snprintf(err, errlen, "a merge patch must be an object");
			json_decref(out);
			return NULL;
		}
		if (merge_touched(out, "", current, patch) < 0) {
			snprintf(err, errlen, "out of memory");
			json_decref(out);
			return NULL;
		}
		return out;
	}
	if (!json_is_array(patch) || json_array_size(patch) == 0) {
		snprintf(err, errlen, "a JSON patch must be a non-empty array of operations");
		json_decref(out);
		return NULL;
	}
	size_t i;
	json_t *op;
	json_array_foreach(patch, i, op)
	{
		const char *name = json_string_value(json_object_get(op, "op"));
		const char *path = json_string_value(json_object_get(op, "path"));
		const char *from = json_string_value(json_object_get(op, "from"));
		int ok = name && path, path_error = 0;
		if (ok && strcmp(name, "test") == 0)
			continue;
		if (ok && strcmp(name, "move") == 0) {
			ok = from != NULL;
			if (ok && pointer_touched(out, current, from, err, errlen) < 0)
				ok = 0, path_error = 1;
		} else if (ok && strcmp(name, "add") && strcmp(name, "remove") &&
		           strcmp(name, "replace") && strcmp(name, "copy")) {
			ok = 0;
		}
		if (ok && (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) &&
		    !json_object_get(op, "value"))
			ok = 0;
		if (ok && pointer_touched(out, current, path, err, errlen) < 0)
			ok = 0, path_error = 1;
		if (!ok) {
			if (!path_error)
				snprintf(err, errlen,
				         "JSON patch operation %zu is malformed: it needs op "
				         "(add, remove, replace, move, copy, test), path, and "
				         "value or from",
				         i);
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Set (or remove, when value is NULL) the member at an object-only pointer, creating objects
 * along the way. */
static void ptr_set(json_t *root, const char *ptr, const json_t *value)
{
	char *tok = malloc(strlen(ptr) + 1);
	if (!tok)
		return;
	json_t *node = root;
	const char *p = ptr + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		unescape_token(p, n, tok);
		if (!slash) {
			if (value)
				json_object_set_new(node, tok, json_deep_copy(value));
			else
				json_object_del(node, tok);
			break;
		}
		json_t *child = json_object_get(node, tok);
		if (!json_is_object(child)) {
			if (!value)
				break; /* nothing below to remove */
			child = json_object();
			json_object_set_new(node, tok, child);
		}
		node = child;
		p = slash + 1;
	}
	free(tok);
}

json_t *k8s_restore_patch(const json_t *current, const json_t *touched)
{
	json_t *desired = json_deep_copy(current);
	if (!json_is_object(desired)) {
		json_decref(desired);
		desired = json_object();
	}
	size_t i;
	json_t *rec;
	json_array_foreach(touched, i, rec)
	{
		const char *path = json_string_value(json_object_get(rec, "path"));
		if (!path || *path != '/')
			continue;
		int present = json_is_true(json_object_get(rec, "present"));
		ptr_set(desired, path, present ? json_object_get(rec, "value") : NULL);
	}
	json_t *patch = k8s_merge_diff(current, desired);
	json_decref(desired);
	return patch;
}
