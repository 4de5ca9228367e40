/* Messages: from action arguments and run facts to one channel-neutral message, and the text
 * tools the channels' payload builders share. No I/O here. User-supplied text is escaped for
 * each format; JSON is always built with jansson. */
#include "notify_msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing string ------------------------------------------------------------------ */

void notify_sbuf_add(struct notify_sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->s, cap);
		if (!grown) {
			b->failed = 1;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void notify_sbuf_puts(struct notify_sbuf *b, const char *s)
{
	notify_sbuf_add(b, s, strlen(s));
}

void notify_sbuf_printf(struct notify_sbuf *b, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	notify_sbuf_add(b, s, (size_t)n);
	free(s);
}

char *notify_sbuf_take(struct notify_sbuf *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	if (!b->s)
		return strdup("");
	return b->s;
}

/* ---- arguments and run facts ---------------------------------------------------------- */

int notify_msg_from_args(const salve_host *host, salve_call *call, const json_t *args,
                         enum notify_severity default_sev, struct notify_msg *msg, char *err,
                         size_t errlen)
{
	memset(msg, 0, sizeof *msg);
	msg->text = notify_arg_str(args, "text");
	msg->summary = notify_arg_str(args, "summary");
	if (!msg->summary)
		msg->summary = msg->text;
	if (!msg->text)
		msg->text = msg->summary;
	msg->severity = default_sev;
	const char *sev = notify_arg_str(args, "severity");
	if (sev && notify_severity_parse(sev, &msg->severity) < 0) {
		snprintf(err, errlen,
		         "severity \"%.64s\" is not one of critical, high, medium, low, info", sev);
		return SALVE_ERR_INVALID;
	}
	json_t *fields = json_object_get(args, "fields");
	if (fields && !json_is_null(fields)) {
		if (!json_is_object(fields)) {
			snprintf(err, errlen, "fields must be a map of name = value");
			return SALVE_ERR_INVALID;
		}
		msg->fields = fields;
	}
	msg->run_id = host->run_info(call, "run_id");
	msg->runbook = host->run_info(call, "runbook");
	msg->step = host->run_info(call, "step");
	msg->trigger = host->run_info(call, "trigger");
	msg->fingerprint = host->run_info(call, "fingerprint");
	msg->mode = host->run_info(call, "mode");
	msg->outcome = notify_arg_str(args, "outcome");
	if (!msg->outcome)
		msg->outcome = host->run_info(call, "outcome");
	msg->target = notify_arg_str(args, "target");
	if (!msg->target)
		msg->target = host->run_info(call, "target");
	msg->drill = host->drill(call) == 1;
	return SALVE_OK;
}

const char *notify_drill_prefix(const struct notify_msg *msg)
{
	return msg->drill ? "[DRILL] " : "";
}

char *notify_drill_line(const struct notify_msg *msg, const char *s)
{
	struct notify_sbuf b = {0};
	notify_sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), s);
	return notify_sbuf_take(&b);
}

/* ---- escaping and cutting ------------------------------------------------------------- */

/* What replaces each character (NULL: the character stays). */
typedef const char *const escape_map[256];

#define ESCAPE_ANGLES ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;"
/* Markdown's control characters, backslash-escaped so user text shows as typed. */
#define ESCAPE_MARKDOWN                                                                            \
	['\\'] = "\\\\", ['*'] = "\\*", ['_'] = "\\_", ['`'] = "\\`", ['['] = "\\[",               \
	[']'] = "\\]", ['~'] = "\\~", ['#'] = "\\#"

/* Slack mrkdwn: only &, < and > are control characters (https://api.slack.com/reference/
 * surfaces/formatting#escaping); escaping them keeps <!channel> and <url|x> from user text
 * inert. */
static escape_map slack_map = {ESCAPE_ANGLES};
static escape_map html_map = {ESCAPE_ANGLES, ['"'] = "&quot;", ['\''] = "&#39;"};
/* Teams renders a Markdown subset (and, in MessageCards, some HTML) in card text. */
static escape_map teams_map = {ESCAPE_ANGLES, ESCAPE_MARKDOWN};
static escape_map adaptive_map = {ESCAPE_MARKDOWN};

static char *escape_with(const char *s, escape_map map)
{
	struct notify_sbuf b = {0};
	for (const char *p = s ? s : ""; *p; p++) {
		const char *rep = map[(unsigned char)*p];
		if (rep)
			notify_sbuf_puts(&b, rep);
		else
			notify_sbuf_add(&b, p, 1);
	}
	return notify_sbuf_take(&b);
}

char *notify_escape_slack(const char *s)
{
	return escape_with(s, slack_map);
}

char *notify_escape_html(const char *s)
{
	return escape_with(s, html_map);
}

char *notify_escape_teams(const char *s, int adaptive)
{
	return escape_with(s, adaptive ? adaptive_map : teams_map);
}

char *notify_truncate_utf8(const char *s, size_t max)
{
	static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
	size_t n = strlen(s);
	if (n <= max)
		return strdup(s);
	size_t cut = max >= 3 ? max - 3 : 0;
	while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--; /* never split a UTF-8 sequence */
	char *out = malloc(cut + sizeof ellipsis);
	if (!out)
		return NULL;
	memcpy(out, s, cut);
	memcpy(out + cut, ellipsis, sizeof ellipsis);
	return out;
}

char *notify_upper(const char *s)
{
	char *u = strdup(s);
	for (char *p = u; p && *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	return u;
}

/* ---- JSON values and facts ------------------------------------------------------------- */

json_t *notify_json_string_take(char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j ? j : json_string("");
}

char *notify_value_text(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return s ? s : strdup("");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **notify_sorted_keys(const json_t *obj, size_t *n)
{
	*n = json_object_size(obj);
	const char **keys = calloc(*n ? *n : 1, sizeof *keys);
	if (!keys) {
		*n = 0;
		return NULL;
	}
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		keys[i++] = k;
	}
	qsort(keys, *n, sizeof *keys, cmp_str);
	return keys;
}

void notify_run_facts(const struct notify_msg *msg, struct notify_facts *facts)
{
	const struct notify_fact all[] = {
	    {"Runbook", "runbook", msg->runbook}, {"Step", "step", msg->step},
	    {"Outcome", "outcome", msg->outcome}, {"Target", "target", msg->target},
	    {"Run", "run_id", msg->run_id},       {"Trigger", "trigger", msg->trigger},
	};
	facts->n = 0;
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i].value && *all[i].value)
			facts->item[facts->n++] = all[i];
	if (msg->level > 0) {
		snprintf(facts->level, sizeof facts->level, "%d", msg->level);
		facts->item[facts->n++] =
		    (struct notify_fact){"Escalation level", "escalation_level", facts->level};
	}
}

json_t *notify_facts_object(const struct notify_msg *msg)
{
	json_t *o = json_object();
	struct notify_facts facts;
	notify_run_facts(msg, &facts);
	for (size_t i = 0; i < facts.n; i++) {
		const struct notify_fact *f = &facts.item[i];
		if (msg->level > 0 && strcmp(f->key, "escalation_level") == 0)
			json_object_set_new(o, f->key, json_integer(msg->level));
		else
			json_object_set_new(o, f->key, json_string(f->value));
	}
	if (msg->fingerprint)
		json_object_set_new(o, "fingerprint", json_string(msg->fingerprint));
	if (msg->drill)
		json_object_set_new(o, "drill", json_true());
	return o;
}
