/* The table of channels, and what every channel does the same way around its own entry:
 * target checks, prepare's frame, the HTTP dry-run view, delivery results. */
#include "notify_channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct notify_channel *const notify_channels[] = {
    &notify_slack_channel,
    &notify_pagerduty_channel,
    &notify_opsgenie_channel,
    &notify_teams_channel,
    &notify_webhook_channel,
    &notify_email_channel,
    NULL,
};

static const struct notify_channel *find_n(const char *name, size_t n)
{
	for (const struct notify_channel *const *ch = notify_channels; *ch; ch++)
		if (strlen((*ch)->name) == n && strncmp((*ch)->name, name, n) == 0)
			return *ch;
	return NULL;
}

const struct notify_channel *notify_channel_find(const char *name)
{
	return find_n(name, strlen(name));
}

const struct notify_channel *notify_target_parse(const struct notify_config *cfg,
                                                 const char *target, const char **rest, char *err,
                                                 size_t errlen)
{
	const char *colon = target ? strchr(target, ':') : NULL;
	if (!colon) {
		snprintf(err, errlen,
		         "target \"%s\" must be SCHEME:... (slack:, pagerduty:, opsgenie:, teams:, "
		         "email:, webhook:NAME)",
		         target ? target : "");
		return NULL;
	}
	const struct notify_channel *ch = find_n(target, (size_t)(colon - target));
	if (!ch) {
		snprintf(err, errlen,
		         "target \"%s\": unknown scheme (slack:, pagerduty:, opsgenie:, teams:, "
		         "email:, webhook:NAME)",
		         target);
		return NULL;
	}
	if (ch->configured && !ch->configured(cfg)) {
		snprintf(err, errlen, "target \"%s\": notify.%s is not configured", target,
		         ch->name);
		return NULL;
	}
	*rest = colon + 1;
	if (ch->check_target && ch->check_target(cfg, target, *rest, err, errlen) < 0)
		return NULL;
	return ch;
}

int notify_prepare(const struct notify_config *cfg, const struct notify_channel *ch,
                   const char *rest, const struct notify_msg *msg, const json_t *args,
                   struct notify_prepared *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->ch = ch;
	snprintf(p->channel, sizeof p->channel, "%s", ch->name);
	if (ch->configured && !ch->configured(cfg)) {
		snprintf(err, errlen, "%s: notify.%s is not configured", ch->name, ch->name);
		return SALVE_ERR_INVALID;
	}
	int rc = ch->prepare(cfg, (rest && *rest) ? rest : NULL, msg, args, p, err, errlen);
	if (rc < 0 || ch->send)
		return rc;
	if (!p->body) {
		snprintf(err, errlen, "%s: out of memory building the message", p->channel);
		return SALVE_ERR;
	}
	p->http.channel = p->channel;
	p->http.target = p->target;
	p->http.url_path = p->url_path;
	p->http.body = p->body;
	return SALVE_OK;
}

/* Where the POST goes and what it carries, secrets shown by reference only. */
static void render_http(const struct notify_prepared *p, json_t *r)
{
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
}

json_t *notify_prepared_render(const struct notify_config *cfg, const struct notify_prepared *p)
{
	json_t *r = json_pack("{s:s}", "channel", p->channel);
	if (p->target)
		json_object_set_new(r, "target", json_string(p->target));
	if (p->ch->render)
		p->ch->render(cfg, p, r);
	else
		render_http(p, r);
	return r;
}

int notify_prepared_send(struct notify_state *st, salve_call *call, const struct notify_prepared *p,
                         json_t **result, char *err, size_t errlen)
{
	struct notify_outcome out;
	int rc = p->ch->send ? p->ch->send(st, call, p, &out)
	                     : notify_http_post(st, call, &p->http, &out);
	if (rc < 0) {
		snprintf(err, errlen, "%s", out.error);
		json_decref(out.response);
		return rc;
	}
	json_t *r = json_pack("{s:s, s:I, s:i}", "channel", p->channel, "status",
	                      (json_int_t)out.status, "attempts", out.attempts);
	if (p->target)
		json_object_set_new(r, "target", json_string(p->target));
	if (st->host->drill(call) == 1)
		json_object_set_new(r, "drill", json_true());
	if (p->ch->describe)
		p->ch->describe(p, out.response, r);
	json_decref(out.response);
	*result = r;
	return SALVE_OK;
}

void notify_prepared_free(struct notify_prepared *p)
{
	free(p->target);
	json_decref(p->body);
	free(p->url_path);
	json_decref(p->to);
	notify_email_free(&p->email);
	memset(p, 0, sizeof *p);
}
