/* The notify plugin: channel actions (slack, pagerduty, opsgenie, teams, webhook, email), the
 * dispatching ones (send, page, escalate) and escalation_policy. Every notify action has
 * `render` (dry-run prints it; nothing is sent, no secret is resolved) and `run` (sends; in a
 * drill every message says [DRILL]). Both go through prepare(), so what dry-run shows is what
 * run sends. */
#include "notify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 1024

/* One message to one channel, ready to render or send. */
struct prepared {
	char channel[96]; /* "slack", "pagerduty", "webhook:tickets", "email": audited */
	char *target;     /* "#ops", dedup key, alias, recipients; not secret; may be NULL */
	int is_email;
	struct notify_http_request http;
	json_t *body;
	char *url_path;
	int url_from_args; /* the URL came from the call (a secret argument): never shown */
	json_t *to;        /* email recipients */
	struct notify_email email;
	enum { KIND_PLAIN, KIND_PAGERDUTY, KIND_OPSGENIE } kind;
	char *dedup_key; /* pagerduty: what was sent, for the result */
	char *alias;     /* opsgenie */
	const char *event_action;
};

static void prepared_free(struct prepared *p)
{
	free(p->target);
	json_decref(p->body);
	free(p->url_path);
	json_decref(p->to);
	notify_email_free(&p->email);
	free(p->dedup_key);
	free(p->alias);
	memset(p, 0, sizeof *p);
}

static const char *arg_str(const json_t *args, const char *key)
{
	const char *s = json_string_value(json_object_get(args, key));
	return (s && *s) ? s : NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Recipients from "a@b,c@d", a list, or the configured default. */
static int email_recipients(const struct notify_config *cfg, const char *list, const json_t *arg,
                            json_t **out, char *err)
{
	json_t *to = json_array();
	if (list && *list) {
		char *copy = strdup(list);
		if (!copy) {
			snprintf(err, ERRLEN, "email: out of memory");
			json_decref(to);
			return SALVE_ERR;
		}
		for (char *save = NULL, *a = strtok_r(copy, ",", &save); a;
		     a = strtok_r(NULL, ",", &save)) {
			while (*a == ' ')
				a++;
			json_array_append_new(to, json_string(a));
		}
		free(copy);
	} else if (json_is_string(arg)) {
		json_array_append_new(to, json_string(json_string_value(arg)));
	} else if (json_is_array(arg)) {
		json_array_extend(to, (json_t *)arg);
	} else {
		json_array_extend(to, cfg->smtp_to);
	}
	if (json_array_size(to) == 0) {
		snprintf(err, ERRLEN,
		         "email: no recipients (give to= or configure notify.email.to)");
		json_decref(to);
		return SALVE_ERR_INVALID;
	}
	size_t i;
	json_t *a;
	json_array_foreach(to, i, a)
	{
		if (!notify_valid_address(json_string_value(a))) {
			snprintf(err, ERRLEN, "email: recipient %zu is not an address", i + 1);
			json_decref(to);
			return SALVE_ERR_INVALID;
		}
	}
	*out = to;
	return SALVE_OK;
}

static int one_of(const char *s, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(s, *allowed) == 0)
			return 1;
	return 0;
}

/* Build what scheme (with rest after the colon) would send for msg. args carry the channel's
 * own options (event_action, alias, body, ...). */
