/* Email over SMTP: the message (subject, text and HTML bodies, headers) built here, sent by
 * the transport with STARTTLS or implicit TLS. User text is escaped in HTML and kept to one
 * line in headers; non-ASCII header values are RFC 2047-encoded. */
#include "notify_channel.h"
#include "notify_read.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- configuration ------------------------------------------------------------------- */

const salve_setting notify_email_settings[] = {
    {.name = "url",
     .type = SALVE_T_STRING,
     .flags = SALVE_ARG_REQUIRED,
     .description = "smtp://host:port (STARTTLS) or smtps://host:port (implicit TLS)"},
    {.name = "from",
     .type = SALVE_T_STRING,
     .flags = SALVE_ARG_REQUIRED,
     .description = "the sender's address"},
    {.name = "from_name",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "the sender's name"},
    {.name = "to",
     .type = SALVE_T_LIST,
     .flags = SALVE_SETTING_STRINGS,
     .description = "an address or a list: the recipients of email:"},
    {.name = "username",
     .type = SALVE_T_STRING,
     .flags = SALVE_SETTING_MIN,
     .min = 1,
     .description = "SMTP login"},
    {.name = "password", .type = SALVE_T_SECRET_REF, .description = "SMTP password"},
    {.name = "starttls",
     .type = SALVE_T_BOOL,
     .default_value = "true",
     .description = "require STARTTLS on smtp://"},
    {.name = NULL},
};

/* What the table cannot say: the URL's scheme, addresses, and rules across keys. */
static int email_validate(struct notify_config *cfg, char *err, size_t errlen)
{
	if (strncmp(cfg->smtp_url, "smtp://", 7) != 0 &&
	    strncmp(cfg->smtp_url, "smtps://", 8) != 0) {
		notify_read_error(err, errlen,
		                  NOTIFY_WHERE ".email.url: must be smtp://host:port (STARTTLS) or "
		                               "smtps://host:port (implicit TLS)");
		return -1;
	}
	if (!notify_valid_address(cfg->smtp_from)) {
		notify_read_error(err, errlen,
		                  NOTIFY_WHERE ".email.from: must be an address such as "
		                               "salve@example.org");
		return -1;
	}
	if (cfg->smtp_from_name && strpbrk(cfg->smtp_from_name, "\r\n")) {
		notify_read_error(err, errlen, NOTIFY_WHERE ".email.from_name: must be one line");
		return -1;
	}
	if (!cfg->smtp_to)
		cfg->smtp_to = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(cfg->smtp_to, i, a)
	{
		if (!notify_valid_address(json_string_value(a))) {
			notify_read_error(err, errlen,
			                  NOTIFY_WHERE ".email.to[%zu]: is not an address", i);
			return -1;
		}
	}
	if (cfg->smtp_password_ref && strncmp(cfg->smtp_url, "smtp://", 7) == 0 &&
	    !cfg->smtp_starttls) {
		notify_read_error(err, errlen,
		                  NOTIFY_WHERE ".email.password: would cross the network in clear: "
		                               "use starttls: true or an smtps:// url");
		return -1;
	}
	if (cfg->smtp_password_ref && !cfg->smtp_username) {
		notify_read_error(err, errlen, NOTIFY_WHERE ".email.password: needs username");
		return -1;
	}
	return 0;
}

static int email_parse(const json_t *o, struct notify_config *cfg, char *err, size_t errlen)
{
	cfg->smtp_starttls = json_is_true(json_object_get(o, "starttls"));
	if (notify_copy_string(o, "url", &cfg->smtp_url) < 0 ||
	    notify_copy_string(o, "from", &cfg->smtp_from) < 0 ||
	    notify_copy_string(o, "from_name", &cfg->smtp_from_name) < 0 ||
	    notify_copy_string(o, "username", &cfg->smtp_username) < 0 ||
	    notify_copy_string(o, "password", &cfg->smtp_password_ref) < 0)
		return -1;
	cfg->smtp_to = json_incref(json_object_get(o, "to"));
	return email_validate(cfg, err, errlen);
}

static int email_configured(const struct notify_config *cfg)
{
	return cfg->smtp_url != NULL;
}

