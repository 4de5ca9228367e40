#include "lint.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
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
		if (toks[j].kind == T_EOF)
			return NULL;
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

/* The findings of one pass: each {line, message} with message "chunk:line: reason". */
struct findings {
	const char *chunk;
	json_t *list;
};

static void add(struct findings *f, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(struct findings *f, int line, const char *fmt, ...)
{
	char reason[1024], msg[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof msg, "%s:%d: %s", f->chunk, line, reason);
	json_array_append_new(f->list, json_pack("{s:i, s:s}", "line", line, "message", msg));
}

/* toks[i] is "function" (or another block opener): the index of its matching "end". */
static size_t block_end(const struct tok *toks, size_t i)
{
	int blocks = 1;
	for (i++; toks[i].kind != T_EOF; i++) {
		if (is(&toks[i], T_NAME, "function") || is(&toks[i], T_NAME, "do") ||
		    is(&toks[i], T_NAME, "if") || is(&toks[i], T_NAME, "repeat"))
			blocks++;
		else if ((is(&toks[i], T_NAME, "end") || is(&toks[i], T_NAME, "until")) &&
		         --blocks == 0)
			return i;
	}
	return i;
}

/* The index of the , ; or } ending the field value that starts at toks[j]. */
static size_t skip_value(const struct tok *toks, size_t j)
{
	int depth = 0;
	for (; toks[j].kind != T_EOF; j++) {
		if (is(&toks[j], T_PUNCT, "{") || is(&toks[j], T_PUNCT, "(") ||
		    is(&toks[j], T_PUNCT, "["))
			depth++;
		else if (is(&toks[j], T_PUNCT, ")") || is(&toks[j], T_PUNCT, "]"))
			depth--;
		else if (is(&toks[j], T_PUNCT, "}")) {
			if (depth == 0)
				return j;
			depth--;
		} else if (depth == 0 && (is(&toks[j], T_PUNCT, ",") || is(&toks[j], T_PUNCT, ";")))
			return j;
		else if (is(&toks[j], T_NAME, "function") &&
		         toks[j = block_end(toks, j)].kind == T_EOF)
			break;
	}
	return j;
}

/* At toks[*j] (after "{" or a field's separator): 1 with the field's key (the NAME's index, 0
 * for a positional or [computed] key) and the first token of its value, *j moved past the
 * field and its separator; 0 at the closing "}". */
static int next_field(const struct tok *toks, size_t *j, size_t *key, size_t *value)
{
	if (is(&toks[*j], T_PUNCT, "}") || toks[*j].kind == T_EOF)
		return 0;
	*key = 0;
	if (toks[*j].kind == T_NAME && is(&toks[*j + 1], T_PUNCT, "=")) {
		*key = *j;
		*j += 2;
		if (toks[*j].kind == T_EOF)
			return 0;
	}
	*value = *j;
	*j = skip_value(toks, *j);
	if (is(&toks[*j], T_PUNCT, ",") || is(&toks[*j], T_PUNCT, ";"))
		(*j)++;
	return 1;
}

/* The names of the arguments an action takes, for messages. */
static void arg_names(const salve_action *a, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t k = 0; a->args && a->args[k].name; k++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", used ? ", " : "", a->args[k].name);
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

static int one_of(const char *const *values, const char *s)
{
	for (; *values; values++)
		if (strcmp(*values, s) == 0)
			return 1;
	return 0;
}

/* Checks the table constructor at toks[i] ("{") against action a. */
static void check_call(const struct tok *toks, size_t i, const salve_loaded_plugin *p,
                       const salve_action *a, int line, struct findings *f)
{
	int all_named = 1;
	char seen[64][128];
	size_t nseen = 0;
	size_t j = i + 1, key, v;
	while (next_field(toks, &j, &key, &v)) {
		if (!key) {
			all_named = 0;
			continue;
		}
		char name[128];
		snprintf(name, sizeof name, "%.*s", (int)toks[key].len, toks[key].start);
		const salve_arg *spec = NULL;
		for (size_t k = 0; a->args && a->args[k].name; k++)
			if (!strcmp(a->args[k].name, name))
				spec = &a->args[k];
		if (nseen < 64)
			snprintf(seen[nseen++], sizeof seen[0], "%s", name);
		if (!spec) {
			char known[1024];
			arg_names(a, known, sizeof known);
			add(f, toks[key].line, "%s.%s: unknown argument '%s' (it takes: %s)",
			    p->desc.name, a->name, name, known);
			continue;
		}
		size_t after;
		const char *lit = literal_type(toks, v, &after);
		if (!literal_fits(spec->type, lit)) {
			add(f, toks[key].line, "%s.%s: argument '%s' must be %s, got %s",
			    p->desc.name, a->name, name, salve_type_name(spec->type), lit);
			continue;
		}
		const char *const *values = salve_choices_for(a->choices, name);
		if (values && lit && strcmp(lit, "string") == 0 && toks[v].text &&
		    !one_of(values, toks[v].text)) {
			char list[512];
			salve_choices_text(values, list, sizeof list);
			add(f, toks[key].line, "%s.%s: argument '%s' must be one of %s, got \"%s\"",
			    p->desc.name, a->name, name, list, toks[v].text);
			continue;
		}
		json_t *value =
		    lit && (spec->type == SALVE_T_DURATION || spec->type == SALVE_T_SECRET_REF)
		        ? literal_value(&toks[v], lit)
		        : NULL;
		char why[512];
		int wrong =
		    value && salve_value_check(spec->type, spec->flags, value, why, sizeof why) < 0;
		json_decref(value);
		if (wrong)
			add(f, toks[key].line, "%s.%s: argument '%s' %s", p->desc.name, a->name,
			    name, why);
	}
	if (!all_named)
		return;
	for (size_t k = 0; a->args && a->args[k].name; k++) {
		if (!(a->args[k].flags & SALVE_ARG_REQUIRED))
			continue;
		int present = 0;
		for (size_t s = 0; s < nseen; s++)
			present |= !strcmp(seen[s], a->args[k].name);
		if (!present)
			add(f, line, "%s.%s: missing required argument '%s' (%s)", p->desc.name,
			    a->name, a->args[k].name, salve_type_name(a->args[k].type));
	}
}

/* The step functions whose calls the engine restricts. */
enum step_fn { FN_NONE = 0, FN_WHEN, FN_CHECK, FN_VERIFY };

/* Marks every token inside a step's when, check and verify function literals with the field. */
static void mark_step_functions(const struct tok *toks, size_t n, unsigned char *fn)
{
	for (size_t i = 0; i + 3 < n; i++) {
		if (!is(&toks[i], T_NAME, "step") ||
		    (i > 0 && (is(&toks[i - 1], T_PUNCT, ".") || is(&toks[i - 1], T_PUNCT, ":"))))
			continue;
		/* step "name" {...}, step("name") {...}, step "name" ({...}) */
		size_t j = i + 1;
		if (is(&toks[j], T_PUNCT, "(") && toks[j + 1].kind == T_STRING &&
		    is(&toks[j + 2], T_PUNCT, ")"))
			j += 3;
		else if (toks[j].kind == T_STRING)
			j++;
		else
			continue;
		if (is(&toks[j], T_PUNCT, "("))
			j++;
		if (!is(&toks[j], T_PUNCT, "{"))
			continue;
		j++;
		size_t key, v;
		while (next_field(toks, &j, &key, &v)) {
			if (!key || !is(&toks[v], T_NAME, "function"))
				continue;
			enum step_fn which = is(&toks[key], T_NAME, "when")     ? FN_WHEN
			                     : is(&toks[key], T_NAME, "check")  ? FN_CHECK
			                     : is(&toks[key], T_NAME, "verify") ? FN_VERIFY
			                                                        : FN_NONE;
			for (size_t t = v, end = block_end(toks, v); which && t <= end && t < n;
			     t++)
				fn[t] = (unsigned char)which;
		}
	}
}

/* Whether the name at toks[i] is declared as a local or a parameter anywhere in the file
 * (then what it holds is not the global of that name). */
static int declared_locally(const struct tok *toks, const struct tok *name)
{
	for (size_t i = 1; toks[i].kind != T_EOF; i++)
		if (toks[i].kind == T_NAME && toks[i].len == name->len &&
		    !strncmp(toks[i].start, name->start, name->len) &&
		    (is(&toks[i - 1], T_NAME, "local") || is(&toks[i - 1], T_PUNCT, ",") ||
		     is(&toks[i - 1], T_PUNCT, "(") || is(&toks[i - 1], T_NAME, "for") ||
		     is(&toks[i - 1], T_NAME, "function")))
			return 1;
	return 0;
}

#define SANDBOX_HAS                                                                                \
	"runbooks have no io, no require and of os only os.time, os.clock, os.date and "           \
	"os.difftime: use a plugin"

/* io, require and os beyond the clock are not in the sandbox: the line would fail when it
 * runs. */
static void check_sandbox_globals(const struct tok *toks, struct findings *f)
{
	static const char *const os_allowed[] = {"time", "clock", "date", "difftime", NULL};
	for (size_t i = 0; toks[i].kind != T_EOF; i++) {
		const struct tok *t = &toks[i];
		if (t->kind != T_NAME ||
		    (i > 0 && (is(&toks[i - 1], T_PUNCT, ".") || is(&toks[i - 1], T_PUNCT, ":"))) ||
		    is(&toks[i + 1], T_PUNCT, "="))
			continue;
		if (is(t, T_NAME, "io") || is(t, T_NAME, "require")) {
			if (!declared_locally(toks, t))
				add(f, t->line, "%.*s is not available: " SANDBOX_HAS, (int)t->len,
				    t->start);
		} else if (is(t, T_NAME, "os") && is(&toks[i + 1], T_PUNCT, ".") &&
		           toks[i + 2].kind == T_NAME) {
			int allowed = 0;
			for (size_t k = 0; os_allowed[k]; k++)
				allowed |= is(&toks[i + 2], T_NAME, os_allowed[k]);
			if (!allowed && !declared_locally(toks, t))
				add(f, t->line, "os.%.*s is not available: " SANDBOX_HAS,
				    (int)toks[i + 2].len, toks[i + 2].start);
		}
	}
}

/* Why the literal default at toks[v] does not fit param type, or NULL (it fits, or it is an
 * expression). The same conversions as for a value given with -p. */
static const char *default_misfit(const char *type, const struct tok *toks, size_t v)
{
	size_t after;
	const char *lit = literal_type(toks, v, &after);
	if (!lit || !strcmp(lit, "nil"))
		return NULL;
	const char *text = toks[v].text;
	char *end;
	if (!strcmp(type, "string"))
		return strcmp(lit, "boolean") && strcmp(lit, "table") ? NULL : lit;
	if (!strcmp(type, "int")) {
		if (!strcmp(lit, "integer"))
			return NULL;
		if (!strcmp(lit, "string") && *text) {
			(void)strtoll(text, &end, 10);
			return *end ? lit : NULL;
		}
		return lit;
	}
	if (!strcmp(type, "number")) {
		if (!strcmp(lit, "integer") || !strcmp(lit, "number"))
			return NULL;
		if (!strcmp(lit, "string") && *text) {
			(void)strtod(text, &end);
			return *end ? lit : NULL;
		}
		return lit;
	}
	if (!strcmp(type, "bool")) {
		static const char *const words[] = {"true", "yes", "1",   "on", "false",
		                                    "no",   "0",   "off", NULL};
		if (!strcmp(lit, "boolean"))
			return NULL;
		for (size_t i = 0; !strcmp(lit, "string") && words[i]; i++)
			if (!strcmp(text, words[i]))
				return NULL;
		return lit;
	}
	/* list and map: a table, or a string read at run time (JSON, or a comma list). */
	return !strcmp(lit, "table") || !strcmp(lit, "string") ? NULL : lit;
}

static void check_params(const struct tok *toks, size_t open, struct findings *f)
{
	size_t j = open + 1, key, v;
	while (next_field(toks, &j, &key, &v)) {
		if (!key || !is(&toks[v], T_PUNCT, "{"))
			continue;
		const char *type = "string";
		size_t def = 0, k = v + 1, fkey, fv;
		while (next_field(toks, &k, &fkey, &fv)) {
			if (fkey && is(&toks[fkey], T_NAME, "type") && toks[fv].kind == T_STRING)
				type = toks[fv].text;
			else if (fkey && is(&toks[fkey], T_NAME, "default"))
				def = fv;
		}
		/* An unknown type is refused when the runbook loads, naming the types. */
		static const char *const types[] = {"string", "int", "number", "bool",
		                                    "list",   "map", NULL};
		int known = 0;
		for (size_t t = 0; types[t]; t++)
			known |= !strcmp(type, types[t]);
		const char *got = def && known ? default_misfit(type, toks, def) : NULL;
		if (got)
			add(f, toks[def].line,
			    "param %.*s: default %.*s is not a valid %s (got %s)",
			    (int)toks[key].len, toks[key].start,
			    !strcmp(got, "table") ? 5 : (int)toks[def].len,
			    !strcmp(got, "table") ? "{...}" : toks[def].start, type, got);
	}
}

/* The string literals of a notify field: one string, or a table of them (others skipped). */
static void notify_words(const struct tok *toks, size_t v, const char *what,
                         int (*known)(const char *), const char *unknown, const char *choices,
                         struct findings *f)
{
	size_t after;
	if (toks[v].kind == T_STRING) {
		if (literal_type(toks, v, &after) && !known(toks[v].text))
			add(f, toks[v].line, "runbook{} notify %s: %s \"%s\" (%s)", what, unknown,
			    toks[v].text, choices);
		return;
	}
	if (!is(&toks[v], T_PUNCT, "{"))
		return;
	size_t j = v + 1, key, w;
	while (next_field(toks, &j, &key, &w))
		if (!key && toks[w].kind == T_STRING && literal_type(toks, w, &after) &&
		    !known(toks[w].text))
			add(f, toks[w].line, "runbook{} notify %s: %s \"%s\" (%s)", what, unknown,
			    toks[w].text, choices);
}

static void check_notify(const struct tok *toks, size_t open, struct findings *f)
{
	size_t j = open + 1, key, v;
	while (next_field(toks, &j, &key, &v)) {
		if (!key)
			continue;
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)toks[key].len, toks[key].start);
		if (!salve_notify_key_known(name))
			add(f, toks[key].line,
			    "runbook{} notify: unknown key '%s' (" SALVE_NOTIFY_KEYS ")", name);
		else if (!strcmp(name, "to"))
			notify_words(toks, v, name, salve_notify_scheme_known,
			             "unknown channel scheme in", SALVE_NOTIFY_SCHEMES, f);
		else if (!strcmp(name, "on"))
			notify_words(toks, v, name, salve_notify_event_known, "unknown event",
			             SALVE_NOTIFY_EVENTS, f);
	}
}

