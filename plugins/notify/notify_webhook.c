/* Generic webhooks: a JSON POST to a configured (webhooks: NAME: {url, headers, body}) or
 * given URL, with the standard body or a template whose {{placeholders}} take the message's
 * values. */
#include "notify_channel.h"
#include "notify_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------------------- */

/* One webhook (webhooks: NAME: {...}). */
const salve_setting notify_webhook_settings[] = {
    {.name = "url",
     .type = SALVE_T_STRING,
     .flags = SALVE_ARG_REQUIRED,
     .description = "an http(s) URL, or a secret reference when the URL carries a token"},
    {.name = "headers", .type = SALVE_T_MAP, .description = "{Name = value or secret reference}"},
    {.name = "body",
     .type = SALVE_T_ANY,
     .description = "a template string or map (default: the standard body)"},
    {.name = NULL},
};

/* What the table cannot say: the URL's form, one-line headers, the body's type. */
static int webhook_check(const json_t *w, const char *where, char *err, size_t errlen)
{
	const char *url = json_string_value(json_object_get(w, "url"));
	if (!notify_is_secret_ref(url) && !notify_is_http_url(url)) {
		notify_read_error(err, errlen,
		                  "%s.url: must be an http(s) URL or a secret reference", where);
		return -1;
	}
	const char *hname;
	json_t *hv;
	json_object_foreach(json_object_get(w, "headers"), hname, hv)
	{
		const char *s = json_string_value(hv);
		if (!s || strpbrk(s, "\r\n") || !*hname || strpbrk(hname, ": \t\r\n")) {
			notify_read_error(err, errlen, "%s.headers.%s: must be a one-line string",
			                  where, hname);
			return -1;
		}
	}
	json_t *body = json_object_get(w, "body");
	if (body && !json_is_string(body) && !json_is_object(body) && !json_is_array(body)) {
		notify_read_error(err, errlen, "%s.body: must be a template string or a map",
		                  where);
		return -1;
	}
	return 0;
}

static int webhook_one(const char *name, const json_t *w, struct notify_webhook *hook, char *err,
                       size_t errlen)
{
	char where[256];
	snprintf(where, sizeof where, NOTIFY_WHERE ".webhooks.%s", name);
	int rc = webhook_check(w, where, err, errlen);
	if (rc == 0 &&
	    (!(hook->name = strdup(name)) || notify_copy_string(w, "url", &hook->url) < 0))
		rc = -1;
	if (rc == 0) {
		hook->url_is_ref = notify_is_secret_ref(hook->url);
		hook->headers = json_incref(json_object_get(w, "headers"));
		hook->body = json_incref(json_object_get(w, "body"));
	}
	return rc;
}

static int webhook_parse(const json_t *o, struct notify_config *cfg, char *err, size_t errlen)
{
	if (json_object_size(o) == 0)
		return 0;
	cfg->webhooks = calloc(json_object_size(o), sizeof *cfg->webhooks);
	if (!cfg->webhooks)
		return -1;
	const char *name;
	json_t *w;
	json_object_foreach((json_t *)o, name, w)
	{
		if (webhook_one(name, w, &cfg->webhooks[cfg->nwebhooks++], err, errlen) < 0)
			return -1;
	}
	return 0;
}

const struct notify_webhook *notify_webhook_find(const struct notify_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nwebhooks; i++)
		if (strcmp(cfg->webhooks[i].name, name) == 0)
			return &cfg->webhooks[i];
	return NULL;
}

static int webhook_check_target(const struct notify_config *cfg, const char *target,
                                const char *rest, char *err, size_t errlen)
{
	if (notify_webhook_find(cfg, rest))
		return 0;
	snprintf(err, errlen, "target \"%s\": no webhooks.%s in the configuration", target, rest);
	return -1;
}

/* ---- bodies ---------------------------------------------------------------------------- */

static json_t *webhook_default_body(const struct notify_msg *msg)
{
	char *text = notify_drill_line(msg, msg->text);
	char *summary = notify_drill_line(msg, msg->summary);
	json_t *body = json_pack("{s:o, s:o, s:s, s:b}", "text", notify_json_string_take(text),
	                         "summary", notify_json_string_take(summary), "severity",
	                         notify_severity_name(msg->severity), "drill", msg->drill);
	json_t *facts = notify_facts_object(msg);
	json_object_del(facts, "drill");
	json_object_update(body, facts);
	json_decref(facts);
	if (msg->fields)
		json_object_set(body, "fields", (json_t *)msg->fields);
	return body;
}

