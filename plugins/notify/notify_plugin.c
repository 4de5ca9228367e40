/* The notify plugin: channel actions (slack, pagerduty, opsgenie, teams, webhook, email), the
 * dispatching ones (send, page, escalate) and escalation_policy. Every notify action has
 * `render` (dry-run prints it; nothing is sent, no secret is resolved) and `run` (sends; in a
 * drill every message says [DRILL]). Both go through the channel's prepare
 * (notify_channel.h), so what dry-run shows is what run sends. */
#include "notify_channel.h"
#include "notify_config.h"
#include "notify_msg.h"
#include "notify_transport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the calls common to every action ---------------------------------------------------- */

static const salve_host *g_host; /* set once in init (one thread), read-only afterwards */

static struct notify_state *state_of(salve_call *call)
{
	return g_host->state(call);
}

static int refuse_dry_run(salve_call *call)
{
	if (g_host->mode(call) == SALVE_MODE_DRY_RUN && g_host->drill(call) != 1) {
		g_host->fail(call, "notify: not sent: this is a dry-run and not a drill (the core "
		                   "renders notifications in dry-run)");
		return 1;
	}
	return 0;
}

enum op { OP_RENDER, OP_RUN };

/* name_run and name_render, each a call of name_common(call, args, out, op). */
#define RUN_AND_RENDER(name)                                                                       \
	static int name##_run(salve_call *call, const json_t *args, json_t **result)               \
	{                                                                                          \
		return name##_common(call, args, result, OP_RUN);                                  \
	}                                                                                          \
	static int name##_render(salve_call *call, const json_t *args, json_t **message)           \
	{                                                                                          \
		return name##_common(call, args, message, OP_RENDER);                              \
	}

/* A single-channel action: build the message, then render or send it. */
static int single(salve_call *call, const json_t *args, json_t **out, enum op op,
                  const struct notify_channel *ch, const char *rest,
                  enum notify_severity default_sev)
{
	const salve_host *host = g_host;
	struct notify_state *st = state_of(call);
	char err[NOTIFY_ERRLEN] = "";
	if (op == OP_RUN && refuse_dry_run(call))
		return SALVE_ERR;
	struct notify_msg msg;
	int rc = notify_msg_from_args(host, call, args, default_sev, &msg, err, sizeof err);
	if (rc < 0) {
		host->fail(call, "notify %s: %s", ch->name, err);
		return rc;
	}
	if (ch->summary_arg && notify_arg_str(args, ch->summary_arg)) {
		msg.summary = notify_arg_str(args, ch->summary_arg);
		if (!notify_arg_str(args, "text"))
			msg.text = msg.summary;
	}
	if (!msg.summary)
		msg.summary = "";
	if (!msg.text)
		msg.text = "";
	struct notify_prepared p;
	rc = notify_prepare(&st->cfg, ch, rest, &msg, args, &p, err, sizeof err);
	if (rc < 0) {
		host->fail(call, "notify %s", err);
	} else if (op == OP_RENDER) {
		*out = notify_prepared_render(&st->cfg, &p);
		if (msg.drill)
			json_object_set_new(*out, "drill", json_true());
	} else {
		rc = notify_prepared_send(st, call, &p, out, err, sizeof err);
		if (rc < 0)
			host->fail(call, "%s", err);
	}
	notify_prepared_free(&p);
	return rc;
}

/* The channel's own action; rest_arg names the argument that picks where in the channel
 * (Slack's channel, PagerDuty's service), as what follows the scheme of a target does. */
static int channel_action(salve_call *call, const json_t *args, json_t **out, enum op op,
                          const char *scheme, const char *rest_arg, enum notify_severity sev)
{
	return single(call, args, out, op, notify_channel_find(scheme),
	              rest_arg ? notify_arg_str(args, rest_arg) : NULL, sev);
}

