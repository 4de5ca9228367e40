#include "matcher.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *srv_match_op_text(enum srv_match_op op)
{
	static const char *const text[] = {"=", "!=", "=~", "!~"};
	return text[op];
}

static int valid_label_name(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

/* RE2 constructs that POSIX ERE would read differently instead of refusing. */
static const char *re2_only(const char *re)
{
	for (const char *p = re; *p; p++) {
		if (*p == '\\' && p[1]) {
			if (strchr("dDpPQEAz", p[1]))
				return p[1] == 'd' || p[1] == 'D' ? "\\d (write [0-9])"
				                                  : "this backslash escape";
			p++;
			continue;
		}
		if (*p == '(' && p[1] == '?')
			return "(?...) groups and flags";
		if (strchr("*+?}", *p) && p[1] == '?')
			return "lazy quantifiers (*?, +?)";
	}
	return NULL;
}

/* Past these, glibc's regcomp time and memory grow beyond what a config line deserves; RE2
 * (Alertmanager) refuses repeat counts above 1000 too. */
#define MAX_GROUP_DEPTH 32
#define MAX_REPEAT      1000

/* The end of the bracket expression that starts at p ('['), or NULL if it never closes.
 * Inside brackets a backslash is literal and "]" right after "[" or "[^" is a member. */
static const char *bracket_end(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	for (; *p; p++) {
		if (*p == ']')
			return p;
		if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
			char close[3] = {p[1], ']', '\0'};
			const char *q = strstr(p + 2, close);
			if (!q)
				return NULL;
			p = q + 1;
		}
	}
	return NULL;
}

/* The end of an interval {m}, {m,} or {m,n} starting at p, or NULL if p does not start one.
 * *too_big is set when a count exceeds MAX_REPEAT. */
static const char *interval_end(const char *p, int *too_big)
{
	const char *q = p + 1;
	if (!isdigit((unsigned char)*q))
		return NULL;
	for (int part = 0; part < 2; part++) {
		long count = 0;
		while (isdigit((unsigned char)*q)) {
			if (count <= MAX_REPEAT)
				count = count * 10 + (*q - '0');
			q++;
		}
		if (count > MAX_REPEAT)
			*too_big = 1;
		if (*q == '}')
			return q;
		if (*q != ',' || part == 1)
			return NULL;
		q++;
		if (*q == '}')
			return q;
	}
	return NULL;
}

/* The regex is pasted into ^(...)$, so its parentheses must balance on their own or
 * "x)|(.*" would escape the anchors, and it may not refer to groups by number. Repetition of a
 * repetition (a++, (a+)*, (a|b*){2}) makes glibc's regcomp exponential; RE2 cannot express the
 * blow-up, so Alertmanager configs never need it. Returns why the regex is refused, or NULL. */
static const char *unsafe_structure(const char *re)
{
	enum { NOTHING, ATOM, REPEAT, GROUP } last = NOTHING;
	char group_repeats[MAX_GROUP_DEPTH + 1] = {0}; /* [depth]: a repeat inside this group */
	int depth = 0, closed_repeats = 0, too_big = 0;
	for (const char *p = re; *p; p++) {
		const char *end = NULL;
		if (*p == '*' || *p == '+' || *p == '?' ||
		    (*p == '{' && (end = interval_end(p, &too_big)))) {
			if (too_big)
				return "a repeat count above 1000";
			if (last == REPEAT || (last == GROUP && closed_repeats))
				return "nested or stacked repetition (such as a++ or (a+)*)";
			if (last == NOTHING)
				return "a repetition with nothing to repeat";
			group_repeats[depth] = 1;
			last = REPEAT;
			if (end)
				p = end;
			continue;
		}
		switch (*p) {
		case '(':
			if (depth == MAX_GROUP_DEPTH)
				return "groups nested more than 32 deep";
			group_repeats[++depth] = 0;
			last = NOTHING;
			break;
		case ')':
			if (depth == 0)
				return "a ')' without its '('";
			closed_repeats = group_repeats[depth--];
			group_repeats[depth] |= (char)closed_repeats;
			last = GROUP;
			break;
		case '|':
			last = NOTHING;
			break;
		case '[':
			end = bracket_end(p);
			if (!end)
				return "a '[' without its ']'";
			p = end;
			last = ATOM;
			break;
		case '\\':
			/* A backreference names a group by number, and the anchoring group shifts
			 * every number by one; RE2 (Alertmanager's) has none. */
			if (p[1] >= '1' && p[1] <= '9')
				return "a backreference (\\1 to \\9), which Alertmanager's RE2 "
				       "does not have";
			if (p[1])
				p++;
			last = ATOM;
			break;
		default:
			last = ATOM;
		}
	}
	return depth ? "a '(' without its ')'" : NULL;
}