static int prepare(struct notify_state *st, const char *scheme, const char *rest,
                   const struct notify_msg *msg, const json_t *args, struct prepared *p, char *err)
{
	const struct notify_config *cfg = &st->cfg;
	memset(p, 0, sizeof *p);
	rest = (rest && *rest) ? rest : NULL;

	if (strcmp(scheme, "slack") == 0) {
		if (!cfg->slack_url_ref) {
			snprintf(err, ERRLEN, "slack: notify.slack is not configured");
			return SALVE_ERR_INVALID;
		}
		if (!*msg->text) {
			snprintf(err, ERRLEN, "slack: text is required");
			return SALVE_ERR_INVALID;
		}
		const char *channel = rest ? rest : cfg->slack_channel;
		snprintf(p->channel, sizeof p->channel, "slack");
		p->target = dup_or_null(channel);
		p->body = notify_build_slack(cfg, msg, channel);
		p->http.url_ref = cfg->slack_url_ref;
	} else if (strcmp(scheme, "pagerduty") == 0) {
		static const char *const actions[] = {"trigger", "acknowledge", "resolve", NULL};
		const char *action = arg_str(args, "event_action");
		if (!action)
			action = "trigger";
		if (!one_of(action, actions)) {
			snprintf(err, ERRLEN,
			         "pagerduty: event_action must be trigger, acknowledge or resolve");
			return SALVE_ERR_INVALID;
		}
		const char *key_ref = cfg->pd_key_ref;
		const char *service = arg_str(args, "service");
		if (rest)
			service = rest;
		if (service)
			key_ref = json_string_value(json_object_get(cfg->pd_services, service));
		if (!key_ref) {
			if (service)
				snprintf(err, ERRLEN,
				         "pagerduty: no notify.pagerduty.services.%.64s", service);
			else
				snprintf(err, ERRLEN,
				         "pagerduty: notify.pagerduty is not configured");
			return SALVE_ERR_INVALID;
		}
		const char *dedup = arg_str(args, "dedup_key");
		if (!dedup)
			dedup = msg->fingerprint; /* so a later resolve closes the same incident */
		if (!dedup && strcmp(action, "trigger") != 0) {
			snprintf(
			    err, ERRLEN,
			    "pagerduty: %s needs dedup_key (or a run with an alert fingerprint)",
			    action);
			return SALVE_ERR_INVALID;
		}
		if (dedup && strlen(dedup) > 255) {
			snprintf(err, ERRLEN, "pagerduty: dedup_key is longer than 255 characters");
			return SALVE_ERR_INVALID;
		}
		if (strcmp(action, "trigger") == 0 && !*msg->summary) {
			snprintf(err, ERRLEN, "pagerduty: trigger needs summary (or text)");
			return SALVE_ERR_INVALID;
		}
		if (service)
			snprintf(p->channel, sizeof p->channel, "pagerduty:%.80s", service);
		else
			snprintf(p->channel, sizeof p->channel, "pagerduty");
		p->kind = KIND_PAGERDUTY;
		p->event_action = action;
		p->dedup_key = dup_or_null(dedup);
		p->target = dup_or_null(dedup);
		p->body = notify_build_pagerduty(cfg, msg, args, action, dedup);
		p->http.url = cfg->pd_url;
		p->http.body_key_ref = key_ref;
		p->http.body_key_name = "routing_key";
	} else if (strcmp(scheme, "opsgenie") == 0) {
		static const char *const actions[] = {"create", "close", "acknowledge", NULL};
		static const char *const priorities[] = {"P1", "P2", "P3", "P4", "P5", NULL};
		if (!cfg->og_key_ref) {
			snprintf(err, ERRLEN, "opsgenie: notify.opsgenie is not configured");
			return SALVE_ERR_INVALID;
		}
		const char *action = arg_str(args, "action");
		if (!action)
			action = "create";
		if (!one_of(action, actions)) {
			snprintf(err, ERRLEN,
			         "opsgenie: action must be create, close or acknowledge");
			return SALVE_ERR_INVALID;
		}
		const char *priority = arg_str(args, "priority");
		if (priority && !one_of(priority, priorities)) {
			snprintf(err, ERRLEN, "opsgenie: priority must be P1..P5");
			return SALVE_ERR_INVALID;
		}
		const char *alias = arg_str(args, "alias");
		if (!alias)
			alias = msg->fingerprint;
		if (alias && strlen(alias) > 512) {
			snprintf(err, ERRLEN, "opsgenie: alias is longer than 512 characters");
			return SALVE_ERR_INVALID;
		}
		snprintf(p->channel, sizeof p->channel, "opsgenie");
		p->kind = KIND_OPSGENIE;
		p->event_action = action;
		p->alias = dup_or_null(alias);
		p->target = dup_or_null(alias);
		if (strcmp(action, "create") == 0) {
			if (!*msg->summary) {
				snprintf(err, ERRLEN, "opsgenie: create needs message (or text)");
				return SALVE_ERR_INVALID;
			}
			p->body = notify_build_opsgenie_create(cfg, msg, args, alias);
			p->url_path = strdup("/v2/alerts");
		} else {
			if (!alias) {
				snprintf(
				    err, ERRLEN,
				    "opsgenie: %s needs alias (or a run with an alert fingerprint)",
				    action);
				return SALVE_ERR_INVALID;
			}
			char *escaped = curl_easy_escape(NULL, alias, 0);
			if (!escaped ||
			    asprintf(&p->url_path, "/v2/alerts/%s/%s?identifierType=alias", escaped,
			             action) < 0)
				p->url_path = NULL;
			curl_free(escaped);
			p->body = notify_build_opsgenie_close(msg, args, action);
		}
		p->http.url = cfg->og_url;
		p->http.auth_ref = cfg->og_key_ref;
		p->http.auth_scheme = "GenieKey";
	} else if (strcmp(scheme, "teams") == 0) {
		if (!cfg->teams_url_ref) {
			snprintf(err, ERRLEN, "teams: notify.teams is not configured");
			return SALVE_ERR_INVALID;
		}
		if (!*msg->text) {
			snprintf(err, ERRLEN, "teams: text is required");
			return SALVE_ERR_INVALID;
		}
		snprintf(p->channel, sizeof p->channel, "teams");
		p->body = notify_build_teams(cfg, msg);
		p->http.url_ref = cfg->teams_url_ref;
		p->http.failure_text = "delivery failed";
	} else if (strcmp(scheme, "webhook") == 0) {
		const char *name = rest ? rest : arg_str(args, "name");
		const char *url = rest ? NULL : arg_str(args, "url");
		const struct notify_webhook *hook = NULL;
		if (name && url) {
			snprintf(err, ERRLEN, "webhook: give name= or url=, not both");
			return SALVE_ERR_INVALID;
		}
		if (url) {
			if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
				snprintf(err, ERRLEN, "webhook: url must be http:// or https://");
				return SALVE_ERR_INVALID;
			}
			snprintf(p->channel, sizeof p->channel, "webhook");
			p->http.url = url;
			p->url_from_args = 1;
		} else if (name && (hook = notify_config_webhook(cfg, name))) {
			snprintf(p->channel, sizeof p->channel, "webhook:%.80s", name);
			if (hook->url_is_ref)
				p->http.url_ref = hook->url;
			else
				p->http.url = hook->url;
			p->http.headers = hook->headers;
		} else {
			if (name)
				snprintf(err, ERRLEN, "webhook: no notify.webhooks.%.64s", name);
			else
				snprintf(err, ERRLEN,
				         "webhook: give name= (a configured webhook) or url=");
			return SALVE_ERR_INVALID;
		}
		const json_t *tmpl = json_object_get(args, "body");
		if (!tmpl || json_is_null(tmpl))
			tmpl = hook ? hook->body : NULL;
		if (tmpl) {
			if (!json_is_string(tmpl) && !json_is_object(tmpl) &&
			    !json_is_array(tmpl)) {
				snprintf(err, ERRLEN,
				         "webhook: body must be a template string or a table");
				return SALVE_ERR_INVALID;
			}
			char why[ERRLEN];
			p->body = notify_build_webhook_template(tmpl, msg, why, sizeof why);
			if (!p->body) {
				snprintf(err, ERRLEN, "%.90s: %.400s", p->channel, why);
				return SALVE_ERR_INVALID;
			}
		} else {
			p->body = notify_build_webhook_default(msg);
		}
	} else if (strcmp(scheme, "email") == 0) {
		if (!cfg->smtp_url) {
			snprintf(err, ERRLEN, "email: notify.email is not configured");
			return SALVE_ERR_INVALID;
		}
		const char *subject = arg_str(args, "subject");
		const char *body = arg_str(args, "body");
		if (!*msg->text && !body) {
			snprintf(err, ERRLEN, "email: body (or text) is required");
			return SALVE_ERR_INVALID;
		}
		if (!*msg->summary && !subject) {
			snprintf(err, ERRLEN, "email: subject (or summary/text) is required");
			return SALVE_ERR_INVALID;
		}
		int rc = email_recipients(cfg, rest, json_object_get(args, "to"), &p->to, err);
		if (rc < 0)
			return rc;
		snprintf(p->channel, sizeof p->channel, "email");
		p->is_email = 1;
		struct notify_msg m = *msg;
		if (!*m.text)
			m.text = body;
		if (!*m.summary)
			m.summary = subject;
		rc = notify_email_build(cfg, &m, subject, body, p->to, &p->email, err, ERRLEN);
		if (rc < 0)
			return rc;
		p->target = strdup(p->email.to_header);
		return SALVE_OK;
	} else {
		snprintf(err, ERRLEN,
		         "unknown channel \"%.32s\" (slack, pagerduty, opsgenie, teams, email, "
		         "webhook)",
		         scheme);
		return SALVE_ERR_INVALID;
	}
	if (!p->body || ((p->kind == KIND_OPSGENIE) && !p->url_path)) {
		snprintf(err, ERRLEN, "%s: out of memory building the message", p->channel);
		return SALVE_ERR;
	}
	p->http.channel = p->channel;
	p->http.target = p->target;
	p->http.url_path = p->url_path;
	p->http.body = p->body;
	return SALVE_OK;
}

