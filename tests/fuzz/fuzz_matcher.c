/* srv_matcher_parse: Alertmanager label matchers in salve-serve's routes.
 * Invariants: a matcher that parses prints (srv_matcher_format) to text that parses back
 * to the same name, operator and value; a regex matcher's value is a regex on its own (so the
 * ^(...)$ anchoring cannot be broken out of); = and != agree with the label they name; =~ and
 * !~ give opposite answers; format never writes past the buffer it is given. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "matcher.h"

static void check_matches(const srv_matcher *m, const char *text)
{
	json_t *labels = json_object();
	json_t *value = json_string(m->value);
	if (value) /* jansson refuses invalid UTF-8: then only the absent label is tried */
		json_object_set_new(labels, m->name, value);
	int hit = srv_matcher_matches(m, labels);
	FUZZ_CHECK(hit == 0 || hit == 1, "%s: matches returned %d", text, hit);
	if (value && m->op == SRV_MATCH_EQ)
		FUZZ_CHECK(hit == 1, "%s: = does not match its own value", text);
	if (value && m->op == SRV_MATCH_NE)
		FUZZ_CHECK(hit == 0, "%s: != matches its own value", text);
	if (m->has_re) {
		srv_matcher opposite;
		char err[1024];
		enum srv_match_op op = m->op == SRV_MATCH_RE ? SRV_MATCH_NRE : SRV_MATCH_RE;
		FUZZ_CHECK(srv_matcher_init(&opposite, m->name, op, m->value, err, sizeof err) == 0,
		           "%s: the opposite regex operator is refused: %s", text, err);
		FUZZ_CHECK(srv_matcher_matches(&opposite, labels) == !hit,
		           "%s: =~ and !~ agree on the same label", text);
		srv_matcher_free(&opposite);
	}
	json_decref(labels);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	srv_matcher m;
	char err[1024] = "";
	if (srv_matcher_parse(text, &m, err, sizeof err) < 0) {
		FUZZ_CHECK(err[0] != '\0', "\"%s\" refused without a reason", text);
		free(text);
		return 0;
	}
	if (m.has_re) {
		regex_t alone;
		int rc = regcomp(&alone, m.value, REG_EXTENDED | REG_NOSUB);
		FUZZ_CHECK(rc == 0,
		           "%s: accepted, but its regex \"%s\" does not compile on its own "
		           "(anchoring ^(%s)$ changes what it means)",
		           text, m.value, m.value);
		regfree(&alone);
	}
	size_t cap = 2 * strlen(m.value) + strlen(m.name) + 8;
	char *printed = malloc(cap);
	srv_matcher_format(&m, printed, cap);
	srv_matcher again;
	FUZZ_CHECK(srv_matcher_parse(printed, &again, err, sizeof err) == 0,
	           "%s: prints as %s, which does not parse: %s", text, printed, err);
	FUZZ_CHECK(strcmp(again.name, m.name) == 0 && again.op == m.op &&
	               strcmp(again.value, m.value) == 0,
	           "%s: prints as %s, which parses to another matcher", text, printed);
	srv_matcher_free(&again);
	/* Small buffers: format truncates, always terminated, never past len (ASan checks). */
	for (size_t len = 1; len < 12 && len < cap; len++) {
		char *small = malloc(len);
		srv_matcher_format(&m, small, len);
		FUZZ_CHECK(memchr(small, '\0', len) != NULL, "%s: format(len %zu) not terminated",
		           text, len);
		free(small);
	}
	check_matches(&m, text);
	srv_matcher_free(&m);
	free(printed);
	free(text);
	return 0;
}
