/*
 * notify plugin: one channel-neutral message and the text tools every channel's payload
 * builder uses (not installed). Pure functions, no I/O, so render (dry-run) and run build
 * byte-for-byte the same message.
 *
 * Ownership: a char * returned here is malloc'd (the caller frees it) and NULL only when out
 * of memory; json_t returned are new references. A notify_msg borrows all its strings.
 * No state: any thread may call these.
 */
#ifndef SALVE_NOTIFY_MSG_H
#define SALVE_NOTIFY_MSG_H

#include <salve/plugin.h>

#include <stddef.h>

#include "notify_common.h"

/* One channel-neutral notification: what a person should read, plus the run's facts.
 * All strings are borrowed from the action's args, the host's run_info or literals, and
 * live as long as the callback. */
struct notify_msg {
	const char *summary; /* one line */
	const char *text;    /* body; may equal summary */
	enum notify_severity severity;
	const json_t *fields; /* object of extra facts, may be NULL */
	const char *run_id, *runbook, *step, *outcome, *target, *trigger, *fingerprint, *mode;
	int drill;
	int level; /* escalation level, 0 when not an escalation */
};

/* Fill msg from args ("text", "summary", "severity", "fields", "outcome", "target") and the
 * host's run facts. default_sev applies when args have no severity. Returns 0, or
 * SALVE_ERR_INVALID with the reason in err. */
int notify_msg_from_args(const salve_host *host, salve_call *call, const json_t *args,
                         enum notify_severity default_sev, struct notify_msg *msg, char *err,
                         size_t errlen);

/* "[DRILL] " when msg->drill, else "". */
const char *notify_drill_prefix(const struct notify_msg *msg);

/* Escapers. */
char *notify_escape_slack(const char *s);
char *notify_escape_html(const char *s);
/* MessageCard text takes HTML entities and Markdown; Adaptive Cards only Markdown. */
char *notify_escape_teams(const char *s, int adaptive);
/* Copy at most max bytes of s, cut on a UTF-8 boundary, ending in "…" when cut. */
char *notify_truncate_utf8(const char *s, size_t max);
/* An upper-case copy of an ASCII word. */
char *notify_upper(const char *s);

/* A growing string. On allocation failure it stays failed and notify_sbuf_take returns NULL
 * (and frees what it had). Start from (struct notify_sbuf){0}. */
struct notify_sbuf {
	char *s;
	size_t len, cap;
	int failed;
};
void notify_sbuf_add(struct notify_sbuf *b, const char *s, size_t n);
void notify_sbuf_puts(struct notify_sbuf *b, const char *s);
void notify_sbuf_printf(struct notify_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The string (malloc'd, "" when nothing was added), or NULL after a failure. */
char *notify_sbuf_take(struct notify_sbuf *b);
/* s after the drill prefix ("[DRILL] s" in a drill, else s). */
char *notify_drill_line(const struct notify_msg *msg, const char *s);

/* Transfers ownership of s into a json string; an empty string when s is NULL. */
json_t *notify_json_string_take(char *s);
/* A field value as text: strings as they are, anything else as compact JSON. */
char *notify_value_text(const json_t *v);
/* The keys of obj, sorted, so output does not depend on how the core ordered a Lua table.
 * The array is malloc'd (free it), the keys borrowed from obj. */
const char **notify_sorted_keys(const json_t *obj, size_t *n);

/* The run facts shown in every channel, in this order; absent values are skipped. */
struct notify_fact {
	const char *label; /* "Runbook" */
	const char *key;   /* machine name used in JSON payloads: "runbook" */
	const char *value;
};
struct notify_facts {
	struct notify_fact item[8];
	size_t n;
	char level[16]; /* the escalation level's text, which an item may point to */
};
void notify_run_facts(const struct notify_msg *msg, struct notify_facts *facts);
/* {"run_id": ..., "runbook": ..., "escalation_level": N, "fingerprint", "drill": true}. */
json_t *notify_facts_object(const struct notify_msg *msg);

#endif