#define CHANNEL_ACTION(name, rest_arg, sev)                                                        \
	static int name##_common(salve_call *call, const json_t *args, json_t **out, enum op op)   \
	{                                                                                          \
		return channel_action(call, args, out, op, #name, rest_arg, sev);                  \
	}                                                                                          \
	RUN_AND_RENDER(name)

CHANNEL_ACTION(slack, "channel", NOTIFY_SEV_INFO)
CHANNEL_ACTION(pagerduty, "service", NOTIFY_SEV_CRITICAL)
CHANNEL_ACTION(opsgenie, NULL, NOTIFY_SEV_HIGH)
CHANNEL_ACTION(teams, NULL, NOTIFY_SEV_INFO)
CHANNEL_ACTION(webhook, NULL, NOTIFY_SEV_INFO)
CHANNEL_ACTION(email, NULL, NOTIFY_SEV_INFO)

/* ---- send, page, escalate ------------------------------------------------------------------ */

static int send_common(salve_call *call, const json_t *args, json_t **out, enum op op)
{
	const salve_host *host = g_host;
	struct notify_state *st = state_of(call);
	char err[NOTIFY_ERRLEN] = "";
	const char *to = notify_arg_str(args, "to");
	const char *rest;
	if (!to) {
		host->fail(call, "notify send: to is required (e.g. \"slack:#ops\")");
		return SALVE_ERR_INVALID;
	}
	const struct notify_channel *ch = notify_target_parse(&st->cfg, to, &rest, err, sizeof err);
	if (!ch) {
		host->fail(call, "notify send: %s", err);
		return SALVE_ERR_INVALID;
	}
	/* the rest of the target is the channel's own "where": keep args out of that */
	return single(call, args, out, op, ch, rest, NOTIFY_SEV_INFO);
}

RUN_AND_RENDER(send)

/* One message to many targets (page, escalate). */
struct fan_out {
	salve_call *call;
	const char *what; /* "page", "escalate" */
	const json_t *targets;
	size_t n;
	struct notify_prepared *ps;
	struct notify_msg msg;
	json_t *chan_args; /* what ps borrow from, until they are freed */
};

/* Pages never go out half-built: prepare every target before sending any. The channel-
 * specific options of page/escalate apply where they make sense. */
static int prepare_all(struct fan_out *f, const json_t *args, char *err, size_t errlen)
{
	struct notify_state *st = state_of(f->call);
	json_t *chan_args = f->chan_args = json_pack("{s:s}", "event_action", "trigger");
	const char *keys[] = {"dedup_key", "source", "custom_details", "alias", "subject", "body"};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		json_t *v = json_object_get(args, keys[k]);
		if (v)
			json_object_set(chan_args, keys[k], v);
	}
	int rc = SALVE_OK;
	for (size_t i = 0; i < f->n; i++) {
		const char *rest;
		const char *t = json_string_value(json_array_get(f->targets, i));
		const struct notify_channel *ch =
		    notify_target_parse(&st->cfg, t, &rest, err, errlen);
		rc = ch ? notify_prepare(&st->cfg, ch, rest, &f->msg, chan_args, &f->ps[i], err,
		                         errlen)
		        : SALVE_ERR_INVALID;
		if (rc < 0) {
			g_host->fail(f->call, "notify %s: target %s: %s", f->what, t, err);
			break;
		}
	}
	return rc;
}

/* Render or send every prepared message into list; keep going past failures so one broken
 * channel does not silence the others. */
static int deliver_all(struct fan_out *f, enum op op, json_t *list, char *err, size_t errlen)
{
	struct notify_state *st = state_of(f->call);
	char failures[2048] = "";
	size_t nfailed = 0;
	int first_failure = SALVE_OK;
	for (size_t i = 0; i < f->n; i++) {
		json_t *one = NULL;
		if (op == OP_RENDER) {
			json_array_append_new(list, notify_prepared_render(&st->cfg, &f->ps[i]));
			continue;
		}
		int rc = notify_prepared_send(st, f->call, &f->ps[i], &one, err, errlen);
		if (rc < 0) {
			size_t used = strlen(failures);
			snprintf(failures + used, sizeof failures - used, "%s%s",
			         nfailed ? "; " : "", err);
			nfailed++;
			if (first_failure == SALVE_OK)
				first_failure = rc;
			if (rc == SALVE_ERR_CANCELED)
				break;
			continue;
		}
		json_array_append_new(list, one);
	}
	if (nfailed > 0)
		g_host->fail(f->call, "notify %s (%s): %zu of %zu targets failed: %s", f->what,
		             notify_severity_name(f->msg.severity), nfailed, f->n, failures);
	return first_failure; /* the first failure's kind is what callers branch on */
}