/* runbook{ params = {...}, notify = {...} }: literal defaults and the notify table. */
static void check_declaration(const struct tok *toks, struct findings *f)
{
	for (size_t i = 0; toks[i].kind != T_EOF; i++) {
		if (!is(&toks[i], T_NAME, "runbook") ||
		    (i > 0 && (is(&toks[i - 1], T_PUNCT, ".") || is(&toks[i - 1], T_PUNCT, ":"))))
			continue;
		size_t j = i + 1;
		if (is(&toks[j], T_PUNCT, "("))
			j++;
		if (!is(&toks[j], T_PUNCT, "{"))
			continue;
		j++;
		size_t key, v;
		while (next_field(toks, &j, &key, &v)) {
			if (key && is(&toks[key], T_NAME, "params") && is(&toks[v], T_PUNCT, "{"))
				check_params(toks, v, f);
			else if (key && is(&toks[key], T_NAME, "notify") &&
			         is(&toks[v], T_PUNCT, "{"))
				check_notify(toks, v, f);
		}
	}
}

static int by_line(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t lx = json_integer_value(json_object_get(x, "line"));
	json_int_t ly = json_integer_value(json_object_get(y, "line"));
	json_int_t ox = json_integer_value(json_object_get(x, "order"));
	json_int_t oy = json_integer_value(json_object_get(y, "order"));
	return lx != ly ? (lx < ly ? -1 : 1) : (ox < oy ? -1 : ox > oy);
}

