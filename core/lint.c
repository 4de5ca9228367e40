#include "lint.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "util.h"

enum tok_kind { T_NAME, T_STRING, T_NUMBER, T_PUNCT, T_EOF };

struct tok {
	enum tok_kind kind;
	const char *start;
	size_t len;
	int line;
	char *text; /* decoded string literal, for T_STRING */
};

struct lexer {
	const char *p, *end;
	int line;
	struct tok *toks;
	size_t n, cap;
};

static int long_bracket_level(const char *p, const char *end)
{
	if (p >= end || *p != '[')
		return -1;
	int level = 0;
	p++;
	while (p < end && *p == '=') {
		level++;
		p++;
	}
	return p < end && *p == '[' ? level : -1;
}

/* Skips a long bracket starting at lx->p; returns its content or NULL. */
static char *skip_long(struct lexer *lx, int level)
{
	lx->p += level + 2;
	const char *content = lx->p;
	while (lx->p < lx->end) {
		if (*lx->p == ']') {
			const char *q = lx->p + 1;
			int l = 0;
			while (q < lx->end && *q == '=') {
				l++;
				q++;
			}
			if (l == level && q < lx->end && *q == ']') {
				char *text = strndup(content, (size_t)(lx->p - content));
				lx->p = q + 1;
				return text;
			}
		}
		if (*lx->p == '\n')
			lx->line++;
		lx->p++;
	}
	return NULL;
}

static void push(struct lexer *lx, enum tok_kind k, const char *start, size_t len, int line,
                 char *text)
{
	if (lx->n == lx->cap) {
		lx->cap = lx->cap ? lx->cap * 2 : 256;
		lx->toks = realloc(lx->toks, lx->cap * sizeof *lx->toks);
	}
	lx->toks[lx->n++] = (struct tok){k, start, len, line, text};
}

static void lex(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if (isspace((unsigned char)c)) {
			lx->p++;
		} else if (c == '-' && lx->p + 1 < lx->end && lx->p[1] == '-') {
			lx->p += 2;
			int level = long_bracket_level(lx->p, lx->end);
			if (level >= 0) {
				free(skip_long(lx, level));
			} else {
				while (lx->p < lx->end && *lx->p != '\n')
					lx->p++;
			}
		} else if (isalpha((unsigned char)c) || c == '_') {
			const char *s = lx->p;
			while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '_'))
				lx->p++;
			push(lx, T_NAME, s, (size_t)(lx->p - s), lx->line, NULL);
		} else if (isdigit((unsigned char)c) ||
		           (c == '.' && lx->p + 1 < lx->end && isdigit((unsigned char)lx->p[1]))) {
			const char *s = lx->p;
			while (lx->p < lx->end &&
			       (isalnum((unsigned char)*lx->p) || *lx->p == '.' ||
			        ((*lx->p == '-' || *lx->p == '+') &&
			         (lx->p[-1] == 'e' || lx->p[-1] == 'E' || lx->p[-1] == 'p' ||
			          lx->p[-1] == 'P'))))
				lx->p++;
			push(lx, T_NUMBER, s, (size_t)(lx->p - s), lx->line, NULL);
		} else if (c == '"' || c == '\'') {
			const char *s = lx->p++;
			int line = lx->line;
			char *text = malloc((size_t)(lx->end - lx->p) + 1);
			size_t w = 0;
			while (lx->p < lx->end && *lx->p != c && *lx->p != '\n') {
				if (*lx->p == '\\' && lx->p + 1 < lx->end) {
					lx->p++;
					char e = *lx->p;
					text[w++] = e == 'n' ? '\n' : e == 't' ? '\t' : e;
					if (e == '\n')
						lx->line++;
				} else {
					text[w++] = *lx->p;
				}
				lx->p++;
			}
			text[w] = '\0';
			if (lx->p < lx->end)
				lx->p++;
			push(lx, T_STRING, s, (size_t)(lx->p - s), line, text);
		} else if (c == '[' && long_bracket_level(lx->p, lx->end) >= 0) {
			const char *s = lx->p;
			int line = lx->line;
			char *text = skip_long(lx, long_bracket_level(lx->p, lx->end));
			push(lx, T_STRING, s, (size_t)(lx->p - s), line, text ? text : strdup(""));
		} else {
			static const char *const multi[] = {
			    "...", "..", "==", "~=", "<=", ">=", "::", "//", "<<", ">>", NULL};
			size_t len = 1;
			for (size_t i = 0; multi[i]; i++) {
				size_t ml = strlen(multi[i]);
				if ((size_t)(lx->end - lx->p) >= ml &&
				    strncmp(lx->p, multi[i], ml) == 0) {
					len = ml;
					break;
				}
			}
			push(lx, T_PUNCT, lx->p, len, lx->line, NULL);
			lx->p += len;
		}
	}
	push(lx, T_EOF, lx->end, 0, lx->line, NULL);
}