/* What dry-run prints: the exact body, and where secrets would go (by reference only). */
static json_t *render_prepared(const struct notify_state *st, const struct prepared *p)
{
	const struct notify_config *cfg = &st->cfg;
	json_t *r = json_pack("{s:s}", "channel", p->channel);
	if (p->target)
		json_object_set_new(r, "target", json_string(p->target));
	if (p->is_email) {
		json_object_set_new(r, "to", json_copy(p->to));
		json_object_set_new(r, "from", json_string(p->email.from_header));
		json_object_set_new(r, "subject", json_string(p->email.subject));
		json_object_set_new(r, "text", json_string(p->email.text));
		json_object_set_new(r, "html", json_string(p->email.html));
		json_object_set_new(r, "server", json_string(cfg->smtp_url));
		return r;
	}
	char *endpoint = NULL;
	if (p->url_from_args)
		endpoint = strdup("(the url given in the call)");
	else if (p->http.url_ref && asprintf(&endpoint, "(secret %s)", p->http.url_ref) < 0)
		endpoint = NULL;
	else if (!p->http.url_ref &&
	         asprintf(&endpoint, "%s%s", p->http.url, p->url_path ? p->url_path : "") < 0)
		endpoint = NULL;
	json_object_set_new(r, "method", json_string("POST"));
	json_object_set_new(r, "endpoint", json_string(endpoint ? endpoint : ""));
	free(endpoint);
	json_t *body = json_copy(p->body);
	if (p->http.body_key_ref) {
		char *ref = NULL;
		if (asprintf(&ref, "(secret %s)", p->http.body_key_ref) >= 0) {
			json_object_set_new(body, p->http.body_key_name, json_string(ref));
			free(ref);
		}
	}
	json_object_set_new(r, "body", body);
	if (p->http.auth_ref) {
		char *h = NULL;
		if (asprintf(&h, "%s (secret %s)", p->http.auth_scheme, p->http.auth_ref) >= 0) {
			json_object_set_new(r, "headers", json_pack("{s:s}", "Authorization", h));
			free(h);
		}
	}
	return r;
}