/* The value of {{name}}; *known = 0 when the name is not a placeholder. malloc'd. */
static char *template_value(const struct notify_msg *msg, const char *name, int *known)
{
	*known = 1;
	const struct {
		const char *name;
		const char *value;
	} plain[] = {
	    {"run_id", msg->run_id},   {"runbook", msg->runbook},         {"step", msg->step},
	    {"trigger", msg->trigger}, {"fingerprint", msg->fingerprint}, {"mode", msg->mode},
	    {"outcome", msg->outcome}, {"target", msg->target},
	};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (strcmp(name, plain[i].name) == 0)
			return strdup(plain[i].value ? plain[i].value : "");
	if (strcmp(name, "text") == 0)
		return notify_drill_line(msg, msg->text);
	if (strcmp(name, "summary") == 0)
		return notify_drill_line(msg, msg->summary);
	if (strcmp(name, "severity") == 0)
		return strdup(notify_severity_name(msg->severity));
	if (strcmp(name, "drill") == 0)
		return strdup(msg->drill ? "true" : "false");
	if (strcmp(name, "level") == 0) {
		char *s = NULL;
		if (asprintf(&s, "%d", msg->level) < 0)
			s = NULL;
		return s;
	}
	if (strncmp(name, "fields.", 7) == 0) {
		const json_t *v = json_object_get(msg->fields, name + 7);
		return v ? notify_value_text(v) : strdup("");
	}
	*known = 0;
	return NULL;
}

/* Append value to b; json_escape: as the inside of a JSON string literal. */
static void append_value(struct notify_sbuf *b, const char *value, int json_escape)
{
	if (!value) {
		b->failed = 1;
		return;
	}
	if (!json_escape) {
		notify_sbuf_puts(b, value);
		return;
	}
	json_t *j = json_string(value);
	char *quoted = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (quoted)
		notify_sbuf_add(b, quoted + 1, strlen(quoted) - 2); /* without the quotes */
	else
		b->failed = 1;
	free(quoted);
}

/* The name inside "{{ name }}" (open and close point at the braces), blanks trimmed. */
static void placeholder_name(const char *open, const char *close, char name[128])
{
	const char *n0 = open + 2, *n1 = close;
	while (n0 < n1 && *n0 == ' ')
		n0++;
	while (n1 > n0 && n1[-1] == ' ')
		n1--;
	size_t nlen = (size_t)(n1 - n0);
	if (nlen >= 128)
		nlen = 127;
	memcpy(name, n0, nlen);
	name[nlen] = '\0';
}

/* Expand placeholders in s. json_escape: values go inside a JSON string literal. */
static char *expand(const char *s, const struct notify_msg *msg, int json_escape, char *err,
                    size_t errlen)
{
	struct notify_sbuf b = {0};
	const char *p = s;
	for (;;) {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		if (!close) {
			notify_sbuf_puts(&b, p);
			break;
		}
		notify_sbuf_add(&b, p, (size_t)(open - p));
		char name[128];
		placeholder_name(open, close, name);
		int known;
		char *value = template_value(msg, name, &known);
		if (!known) {
			snprintf(
			    err, errlen,
			    "webhook body: unknown placeholder {{%s}} (known: run_id, runbook, "
			    "step, trigger, fingerprint, mode, outcome, target, text, summary, "
			    "severity, drill, level, fields.NAME)",
			    name);
			free(b.s);
			return NULL;
		}
		append_value(&b, value, json_escape);
		free(value);
		p = close + 2;
	}
	char *out = notify_sbuf_take(&b);
	if (!out)
		snprintf(err, errlen, "webhook body: out of memory");
	return out;
}