static int is(const struct tok *t, enum tok_kind k, const char *s)
{
	return t->kind == k && (!s || (t->len == strlen(s) && strncmp(t->start, s, t->len) == 0));
}

struct binding {
	char name[128];
	salve_loaded_plugin *plugin;
	int rebound;
};

static struct binding *find_binding(struct binding *b, size_t n, const struct tok *t)
{
	for (size_t i = 0; i < n; i++)
		if (t->len == strlen(b[i].name) && strncmp(t->start, b[i].name, t->len) == 0)
			return &b[i];
	return NULL;
}

/* The literal type of the value starting at toks[i] when it is one token (or a table)
 * followed by , ; or } -- else NULL (an expression we do not judge). */
static const char *literal_type(const struct tok *toks, size_t i, size_t *after)
{
	const struct tok *t = &toks[i];
	if (is(t, T_PUNCT, "{")) {
		int depth = 0;
		size_t j = i;
		for (; toks[j].kind != T_EOF; j++) {
			if (is(&toks[j], T_PUNCT, "{"))
				depth++;
			else if (is(&toks[j], T_PUNCT, "}") && --depth == 0)
				break;
		}
		*after = j + 1;
		return is(&toks[*after], T_PUNCT, ",") || is(&toks[*after], T_PUNCT, ";") ||
		               is(&toks[*after], T_PUNCT, "}")
		           ? "table"
		           : NULL;
	}
	*after = i + 1;
	const struct tok *n = &toks[i + 1];
	if (!(is(n, T_PUNCT, ",") || is(n, T_PUNCT, ";") || is(n, T_PUNCT, "}")))
		return NULL;
	if (t->kind == T_STRING)
		return "string";
	if (t->kind == T_NUMBER)
		return memchr(t->start, '.', t->len) ||
		               (!memchr(t->start, 'x', t->len) &&
		                (memchr(t->start, 'e', t->len) || memchr(t->start, 'E', t->len)))
		           ? "number"
		           : "integer";
	if (is(t, T_NAME, "true") || is(t, T_NAME, "false"))
		return "boolean";
	if (is(t, T_NAME, "nil"))
		return "nil";
	return NULL;
}

static int literal_fits(enum salve_type want, const char *got)
{
	if (!got || want == SALVE_T_ANY || !strcmp(got, "nil"))
		return 1;
	switch (want) {
	case SALVE_T_STRING:
		return !strcmp(got, "string");
	case SALVE_T_INT:
		return !strcmp(got, "integer");
	case SALVE_T_NUMBER:
		return !strcmp(got, "integer") || !strcmp(got, "number");
	case SALVE_T_BOOL:
		return !strcmp(got, "boolean");
	case SALVE_T_LIST:
	case SALVE_T_MAP:
		return !strcmp(got, "table");
	case SALVE_T_DURATION:
		return !strcmp(got, "string") || !strcmp(got, "integer") || !strcmp(got, "number");
	case SALVE_T_SECRET_REF:
		return !strcmp(got, "string");
	default:
		return 1;
	}
}

/* The literal string or number at t as a value, for the checks of its content (a duration's
 * grammar, a secret reference's form); NULL for other literals. */
static json_t *literal_value(const struct tok *t, const char *type)
{
	if (!strcmp(type, "string"))
		return json_string(t->text);
	char text[64];
	if (t->len >= sizeof text)
		return NULL;
	snprintf(text, sizeof text, "%.*s", (int)t->len, t->start);
	if (!strcmp(type, "integer"))
		return json_integer((json_int_t)strtoll(text, NULL, 0));
	if (!strcmp(type, "number"))
		return json_real(strtod(text, NULL));
	return NULL;
}