int srv_matcher_init(srv_matcher *m, const char *name, enum srv_match_op op, const char *value,
                     char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	if (!valid_label_name(name, strlen(name))) {
		snprintf(err, errlen, "\"%s\" is not a label name ([A-Za-z_][A-Za-z0-9_]*)", name);
		return -1;
	}
	if (op == SRV_MATCH_RE || op == SRV_MATCH_NRE) {
		const char *bad = re2_only(value);
		if (bad) {
			snprintf(err, errlen,
			         "%s %s \"%s\": %s is RE2 syntax that POSIX extended regexes do "
			         "not have",
			         name, srv_match_op_text(op), value, bad);
			return -1;
		}
		if ((bad = unsafe_structure(value))) {
			snprintf(err, errlen, "%s %s \"%s\": refused: %s", name,
			         srv_match_op_text(op), value, bad);
			return -1;
		}
		size_t n = strlen(value) + 5;
		char *anchored = malloc(n);
		if (!anchored) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(anchored, n, "^(%s)$", value);
		int rc = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
		free(anchored);
		if (rc != 0) {
			char why[256];
			regerror(rc, &m->re, why, sizeof why);
			snprintf(err, errlen, "%s %s \"%s\": bad regex: %s", name,
			         srv_match_op_text(op), value, why);
			return -1;
		}
		m->has_re = 1;
	}
	m->name = strdup(name);
	m->value = strdup(value);
	m->op = op;
	if (!m->name || !m->value) {
		srv_matcher_free(m);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void srv_matcher_free(srv_matcher *m)
{
	if (!m)
		return;
	if (m->has_re)
		regfree(&m->re);
	free(m->name);
	free(m->value);
	memset(m, 0, sizeof *m);
}

/* A double-quoted value with Go-style escapes (\" \\ \n \t). Returns the end after the
 * closing quote, or NULL. */
static const char *unquote(const char *p, char *out, size_t outlen)
{
	size_t w = 0;
	for (p++; *p && *p != '"'; p++) {
		char c = *p;
		if (c == '\\') {
			p++;
			switch (*p) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '\\':
			case '"':
				c = *p;
				break;
			default:
				/* Kept as written: regexes use \. and \w. */
				if (w + 1 < outlen)
					out[w++] = '\\';
				c = *p;
				if (!c)
					return NULL;
			}
		}
		if (w + 1 >= outlen)
			return NULL;
		out[w++] = c;
	}
	if (*p != '"')
		return NULL;
	out[w] = '\0';
	return p + 1;
}

int srv_matcher_parse(const char *text, srv_matcher *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	const char *p = text;
	while (isspace((unsigned char)*p))
		p++;
	const char *name = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	size_t namelen = (size_t)(p - name);
	if (!valid_label_name(name, namelen)) {
		snprintf(
		    err, errlen,
		    "matcher \"%s\": expected a label name, then =, !=, =~ or !~, then a value",
		    text);
		return -1;
	}
	char label[256];
	if (namelen >= sizeof label) {
		snprintf(err, errlen, "matcher \"%s\": label name too long", text);
		return -1;
	}
	memcpy(label, name, namelen);
	label[namelen] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	enum srv_match_op op;
	if (strncmp(p, "=~", 2) == 0) {
		op = SRV_MATCH_RE;
		p += 2;
	} else if (strncmp(p, "!~", 2) == 0) {
		op = SRV_MATCH_NRE;
		p += 2;
	} else if (strncmp(p, "!=", 2) == 0) {
		op = SRV_MATCH_NE;
		p += 2;
	} else if (*p == '=') {
		op = SRV_MATCH_EQ;
		p++;
	} else {
		snprintf(err, errlen, "matcher \"%s\": expected =, !=, =~ or !~ after \"%s\"", text,
		         label);
		return -1;
	}
	while (isspace((unsigned char)*p))
		p++;
	size_t cap = strlen(p) + 1;
	char *value = malloc(cap);
	if (!value) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (*p == '"') {
		const char *end = unquote(p, value, cap);
		if (!end) {
			snprintf(err, errlen, "matcher \"%s\": unterminated quoted value", text);
			free(value);
			return -1;
		}
		while (isspace((unsigned char)*end))
			end++;
		if (*end) {
			snprintf(err, errlen, "matcher \"%s\": unexpected text after the value: %s",
			         text, end);
			free(value);
			return -1;
		}
	} else {
		size_t n = strlen(p);
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		memcpy(value, p, n);
		value[n] = '\0';
		if (strchr(value, '"')) {
			snprintf(err, errlen,
			         "matcher \"%s\": a value with quotes must be quoted as a whole",
			         text);
			free(value);
			return -1;
		}
	}
	char why[512];
	int rc = srv_matcher_init(m, label, op, value, why, sizeof why);
	free(value);
	if (rc < 0) {
		snprintf(err, errlen, "matcher \"%s\": %s", text, why);
		return -1;
	}
	return 0;
}

int srv_matcher_matches(const srv_matcher *m, const json_t *labels)
{
	const char *v = json_string_value(json_object_get(labels, m->name));
	if (!v)
		v = "";
	switch (m->op) {
	case SRV_MATCH_EQ:
		return strcmp(v, m->value) == 0;
	case SRV_MATCH_NE:
		return strcmp(v, m->value) != 0;
	case SRV_MATCH_RE:
		return regexec(&m->re, v, 0, NULL, 0) == 0;
	case SRV_MATCH_NRE:
		return regexec(&m->re, v, 0, NULL, 0) != 0;
	}
	return 0;
}

void srv_matcher_format(const srv_matcher *m, char *buf, size_t len)
{
	if (len == 0)
		return;
	int n = snprintf(buf, len, "%s%s\"", m->name, srv_match_op_text(m->op));
	if (n < 0 || (size_t)n >= len)
		return;
	size_t w = (size_t)n;
	for (const char *p = m->value; *p && w + 3 < len; p++) {
		if (*p == '"' || *p == '\\')
			buf[w++] = '\\';
		buf[w++] = *p;
	}
	if (w + 2 <= len) {
		buf[w++] = '"';
		buf[w] = '\0';
	} else if (len) {
		buf[len - 1] = '\0';
	}
}