/* "email:" needs default recipients, "email:a@b,c@d" addresses. */
static int email_check_target(const struct notify_config *cfg, const char *target, const char *rest,
                              char *err, size_t errlen)
{
	if (!*rest) {
		if (json_array_size(cfg->smtp_to) > 0)
			return 0;
		snprintf(err, errlen,
		         "target \"email:\" needs addresses (email:a@b) or notify.email.to");
		return -1;
	}
	json_t *list = json_array();
	if (!list || notify_split_addresses(rest, list) < 0) {
		json_decref(list);
		return -1;
	}
	size_t i;
	json_t *a;
	int ok = 1;
	json_array_foreach(list, i, a)
	{
		if (!notify_valid_address(json_string_value(a)))
			ok = 0;
	}
	json_decref(list);
	if (!ok) {
		snprintf(err, errlen, "target \"%s\": not a list of addresses", target);
		return -1;
	}
	return 0;
}

/* ---- the message ---------------------------------------------------------------------- */

static int is_plain_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

/* Encode a header value per RFC 2047 (UTF-8, base64) when it is not printable ASCII. */
static char *rfc2047(const char *s)
{
	if (is_plain_ascii(s) && !strstr(s, "=?"))
		return strdup(s);
	/* Encoded words of at most 45 input bytes (60 base64 characters, 72 with the
	 * "=?UTF-8?B?" and "?=" around them: under the 75 RFC 2047 allows), split between
	 * UTF-8 characters so each word decodes on its own. */
	struct notify_sbuf b = {0};
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t take = n - i < 45 ? n - i : 45;
		while (take > 0 && i + take < n && ((unsigned char)s[i + take] & 0xC0) == 0x80)
			take--;
		if (take == 0)
			take = n - i < 45 ? n - i : 45;
		unsigned char enc[64];
		int len = EVP_EncodeBlock(enc, (const unsigned char *)s + i, (int)take);
		notify_sbuf_printf(&b, "%s=?UTF-8?B?%.*s?=", i ? " " : "", len, (const char *)enc);
		i += take;
	}
	return notify_sbuf_take(&b);
}

static char *one_line(const char *s)
{
	char *o = strdup(s ? s : "");
	for (char *p = o; p && *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	return o;
}

static void rfc5322_date(char out[64])
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	/* Names from tables, not strftime: the host's locale must not leak into a header. */
	snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
	         months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static char *display_name(const char *name)
{
	if (is_plain_ascii(name)) {
		struct notify_sbuf b = {0};
		notify_sbuf_puts(&b, "\"");
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				notify_sbuf_puts(&b, "\\");
			notify_sbuf_add(&b, p, 1);
		}
		notify_sbuf_puts(&b, "\"");
		return notify_sbuf_take(&b);
	}
	return rfc2047(name);
}

/* Subject: given, or "[salve] SEVERITY runbook: summary"; one line, at most 250 bytes. */
static void email_subject(const struct notify_msg *msg, const char *subject,
                          struct notify_email *out)
{
	struct notify_sbuf b = {0};
	char *sev = notify_upper(notify_severity_name(msg->severity));
	char *subject_line = one_line(subject ? subject : msg->summary);
	if (subject)
		notify_sbuf_printf(&b, "%s%s", notify_drill_prefix(msg), subject_line);
	else if (msg->runbook)
		notify_sbuf_printf(&b, "%s[salve] %s %s: %s", notify_drill_prefix(msg), sev,
		                   msg->runbook, subject_line);
	else
		notify_sbuf_printf(&b, "%s[salve] %s: %s", notify_drill_prefix(msg), sev,
		                   subject_line);
	free(subject_line);
	free(sev);
	char *full = notify_sbuf_take(&b);
	char *clean = one_line(full);
	free(full);
	out->subject = clean ? notify_truncate_utf8(clean, 250) : NULL;
	free(clean);
	out->subject_header = out->subject ? rfc2047(out->subject) : NULL;
}

/* The facts and the user's fields, in the order both bodies show them. */
struct email_facts {
	struct notify_facts run;
	const char **keys; /* the fields' names, sorted; malloc'd */
	size_t nk;
};

static char *email_text(const struct notify_msg *msg, const char *main_text,
                        const struct email_facts *f)
{
	struct notify_sbuf b = {0};
	if (msg->drill)
		notify_sbuf_puts(
		    &b, "[DRILL] This message is part of a drill; no action is needed.\n\n");
	notify_sbuf_printf(&b, "%s\n\nSeverity: %s\n", main_text,
	                   notify_severity_name(msg->severity));
	for (size_t i = 0; i < f->run.n; i++)
		notify_sbuf_printf(&b, "%s: %s\n", f->run.item[i].label, f->run.item[i].value);
	for (size_t i = 0; i < f->nk; i++) {
		char *v = notify_value_text(json_object_get(msg->fields, f->keys[i]));
		notify_sbuf_printf(&b, "%s: %s\n", f->keys[i], v ? v : "");
		free(v);
	}
	notify_sbuf_puts(&b, "\n-- \nsent by salve\n");
	return notify_sbuf_take(&b);
}

