/* The state of one run: its output, audit and journal (see exec.h). */
#include "exec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha/harun.h"
#include "redact.h"
#include "util.h"

void salve_exec_say(const struct salve_exec *x, const char *fmt, ...)
{
	if (!x->opt || !x->opt->out)
		return;
	char raw[8192], safe[8192], shown[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_redact_string(raw, safe, sizeof safe);
	/* Our formats end lines; newlines inside arguments (remote stderr, labels) are escaped. */
	size_t body = strlen(safe);
	while (body > 0 && safe[body - 1] == '\n')
		body--;
	size_t newlines = strlen(safe) - body;
	safe[body] = '\0';
	salve_escape_controls(safe, shown, sizeof shown, 1);
	if (x->held) {
		/* A step's own lines wait for its status line (run_steps prints them after). */
		size_t len = strlen(shown);
		if (len + newlines < sizeof shown) {
			memset(shown + len, '\n', newlines);
			shown[len + newlines] = '\0';
		}
		json_array_append_new(x->held, json_string(shown));
		return;
	}
	salve_progress_clear();
	fputs(shown, x->opt->out);
	for (size_t i = 0; i < newlines; i++)
		fputc('\n', x->opt->out);
	fflush(x->opt->out);
}

void salve_exec_release(struct salve_exec *x)
{
	json_t *held = x->held;
	x->held = NULL;
	size_t i;
	json_t *line;
	json_array_foreach(held, i, line) if (x->opt && x->opt->out)
	{
		salve_progress_clear();
		fputs(json_string_value(line), x->opt->out);
		fflush(x->opt->out);
	}
	json_decref(held);
}

void salve_exec_brief(const json_t *v, char *buf, size_t len)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (!s) {
		snprintf(buf, len, "-");
		return;
	}
	salve_redact_string(s, buf, len);
	if (strlen(s) >= len && len > 4)
		strcpy(buf + len - 4, "...");
	free(s);
}

int salve_exec_audit(struct salve_exec *x, json_t *rec)
{
	int observed = x->opt && x->opt->on_event;
	if (observed) {
		json_object_set_new(rec, "run", json_string(x->info.run_id));
		json_incref(rec);
	}
	int rc = salve_run_audit(&x->info, rec);
	if (rc < 0)
		x->io_failed = 1;
	/* Observers hear of an event once its record is written: salve serve drops a run's
	 * spool entry at its run_start, and a kill between the two must leave the entry (the
	 * run is requeued), never neither. */
	if (observed) {
		x->opt->on_event(x->opt->ctx, rec);
		json_decref(rec);
	}
	return rc < 0 ? -1 : 0;
}

/* Whether a mutation may start under the run's lease now (with its margin); else detaches
 * the run's journal in etcd (nothing more goes there) and says why in err. */
static int lease_holds(salve_ha_run *r, char *err, size_t errlen)
{
	char why[512];
	if (salve_ha_session_valid(salve_ha_run_session(r), salve_ha_run_lease(r), why, sizeof why))
		return 1;
	snprintf(err, errlen, "%s", why);
	salve_ha_run_detach(r, why);
	return 0;
}

int salve_exec_mirror(void *ctx, long long seq, const char *line, size_t len, const json_t *rec,
                      char *err, size_t errlen)
{
	struct salve_exec *x = ctx;
	salve_ha_run *r = x->opt->ha;
	const char *t = json_string_value(json_object_get(rec, "t"));
	int intent = t && strcmp(t, "intent") == 0;
	if (intent && !lease_holds(r, err, errlen))
		return -1;
	if (salve_ha_run_append(r, seq, line, len, intent, err, errlen))
		return -1;
	/* The append itself may have taken long (an endpoint that timed out, then another):
	 * the apply starts only if the lease still has its margin now. */
	return intent && !lease_holds(r, err, errlen) ? -1 : 0;
}

int salve_exec_fenced(struct salve_exec *x, int ask)
{
	salve_ha_run *r = x->opt ? x->opt->ha : NULL;
	if (!r)
		return 0;
	char err[512] = "";
	if (salve_ha_run_fenced(r) || (ask && salve_ha_run_confirm(r, err, sizeof err) == 0)) {
		if (!x->fenced_said) {
			x->fenced_said = 1;
			salve_exec_say(x, "salve: %s\n", err[0] ? err : "fenced out");
		}
		return 1;
	}
	return 0;
}

int salve_exec_journal(struct salve_exec *x, json_t *rec, char *err, size_t errlen)
{
	if (!x->journal) {
		json_decref(rec);
		return 0;
	}
	if (salve_journal_append(x->journal, rec, err, errlen) < 0) {
		x->io_failed = 1;
		return -1;
	}
	return 0;
}

const char *salve_phase_name(enum salve_phase p)
{
	static const char *const names[] = {"when",   "check",    "run",
	                                    "verify", "rollback", "lifecycle"};
	return names[p];
}