static int send_prepared(struct notify_state *st, salve_call *call, const struct prepared *p,
                         json_t **result, char *err)
{
	struct notify_outcome out;
	int rc;
	if (p->is_email) {
		struct notify_smtp_request req = {
		    .channel = p->channel, .to = p->to, .email = &p->email};
		rc = notify_smtp_send(st, call, &req, &out);
	} else {
		rc = notify_http_post(st, call, &p->http, &out);
	}
	if (rc < 0) {
		snprintf(err, ERRLEN, "%s", out.error);
		json_decref(out.response);
		return rc;
	}
	json_t *r = json_pack("{s:s, s:I, s:i}", "channel", p->channel, "status",
	                      (json_int_t)out.status, "attempts", out.attempts);
	if (p->target)
		json_object_set_new(r, "target", json_string(p->target));
	if (st->host->drill(call) == 1)
		json_object_set_new(r, "drill", json_true());
	if (p->kind == KIND_PAGERDUTY) {
		const char *key = json_string_value(json_object_get(out.response, "dedup_key"));
		if (!key)
			key = p->dedup_key;
		if (key)
			json_object_set_new(r, "dedup_key", json_string(key));
		json_object_set_new(r, "event_action", json_string(p->event_action));
	} else if (p->kind == KIND_OPSGENIE) {
		const char *req = json_string_value(json_object_get(out.response, "requestId"));
		if (req)
			json_object_set_new(r, "request_id", json_string(req));
		if (p->alias)
			json_object_set_new(r, "alias", json_string(p->alias));
		json_object_set_new(r, "action", json_string(p->event_action));
	} else if (p->is_email) {
		json_object_set_new(r, "message_id", json_string(p->email.message_id));
	}
	json_decref(out.response);
	*result = r;
	return SALVE_OK;
}

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

