/*
 * Alertmanager-style label matchers: `name = "value"`, `!=`, `=~` and `!~`, the regex ones
 * fully anchored (as Alertmanager does: `severity =~ "crit.*"` must match the whole value).
 * A label the alert does not carry has the value "", so `team = ""` means "no team label".
 *
 * Regexes are POSIX extended (libc regcomp), which covers what alert routes use in practice
 * (alternation, classes, repetition). RE2-only syntax that ERE would silently read another
 * way (\d, lazy quantifiers, (?i) flags, \p{..}) is refused at load time with a hint.
 *
 * Ownership: a srv_matcher owns its strings and compiled regex (srv_matcher_free).
 * Matching is read-only and may run on several threads at once.
 */
#ifndef SRV_MATCHER_H
#define SRV_MATCHER_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>

enum srv_match_op {
	SRV_MATCH_EQ = 0, /* =  */
	SRV_MATCH_NE,     /* != */
	SRV_MATCH_RE,     /* =~ */
	SRV_MATCH_NRE,    /* !~ */
};

typedef struct srv_matcher {
	char *name;
	enum srv_match_op op;
	char *value;
	regex_t re; /* compiled for =~ and !~ */
	int has_re;
} srv_matcher;

/* Parses one matcher written as Alertmanager writes them: `alertname = "Disk Full"`,
 * `severity=~critical|page`, `team!=""`. 0, or -1 with the reason in err. */
int srv_matcher_parse(const char *text, srv_matcher *m, char *err, size_t errlen);
/* Builds a matcher from its parts (used for the `match:` / `match_re:` mapping forms).
 * 0, or -1 with the reason in err. */
int srv_matcher_init(srv_matcher *m, const char *name, enum srv_match_op op, const char *value,
                     char *err, size_t errlen);
void srv_matcher_free(srv_matcher *m);

/* 1 when labels (an object of strings) satisfy m, else 0. */
int srv_matcher_matches(const srv_matcher *m, const json_t *labels);

/* The matcher in canonical form, e.g. severity=~"critical|page", into buf. */
void srv_matcher_format(const srv_matcher *m, char *buf, size_t len);

const char *srv_match_op_text(enum srv_match_op op);

#endif