/* One row of the facts table; label and value already escaped. */
static void html_row(struct notify_sbuf *b, const char *label, const char *value)
{
	notify_sbuf_printf(b, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n",
	                   label ? label : "", value ? value : "");
}

/* text/html: every user-supplied string escaped. */
static char *email_html(const struct notify_msg *msg, const char *subject, const char *main_text,
                        const struct email_facts *f)
{
	struct notify_sbuf b = {0};
	char *h_subject = notify_escape_html(subject);
	char *h_text = notify_escape_html(main_text);
	notify_sbuf_printf(
	    &b,
	    "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>%s</title></head>\n"
	    "<body>\n",
	    h_subject ? h_subject : "");
	if (msg->drill)
		notify_sbuf_puts(&b, "<p><strong>[DRILL]</strong> This message is part of a drill; "
		                     "no action is needed.</p>\n");
	notify_sbuf_puts(&b, "<p>");
	for (const char *p = h_text ? h_text : ""; *p; p++) {
		if (*p == '\n')
			notify_sbuf_puts(&b, "<br>\n");
		else
			notify_sbuf_add(&b, p, 1);
	}
	notify_sbuf_puts(&b, "</p>\n<table>\n");
	html_row(&b, "Severity", notify_severity_name(msg->severity));
	for (size_t i = 0; i < f->run.n; i++) {
		char *v = notify_escape_html(f->run.item[i].value);
		html_row(&b, f->run.item[i].label, v);
		free(v);
	}
	for (size_t i = 0; i < f->nk; i++) {
		char *raw = notify_value_text(json_object_get(msg->fields, f->keys[i]));
		char *k = notify_escape_html(f->keys[i]);
		char *v = notify_escape_html(raw);
		html_row(&b, k, v);
		free(raw);
		free(k);
		free(v);
	}
	notify_sbuf_puts(&b, "</table>\n<p>sent by salve</p>\n</body>\n</html>\n");
	free(h_subject);
	free(h_text);
	return notify_sbuf_take(&b);
}

/* From, To, Date and Message-ID. Returns 0, or -1 when no random bytes were to be had. */
static int email_headers(const struct notify_config *cfg, const json_t *to,
                         struct notify_email *out)
{
	struct notify_sbuf b = {0};
	if (cfg->smtp_from_name) {
		char *name = display_name(cfg->smtp_from_name);
		notify_sbuf_printf(&b, "%s <%s>", name ? name : "", cfg->smtp_from);
		free(name);
	} else {
		notify_sbuf_puts(&b, cfg->smtp_from);
	}
	out->from_header = notify_sbuf_take(&b);
	b = (struct notify_sbuf){0};
	size_t i;
	json_t *a;
	json_array_foreach((json_t *)to, i, a)
	{
		notify_sbuf_printf(&b, "%s%s", i ? ", " : "", json_string_value(a));
	}
	out->to_header = notify_sbuf_take(&b);
	char date[64];
	rfc5322_date(date);
	out->date_header = strdup(date);
	unsigned char rnd[12];
	char hex[25];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return -1;
	for (size_t j = 0; j < sizeof rnd; j++)
		snprintf(hex + 2 * j, 3, "%02x", rnd[j]);
	const char *domain = strchr(cfg->smtp_from, '@') + 1;
	if (asprintf(&out->message_id, "<%lld.%s@%s>", (long long)time(NULL), hex, domain) < 0)
		out->message_id = NULL;
	return 0;
}

/* to is an array of addresses (already validated). Returns 0 or SALVE_ERR. */
static int email_build(const struct notify_config *cfg, const struct notify_msg *msg,
                       const char *subject, const char *body, const json_t *to,
                       struct notify_email *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	email_subject(msg, subject, out);
	const char *main_text = body ? body : msg->text;
	struct email_facts f = {.nk = 0};
	notify_run_facts(msg, &f.run);
	f.keys = msg->fields ? notify_sorted_keys(msg->fields, &f.nk) : NULL;
	out->text = email_text(msg, main_text, &f);
	out->html = email_html(msg, out->subject, main_text, &f);
	free(f.keys);
	if (email_headers(cfg, to, out) < 0) {
		snprintf(err, errlen, "email: no random bytes for the Message-ID");
		notify_email_free(out);
		return SALVE_ERR;
	}
	if (!out->subject || !out->subject_header || !out->text || !out->html ||
	    !out->from_header || !out->to_header || !out->date_header || !out->message_id) {
		snprintf(err, errlen, "email: out of memory");
		notify_email_free(out);
		return SALVE_ERR;
	}
	return SALVE_OK;
}

