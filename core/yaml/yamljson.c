#include "yamljson.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deep enough for any real config; refuses pathological nesting. */
#define MAX_DEPTH 64
/* A document may produce its own nodes plus this many more through aliases (each expansion
 * counted again): far above what shared settings in a real config, inventory or kubeconfig
 * need, and what bounds an alias bomb (40 lines of `aN: &aN [*aN-1, *aN-1]` expand to 2^40
 * nodes), which MAX_DEPTH does not. */
#define MAX_ALIAS_NODES 100000

/* Where convert stands: the nodes it may still produce, and why it stopped. */
struct conversion {
	yaml_document_t *doc;
	enum salve_yaml_scalars scalars;
	size_t budget;     /* nodes the document may produce */
	size_t nodes_left; /* of those, not produced yet */
	char *err;
	size_t errlen;
};

static json_t *plain_scalar(const char *s, size_t len, enum salve_yaml_scalars scalars)
{
	if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	    strcmp(s, "NULL") == 0)
		return json_null();
	if (scalars == SALVE_YAML_STRINGS)
		return json_stringn(s, len);
	static const char *const truthy[] = {"true", "True", "TRUE", "yes", "Yes",
	                                     "YES",  "on",   "On",   "ON"};
	static const char *const falsy[] = {"false", "False", "FALSE", "no", "No",
	                                    "NO",    "off",   "Off",   "OFF"};
	for (size_t i = 0; i < sizeof truthy / sizeof *truthy; i++) {
		if (strcmp(s, truthy[i]) == 0)
			return json_true();
		if (strcmp(s, falsy[i]) == 0)
			return json_false();
	}
	if (scalars == SALVE_YAML_BOOLS)
		return json_stringn(s, len);
	char *end;
	errno = 0;
	long long iv = strtoll(s, &end, 0);
	if (*end == '\0' && errno == 0 && end != s && (isdigit((unsigned char)s[len - 1])))
		return json_integer(iv);
	errno = 0;
	double dv = strtod(s, &end);
	if (*end == '\0' && errno == 0 && end != s && isfinite(dv) && strpbrk(s, "0123456789"))
		return json_real(dv);
	return json_stringn(s, len);
}

static json_t *convert(struct conversion *c, yaml_node_t *node, int depth,
                       const yaml_mark_t *alias_at);

/* A child that does not start after its parent was brought there by an alias (an anchor comes
 * before its aliases, or is the node the alias is in): the parent is where the outermost
 * expansion on this path is written, which is what an error names. */
static json_t *convert_child(struct conversion *c, const yaml_node_t *parent, int id, int depth,
                             const yaml_mark_t *alias_at)
{
	yaml_node_t *child = yaml_document_get_node(c->doc, id);
	if (!alias_at && child->start_mark.index <= parent->start_mark.index)
		alias_at = &parent->start_mark;
	return convert(c, child, depth + 1, alias_at);
}

static json_t *convert(struct conversion *c, yaml_node_t *node, int depth,
                       const yaml_mark_t *alias_at)
{
	if (depth > MAX_DEPTH) {
		snprintf(c->err, c->errlen, "%zu:%zu: nesting deeper than %d levels",
		         node->start_mark.line + 1, node->start_mark.column + 1, MAX_DEPTH);
		return NULL;
	}
	if (c->nodes_left == 0) {
		const yaml_mark_t *at = alias_at ? alias_at : &node->start_mark;
		snprintf(c->err, c->errlen,
		         "%zu:%zu: aliases expand the document to more than %zu nodes (an alias "
		         "bomb?)",
		         at->line + 1, at->column + 1, c->budget);
		return NULL;
	}
	c->nodes_left--;
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)node->data.scalar.value;
		size_t len = node->data.scalar.length;
		if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return plain_scalar(s, len, c->scalars);
		return json_stringn(s, len);
	}
	case YAML_SEQUENCE_NODE: {
		json_t *arr = json_array();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			json_t *v = convert_child(c, node, *it, depth, alias_at);
			if (!v) {
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, v);
		}
		return arr;
	}
	case YAML_MAPPING_NODE: {
		json_t *obj = json_object();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     p < node->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			if (k->type != YAML_SCALAR_NODE) {
				snprintf(c->err, c->errlen, "%zu:%zu: mapping keys must be scalars",
				         k->start_mark.line + 1, k->start_mark.column + 1);
				json_decref(obj);
				return NULL;
			}
			json_t *v = convert_child(c, node, p->value, depth, alias_at);
			if (!v) {
				json_decref(obj);
				return NULL;
			}
			char key[1024];
			size_t klen = k->data.scalar.length < sizeof key - 1 ? k->data.scalar.length
			                                                     : sizeof key - 1;
			memcpy(key, k->data.scalar.value, klen);
			key[klen] = '\0';
			json_object_set_new(obj, key, v);
		}
		return obj;
	}
	default:
		return json_object();
	}
}

json_t *salve_yaml_load_string(const char *text, size_t len, const char *name, char *err,
                               size_t errlen)
{
	return salve_yaml_parse(text, len, name, SALVE_YAML_TYPED, err, errlen);
}

json_t *salve_yaml_parse(const char *text, size_t len, const char *name,
                         enum salve_yaml_scalars scalars, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: cannot initialise the YAML parser", name);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
		         parser.problem_mark.column + 1,
		         parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return NULL;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	json_t *out;
	if (!root) {
		out = json_object();
	} else {
		char inner[512] = "";
		size_t own = (size_t)(doc.nodes.top - doc.nodes.start);
		struct conversion c = {
		    &doc,  scalars,     own + MAX_ALIAS_NODES, own + MAX_ALIAS_NODES,
		    inner, sizeof inner};
		out = convert(&c, root, 0, NULL);
		if (!out)
			snprintf(err, errlen, "%s:%s", name, inner);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return out;
}

json_t *salve_yaml_load_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 8192, len = 0;
	char *text = malloc(cap);
	size_t n;
	while (text && (n = fread(text + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *grown = realloc(text, cap *= 2);
			if (!grown) {
				free(text);
				text = NULL;
			}
			text = grown;
		}
	}
	int failed = ferror(f) || !text;
	fclose(f);
	if (failed) {
		free(text);
		snprintf(err, errlen, "%s: cannot read", path);
		return NULL;
	}
	json_t *out = salve_yaml_load_string(text, len, path, err, errlen);
	free(text);
	return out;
}