/* The findings sorted by line (in the order found within a line), without the order key. */
static json_t *sorted(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **items = calloc(n ? n : 1, sizeof *items);
	for (size_t i = 0; i < n; i++) {
		items[i] = json_array_get(list, i);
		json_object_set_new(items[i], "order", json_integer((json_int_t)i));
	}
	qsort(items, n, sizeof *items, by_line);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		json_object_del(items[i], "order");
		json_array_append(out, items[i]);
	}
	free(items);
	json_decref(list);
	return out;
}

json_t *salve_lint_all(const char *source, size_t len, const char *chunk, salve_registry *reg,
                       json_t *plugins)
{
	struct lexer lx = {.p = source, .end = source + len, .line = 1};
	lex(&lx);
	struct tok *toks = lx.toks;
	struct findings f = {chunk, json_array()};
	struct binding bind[32];
	size_t nbind = 0;
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
		if (plugins) {
			int listed = 0;
			size_t k;
			json_t *name;
			json_array_foreach(plugins, k, name) listed |=
			    !strcmp(json_string_value(name), p->desc.name);
			if (!listed)
				json_array_append_new(plugins, json_string(p->desc.name));
		}
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
	unsigned char *fn = calloc(lx.n, 1);
	mark_step_functions(toks, lx.n, fn);
	static const char *const fn_names[] = {"", "when", "check", "verify"};
	for (size_t i = 0; toks[i].kind != T_EOF; i++) {
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
		int line = toks[i + 2].line;
		if (!a) {
			char known[1024] = "";
			for (size_t k = 0; k < b->plugin->nactions; k++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", b->plugin->desc.actions[k].name);
			}
			add(&f, line, "plugin %s has no action '%s' (it has: %s)",
			    b->plugin->desc.name, action, known);
			continue;
		}
		/* The engine refuses these when the call runs; say so before. */
		if ((fn[i] == FN_WHEN || fn[i] == FN_CHECK) && a->kind != SALVE_READ)
			add(&f, line,
			    "%s.%s is a %s action: only read actions may run in a step's %s",
			    b->plugin->desc.name, a->name, salve_kind_name(a->kind),
			    fn_names[fn[i]]);
		else if (fn[i] == FN_VERIFY && a->kind == SALVE_MUTATE)
			add(&f, line, "%s.%s changes things: verify may only read and notify",
			    b->plugin->desc.name, a->name);
		size_t c = i + 3;
		if (is(&toks[c], T_PUNCT, "(") && is(&toks[c + 1], T_PUNCT, "{"))
			c++;
		if (is(&toks[c], T_PUNCT, "{"))
			check_call(toks, c, b->plugin, a, line, &f);
	}
	check_sandbox_globals(toks, &f);
	check_declaration(toks, &f);
	free(fn);
	for (size_t i = 0; i < lx.n; i++)
		free(toks[i].text);
	free(toks);
	return sorted(f.list);
}

int salve_lint(const char *source, size_t len, const char *chunk, salve_registry *reg, char *err,
               size_t errlen)
{
	json_t *found = salve_lint_all(source, len, chunk, reg, NULL);
	int rc = json_array_size(found) ? -1 : 0;
	if (rc)
		snprintf(err, errlen, "%s",
		         json_string_value(json_object_get(json_array_get(found, 0), "message")));
	json_decref(found);
	return rc;
}