/* Deliver the message of args to every target of a list. */
static int fan_out(salve_call *call, const char *what, const json_t *targets, const json_t *args,
                   enum notify_severity default_sev, int level, json_t **out, enum op op)
{
	const salve_host *host = g_host;
	char err[NOTIFY_ERRLEN] = "";
	struct fan_out f = {.call = call, .what = what, .targets = targets};
	if (op == OP_RUN && refuse_dry_run(call))
		return SALVE_ERR;
	int rc = notify_msg_from_args(host, call, args, default_sev, &f.msg, err, sizeof err);
	if (rc < 0) {
		host->fail(call, "notify %s: %s", what, err);
		return rc;
	}
	if (!f.msg.summary || !*f.msg.summary) {
		host->fail(call, "notify %s: summary is required", what);
		return SALVE_ERR_INVALID;
	}
	f.msg.level = level;
	if (json_array_size(targets) == 0) {
		host->fail(call, "notify %s: no targets are configured for severity %s", what,
		           notify_severity_name(f.msg.severity));
		return SALVE_ERR_INVALID;
	}
	f.n = json_array_size(targets);
	f.ps = calloc(f.n, sizeof *f.ps);
	if (!f.ps) {
		host->fail(call, "notify %s: out of memory", what);
		return SALVE_ERR;
	}
	json_t *list = json_array();
	rc = prepare_all(&f, args, err, sizeof err);
	if (rc == SALVE_OK)
		rc = deliver_all(&f, op, list, err, sizeof err);
	if (rc == SALVE_OK) {
		json_t *r =
		    json_pack("{s:s, s:O, s:o}", "severity", notify_severity_name(f.msg.severity),
		              "targets", targets, op == OP_RENDER ? "messages" : "delivered", list);
		if (level > 0)
			json_object_set_new(r, "level", json_integer(level));
		if (f.msg.drill)
			json_object_set_new(r, "drill", json_true());
		*out = r;
	} else {
		json_decref(list);
	}
	for (size_t i = 0; i < f.n; i++)
		notify_prepared_free(&f.ps[i]);
	free(f.ps);
	json_decref(f.chan_args);
	return rc;
}

static int page_common(salve_call *call, const json_t *args, json_t **out, enum op op)
{
	struct notify_state *st = state_of(call);
	enum notify_severity sev;
	const char *s = notify_arg_str(args, "severity");
	if (!s || notify_severity_parse(s, &sev) < 0) {
		g_host->fail(call,
		             "notify page: severity must be critical, high, medium, low or info");
		return SALVE_ERR_INVALID;
	}
	return fan_out(call, "page", st->cfg.routing[sev], args, sev, 0, out, op);
}

RUN_AND_RENDER(page)

static int escalate_common(salve_call *call, const json_t *args, json_t **out, enum op op)
{
	struct notify_state *st = state_of(call);
	json_t *lv = json_object_get(args, "level");
	double level = json_is_number(lv) ? json_number_value(lv) : 0;
	if (level < 1 || floor(level) != level) {
		g_host->fail(call, "notify escalate: level must be a whole number from 1");
		return SALVE_ERR_INVALID;
	}
	if (level > (double)st->cfg.nlevels) {
		g_host->fail(
		    call,
		    "notify escalate: level %.0f is not configured (notify.escalation has %zu "
		    "level%s)",
		    level, st->cfg.nlevels, st->cfg.nlevels == 1 ? "" : "s");
		return SALVE_ERR_INVALID;
	}
	size_t i = (size_t)level - 1;
	return fan_out(call, "escalate", st->cfg.levels[i].to, args, NOTIFY_SEV_CRITICAL,
	               (int)level, out, op);
}

RUN_AND_RENDER(escalate)

/* [{level, wait_seconds, after_seconds, targets}]: what the core schedules. after_seconds
 * adds up the waits, so level N is due that long after the run started failing. */
static int escalation_policy_run(salve_call *call, const json_t *args, json_t **result)
{
	(void)args;
	struct notify_state *st = state_of(call);
	json_t *chain = json_array();
	double after = 0;
	for (size_t i = 0; i < st->cfg.nlevels; i++) {
		after += st->cfg.levels[i].wait;
		json_array_append_new(chain, json_pack("{s:I, s:f, s:f, s:O}", "level",
		                                       (json_int_t)(i + 1), "wait_seconds",
		                                       st->cfg.levels[i].wait, "after_seconds",
		                                       after, "targets", st->cfg.levels[i].to));
	}
	*result = chain;
	return SALVE_OK;
}

