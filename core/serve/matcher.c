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