/* Checks the table constructor at toks[i] ("{") against action a. */
static int check_call(const struct tok *toks, size_t i, const salve_loaded_plugin *p,
                      const salve_action *a, const char *chunk, int line, char *err, size_t errlen)
{
	int all_named = 1;
	char seen[64][128];
	size_t nseen = 0;
	size_t j = i + 1;
	while (!is(&toks[j], T_PUNCT, "}") && toks[j].kind != T_EOF) {
		if (toks[j].kind == T_NAME && is(&toks[j + 1], T_PUNCT, "=") &&
		    !is(&toks[j + 1], T_PUNCT, "==")) {
			char key[128];
			snprintf(key, sizeof key, "%.*s", (int)toks[j].len, toks[j].start);
			const salve_arg *spec = NULL;
			for (size_t k = 0; a->args && a->args[k].name; k++)
				if (!strcmp(a->args[k].name, key))
					spec = &a->args[k];
			if (!spec) {
				snprintf(err, errlen, "%s:%d: %s.%s: unknown argument '%s'", chunk,
				         toks[j].line, p->desc.name, a->name, key);
				return -1;
			}
			if (nseen < 64)
				snprintf(seen[nseen++], sizeof seen[0], "%s", key);
			size_t after;
			const char *lit = literal_type(toks, j + 2, &after);
			if (!literal_fits(spec->type, lit)) {
				snprintf(err, errlen,
				         "%s:%d: %s.%s: argument '%s' must be %s, got %s", chunk,
				         toks[j].line, p->desc.name, a->name, key,
				         salve_type_name(spec->type), lit);
				return -1;
			}
			json_t *value = lit && (spec->type == SALVE_T_DURATION ||
			                        spec->type == SALVE_T_SECRET_REF)
			                    ? literal_value(&toks[j + 2], lit)
			                    : NULL;
			char why[512];
			int wrong = value && salve_value_check(spec->type, spec->flags, value, why,
			                                       sizeof why) < 0;
			json_decref(value);
			if (wrong) {
				snprintf(err, errlen, "%s:%d: %s.%s: argument '%s' %s", chunk,
				         toks[j].line, p->desc.name, a->name, key, why);
				return -1;
			}
			j = j + 2;
		} else {
			all_named = 0;
		}
		/* Skip the value expression up to the next top-level , ; or }. */
		int depth = 0;
		for (; toks[j].kind != T_EOF; j++) {
			if (is(&toks[j], T_PUNCT, "{") || is(&toks[j], T_PUNCT, "(") ||
			    is(&toks[j], T_PUNCT, "["))
				depth++;
			else if (is(&toks[j], T_PUNCT, ")") || is(&toks[j], T_PUNCT, "]"))
				depth--;
			else if (is(&toks[j], T_PUNCT, "}")) {
				if (depth == 0)
					break;
				depth--;
			} else if (depth == 0 &&
			           (is(&toks[j], T_PUNCT, ",") || is(&toks[j], T_PUNCT, ";"))) {
				j++;
				break;
			} else if (depth == 0 && is(&toks[j], T_NAME, "function")) {
				/* A function value: skip to its matching end. */
				int blocks = 1;
				for (j++; toks[j].kind != T_EOF && blocks > 0; j++) {
					if (is(&toks[j], T_NAME, "function") ||
					    is(&toks[j], T_NAME, "do") ||
					    is(&toks[j], T_NAME, "if") ||
					    is(&toks[j], T_NAME, "repeat"))
						blocks++;
					else if (is(&toks[j], T_NAME, "end") ||
					         is(&toks[j], T_NAME, "until"))
						blocks--;
				}
				j--;
			}
		}
	}
	if (!all_named)
		return 0;
	for (size_t k = 0; a->args && a->args[k].name; k++) {
		if (!(a->args[k].flags & SALVE_ARG_REQUIRED))
			continue;
		int present = 0;
		for (size_t s = 0; s < nseen; s++)
			present |= !strcmp(seen[s], a->args[k].name);
		if (!present) {
			snprintf(err, errlen, "%s:%d: %s.%s: missing required argument '%s' (%s)",
			         chunk, line, p->desc.name, a->name, a->args[k].name,
			         salve_type_name(a->args[k].type));
			return -1;
		}
	}
	return 0;
}

