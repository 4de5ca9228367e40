/* Text helpers shared by the Markdown and HTML renderers of a report document (report_text.h).
 * Everything in a document came from the audit log, and so from alerts, runbooks and remote
 * hosts: the escapers below are what keeps it data in the format it lands in. */
#include "report_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditscan.h"
#include "util.h"

const char *rtext_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int rtext_streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

double rtext_time_of(const json_t *o, const char *key)
{
	double t;
	const char *s = rtext_str(o, key);
	return s && salve_parse_rfc3339(s, &t) == 0 ? t : 0;
}

/* "850 ms", "42.0 s", "3m 05s", "2h 10m", "3d 4h"; "–" for unknown. */
const char *rtext_human_duration(const json_t *v, char *buf, size_t len)
{
	if (!json_is_number(v))
		return "–";
	double s = json_number_value(v);
	const char *sign = s < 0 ? "-" : "";
	s = fabs(s);
	if (s < 1)
		snprintf(buf, len, "%s%.0f ms", sign, s * 1000);
	else if (s < 60)
		snprintf(buf, len, "%s%.1f s", sign, s);
	else if (s < 3600)
		snprintf(buf, len, "%s%dm %02ds", sign, (int)s / 60, (int)s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%s%dh %02dm", sign, (int)s / 3600, (int)s % 3600 / 60);
	else
		snprintf(buf, len, "%s%dd %dh", sign, (int)(s / 86400), (int)fmod(s, 86400) / 3600);
	return buf;
}

const char *rtext_ms_duration(const json_t *ms, char *buf, size_t len)
{
	if (!json_is_number(ms))
		return "–";
	json_t *s = json_real(json_number_value(ms) / 1000.0);
	rtext_human_duration(s, buf, len);
	json_decref(s);
	return buf;
}

const char *rtext_or_dash(const char *s)
{
	return s && *s ? s : "–";
}

/* ---- escaping -------------------------------------------------------------------------- */

/* Markdown table cell or line: control characters written out, and every character that
 * Markdown or an HTML renderer of it would act on backslash-escaped or as an entity. */
void rtext_md(FILE *f, const char *s)
{
	char safe[8192];
	salve_escape_controls(s ? s : "–", safe, sizeof safe, 0);
	for (const char *p = safe; *p; p++) {
		if (*p == '<')
			fputs("&lt;", f);
		else if (*p == '>')
			fputs("&gt;", f);
		else if (*p == '&')
			fputs("&amp;", f);
		else if (strchr("\\`*_[]|#!~", *p))
			fprintf(f, "\\%c", *p);
		else
			fputc(*p, f);
	}
}

void rtext_html(FILE *f, const char *s)
{
	char safe[8192];
	salve_escape_controls(s ? s : "–", safe, sizeof safe, 0);
	for (const char *p = safe; *p; p++) {
		switch (*p) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*p, f);
		}
	}
}

const char *rtext_time_only(const char *rfc, char *buf, size_t len)
{
	/* 2026-12-04T21:46:23.763Z -> 21:46:23.763 */
	if (rfc && strlen(rfc) >= 23 && rfc[10] == 'T')
		snprintf(buf, len, "%.12s", rfc + 11);
	else
		snprintf(buf, len, "%s", rtext_or_dash(rfc));
	return buf;
}

const char *rtext_short_id(const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%.8s", rtext_or_dash(id));
	return buf;
}

const char *rtext_verdict_line(const json_t *doc, char *buf, size_t len)
{
	const json_t *audit = json_object_get(doc, "audit");
	if (json_is_true(json_object_get(audit, "intact")))
		snprintf(buf, len, "Audit log verified: %s.", rtext_str(audit, "verdict"));
	else
		snprintf(
		    buf, len,
		    "WARNING: the audit log is NOT intact: %s. This report is built on records "
		    "that may have been edited or removed.",
		    rtext_str(audit, "verdict"));
	return buf;
}

const char *rtext_title_of(const json_t *doc, char *buf, size_t len)
{
	const json_t *names = json_object_get(json_object_get(doc, "summary"), "alerts");
	const json_t *runs = json_object_get(doc, "runs");
	size_t i, n = 0, used = 0;
	json_t *v;
	buf[0] = '\0';
	json_t *seen = json_object();
	json_array_foreach(json_array_size(names) ? names : runs, i, v)
	{
		const char *name =
		    json_is_string(v) ? json_string_value(v) : rtext_str(v, "runbook");
		if (!name || json_object_get(seen, name))
			continue;
		json_object_set_new(seen, name, json_true());
		if (n++ == 3) {
			snprintf(buf + used, len - used, ", ...");
			break;
		}
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	json_decref(seen);
	if (!buf[0])
		snprintf(buf, len, "no matching records");
	return buf;
}

const char *rtext_change_state(const json_t *c, char *buf, size_t len)
{
	const char *s = rtext_str(c, "state");
	char t[40];
	if (rtext_streq(s, "in_place") && rtext_str(c, "changed_again_at"))
		snprintf(buf, len, "changed again by run %.8s at %s",
		         rtext_or_dash(rtext_str(c, "changed_again_by")),
		         rtext_time_only(rtext_str(c, "changed_again_at"), t, sizeof t));
	else if (rtext_streq(s, "in_place"))
		snprintf(buf, len, "yes: still in place (no later undo or change recorded)");
	else if (rtext_streq(s, "undone"))
		snprintf(buf, len, "no: undone by the rollback at %s",
		         rtext_time_only(rtext_str(c, "undone_at"), t, sizeof t));
	else if (rtext_streq(s, "undo_failed"))
		snprintf(buf, len, "UNKNOWN: the undo failed (%s)",
		         rtext_or_dash(rtext_str(c, "error")));
	else if (rtext_streq(s, "left_not_undoable"))
		snprintf(buf, len, "yes: cannot be undone, left in place by the rollback");
	else if (rtext_streq(s, "left_opted_out"))
		snprintf(buf, len, "yes: the step opted out of rollback");
	else if (rtext_streq(s, "planned"))
		snprintf(buf, len, "no: planned only (dry-run)");
	else
		snprintf(buf, len, "%s", rtext_or_dash(s));
	return buf;
}