/* ---- descriptor ---------------------------------------------------------------------------- */

#define ARG_SEVERITY                                                                               \
	{                                                                                          \
		"severity", SALVE_T_STRING, 0, "critical, high, medium, low or info"               \
	}
#define ARG_FIELDS                                                                                 \
	{                                                                                          \
		"fields", SALVE_T_MAP, 0, "extra facts shown with the message"                     \
	}
#define ARG_OUTCOME                                                                                \
	{                                                                                          \
		"outcome", SALVE_T_STRING, 0, "what happened (default: the run's outcome)"         \
	}
#define ARG_TARGET                                                                                 \
	{                                                                                          \
		"target", SALVE_T_STRING, 0, "what the run acted on (default: the run's target)"   \
	}
#define ARG_END                                                                                    \
	{                                                                                          \
		NULL, 0, 0, NULL                                                                   \
	}
/* What every channel action takes after its own arguments, and the end of the list. */
#define COMMON_ARGS_END ARG_SEVERITY, ARG_FIELDS, ARG_OUTCOME, ARG_TARGET, ARG_END

static const salve_arg slack_args[] = {
    {"text", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the message (escaped for mrkdwn)"},
    {"summary", SALVE_T_STRING, 0, "one-line headline (default: text)"},
    {"channel", SALVE_T_STRING, 0, "#channel (default: notify.slack.channel)"},
    COMMON_ARGS_END,
};

static const salve_arg pagerduty_args[] = {
    {"event_action", SALVE_T_STRING, 0, "trigger (default), acknowledge or resolve"},
    {"summary", SALVE_T_STRING, 0, "required for trigger; at most 1024 characters"},
    {"text", SALVE_T_STRING, 0, "longer text, sent in custom_details"},
    {"dedup_key", SALVE_T_STRING, 0, "incident key (default: the alert fingerprint)"},
    {"source", SALVE_T_STRING, 0, "affected system (default: target)"},
    {"component", SALVE_T_STRING, 0, "payload.component"},
    {"group", SALVE_T_STRING, 0, "payload.group (default: the runbook)"},
    {"class", SALVE_T_STRING, 0, "payload.class (default: the step)"},
    {"custom_details", SALVE_T_MAP, 0, "payload.custom_details"},
    {"service", SALVE_T_STRING, 0, "a name from notify.pagerduty.services"},
    COMMON_ARGS_END,
};

static const salve_arg opsgenie_args[] = {
    {"action", SALVE_T_STRING, 0, "create (default), close or acknowledge"},
    {"message", SALVE_T_STRING, 0, "alert message, at most 130 characters (create)"},
    {"text", SALVE_T_STRING, 0, "message when message is absent; the description"},
    {"summary", SALVE_T_STRING, 0, "same as message"},
    {"alias", SALVE_T_STRING, 0, "dedup identifier (default: the alert fingerprint)"},
    {"description", SALVE_T_STRING, 0, "long description (default: text)"},
    {"priority", SALVE_T_STRING, 0, "P1..P5 (default: from severity)"},
    {"tags", SALVE_T_LIST, 0, "tags added to notify.opsgenie.tags"},
    {"details", SALVE_T_MAP, 0, "extra string properties"},
    {"responders", SALVE_T_LIST, 0, "[{type=\"team\", name=\"ops\"}, ...]"},
    {"note", SALVE_T_STRING, 0, "note for close/acknowledge"},
    COMMON_ARGS_END,
};

static const salve_arg teams_args[] = {
    {"text", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the message"},
    {"summary", SALVE_T_STRING, 0, "card title (default: text)"},
    COMMON_ARGS_END,
};

static const salve_arg webhook_args[] = {
    {"name", SALVE_T_STRING, 0, "a webhook from notify.webhooks"},
    {"url", SALVE_T_STRING, SALVE_ARG_SECRET, "an http(s) URL instead of name"},
    {"body", SALVE_T_ANY, 0, "JSON template string or table with {{run_id}}, {{text}}, ..."},
    {"text", SALVE_T_STRING, 0, "the message ({{text}})"},
    {"summary", SALVE_T_STRING, 0, "one-line headline ({{summary}})"},
    COMMON_ARGS_END,
};

static const salve_arg email_args[] = {
    {"to", SALVE_T_ANY, 0, "address or list (default: notify.email.to)"},
    {"subject", SALVE_T_STRING, 0, "subject (default: [salve] SEVERITY runbook: summary)"},
    {"body", SALVE_T_STRING, 0, "plain-text body (default: text)"},
    {"text", SALVE_T_STRING, 0, "the message when body is absent"},
    {"summary", SALVE_T_STRING, 0, "used in the default subject"},
    COMMON_ARGS_END,
};

static const salve_arg send_args[] = {
    {"to", SALVE_T_STRING, SALVE_ARG_REQUIRED,
     "slack:#chan, pagerduty:, opsgenie:, teams:, email:a@b, webhook:NAME"},
    {"text", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the message"},
    {"summary", SALVE_T_STRING, 0, "one-line headline (default: text)"},
    COMMON_ARGS_END,
};

/* The headline of page and escalate. */
#define ARGS_HEADLINE                                                                              \
	{"summary", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one-line headline"},                      \
	{                                                                                          \
		"text", SALVE_T_STRING, 0, "longer text (default: summary)"                        \
	}
/* What names the incident a page opens, so a later resolve or close finds it. */
#define ARGS_INCIDENT_KEYS                                                                         \
	{"dedup_key", SALVE_T_STRING, 0, "PagerDuty dedup key (default: the alert fingerprint)"},  \
	{                                                                                          \
		"alias", SALVE_T_STRING, 0, "Opsgenie alias (default: the alert fingerprint)"      \
	}

static const salve_arg page_args[] = {
    {"severity", SALVE_T_STRING, SALVE_ARG_REQUIRED, "picks the targets from notify.routing"},
    ARGS_HEADLINE,
    ARG_FIELDS,
    ARGS_INCIDENT_KEYS,
    {"source", SALVE_T_STRING, 0, "PagerDuty source (default: target)"},
    {"custom_details", SALVE_T_MAP, 0, "PagerDuty custom_details"},
    {"subject", SALVE_T_STRING, 0, "email subject"},
    ARG_OUTCOME,
    ARG_TARGET,
    ARG_END,
};

static const salve_arg escalate_args[] = {
    {"level", SALVE_T_INT, SALVE_ARG_REQUIRED, "1-based level of notify.escalation"},
    ARGS_HEADLINE,
    {"severity", SALVE_T_STRING, 0, "default critical"},
    ARG_FIELDS,
    ARGS_INCIDENT_KEYS,
    ARG_OUTCOME,
    ARG_TARGET,
    ARG_END,
};

static const salve_arg no_args[] = {ARG_END};

/* What a delivery returns (README: Results); in a dry-run the core returns the rendered
 * message instead. */
#define RESULT_DELIVERY                                                                            \
	{"channel", SALVE_T_STRING, 0, "the channel: slack, pagerduty, opsgenie, teams, ..."},     \
	    {"target", SALVE_T_STRING, 0, "where it went (channel, key, alias or recipients)"},    \
	    {"status", SALVE_T_INT, 0, "the HTTP or SMTP status of the last attempt"},             \
	    {"attempts", SALVE_T_INT, 0, "attempts made"},                                         \
	{                                                                                          \
		"drill", SALVE_T_BOOL, 0, "true in drills (absent otherwise)"                      \
	}
#define RESULT_PAGERDUTY                                                                           \
	{"dedup_key", SALVE_T_STRING, 0, "the key PagerDuty answered with (pagerduty)"},           \
	{                                                                                          \
		"event_action", SALVE_T_STRING, 0, "trigger, acknowledge or resolve (pagerduty)"   \
	}
#define RESULT_OPSGENIE                                                                            \
	{"request_id", SALVE_T_STRING, 0, "Opsgenie's request id (opsgenie)"},                     \
	    {"alias", SALVE_T_STRING, 0, "the alert's alias (opsgenie)"},                          \
	{                                                                                          \
		"action", SALVE_T_STRING, 0, "create, close or acknowledge (opsgenie)"             \
	}
#define RESULT_EMAIL                                                                               \
	{                                                                                          \
		"message_id", SALVE_T_STRING, 0, "the Message-ID sent (email)"                     \
	}
static const salve_arg delivery_results[] = {RESULT_DELIVERY, ARG_END};
static const salve_arg pagerduty_results[] = {RESULT_DELIVERY, RESULT_PAGERDUTY, ARG_END};
static const salve_arg opsgenie_results[] = {RESULT_DELIVERY, RESULT_OPSGENIE, ARG_END};
static const salve_arg email_results[] = {RESULT_DELIVERY, RESULT_EMAIL, ARG_END};
static const salve_arg send_results[] = {RESULT_DELIVERY, RESULT_PAGERDUTY, RESULT_OPSGENIE,
                                         RESULT_EMAIL, ARG_END};
static const salve_arg page_results[] = {
    {"severity", SALVE_T_STRING, 0, "the severity paged"},
    {"targets", SALVE_T_LIST, 0, "the targets notified"},
    {"delivered", SALVE_T_LIST, 0, "one delivery result per target"},
    {"level", SALVE_T_INT, 0, "the escalation level (escalate)"},
    {"drill", SALVE_T_BOOL, 0, "true in drills (absent otherwise)"},
    ARG_END,
};

#define NOTIFY_ACTION(n, a, target, desc, res)                                                     \
	{                                                                                          \
		.name = #n, .kind = SALVE_NOTIFY, .args = a, .description = desc,                  \
		.target_arg = target, .run = n##_run, .render = n##_render, .results = res         \
	}

static const salve_action actions[] = {
    NOTIFY_ACTION(slack, slack_args, "channel", "Slack incoming webhook (Block Kit message)",
                  delivery_results),
    NOTIFY_ACTION(pagerduty, pagerduty_args, "dedup_key",
                  "PagerDuty Events API v2: trigger, acknowledge or resolve", pagerduty_results),
    NOTIFY_ACTION(opsgenie, opsgenie_args, "alias",
                  "Opsgenie Alert API: create, or close/acknowledge by alias", opsgenie_results),
    NOTIFY_ACTION(teams, teams_args, NULL, "Microsoft Teams incoming webhook card",
                  delivery_results),
    NOTIFY_ACTION(webhook, webhook_args, "name", "generic JSON POST from a template",
                  delivery_results),
    NOTIFY_ACTION(email, email_args, "to", "email over SMTP (STARTTLS or smtps)", email_results),
    NOTIFY_ACTION(send, send_args, "to", "send to one target by its scheme", send_results),
    NOTIFY_ACTION(page, page_args, "severity",
                  "notify the targets notify.routing lists for a severity", page_results),
    NOTIFY_ACTION(escalate, escalate_args, "level",
                  "notify level N of notify.escalation (the core calls it)", page_results),
    {.name = "escalation_policy",
     .kind = SALVE_READ,
     .args = no_args,
     .description = "the escalation chain [{level, wait_seconds, after_seconds, targets}]",
     .run = escalation_policy_run},
    {.name = NULL},
};

static int notify_init(const salve_host *host, const json_t *config, void **state, char *err,
                       size_t errlen)
{
	struct notify_state *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "notify: out of memory");
		return -1;
	}
	st->host = host;
	if (notify_config_parse(config, &st->cfg, err, errlen) < 0) {
		free(st);
		return -1;
	}
	notify_config_register_secrets(&st->cfg, host);
	if (notify_transport_init(st, err, errlen) < 0) {
		notify_transport_fini(st);
		notify_config_free(&st->cfg);
		free(st);
		return -1;
	}
	g_host = host;
	*state = st;
	return 0;
}

static void notify_fini(void *state)
{
	struct notify_state *st = state;
	if (!st)
		return;
	notify_transport_fini(st);
	notify_config_free(&st->cfg);
	free(st);
}

static const salve_plugin notify_plugin_descriptor = {
    SALVE_PLUGIN_HEADER,
    .name = "notify",
    .version = "1.0.0",
    .description = "Slack, PagerDuty, Opsgenie, Teams, webhooks and email; severity routing "
                   "and escalation",
    .actions = actions,
    .settings = notify_settings,
    .init = notify_init,
    .fini = notify_fini,
};

SALVE_PLUGIN_DECLARE(notify_plugin_descriptor)