static json_t *expand_tree(const json_t *v, const struct notify_msg *msg, char *err, size_t errlen)
{
	if (json_is_string(v)) {
		char *s = expand(json_string_value(v), msg, 0, err, errlen);
		if (!s)
			return NULL;
		json_t *j = json_string(s);
		free(s);
		if (!j)
			snprintf(err, errlen, "webhook body: a value is not valid UTF-8");
		return j;
	}
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *item;
		json_object_foreach((json_t *)v, k, item)
		{
			json_t *e = expand_tree(item, msg, err, errlen);
			if (!e) {
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, k, e);
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();
		size_t i;
		json_t *item;
		json_array_foreach(v, i, item)
		{
			json_t *e = expand_tree(item, msg, err, errlen);
			if (!e) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, e);
		}
		return a;
	}
	return json_deep_copy(v);
}

/* Substitute {{name}} placeholders in a template: a string template gets JSON-escaped values
 * and must then parse as JSON; an object or array gets raw values in every string. */
static json_t *webhook_template_body(const json_t *tmpl, const struct notify_msg *msg, char *err,
                                     size_t errlen)
{
	if (!json_is_string(tmpl))
		return expand_tree(tmpl, msg, err, errlen);
	char *text = expand(json_string_value(tmpl), msg, 1, err, errlen);
	if (!text)
		return NULL;
	json_error_t jerr;
	json_t *body = json_loads(text, JSON_DECODE_ANY, &jerr);
	free(text);
	if (!body)
		snprintf(err, errlen,
		         "webhook body: the template is not JSON after substitution (line %d, "
		         "column %d: %s)",
		         jerr.line, jerr.column, jerr.text);
	return body;
}

/* ---- prepare --------------------------------------------------------------------------- */

/* Where the POST goes: a configured webhook (rest, else args.name) or args.url. */
static int webhook_endpoint(const struct notify_config *cfg, const char *rest, const json_t *args,
                            struct notify_prepared *p, const struct notify_webhook **hook,
                            char *err, size_t errlen)
{
	const char *name = rest ? rest : notify_arg_str(args, "name");
	const char *url = rest ? NULL : notify_arg_str(args, "url");
	*hook = NULL;
	if (name && url) {
		snprintf(err, errlen, "webhook: give name= or url=, not both");
		return SALVE_ERR_INVALID;
	}
	if (url) {
		if (!notify_is_http_url(url)) {
			snprintf(err, errlen, "webhook: url must be http:// or https://");
			return SALVE_ERR_INVALID;
		}
		p->http.url = url;
		p->url_from_args = 1;
		return SALVE_OK;
	}
	if (name && (*hook = notify_webhook_find(cfg, name))) {
		snprintf(p->channel, sizeof p->channel, "webhook:%.80s", name);
		if ((*hook)->url_is_ref)
			p->http.url_ref = (*hook)->url;
		else
			p->http.url = (*hook)->url;
		p->http.headers = (*hook)->headers;
		return SALVE_OK;
	}
	if (name)
		snprintf(err, errlen, "webhook: no notify.webhooks.%.64s", name);
	else
		snprintf(err, errlen, "webhook: give name= (a configured webhook) or url=");
	return SALVE_ERR_INVALID;
}

static int webhook_prepare(const struct notify_config *cfg, const char *rest,
                           const struct notify_msg *msg, const json_t *args,
                           struct notify_prepared *p, char *err, size_t errlen)
{
	const struct notify_webhook *hook;
	int rc = webhook_endpoint(cfg, rest, args, p, &hook, err, errlen);
	if (rc < 0)
		return rc;
	const json_t *tmpl = json_object_get(args, "body");
	if (!tmpl || json_is_null(tmpl))
		tmpl = hook ? hook->body : NULL;
	if (!tmpl) {
		p->body = webhook_default_body(msg);
		return SALVE_OK;
	}
	if (!json_is_string(tmpl) && !json_is_object(tmpl) && !json_is_array(tmpl)) {
		snprintf(err, errlen, "webhook: body must be a template string or a table");
		return SALVE_ERR_INVALID;
	}
	char why[NOTIFY_ERRLEN];
	p->body = webhook_template_body(tmpl, msg, why, sizeof why);
	if (!p->body) {
		snprintf(err, errlen, "%.90s: %.400s", p->channel, why);
		return SALVE_ERR_INVALID;
	}
	return SALVE_OK;
}

const struct notify_channel notify_webhook_channel = {
    .name = "webhook",
    .config_key = "webhooks",
    .parse = webhook_parse,
    .check_target = webhook_check_target,
    .prepare = webhook_prepare,
};