void notify_email_free(struct notify_email *e)
{
	free(e->subject);
	free(e->subject_header);
	free(e->text);
	free(e->html);
	free(e->from_header);
	free(e->to_header);
	free(e->date_header);
	free(e->message_id);
	memset(e, 0, sizeof *e);
}

/* ---- the channel ----------------------------------------------------------------------- */

/* Recipients from "a@b,c@d", a list, or the configured default. */
static int email_recipients(const struct notify_config *cfg, const char *list, const json_t *arg,
                            json_t **out, char *err, size_t errlen)
{
	json_t *to = json_array();
	if (list && *list) {
		if (notify_split_addresses(list, to) < 0) {
			snprintf(err, errlen, "email: out of memory");
			json_decref(to);
			return SALVE_ERR;
		}
	} else if (json_is_string(arg)) {
		json_array_append_new(to, json_string(json_string_value(arg)));
	} else if (json_is_array(arg)) {
		json_array_extend(to, (json_t *)arg);
	} else {
		json_array_extend(to, cfg->smtp_to);
	}
	if (json_array_size(to) == 0) {
		snprintf(err, errlen,
		         "email: no recipients (give to= or configure notify.email.to)");
		json_decref(to);
		return SALVE_ERR_INVALID;
	}
	size_t i;
	json_t *a;
	json_array_foreach(to, i, a)
	{
		if (!notify_valid_address(json_string_value(a))) {
			snprintf(err, errlen, "email: recipient %zu is not an address", i + 1);
			json_decref(to);
			return SALVE_ERR_INVALID;
		}
	}
	*out = to;
	return SALVE_OK;
}

static int email_prepare(const struct notify_config *cfg, const char *rest,
                         const struct notify_msg *msg, const json_t *args,
                         struct notify_prepared *p, char *err, size_t errlen)
{
	const char *subject = notify_arg_str(args, "subject");
	const char *body = notify_arg_str(args, "body");
	if (!*msg->text && !body) {
		snprintf(err, errlen, "email: body (or text) is required");
		return SALVE_ERR_INVALID;
	}
	if (!*msg->summary && !subject) {
		snprintf(err, errlen, "email: subject (or summary/text) is required");
		return SALVE_ERR_INVALID;
	}
	int rc = email_recipients(cfg, rest, json_object_get(args, "to"), &p->to, err, errlen);
	if (rc < 0)
		return rc;
	struct notify_msg m = *msg;
	if (!*m.text)
		m.text = body;
	if (!*m.summary)
		m.summary = subject;
	rc = email_build(cfg, &m, subject, body, p->to, &p->email, err, errlen);
	if (rc < 0)
		return rc;
	p->target = strdup(p->email.to_header);
	return SALVE_OK;
}

static void email_render(const struct notify_config *cfg, const struct notify_prepared *p,
                         json_t *r)
{
	json_object_set_new(r, "to", json_copy(p->to));
	json_object_set_new(r, "from", json_string(p->email.from_header));
	json_object_set_new(r, "subject", json_string(p->email.subject));
	json_object_set_new(r, "text", json_string(p->email.text));
	json_object_set_new(r, "html", json_string(p->email.html));
	json_object_set_new(r, "server", json_string(cfg->smtp_url));
}

static int email_send(struct notify_state *st, salve_call *call, const struct notify_prepared *p,
                      struct notify_outcome *out)
{
	struct notify_smtp_request req = {.channel = p->channel, .to = p->to, .email = &p->email};
	return notify_smtp_send(st, call, &req, out);
}

static void email_describe(const struct notify_prepared *p, const json_t *response, json_t *r)
{
	(void)response;
	json_object_set_new(r, "message_id", json_string(p->email.message_id));
}

const struct notify_channel notify_email_channel = {
    .name = "email",
    .config_key = "email",
    .parse = email_parse,
    .configured = email_configured,
    .check_target = email_check_target,
    .prepare = email_prepare,
    .render = email_render,
    .send = email_send,
    .describe = email_describe,
};