/* A single-channel action: build the message, then render or send it. */
static int single(salve_call *call, const json_t *args, json_t **out, enum op op,
                  const char *scheme, const char *rest, enum notify_severity default_sev)
{
	const salve_host *host = g_host;
	struct notify_state *st = state_of(call);
	char err[ERRLEN] = "";
	if (op == OP_RUN && refuse_dry_run(call))
		return SALVE_ERR;
	struct notify_msg msg;
	int rc = notify_msg_from_args(host, call, args, default_sev, &msg, err, sizeof err);
	if (rc < 0) {
		host->fail(call, "notify %s: %s", scheme, err);
		return rc;
	}
	/* Opsgenie calls its one-line text "message". */
	if (strcmp(scheme, "opsgenie") == 0 && arg_str(args, "message")) {
		msg.summary = arg_str(args, "message");
		if (!arg_str(args, "text"))
			msg.text = msg.summary;
	}
	if (!msg.summary)
		msg.summary = "";
	if (!msg.text)
		msg.text = "";
	struct prepared p;
	rc = prepare(st, scheme, rest, &msg, args, &p, err);
	if (rc < 0) {
		host->fail(call, "notify %s", err);
		prepared_free(&p);
		return rc;
	}
	if (op == OP_RENDER) {
		*out = render_prepared(st, &p);
		if (msg.drill)
			json_object_set_new(*out, "drill", json_true());
		rc = SALVE_OK;
	} else {
		rc = send_prepared(st, call, &p, out, err);
		if (rc < 0)
			host->fail(call, "%s", err);
	}
	prepared_free(&p);
	return rc;
}

#define CHANNEL_ACTION(name, scheme, rest_arg, sev)                                                \
	static int name##_run(salve_call *call, const json_t *args, json_t **result)               \
	{                                                                                          \
		return single(call, args, result, OP_RUN, scheme,                                  \
		              rest_arg ? arg_str(args, rest_arg) : NULL, sev);                     \
	}                                                                                          \
	static int name##_render(salve_call *call, const json_t *args, json_t **message)           \
	{                                                                                          \
		return single(call, args, message, OP_RENDER, scheme,                              \
		              rest_arg ? arg_str(args, rest_arg) : NULL, sev);                     \
	}

CHANNEL_ACTION(slack, "slack", "channel", NOTIFY_SEV_INFO)
CHANNEL_ACTION(pagerduty, "pagerduty", "service", NOTIFY_SEV_CRITICAL)
CHANNEL_ACTION(opsgenie, "opsgenie", NULL, NOTIFY_SEV_HIGH)
CHANNEL_ACTION(teams, "teams", NULL, NOTIFY_SEV_INFO)
CHANNEL_ACTION(webhook, "webhook", NULL, NOTIFY_SEV_INFO)
CHANNEL_ACTION(email, "email", NULL, NOTIFY_SEV_INFO)

/* ---- send, page, escalate ------------------------------------------------------------------ */

/* Split "scheme:rest" into scheme (copied into buf) and rest. */
static int split_target(const struct notify_config *cfg, const char *target, char *scheme, size_t n,
                        const char **rest, char *err)
{
	if (notify_target_check(cfg, target, err, ERRLEN) < 0)
		return SALVE_ERR_INVALID;
	const char *colon = strchr(target, ':');
	snprintf(scheme, n, "%.*s", (int)(colon - target), target);
	*rest = colon + 1;
	return SALVE_OK;
}

static int send_common(salve_call *call, const json_t *args, json_t **out, enum op op)
{
	const salve_host *host = g_host;
	struct notify_state *st = state_of(call);
	char err[ERRLEN] = "";
	const char *to = arg_str(args, "to");
	char scheme[32];
	const char *rest;
	if (!to) {
		host->fail(call, "notify send: to is required (e.g. \"slack:#ops\")");
		return SALVE_ERR_INVALID;
	}
	int rc = split_target(&st->cfg, to, scheme, sizeof scheme, &rest, err);
	if (rc < 0) {
		host->fail(call, "notify send: %s", err);
		return rc;
	}
	/* the rest of the target is the channel's own "where": keep args out of that */
	return single(call, args, out, op, scheme, rest, NOTIFY_SEV_INFO);
}

static int send_run(salve_call *call, const json_t *args, json_t **result)
{
	return send_common(call, args, result, OP_RUN);
}