int salve_lint(const char *source, size_t len, const char *chunk, salve_registry *reg, char *err,
               size_t errlen)
{
	struct lexer lx = {.p = source, .end = source + len, .line = 1};
	lex(&lx);
	struct tok *toks = lx.toks;
	struct binding bind[32];
	size_t nbind = 0;
	int rc = 0;
	/* Bindings: local NAME = plugin "x" | plugin("x") */
	for (size_t i = 0; toks[i].kind != T_EOF; i++) {
		if (!is(&toks[i], T_NAME, "plugin") ||
		    (i > 0 && (is(&toks[i - 1], T_PUNCT, ".") || is(&toks[i - 1], T_PUNCT, ":"))))
			continue;
		size_t s = i + 1;
		if (is(&toks[s], T_PUNCT, "("))
			s++;
		if (toks[s].kind != T_STRING || i < 2 || !is(&toks[i - 1], T_PUNCT, "=") ||
		    toks[i - 2].kind != T_NAME)
			continue;
		enum salve_registry_error why;
		char ignored[512];
		salve_loaded_plugin *p =
		    salve_registry_get(reg, toks[s].text, 0, &why, ignored, sizeof ignored);
		if (!p || nbind >= 32 || toks[i - 2].len >= sizeof bind[0].name)
			continue;
		snprintf(bind[nbind].name, sizeof bind[0].name, "%.*s", (int)toks[i - 2].len,
		         toks[i - 2].start);
		bind[nbind].plugin = p;
		bind[nbind].rebound = 0;
		nbind++;
	}
	/* A name bound to something else anywhere (local x = ..., function(x)) is not judged. */
	for (size_t i = 0; toks[i].kind != T_EOF; i++) {
		struct binding *b = find_binding(bind, nbind, &toks[i]);
		if (!b || toks[i].kind != T_NAME)
			continue;
		int is_binding =
		    is(&toks[i + 1], T_PUNCT, "=") && is(&toks[i + 2], T_NAME, "plugin");
		int declared_again =
		    i > 0 && (is(&toks[i - 1], T_NAME, "local") || is(&toks[i - 1], T_PUNCT, ",") ||
		              is(&toks[i - 1], T_PUNCT, "(") || is(&toks[i - 1], T_NAME, "for"));
		if (!is_binding && declared_again)
			b->rebound = 1;
		if (!is_binding && is(&toks[i + 1], T_PUNCT, "=") &&
		    !(i > 0 && (is(&toks[i - 1], T_PUNCT, ".") || is(&toks[i - 1], T_PUNCT, ":"))))
			b->rebound = 1;
	}
	for (size_t i = 0; toks[i].kind != T_EOF && rc == 0; i++) {
		if (toks[i].kind != T_NAME ||
		    (i > 0 && (is(&toks[i - 1], T_PUNCT, ".") || is(&toks[i - 1], T_PUNCT, ":"))))
			continue;
		struct binding *b = find_binding(bind, nbind, &toks[i]);
		if (!b || b->rebound)
			continue;
		if (!(is(&toks[i + 1], T_PUNCT, ".") || is(&toks[i + 1], T_PUNCT, ":")) ||
		    toks[i + 2].kind != T_NAME)
			continue;
		char action[128];
		snprintf(action, sizeof action, "%.*s", (int)toks[i + 2].len, toks[i + 2].start);
		const salve_action *a = salve_plugin_action(b->plugin, action);
		if (!a) {
			char known[1024] = "";
			for (size_t k = 0; k < b->plugin->nactions; k++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", b->plugin->desc.actions[k].name);
			}
			snprintf(err, errlen, "%s:%d: plugin %s has no action '%s' (it has: %s)",
			         chunk, toks[i + 2].line, b->plugin->desc.name, action, known);
			rc = -1;
			break;
		}
		size_t c = i + 3;
		if (is(&toks[c], T_PUNCT, "(") && is(&toks[c + 1], T_PUNCT, "{"))
			c++;
		if (is(&toks[c], T_PUNCT, "{"))
			rc =
			    check_call(toks, c, b->plugin, a, chunk, toks[i + 2].line, err, errlen);
	}
	for (size_t i = 0; i < lx.n; i++)
		free(toks[i].text);
	free(toks);
	return rc;
}