static int send_render(salve_call *call, const json_t *args, json_t **message)
{
	return send_common(call, args, message, OP_RENDER);
}

/* Deliver msg to every target of a list; keep going past failures so one broken channel does
 * not silence the others. */
static int fan_out(salve_call *call, const char *what, const json_t *targets, const json_t *args,
                   enum notify_severity default_sev, int level, json_t **out, enum op op)
{
	const salve_host *host = g_host;
	struct notify_state *st = state_of(call);
	char err[ERRLEN] = "";
	if (op == OP_RUN && refuse_dry_run(call))
		return SALVE_ERR;
	struct notify_msg msg;
	int rc = notify_msg_from_args(host, call, args, default_sev, &msg, err, sizeof err);
	if (rc < 0) {
		host->fail(call, "notify %s: %s", what, err);
		return rc;
	}
	if (!msg.summary || !*msg.summary) {
		host->fail(call, "notify %s: summary is required", what);
		return SALVE_ERR_INVALID;
	}
	msg.level = level;
	if (json_array_size(targets) == 0) {
		host->fail(call, "notify %s: no targets are configured for severity %s", what,
		           notify_severity_name(msg.severity));
		return SALVE_ERR_INVALID;
	}

	/* Pages never go out half-built: prepare every target before sending any. */
	size_t n = json_array_size(targets);
	struct prepared *ps = calloc(n, sizeof *ps);
	if (!ps) {
		host->fail(call, "notify %s: out of memory", what);
		return SALVE_ERR;
	}
	/* The channel-specific options of page/escalate apply where they make sense. */
	json_t *chan_args = json_pack("{s:s}", "event_action", "trigger");
	const char *keys[] = {"dedup_key", "source", "custom_details", "alias", "subject", "body"};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		json_t *v = json_object_get(args, keys[k]);
		if (v)
			json_object_set(chan_args, keys[k], v);
	}
	int final = SALVE_OK;
	for (size_t i = 0; i < n; i++) {
		char scheme[32];
		const char *rest;
		const char *t = json_string_value(json_array_get(targets, i));
		rc = split_target(&st->cfg, t, scheme, sizeof scheme, &rest, err);
		if (rc == SALVE_OK)
			rc = prepare(st, scheme, rest, &msg, chan_args, &ps[i], err);
		if (rc < 0) {
			host->fail(call, "notify %s: target %s: %s", what, t, err);
			final = rc;
			break;
		}
	}
	json_t *list = json_array();
	char failures[2048] = "";
	size_t nfailed = 0;
	int first_failure = SALVE_OK;
	for (size_t i = 0; final == SALVE_OK && i < n; i++) {
		json_t *one = NULL;
		if (op == OP_RENDER) {
			json_array_append_new(list, render_prepared(st, &ps[i]));
			continue;
		}
		rc = send_prepared(st, call, &ps[i], &one, err);
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
	if (final == SALVE_OK && nfailed > 0) {
		host->fail(call, "notify %s (%s): %zu of %zu targets failed: %s", what,
		           notify_severity_name(msg.severity), nfailed, n, failures);
		final = first_failure; /* the first failure's kind is what callers branch on */
	}
	if (final == SALVE_OK) {
		json_t *r =
		    json_pack("{s:s, s:O, s:o}", "severity", notify_severity_name(msg.severity),
		              "targets", targets, op == OP_RENDER ? "messages" : "delivered", list);
		if (level > 0)
			json_object_set_new(r, "level", json_integer(level));
		if (msg.drill)
			json_object_set_new(r, "drill", json_true());
		*out = r;
	} else {
		json_decref(list);
	}
	for (size_t i = 0; i < n; i++)
		prepared_free(&ps[i]);
	free(ps);
	json_decref(chan_args);
	return final;
}

static int page_common(salve_call *call, const json_t *args, json_t **out, enum op op)
{
	struct notify_state *st = state_of(call);
	enum notify_severity sev;
	const char *s = arg_str(args, "severity");
	if (!s || notify_severity_parse(s, &sev) < 0) {
		g_host->fail(call,
		             "notify page: severity must be critical, high, medium, low or info");
		return SALVE_ERR_INVALID;
	}
	return fan_out(call, "page", st->cfg.routing[sev], args, sev, 0, out, op);
}

static int page_run(salve_call *call, const json_t *args, json_t **result)
{
	return page_common(call, args, result, OP_RUN);
}

static int page_render(salve_call *call, const json_t *args, json_t **message)
{
	return page_common(call, args, message, OP_RENDER);
}

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

static int escalate_run(salve_call *call, const json_t *args, json_t **result)
{
	return escalate_common(call, args, result, OP_RUN);
}

static int escalate_render(salve_call *call, const json_t *args, json_t **message)
{
	return escalate_common(call, args, message, OP_RENDER);
}

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

/* ---- descriptor -------------------------------------------------------------------------------
 */

#define COMMON_ARGS                                                                                \
	{"severity", SALVE_T_STRING, 0, "critical, high, medium, low or info"},                    \
	    {"fields", SALVE_T_MAP, 0, "extra facts shown with the message"},                      \
	    {"outcome", SALVE_T_STRING, 0, "what happened (default: the run's outcome)"},          \
	{                                                                                          \
		"target", SALVE_T_STRING, 0, "what the run acted on (default: the run's target)"   \
	}

static const salve_arg slack_args[] = {
    {"text", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the message (escaped for mrkdwn)"},
    {"summary", SALVE_T_STRING, 0, "one-line headline (default: text)"},
    {"channel", SALVE_T_STRING, 0, "#channel (default: notify.slack.channel)"},
    COMMON_ARGS,
    {NULL, 0, 0, NULL},
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
    COMMON_ARGS,
    {NULL, 0, 0, NULL},
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
    COMMON_ARGS,
    {NULL, 0, 0, NULL},
};

static const salve_arg teams_args[] = {
    {"text", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the message"},
    {"summary", SALVE_T_STRING, 0, "card title (default: text)"},
    COMMON_ARGS,
    {NULL, 0, 0, NULL},
};

static const salve_arg webhook_args[] = {
    {"name", SALVE_T_STRING, 0, "a webhook from notify.webhooks"},
    {"url", SALVE_T_STRING, SALVE_ARG_SECRET, "an http(s) URL instead of name"},
    {"body", SALVE_T_ANY, 0, "JSON template string or table with {{run_id}}, {{text}}, ..."},
    {"text", SALVE_T_STRING, 0, "the message ({{text}})"},
    {"summary", SALVE_T_STRING, 0, "one-line headline ({{summary}})"},
    COMMON_ARGS,
    {NULL, 0, 0, NULL},
};

static const salve_arg email_args[] = {
    {"to", SALVE_T_ANY, 0, "address or list (default: notify.email.to)"},
    {"subject", SALVE_T_STRING, 0, "subject (default: [salve] SEVERITY runbook: summary)"},
    {"body", SALVE_T_STRING, 0, "plain-text body (default: text)"},
    {"text", SALVE_T_STRING, 0, "the message when body is absent"},
    {"summary", SALVE_T_STRING, 0, "used in the default subject"},
    COMMON_ARGS,
    {NULL, 0, 0, NULL},
};

static const salve_arg send_args[] = {
    {"to", SALVE_T_STRING, SALVE_ARG_REQUIRED,
     "slack:#chan, pagerduty:, opsgenie:, teams:, email:a@b, webhook:NAME"},
    {"text", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the message"},
    {"summary", SALVE_T_STRING, 0, "one-line headline (default: text)"},
    COMMON_ARGS,
    {NULL, 0, 0, NULL},
};

static const salve_arg page_args[] = {
    {"severity", SALVE_T_STRING, SALVE_ARG_REQUIRED, "picks the targets from notify.routing"},
    {"summary", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one-line headline"},
    {"text", SALVE_T_STRING, 0, "longer text (default: summary)"},
    {"fields", SALVE_T_MAP, 0, "extra facts shown with the message"},
    {"dedup_key", SALVE_T_STRING, 0, "PagerDuty dedup key (default: the alert fingerprint)"},
    {"alias", SALVE_T_STRING, 0, "Opsgenie alias (default: the alert fingerprint)"},
    {"source", SALVE_T_STRING, 0, "PagerDuty source (default: target)"},
    {"custom_details", SALVE_T_MAP, 0, "PagerDuty custom_details"},
    {"subject", SALVE_T_STRING, 0, "email subject"},
    {"outcome", SALVE_T_STRING, 0, "what happened (default: the run's outcome)"},
    {"target", SALVE_T_STRING, 0, "what the run acted on (default: the run's target)"},
    {NULL, 0, 0, NULL},
};

static const salve_arg escalate_args[] = {
    {"level", SALVE_T_INT, SALVE_ARG_REQUIRED, "1-based level of notify.escalation"},
    {"summary", SALVE_T_STRING, SALVE_ARG_REQUIRED, "one-line headline"},
    {"text", SALVE_T_STRING, 0, "longer text (default: summary)"},
    {"severity", SALVE_T_STRING, 0, "default critical"},
    {"fields", SALVE_T_MAP, 0, "extra facts shown with the message"},
    {"dedup_key", SALVE_T_STRING, 0, "PagerDuty dedup key (default: the alert fingerprint)"},
    {"alias", SALVE_T_STRING, 0, "Opsgenie alias (default: the alert fingerprint)"},
    {"outcome", SALVE_T_STRING, 0, "what happened (default: the run's outcome)"},
    {"target", SALVE_T_STRING, 0, "what the run acted on (default: the run's target)"},
    {NULL, 0, 0, NULL},
};

static const salve_arg no_args[] = {{NULL, 0, 0, NULL}};

#define NOTIFY_ACTION(n, a, target, desc)                                                          \
	{                                                                                          \
		.name = #n, .kind = SALVE_NOTIFY, .args = a, .description = desc,                  \
		.target_arg = target, .run = n##_run, .render = n##_render                         \
	}

static const salve_action actions[] = {
    NOTIFY_ACTION(slack, slack_args, "channel", "Slack incoming webhook (Block Kit message)"),
    NOTIFY_ACTION(pagerduty, pagerduty_args, "dedup_key",
                  "PagerDuty Events API v2: trigger, acknowledge or resolve"),
    NOTIFY_ACTION(opsgenie, opsgenie_args, "alias",
                  "Opsgenie Alert API: create, or close/acknowledge by alias"),
    NOTIFY_ACTION(teams, teams_args, NULL, "Microsoft Teams incoming webhook card"),
    NOTIFY_ACTION(webhook, webhook_args, "name", "generic JSON POST from a template"),
    NOTIFY_ACTION(email, email_args, "to", "email over SMTP (STARTTLS or smtps)"),
    NOTIFY_ACTION(send, send_args, "to", "send to one target by its scheme"),
    NOTIFY_ACTION(page, page_args, "severity",
                  "notify the targets notify.routing lists for a severity"),
    NOTIFY_ACTION(escalate, escalate_args, "level",
                  "notify level N of notify.escalation (the core calls it)"),
    {.name = "escalation_policy",
     .kind = SALVE_READ,
     .args = no_args,
     .description = "the escalation chain [{level, wait_seconds, after_seconds, targets}]",
     .run = escalation_policy_run},
    {.name = NULL},
};

static const salve_arg config_schema[] = {
    {"slack", SALVE_T_MAP, 0, "{webhook_url = env:/file: ref, channel, username, icon_emoji}"},
    {"pagerduty", SALVE_T_MAP, 0, "{routing_key = ref, url, source, services = {NAME = ref}}"},
    {"opsgenie", SALVE_T_MAP, 0, "{api_key = ref, url, responders, tags}"},
    {"teams", SALVE_T_MAP, 0, "{webhook_url = ref, format = messagecard|adaptive}"},
    {"webhooks", SALVE_T_MAP, 0, "{NAME = {url, headers, body}}"},
    {"email", SALVE_T_MAP, 0,
     "{url = smtp(s)://host:port, from, from_name, to, username, "
     "password = ref, starttls}"},
    {"routing", SALVE_T_MAP, 0, "{critical|high|medium|low|info = [targets]}"},
    {"escalation", SALVE_T_LIST, 0, "[{wait = \"5m\", to = [targets]}, ...]"},
    {"timeout", SALVE_T_ANY, 0, "per attempt, default 10s"},
    {"connect_timeout", SALVE_T_ANY, 0, "default 5s"},
    {"retry", SALVE_T_MAP, 0, "{attempts = 4, base_delay = 500ms, max_delay = 8s, max_time = 30s}"},
    {"ca_file", SALVE_T_STRING, 0, "CA bundle for https, smtps and STARTTLS"},
    {NULL, 0, 0, NULL},
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
    .config = config_schema,
    .init = notify_init,
    .fini = notify_fini,
};

SALVE_PLUGIN_DECLARE(notify_plugin_descriptor)
