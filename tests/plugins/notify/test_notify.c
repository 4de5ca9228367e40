/*
 * notify plugin tests: every channel against real local servers (a Python stdlib HTTP
 * receiver standing in for Slack/PagerDuty/Opsgenie/Teams/webhooks, and Debian's aiosmtpd for
 * email in STARTTLS, implicit TLS and plain modes), driven through salve_mock_host the way
 * the core calls actions. Assertions are on what the servers received (exact JSON bodies,
 * paths, headers, MIME), on audit events, results and errors. Timings never decide a result:
 * the only time check is a lower bound (a Retry-After wait cannot be shorter than asked).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"
#include "mock_host.h"
#include "mock_settings.h"

const salve_plugin *salve_plugin_entry(void);

static struct test_server http_srv;   /* the HTTP receiver */
static struct test_server smtp_tls;   /* STARTTLS required, AUTH required */
static struct test_server smtp_ssl;   /* implicit TLS (smtps), AUTH required */
static struct test_server smtp_plain; /* plain, rejects blocked@example.org */
static struct test_server smtp_flaky; /* plain, answers the first DATA with 451 */
static char og_key_file[300];
static char base_url[128];

/* Every secret the tests hand the plugin; none may appear in logs, errors, audit or results. */
static const char *const secret_values[] = {
    "slacksecrettoken123", "pdsecretroutingkey456", "pddbsecretkey789", "ogsecretkey012",
    "teamssecret345",      "ticketsecret678",       "smtpsecretpw901",  NULL,
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* JSON written with single quotes (for readable C literals); \u0027 for a real one. */
static json_t *jq(const char *text)
{
	char *copy = strdup(text);
	for (char *p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	json_error_t err;
	json_t *j = json_loads(copy, JSON_DECODE_ANY, &err);
	if (!j)
		fail_msg("bad expected JSON: %s: %s", err.text, copy);
	free(copy);
	return j;
}

static char *jq_text(const char *text)
{
	json_t *j = jq(text);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static void assert_json_eq(const json_t *actual, const char *expected_text)
{
	json_t *expected = jq(expected_text);
	if (!json_equal((json_t *)actual, expected)) {
		char *a = json_dumps(actual, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		char *e = json_dumps(expected, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		print_error("expected:\n%s\nactual:\n%s\n", e, a);
		free(a);
		free(e);
		json_decref(expected);
		fail();
	}
	json_decref(expected);
}

struct buf {
	char *data;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	char *grown = realloc(b->data, b->len + size * n + 1);
	assert_non_null(grown);
	b->data = grown;
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

/* Talk to the receiver's /_control/ API. Returns the parsed answer for GET, NULL otherwise. */
static json_t *control(const char *path, const char *body)
{
	char url[256];
	snprintf(url, sizeof url, "%s/_control/%s", base_url, path);
	CURL *h = curl_easy_init();
	struct buf b = {0};
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_cleanup(h);
	json_t *j = body ? NULL : json_loads(b.data ? b.data : "", 0, NULL);
	free(b.data);
	return j;
}

static void script(const char *answers)
{
	char *text = jq_text(answers);
	json_decref(control("script", text));
	free(text);
}

static json_t *requests(void)
{
	json_t *r = control("requests", NULL);
	assert_true(json_is_array(r));
	return r;
}

static json_t *body_of(const json_t *req)
{
	json_t *b = json_loads(json_string_value(json_object_get(req, "body")), 0, NULL);
	assert_non_null(b);
	return b;
}

static const char *header(const json_t *req, const char *name)
{
	return json_string_value(json_object_get(json_object_get(req, "headers"), name));
}

static const char *path_of(const json_t *req)
{
	return json_string_value(json_object_get(req, "path"));
}

static json_t *smtp_messages(const struct test_server *s)
{
	char path[300];
	snprintf(path, sizeof path, "%s/messages.jsonl", s->dir);
	json_t *list = json_array();
	FILE *f = fopen(path, "r");
	if (!f)
		return list;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *m = json_loads(line, 0, NULL);
		assert_non_null(m);
		json_array_append_new(list, m);
	}
	free(line);
	fclose(f);
	return list;
}

static void smtp_forget(const struct test_server *s)
{
	char path[300];
	snprintf(path, sizeof path, "%s/messages.jsonl", s->dir);
	unlink(path);
}

static const char *mail_header(const json_t *msg, const char *name)
{
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(msg, "headers"), i, h)
	{
		if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0)
			return json_string_value(json_array_get(h, 1));
	}
	return NULL;
}

/* The audit events of kind notify.attempt, with duration_ms checked and removed. */
static json_t *attempts(void)
{
	json_t *out = json_array();
	size_t i;
	json_t *ev;
	json_array_foreach((json_t *)mock_audit_events(), i, ev)
	{
		if (strcmp(json_string_value(json_object_get(ev, "event")), "notify.attempt") != 0)
			continue;
		json_t *data = json_deep_copy(json_object_get(ev, "data"));
		assert_true(json_is_integer(json_object_get(data, "duration_ms")));
		assert_true(json_integer_value(json_object_get(data, "duration_ms")) >= 0);
		json_object_del(data, "duration_ms");
		json_array_append_new(out, data);
	}
	return out;
}

static json_t *config_json(void)
{
	char text[4096];
	snprintf(
	    text, sizeof text,
	    "{'timeout': '5s', 'connect_timeout': '2s',"
	    " 'retry': {'attempts': 3, 'base_delay': '20ms', 'max_delay': '100ms', 'max_time': "
	    "'20s'},"
	    " 'slack': {'webhook_url': 'env:NT_SLACK_URL', 'channel': '#ops', 'username': 'salve'},"
	    " 'pagerduty': {'routing_key': 'env:NT_PD_KEY', 'url': '%s/pagerduty/v2/enqueue',"
	    "   'services': {'db': 'env:NT_PD_DB_KEY'}},"
	    " 'opsgenie': {'api_key': 'file:%s', 'url': '%s/opsgenie', 'tags': ['salve']},"
	    " 'teams': {'webhook_url': 'env:NT_TEAMS_URL'},"
	    " 'webhooks': {'tickets': {'url': '%s/tickets', 'headers': {'Authorization': "
	    "'env:NT_TICKETS_AUTH', 'X-Source': 'salve'}}},"
	    " 'email': {'url': 'smtp://127.0.0.1:%d', 'from': 'salve@example.org', 'from_name': "
	    "'salve', 'to': ['oncall@example.org'], 'username': 'salve', 'password': "
	    "'env:NT_SMTP_PASSWORD', 'starttls': true},"
	    " 'ca_file': '%s',"
	    " 'routing': {'critical': ['pagerduty:', 'slack:#incidents'], 'high': ['slack:#ops'],"
	    "   'medium': ['email:'], 'low': ['webhook:tickets']},"
	    " 'escalation': [{'wait': '0s', 'to': ['slack:#oncall']},"
	    "   {'wait': '5m', 'to': ['pagerduty:db', 'email:lead@example.org']},"
	    "   {'wait': '15m', 'to': ['teams:']}]}",
	    base_url, og_key_file, base_url, base_url, test_server_port(&smtp_tls),
	    json_string_value(json_object_get(smtp_tls.info, "cert")));
	return jq(text);
}

/* Initialise the plugin with the base configuration, updated by overrides (single-quoted
 * JSON object, top-level keys replace the base ones; NULL for none). */
static int init_with(const char *overrides)
{
	json_t *cfg = config_json();
	if (overrides) {
		json_t *o = jq(overrides);
		json_object_update(cfg, o);
		json_decref(o);
	}
	char *text = json_dumps(cfg, JSON_COMPACT);
	json_decref(cfg);
	int rc = mock_init_settings(salve_plugin_entry(), text);
	free(text);
	return rc;
}

static void set_run_facts(void)
{
	mock_set_run_info("run_id", "run-42");
	mock_set_run_info("runbook", "db-failover");
	mock_set_run_info("step", "promote");
	mock_set_run_info("trigger", "alert");
}

static int setup(void **state)
{
	(void)state;
	if (init_with(NULL) != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	mock_set_run_info("fingerprint", "fp-abc123");
	return 0;
}

static int setup_no_fingerprint(void **state)
{
	(void)state;
	if (init_with(NULL) != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mock_fini();
	json_decref(control("reset", "{}"));
	smtp_forget(&smtp_tls);
	smtp_forget(&smtp_ssl);
	smtp_forget(&smtp_plain);
	smtp_forget(&smtp_flaky);
	return 0;
}

static const char *python(void)
{
	const char *p = getenv("PYTHON");
	return (p && *p) ? p : "/usr/bin/python3";
}

/* aiosmtpd is Debian's python3-aiosmtpd: it lives with the system interpreter. */
static const char *system_python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : python();
}

static int start_servers(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *dir = NOTIFY_TEST_DIR;
	char http_script[512], smtp_script[512];
	snprintf(http_script, sizeof http_script, "%s/http_receiver.py", dir);
	snprintf(smtp_script, sizeof smtp_script, "%s/smtp_receiver.py", dir);
	if (test_server_start(&http_srv, python(), http_script, 0, NULL) < 0)
		return -1;
	const char *tls_args[] = {"--mode",     "starttls",        "--user", "salve",
	                          "--password", "smtpsecretpw901", NULL};
	const char *ssl_args[] = {"--mode",     "smtps",           "--user", "salve",
	                          "--password", "smtpsecretpw901", NULL};
	const char *plain_args[] = {"--mode", "plain", "--reject", "blocked@example.org", NULL};
	const char *flaky_args[] = {"--mode", "plain", "--fail-data", "1", NULL};
	if (test_server_start(&smtp_tls, system_python(), smtp_script, 1, tls_args) < 0 ||
	    test_server_start(&smtp_ssl, system_python(), smtp_script, 1, ssl_args) < 0 ||
	    test_server_start(&smtp_plain, system_python(), smtp_script, 1, plain_args) < 0 ||
	    test_server_start(&smtp_flaky, system_python(), smtp_script, 1, flaky_args) < 0)
		return -1;
	snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", test_server_port(&http_srv));

	char v[256];
	snprintf(v, sizeof v, "%s/slack/T0001/B0001/slacksecrettoken123", base_url);
	setenv("NT_SLACK_URL", v, 1);
	snprintf(v, sizeof v, "%s/teams/webhookb2/teamssecret345", base_url);
	setenv("NT_TEAMS_URL", v, 1);
	setenv("NT_PD_KEY", "pdsecretroutingkey456", 1);
	setenv("NT_PD_DB_KEY", "pddbsecretkey789", 1);
	setenv("NT_TICKETS_AUTH", "Bearer ticketsecret678", 1);
	setenv("NT_SMTP_PASSWORD", "smtpsecretpw901", 1);
	snprintf(og_key_file, sizeof og_key_file, "%s/opsgenie-key", http_srv.dir);
	FILE *f = fopen(og_key_file, "w");
	if (!f)
		return -1;
	fputs("ogsecretkey012\n", f);
	fclose(f);
	return 0;
}

static int stop_servers(void **state)
{
	(void)state;
	test_server_stop(&http_srv);
	test_server_stop(&smtp_tls);
	test_server_stop(&smtp_ssl);
	test_server_stop(&smtp_plain);
	test_server_stop(&smtp_flaky);
	curl_global_cleanup();
	return 0;
}

/* ---- Slack ---------------------------------------------------------------------------------- */

static void test_slack_block_kit_payload(void **state)
{
	(void)state;
	json_t *result = NULL;
	int rc =
	    mock_run("slack",
	             "{\"channel\": \"#db\", \"summary\": \"Failover of db1 failed\","
	             " \"text\": \"<!channel> DB <primary> & replica lag > 5s\","
	             " \"severity\": \"critical\", \"target\": \"db1\", \"outcome\": \"failed\","
	             " \"fields\": {\"region\": \"eu-1\", \"lag\": 12}}",
	             &result);
	assert_int_equal(rc, SALVE_OK);
	assert_json_eq(result,
	               "{'channel': 'slack', 'target': '#db', 'status': 200, 'attempts': 1}");
	json_decref(result);

	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	json_t *req = json_array_get(reqs, 0);
	assert_string_equal(json_string_value(json_object_get(req, "method")), "POST");
	assert_string_equal(path_of(req), "/slack/T0001/B0001/slacksecrettoken123");
	assert_string_equal(header(req, "content-type"), "application/json; charset=utf-8");
	json_t *body = body_of(req);
	assert_json_eq(
	    body,
	    "{'channel': '#db', 'username': 'salve', 'text': 'CRITICAL: Failover of db1 failed',"
	    " 'attachments': [{'color': '#B71C1C', 'fallback': 'CRITICAL: Failover of db1 failed',"
	    "  'blocks': ["
	    "   {'type': 'section', 'text': {'type': 'mrkdwn', 'text': '*CRITICAL:* Failover of "
	    "db1 "
	    "failed\\n&lt;!channel&gt; DB &lt;primary&gt; &amp; replica lag &gt; 5s'}},"
	    "   {'type': 'section', 'fields': ["
	    "     {'type': 'mrkdwn', 'text': '*Runbook*\\ndb-failover'},"
	    "     {'type': 'mrkdwn', 'text': '*Step*\\npromote'},"
	    "     {'type': 'mrkdwn', 'text': '*Outcome*\\nfailed'},"
	    "     {'type': 'mrkdwn', 'text': '*Target*\\ndb1'},"
	    "     {'type': 'mrkdwn', 'text': '*lag*\\n12'},"
	    "     {'type': 'mrkdwn', 'text': '*region*\\neu-1'}]},"
	    "   {'type': 'context', 'elements': [{'type': 'mrkdwn', 'text': 'salve run run-42 "
	    "\\u00b7 trigger alert'}]}]}]}");
	json_decref(body);
	json_decref(reqs);
}

static void test_slack_many_fields_split_in_sections_of_ten(void **state)
{
	(void)state;
	char args[1024] = "{\"text\": \"x\", \"fields\": {";
	for (int i = 0; i < 12; i++) {
		char f[32];
		snprintf(f, sizeof f, "%s\"f%02d\": \"v\"", i ? ", " : "", i);
		strcat(args, f);
	}
	strcat(args, "}}");
	json_t *msg = NULL;
	assert_int_equal(mock_render("slack", args, &msg), SALVE_OK);
	json_t *blocks = json_object_get(
	    json_array_get(json_object_get(json_object_get(msg, "body"), "attachments"), 0),
	    "blocks");
	/* headline, 10 fields (Runbook, Step + f00..f07), 4 fields (f08..f11), context */
	assert_int_equal(json_array_size(blocks), 4);
	assert_int_equal(json_array_size(json_object_get(json_array_get(blocks, 1), "fields")), 10);
	assert_int_equal(json_array_size(json_object_get(json_array_get(blocks, 2), "fields")), 4);
	json_decref(msg);
}

/* ---- PagerDuty ------------------------------------------------------------------------------ */

static void test_pagerduty_trigger_then_resolve_same_incident(void **state)
{
	(void)state;
	script("[{'status': 202, 'content_type': 'application/json', 'body': "
	       "'{\\\"status\\\":\\\"success\\\",\\\"message\\\":\\\"Event processed\\\","
	       "\\\"dedup_key\\\":\\\"fp-abc123\\\"}'}]");
	json_t *result = NULL;
	int rc = mock_run("pagerduty",
	                  "{\"summary\": \"db1 primary down\", \"severity\": \"critical\","
	                  " \"source\": \"db1.example.org\", \"component\": \"postgres\","
	                  " \"custom_details\": {\"lag_seconds\": 12}}",
	                  &result);
	assert_int_equal(rc, SALVE_OK);
	assert_json_eq(result,
	               "{'channel': 'pagerduty', 'target': 'fp-abc123', 'status': 202,"
	               " 'attempts': 1, 'dedup_key': 'fp-abc123', 'event_action': 'trigger'}");
	json_decref(result);

	rc = mock_run("pagerduty", "{\"event_action\": \"resolve\"}", &result);
	assert_int_equal(rc, SALVE_OK);
	json_decref(result);

	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	json_t *trigger = body_of(json_array_get(reqs, 0));
	assert_string_equal(path_of(json_array_get(reqs, 0)), "/pagerduty/v2/enqueue");
	/* timestamp: ISO 8601 UTC, then compared without it */
	json_t *payload = json_object_get(trigger, "payload");
	const char *ts = json_string_value(json_object_get(payload, "timestamp"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 20);
	assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == 'Z');
	json_object_del(payload, "timestamp");
	assert_json_eq(
	    trigger, "{'routing_key': 'pdsecretroutingkey456', 'event_action': 'trigger',"
	             " 'dedup_key': 'fp-abc123', 'client': 'salve',"
	             " 'payload': {'summary': 'db1 primary down', 'source': 'db1.example.org',"
	             "  'severity': 'critical', 'component': 'postgres', 'group': 'db-failover',"
	             "  'class': 'promote', 'custom_details': {'lag_seconds': 12,"
	             "   'salve': {'runbook': 'db-failover', 'step': 'promote', 'run_id': 'run-42',"
	             "    'trigger': 'alert', 'fingerprint': 'fp-abc123'}}}}");
	json_t *resolve = body_of(json_array_get(reqs, 1));
	assert_json_eq(resolve,
	               "{'routing_key': 'pdsecretroutingkey456', 'event_action': 'resolve',"
	               " 'dedup_key': 'fp-abc123'}");
	json_decref(trigger);
	json_decref(resolve);
	json_decref(reqs);
}

static void test_pagerduty_severity_mapping_and_service_key(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(
	    mock_run("pagerduty",
	             "{\"summary\": \"s\", \"severity\": \"medium\", \"service\": \"db\","
	             " \"dedup_key\": \"k1\"}",
	             &result),
	    SALVE_OK);
	assert_string_equal(json_string_value(json_object_get(result, "channel")), "pagerduty:db");
	json_decref(result);
	json_t *reqs = requests();
	json_t *b = body_of(json_array_get(reqs, 0));
	assert_string_equal(json_string_value(json_object_get(b, "routing_key")),
	                    "pddbsecretkey789");
	assert_string_equal(json_string_value(json_object_get(b, "dedup_key")), "k1");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(b, "payload"), "severity")),
	    "warning");
	json_decref(b);
	json_decref(reqs);
}

static void test_pagerduty_resolve_without_key_is_invalid(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(mock_run("pagerduty", "{\"event_action\": \"resolve\"}", &result),
	                 SALVE_ERR_INVALID);
	assert_null(result);
	assert_non_null(strstr(mock_last_error(), "resolve needs dedup_key"));
	assert_int_equal(
	    mock_run("pagerduty", "{\"event_action\": \"explode\", \"summary\": \"x\"}", &result),
	    SALVE_ERR_INVALID);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
}

/* ---- Opsgenie ------------------------------------------------------------------------------- */

static void test_opsgenie_create_and_close_by_alias(void **state)
{
	(void)state;
	script("[{'status': 202, 'body': "
	       "'{\\\"result\\\":\\\"Request will be processed\\\",\\\"took\\\":0.1,"
	       "\\\"requestId\\\":\\\"req-1\\\"}'}]");
	json_t *result = NULL;
	int rc =
	    mock_run("opsgenie",
	             "{\"message\": \"disk full on web3\", \"alias\": \"disk web3/\u03b1\","
	             " \"text\": \"/var is at 99%\", \"priority\": \"P2\", \"tags\": [\"disk\"],"
	             " \"details\": {\"mount\": \"/var\", \"used\": 99}, \"target\": \"web3\","
	             " \"responders\": [{\"type\": \"team\", \"name\": \"ops\"}]}",
	             &result);
	assert_int_equal(rc, SALVE_OK);
	assert_json_eq(result,
	               "{'channel': 'opsgenie', 'target': 'disk web3/\u03b1', 'status': 202,"
	               " 'attempts': 1, 'request_id': 'req-1', 'alias': 'disk web3/\u03b1',"
	               " 'action': 'create'}");
	json_decref(result);
	rc = mock_run("opsgenie", "{\"action\": \"close\", \"alias\": \"disk web3/\u03b1\"}",
	              &result);
	assert_int_equal(rc, SALVE_OK);
	json_decref(result);

	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	json_t *create = json_array_get(reqs, 0);
	assert_string_equal(path_of(create), "/opsgenie/v2/alerts");
	assert_string_equal(header(create, "authorization"), "GenieKey ogsecretkey012");
	json_t *b = body_of(create);
	assert_json_eq(b, "{'message': 'disk full on web3', 'alias': 'disk web3/\u03b1',"
	                  " 'description': '/var is at 99%', 'priority': 'P2', 'source': 'salve',"
	                  " 'entity': 'web3', 'tags': ['salve', 'disk'],"
	                  " 'details': {'mount': '/var', 'used': '99', 'runbook': 'db-failover',"
	                  "  'step': 'promote', 'target': 'web3', 'run_id': 'run-42',"
	                  "  'trigger': 'alert', 'fingerprint': 'fp-abc123'},"
	                  " 'responders': [{'type': 'team', 'name': 'ops'}]}");
	json_decref(b);
	json_t *close = json_array_get(reqs, 1);
	assert_string_equal(path_of(close),
	                    "/opsgenie/v2/alerts/disk%20web3%2F%CE%B1/close?identifierType=alias");
	assert_string_equal(header(close, "authorization"), "GenieKey ogsecretkey012");
	b = body_of(close);
	assert_json_eq(
	    b, "{'source': 'salve', 'user': 'salve', 'note': 'closed by salve run run-42'}");
	json_decref(b);
	json_decref(reqs);
}

static void test_opsgenie_message_cut_to_130_and_priority_from_severity(void **state)
{
	(void)state;
	char args[512];
	char long_msg[201];
	memset(long_msg, 'm', 200);
	long_msg[200] = '\0';
	snprintf(args, sizeof args, "{\"message\": \"%s\", \"severity\": \"critical\"}", long_msg);
	json_t *msg = NULL;
	assert_int_equal(mock_render("opsgenie", args, &msg), SALVE_OK);
	json_t *body = json_object_get(msg, "body");
	const char *m = json_string_value(json_object_get(body, "message"));
	assert_int_equal(strlen(m), 130); /* 127 'm' + the 3-byte ellipsis */
	assert_string_equal(m + 127, "\xe2\x80\xa6");
	assert_string_equal(json_string_value(json_object_get(body, "priority")), "P1");
	assert_string_equal(json_string_value(json_object_get(body, "alias")), "fp-abc123");
	char expect[512];
	snprintf(expect, sizeof expect, "{'Authorization': 'GenieKey (secret file:%s)'}",
	         og_key_file);
	assert_json_eq(json_object_get(msg, "headers"), expect);
	json_decref(msg);
}

/* ---- Teams ------------------------------------------------------------------------------------
 */

static void test_teams_message_card(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(
	    mock_run("teams",
	             "{\"summary\": \"rollback finished\", \"text\": \"Rollback *done* on "
	             "<prod> [see](x)\", \"severity\": \"low\"}",
	             &result),
	    SALVE_OK);
	json_decref(result);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	assert_string_equal(path_of(json_array_get(reqs, 0)), "/teams/webhookb2/teamssecret345");
	json_t *b = body_of(json_array_get(reqs, 0));
	assert_json_eq(b,
	               "{'@type': 'MessageCard', '@context': 'https://schema.org/extensions',"
	               " 'themeColor': '1565C0', 'summary': 'LOW: rollback finished',"
	               " 'title': 'LOW: rollback finished',"
	               " 'text': 'Rollback \\\\*done\\\\* on &lt;prod&gt; \\\\[see\\\\](x)',"
	               " 'sections': [{'facts': [{'name': 'Runbook', 'value': 'db-failover'},"
	               "  {'name': 'Step', 'value': 'promote'}, {'name': 'Run', 'value': 'run-42'},"
	               "  {'name': 'Trigger', 'value': 'alert'}]}]}");
	json_decref(b);
	json_decref(reqs);
}

static void test_teams_200_with_failure_text_is_not_success(void **state)
{
	(void)state;
	script(
	    "[{'status': 200, 'body': 'Webhook message delivery failed with error: Microsoft "
	    "Teams endpoint returned HTTP error 429 with ContextId x'},"
	    " {'status': 200, 'body': '1'},"
	    " {'status': 200, 'body': 'Webhook message delivery failed with error: Bad payload'}]");
	json_t *result = NULL;
	assert_int_equal(mock_run("teams", "{\"text\": \"t\"}", &result), SALVE_OK);
	assert_int_equal(json_integer_value(json_object_get(result, "attempts")), 2);
	json_decref(result);
	assert_int_equal(mock_run("teams", "{\"text\": \"t\"}", &result), SALVE_ERR);
	assert_non_null(strstr(mock_last_error(),
	                       "notify teams: HTTP 200 but the service reports a "
	                       "failed delivery"));
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 3);
	json_decref(reqs);
}

static int setup_adaptive(void **state)
{
	(void)state;
	if (init_with("{'teams': {'webhook_url': 'env:NT_TEAMS_URL', 'format': 'adaptive'}}") != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	return 0;
}

static void test_teams_adaptive_card(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(mock_run("teams",
	                          "{\"summary\": \"db1 down\", \"text\": \"primary_1 <lost>\","
	                          " \"severity\": \"critical\", \"fields\": {\"lag\": \"12s\"}}",
	                          &result),
	                 SALVE_OK);
	json_decref(result);
	json_t *reqs = requests();
	json_t *b = body_of(json_array_get(reqs, 0));
	assert_json_eq(
	    b,
	    "{'type': 'message', 'attachments': [{'contentType': "
	    "'application/vnd.microsoft.card.adaptive', 'contentUrl': null, 'content': {"
	    " '$schema': 'http://adaptivecards.io/schemas/adaptive-card.json',"
	    " 'type': 'AdaptiveCard', 'version': '1.4', 'body': ["
	    "  {'type': 'TextBlock', 'text': 'CRITICAL: db1 down', 'weight': 'Bolder',"
	    "   'size': 'Medium', 'wrap': true, 'color': 'Attention'},"
	    "  {'type': 'TextBlock', 'text': 'primary\\\\_1 <lost>', 'wrap': true},"
	    "  {'type': 'FactSet', 'facts': [{'title': 'Runbook', 'value': 'db-failover'},"
	    "   {'title': 'Step', 'value': 'promote'}, {'title': 'Run', 'value': 'run-42'},"
	    "   {'title': 'Trigger', 'value': 'alert'}, {'title': 'lag', 'value': '12s'}]}]}}]}");
	json_decref(b);
	json_decref(reqs);
}

/* ---- generic webhooks ----------------------------------------------------------------------- */

static void test_webhook_string_template_is_json_escaped(void **state)
{
	(void)state;
	json_t *result = NULL;
	int rc = mock_run(
	    "webhook",
	    "{\"name\": \"tickets\", \"text\": \"line1\\n\\\"quoted\\\" \\\\ back </script>\","
	    " \"summary\": \"disk\", \"severity\": \"medium\","
	    " \"body\": \"{\\\"title\\\": \\\"{{summary}} on {{ runbook }}\\\", \\\"run\\\": "
	    "\\\"{{run_id}}\\\", \\\"desc\\\": \\\"{{text}}\\\", \\\"sev\\\": "
	    "\\\"{{severity}}\\\", "
	    "\\\"drill\\\": {{drill}}}\"}",
	    &result);
	assert_int_equal(rc, SALVE_OK);
	assert_json_eq(result, "{'channel': 'webhook:tickets', 'status': 200, 'attempts': 1}");
	json_decref(result);
	json_t *reqs = requests();
	json_t *req = json_array_get(reqs, 0);
	assert_string_equal(path_of(req), "/tickets");
	assert_string_equal(header(req, "authorization"), "Bearer ticketsecret678");
	assert_string_equal(header(req, "x-source"), "salve");
	json_t *b = body_of(req);
	assert_json_eq(
	    b, "{'title': 'disk on db-failover', 'run': 'run-42',"
	       " 'desc': 'line1\\n\\u0022quoted\\u0022 \\\\ back </script>', 'sev': 'medium',"
	       " 'drill': false}");
	json_decref(b);
	json_decref(reqs);
}

static void test_webhook_table_template_default_body_and_errors(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(
	    mock_run("webhook",
	             "{\"name\": \"tickets\", \"text\": \"a \\\"b\\\"\","
	             " \"fields\": {\"ticket\": \"OPS-1\"}, \"body\": {\"summary\":"
	             " \"{{text}} for {{runbook}}\", \"n\": 3, \"list\": [\"{{step}}\","
	             " \"{{fields.ticket}}\"]}}",
	             &result),
	    SALVE_OK);
	json_decref(result);
	assert_int_equal(
	    mock_run("webhook", "{\"name\": \"tickets\", \"text\": \"plain\"}", &result), SALVE_OK);
	json_decref(result);

	/* errors: nothing is sent */
	assert_int_equal(
	    mock_run("webhook", "{\"name\": \"tickets\", \"body\": \"{{nope}}\"}", &result),
	    SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "unknown placeholder {{nope}}"));
	assert_int_equal(mock_run("webhook",
	                          "{\"name\": \"tickets\", \"text\": \"x\","
	                          " \"body\": \"{\\\"a\\\": {{text}} }\"}",
	                          &result),
	                 SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "not JSON after substitution"));
	assert_int_equal(mock_run("webhook", "{\"name\": \"nosuch\", \"text\": \"x\"}", &result),
	                 SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "no notify.webhooks.nosuch"));

	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	json_t *b = body_of(json_array_get(reqs, 0));
	assert_json_eq(b, "{'summary': 'a \\u0022b\\u0022 for db-failover', 'n': 3,"
	                  " 'list': ['promote', 'OPS-1']}");
	json_decref(b);
	b = body_of(json_array_get(reqs, 1));
	assert_json_eq(b,
	               "{'text': 'plain', 'summary': 'plain', 'severity': 'info', 'drill': false,"
	               " 'runbook': 'db-failover', 'step': 'promote', 'run_id': 'run-42',"
	               " 'trigger': 'alert', 'fingerprint': 'fp-abc123'}");
	json_decref(b);
	json_decref(reqs);
}

static void test_webhook_url_argument(void **state)
{
	(void)state;
	char args[256];
	snprintf(args, sizeof args, "{\"url\": \"%s/hooks/adhoc\", \"text\": \"hi\"}", base_url);
	json_t *result = NULL;
	assert_int_equal(mock_run("webhook", args, &result), SALVE_OK);
	assert_string_equal(json_string_value(json_object_get(result, "channel")), "webhook");
	json_decref(result);
	assert_int_equal(mock_render("webhook", args, &result), SALVE_OK);
	assert_string_equal(json_string_value(json_object_get(result, "endpoint")),
	                    "(the url given in the call)");
	json_decref(result);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	assert_string_equal(path_of(json_array_get(reqs, 0)), "/hooks/adhoc");
	json_decref(reqs);
	/* the URL is a secret argument: it is not in the logs */
	assert_null(strstr(mock_logs(), "/hooks/adhoc"));
}

/* ---- email ------------------------------------------------------------------------------------
 */

static void test_email_starttls_auth_mime(void **state)
{
	(void)state;
	json_t *result = NULL;
	int rc = mock_run("email",
	                  "{\"to\": [\"a@example.org\", \"b@example.org\"],"
	                  " \"subject\": \"Failover \u2713 done \u2014 db1\","
	                  " \"body\": \"Promoted <db2> & rebuilt.\\nNext: check lag\","
	                  " \"severity\": \"high\", \"fields\": {\"note\": \"<b>x</b>\"}}",
	                  &result);
	if (rc != SALVE_OK)
		fail_msg("email: %s", mock_last_error());
	assert_string_equal(json_string_value(json_object_get(result, "channel")), "email");
	assert_string_equal(json_string_value(json_object_get(result, "target")),
	                    "a@example.org, b@example.org");
	assert_int_equal(json_integer_value(json_object_get(result, "status")), 250);
	const char *mid = json_string_value(json_object_get(result, "message_id"));

	json_t *msgs = smtp_messages(&smtp_tls);
	assert_int_equal(json_array_size(msgs), 1);
	json_t *m = json_array_get(msgs, 0);
	assert_string_equal(json_string_value(json_object_get(m, "mail_from")),
	                    "salve@example.org");
	assert_json_eq(json_object_get(m, "rcpt_tos"), "['a@example.org', 'b@example.org']");
	assert_true(json_is_true(json_object_get(m, "tls")));
	assert_string_equal(json_string_value(json_object_get(m, "auth_login")), "salve");
	assert_true(json_is_true(json_object_get(m, "date_ok")));

	assert_string_equal(mail_header(m, "From"), "\"salve\" <salve@example.org>");
	assert_string_equal(mail_header(m, "To"), "a@example.org, b@example.org");
	assert_string_equal(mail_header(m, "Message-ID"), mid);
	assert_true(mid[0] == '<' && strstr(mid, "@example.org>") == mid + strlen(mid) - 13);
	assert_string_equal(mail_header(m, "Auto-Submitted"), "auto-generated");
	assert_string_equal(mail_header(m, "X-Salve-Run-Id"), "run-42");
	assert_string_equal(mail_header(m, "Mime-Version"), "1.0");
	const char *date = mail_header(m, "Date");
	assert_non_null(date);
	assert_non_null(strstr(date, " +0000"));
	/* Subject: RFC 2047 encoded words (UTF-8, base64), each at most 75 characters */
	const char *subj = mail_header(m, "Subject");
	assert_true(strncmp(subj, "=?UTF-8?B?", 10) == 0);
	for (const char *w = subj; *w;) {
		const char *sp = strchr(w, ' ');
		size_t n = sp ? (size_t)(sp - w) : strlen(w);
		assert_true(n <= 75);
		w += n + (sp ? 1 : 0);
	}
	assert_string_equal(json_string_value(json_object_get(m, "subject")),
	                    "Failover \u2713 done \u2014 db1");

	json_t *parts = json_object_get(m, "parts");
	assert_int_equal(json_array_size(parts), 4);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(parts, 0), "content_type")),
	    "multipart/mixed");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(parts, 1), "content_type")),
	    "multipart/alternative");
	json_t *text = json_array_get(parts, 2), *html = json_array_get(parts, 3);
	assert_string_equal(json_string_value(json_object_get(text, "content_type")), "text/plain");
	assert_string_equal(json_string_value(json_object_get(text, "charset")), "utf-8");
	assert_string_equal(json_string_value(json_object_get(text, "transfer_encoding")),
	                    "quoted-printable");
	assert_string_equal(json_string_value(json_object_get(text, "content")),
	                    "Promoted <db2> & rebuilt.\nNext: check lag\n\nSeverity: high\n"
	                    "Runbook: db-failover\nStep: promote\nRun: run-42\nTrigger: alert\n"
	                    "note: <b>x</b>\n\n-- \nsent by salve\n");
	assert_string_equal(json_string_value(json_object_get(html, "content_type")), "text/html");
	assert_string_equal(json_string_value(json_object_get(html, "charset")), "utf-8");
	assert_string_equal(
	    json_string_value(json_object_get(html, "content")),
	    "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Failover \u2713 done "
	    "\u2014 db1</title></head>\n<body>\n<p>Promoted &lt;db2&gt; &amp; rebuilt.<br>\n"
	    "Next: check lag</p>\n<table>\n<tr><th align=\"left\">Severity</th><td>high</td></tr>\n"
	    "<tr><th align=\"left\">Runbook</th><td>db-failover</td></tr>\n"
	    "<tr><th align=\"left\">Step</th><td>promote</td></tr>\n"
	    "<tr><th align=\"left\">Run</th><td>run-42</td></tr>\n"
	    "<tr><th align=\"left\">Trigger</th><td>alert</td></tr>\n"
	    "<tr><th align=\"left\">note</th><td>&lt;b&gt;x&lt;/b&gt;</td></tr>\n"
	    "</table>\n<p>sent by salve</p>\n</body>\n</html>\n");
	json_decref(result);
	json_decref(msgs);
}

static void test_email_long_subject_default_recipients(void **state)
{
	(void)state;
	/* 100 two-byte characters: several encoded words, none splitting a character */
	char subject[256] = "";
	for (int i = 0; i < 100; i++)
		strcat(subject, "\u00e9");
	char args[512];
	snprintf(args, sizeof args, "{\"subject\": \"%s\", \"text\": \"t\"}", subject);
	json_t *result = NULL;
	assert_int_equal(mock_run("email", args, &result), SALVE_OK);
	json_decref(result);
	json_t *msgs = smtp_messages(&smtp_tls);
	json_t *m = json_array_get(msgs, 0);
	assert_json_eq(json_object_get(m, "rcpt_tos"), "['oncall@example.org']");
	assert_string_equal(json_string_value(json_object_get(m, "subject")), subject);
	json_decref(msgs);
}

static int setup_smtps(void **state)
{
	(void)state;
	char o[512];
	snprintf(o, sizeof o,
	         "{'email': {'url': 'smtps://127.0.0.1:%d', 'from': 'salve@example.org', 'to': "
	         "['oncall@example.org'], 'username': 'salve', 'password': 'env:NT_SMTP_PASSWORD'},"
	         " 'ca_file': '%s'}",
	         test_server_port(&smtp_ssl),
	         json_string_value(json_object_get(smtp_ssl.info, "cert")));
	if (init_with(o) != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	return 0;
}

static void test_email_implicit_tls(void **state)
{
	(void)state;
	json_t *result = NULL;
	int rc = mock_run("email", "{\"subject\": \"over smtps\", \"body\": \"b\"}", &result);
	if (rc != SALVE_OK)
		fail_msg("email: %s", mock_last_error());
	json_decref(result);
	json_t *msgs = smtp_messages(&smtp_ssl);
	assert_int_equal(json_array_size(msgs), 1);
	json_t *m = json_array_get(msgs, 0);
	assert_true(json_is_true(json_object_get(m, "tls")));
	assert_string_equal(json_string_value(json_object_get(m, "auth_login")), "salve");
	assert_string_equal(mail_header(m, "From"), "salve@example.org");
	assert_string_equal(mail_header(m, "Subject"), "over smtps");
	json_decref(msgs);
}

static int setup_untrusted(void **state)
{
	(void)state;
	/* the STARTTLS server, but without its certificate as CA */
	char o[512];
	snprintf(o, sizeof o,
	         "{'email': {'url': 'smtp://127.0.0.1:%d', 'from': 'salve@example.org', 'to': "
	         "['oncall@example.org'], 'username': 'salve', 'password': 'env:NT_SMTP_PASSWORD'},"
	         " 'ca_file': null, 'timeout': '120s', 'connect_timeout': '60s'}",
	         test_server_port(&smtp_tls));
	/* Generous timeouts: under valgrind on a loaded machine the handshake is slow, and a
	 * timeout (retried) must not stand in for the refused certificate (not retried). */
	if (init_with(o) != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	return 0;
}

static void test_email_untrusted_certificate_refused(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(mock_run("email", "{\"subject\": \"s\", \"body\": \"b\"}", &result),
	                 SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "notify email:"));
	assert_non_null(strstr(mock_last_error(), "not retried"));
	json_t *msgs = smtp_messages(&smtp_tls);
	assert_int_equal(json_array_size(msgs), 0);
	json_decref(msgs);
	json_t *att = attempts();
	assert_int_equal(json_array_size(att), 1);
	json_decref(att);
}

static int setup_flaky_smtp(void **state)
{
	(void)state;
	char o[512];
	snprintf(o, sizeof o,
	         "{'email': {'url': 'smtp://127.0.0.1:%d', 'from': 'salve@example.org', 'to': "
	         "['oncall@example.org'], 'starttls': false}}",
	         test_server_port(&smtp_flaky));
	if (init_with(o) != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	return 0;
}

static void test_email_transient_451_is_retried(void **state)
{
	(void)state;
	json_t *result = NULL;
	int rc = mock_run("email", "{\"subject\": \"s\", \"body\": \"b\"}", &result);
	if (rc != SALVE_OK)
		fail_msg("email: %s", mock_last_error());
	assert_int_equal(json_integer_value(json_object_get(result, "attempts")), 2);
	json_decref(result);
	json_t *att = attempts();
	assert_int_equal(json_array_size(att), 2);
	json_t *first = json_array_get(att, 0);
	assert_int_equal(json_integer_value(json_object_get(first, "smtp_status")), 451);
	assert_string_equal(json_string_value(json_object_get(first, "result")), "retry");
	assert_string_equal(json_string_value(json_object_get(json_array_get(att, 1), "result")),
	                    "ok");
	json_decref(att);
	json_t *msgs = smtp_messages(&smtp_flaky);
	assert_int_equal(json_array_size(msgs), 1);
	assert_false(json_is_true(json_object_get(json_array_get(msgs, 0), "tls")));
	json_decref(msgs);
}

static int setup_plain_smtp(void **state)
{
	(void)state;
	char o[512];
	snprintf(o, sizeof o,
	         "{'email': {'url': 'smtp://127.0.0.1:%d', 'from': 'salve@example.org', 'to': "
	         "['oncall@example.org'], 'starttls': false}}",
	         test_server_port(&smtp_plain));
	if (init_with(o) != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	return 0;
}

static void test_email_rejected_recipient_is_not_retried(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(mock_run("email",
	                          "{\"to\": \"blocked@example.org\", \"subject\": \"s\","
	                          " \"body\": \"b\"}",
	                          &result),
	                 SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "SMTP 550"));
	json_t *att = attempts();
	assert_int_equal(json_array_size(att), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(att, 0), "smtp_status")),
	                 550);
	json_decref(att);
	/* header injection through an address is refused before anything is sent */
	assert_int_equal(mock_run("email",
	                          "{\"to\": \"a@example.org\\r\\nBcc: x@evil.test\","
	                          " \"subject\": \"s\", \"body\": \"b\"}",
	                          &result),
	                 SALVE_ERR_INVALID);
	/* a subject with CR LF stays one header line */
	assert_int_equal(mock_run("email",
	                          "{\"to\": \"a@example.org\", \"subject\": \"s\\r\\nBcc: "
	                          "x@evil.test\", \"body\": \"b\"}",
	                          &result),
	                 SALVE_OK);
	json_decref(result);
	json_t *msgs = smtp_messages(&smtp_plain);
	assert_int_equal(json_array_size(msgs), 1);
	json_t *m = json_array_get(msgs, 0);
	assert_null(mail_header(m, "Bcc"));
	assert_string_equal(mail_header(m, "Subject"), "s  Bcc: x@evil.test");
	assert_json_eq(json_object_get(m, "rcpt_tos"), "['a@example.org']");
	json_decref(msgs);
}

/* ---- retries, timeouts, cancellation ----------------------------------------------------------
 */

static void test_retry_429_honours_retry_after(void **state)
{
	(void)state;
	script("[{'status': 429, 'headers': {'Retry-After': '1'}, 'body': 'rate_limited'},"
	       " {'status': 200, 'body': 'ok'}]");
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"hello\"}", &result), SALVE_OK);
	assert_json_eq(result,
	               "{'channel': 'slack', 'target': '#ops', 'status': 200, 'attempts': 2}");
	json_decref(result);
	json_t *att = attempts();
	assert_json_eq(att,
	               "[{'channel': 'slack', 'target': '#ops', 'attempt': 1, 'http_status': 429,"
	               "  'result': 'retry', 'error': 'HTTP 429 (rate limited)',"
	               "  'retry_after_s': 1.0, 'wait_ms': 1000},"
	               " {'channel': 'slack', 'target': '#ops', 'attempt': 2, 'http_status': 200,"
	               "  'result': 'ok'}]");
	json_decref(att);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	/* a lower bound only: the second request cannot come before the server allowed it */
	double gap = json_real_value(json_object_get(json_array_get(reqs, 1), "time")) -
	             json_real_value(json_object_get(json_array_get(reqs, 0), "time"));
	assert_true(gap >= 0.95);
	json_decref(reqs);
}

static void test_retry_500_then_success(void **state)
{
	(void)state;
	script("[{'status': 500, 'body': 'boom'}, {'status': 502, 'body': 'bad gateway'}]");
	json_t *result = NULL;
	assert_int_equal(mock_run("pagerduty", "{\"summary\": \"x\"}", &result), SALVE_OK);
	assert_int_equal(json_integer_value(json_object_get(result, "attempts")), 3);
	json_decref(result);
	json_t *att = attempts();
	assert_int_equal(json_array_size(att), 3);
	const long statuses[] = {500, 502, 200};
	const char *results[] = {"retry", "retry", "ok"};
	for (size_t i = 0; i < 3; i++) {
		json_t *a = json_array_get(att, i);
		assert_int_equal(json_integer_value(json_object_get(a, "attempt")), (long)i + 1);
		assert_int_equal(json_integer_value(json_object_get(a, "http_status")),
		                 statuses[i]);
		assert_string_equal(json_string_value(json_object_get(a, "result")), results[i]);
		if (i < 2) {
			/* exponential backoff with jitter: within [cap/2, cap], cap = 20ms * 2^i */
			json_int_t w = json_integer_value(json_object_get(a, "wait_ms"));
			json_int_t cap = 20 << i;
			assert_true(w >= cap / 2 && w <= cap);
		}
	}
	json_decref(att);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 3);
	/* every attempt sends the same body */
	assert_string_equal(json_string_value(json_object_get(json_array_get(reqs, 0), "body")),
	                    json_string_value(json_object_get(json_array_get(reqs, 2), "body")));
	json_decref(reqs);
}

static void test_retries_exhausted(void **state)
{
	(void)state;
	script(
	    "[{'status': 503, 'body': 'x'}, {'status': 500, 'body': 'x'}, {'status': 500, 'body': "
	    "'still down'}]");
	json_t *result = NULL;
	assert_int_equal(mock_run("teams", "{\"text\": \"t\"}", &result), SALVE_ERR_RETRY);
	assert_null(result);
	assert_string_equal(mock_last_error(),
	                    "notify teams: gave up after 3 attempts: HTTP 500: \"still down\"");
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 3);
	json_decref(reqs);
}

static void test_retry_after_beyond_budget_is_not_waited(void **state)
{
	(void)state;
	script("[{'status': 429, 'headers': {'Retry-After': '120'}, 'body': 'slow down'}]");
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_ERR_RETRY);
	assert_non_null(strstr(mock_last_error(), "asked to retry after 120 s"));
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	json_decref(reqs);
}

static void test_client_errors_are_not_retried(void **state)
{
	(void)state;
	script("[{'status': 400, 'body': 'invalid_payload'}, {'status': 403, 'body': 'no'}]");
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "notify slack: HTTP 400: \"invalid_payload\" (not retried)");
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "HTTP 403 (the credentials were refused)"));
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	json_decref(reqs);
}

static int setup_short_timeout(void **state)
{
	(void)state;
	if (init_with("{'timeout': '300ms', 'retry': {'attempts': 2, 'base_delay': '10ms'}}") != 0)
		fail_msg("init: %s", mock_last_error());
	set_run_facts();
	return 0;
}

static void test_hanging_endpoint_bounded_by_timeout(void **state)
{
	(void)state;
	/* the receiver holds both requests until the test resets it: only the plugin's timeout
	 * can make the call return */
	script("[{'hang': 120}, {'hang': 120}]");
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_ERR_RETRY);
	assert_non_null(strstr(mock_last_error(), "notify slack: gave up after 2 attempts: no "
	                                          "answer within 0.3 s"));
	json_t *att = attempts();
	assert_int_equal(json_array_size(att), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *a = json_array_get(att, i);
		assert_null(json_object_get(a, "http_status"));
		assert_non_null(strstr(json_string_value(json_object_get(a, "error")), "Timeout"));
	}
	json_decref(att);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	json_decref(reqs);
}

static void test_step_deadline_bounds_delivery(void **state)
{
	(void)state;
	/* 10 s per attempt configured, but the step has 0.4 s left */
	script("[{'hang': 120}]");
	mock_set_remaining(0.4);
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_ERR_TIMEOUT);
	assert_non_null(strstr(mock_last_error(), "no answer within 0.4 s"));
	assert_non_null(strstr(mock_last_error(), "the step's deadline"));
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	json_decref(reqs);

	/* past the deadline: nothing is sent */
	mock_set_remaining(-1);
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_ERR_TIMEOUT);
	assert_string_equal(mock_last_error(),
	                    "notify slack: not sent, the step's deadline has passed");
	reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	json_decref(reqs);
}

static void test_cancelled_run_sends_nothing(void **state)
{
	(void)state;
	mock_set_cancelled(1);
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_ERR_CANCELED);
	assert_int_equal(
	    mock_run("page", "{\"severity\": \"critical\", \"summary\": \"s\"}", &result),
	    SALVE_ERR_CANCELED);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
}

/* ---- secrets ----------------------------------------------------------------------------------
 */

static void test_secrets_absent_from_logs_errors_audit_results(void **state)
{
	(void)state;
	char *seen_text = NULL;
	size_t seen_len = 0;
	FILE *seen = open_memstream(&seen_text, &seen_len);
	json_t *result;
#define CALL(fn, action, args)                                                                     \
	do {                                                                                       \
		result = NULL;                                                                     \
		fn(action, args, &result);                                                         \
		fprintf(seen, "%s\n", mock_last_error());                                          \
		if (result) {                                                                      \
			char *d = json_dumps(result, JSON_COMPACT);                                \
			fprintf(seen, "%s\n", d);                                                  \
			free(d);                                                                   \
			json_decref(result);                                                       \
		}                                                                                  \
	} while (0)

	/* servers that echo the request (with the routing key in it) back in an error */
	script("[{'status': 400, 'echo': true}, {'status': 401, 'echo': true},"
	       " {'status': 404, 'body': 'no_service /slack/T0001/B0001/slacksecrettoken123'},"
	       " {'status': 500}, {'status': 500}, {'status': 500}]");
	CALL(mock_run, "pagerduty", "{\"summary\": \"s\"}");
	CALL(mock_run, "opsgenie", "{\"message\": \"m\"}");
	CALL(mock_run, "slack", "{\"text\": \"t\"}");
	CALL(mock_run, "teams", "{\"text\": \"t\"}");
	CALL(mock_run, "slack", "{\"text\": \"ok now\"}");
	CALL(mock_run, "webhook", "{\"name\": \"tickets\", \"text\": \"t\"}");
	CALL(mock_run, "email", "{\"subject\": \"s\", \"body\": \"b\"}");
	CALL(mock_run, "page", "{\"severity\": \"critical\", \"summary\": \"s\"}");
	CALL(mock_run, "escalate", "{\"level\": 2, \"summary\": \"s\"}");
	CALL(mock_render, "page", "{\"severity\": \"critical\", \"summary\": \"s\"}");
	CALL(mock_render, "opsgenie", "{\"message\": \"m\"}");
	CALL(mock_render, "webhook", "{\"name\": \"tickets\", \"text\": \"t\"}");
	/* a secret that cannot be resolved names the reference, not a value */
	unsetenv("NT_TEAMS_URL");
	CALL(mock_run, "teams", "{\"text\": \"t\"}");
#undef CALL
	assert_non_null(strstr(mock_last_error(), "cannot resolve the URL (env:NT_TEAMS_URL)"));
	char v[256];
	snprintf(v, sizeof v, "%s/teams/webhookb2/teamssecret345", base_url);
	setenv("NT_TEAMS_URL", v, 1);

	fputs(mock_logs(), seen);
	char *audit = json_dumps(mock_audit_events(), JSON_COMPACT);
	fputs(audit, seen);
	free(audit);
	fclose(seen);

	/* the echoing server's reply is quoted, with the key masked */
	assert_non_null(strstr(seen_text, "notify pagerduty: HTTP 400"));
	assert_non_null(strstr(seen_text, "{\"routing_key\":\"*********************\","));
	assert_non_null(strstr(seen_text, "notify slack: HTTP 404"));

	for (const char *const *s = secret_values; *s; s++)
		if (strstr(seen_text, *s))
			fail_msg("secret %s leaked:\n%s", *s, seen_text);
	size_t i;
	json_t *sv;
	assert_true(json_array_size(mock_secrets_seen()) >= 7);
	json_array_foreach((json_t *)mock_secrets_seen(), i, sv)
	{
		if (strstr(seen_text, json_string_value(sv)))
			fail_msg("resolved secret leaked:\n%s", seen_text);
	}
	assert_null(strstr(seen_text, "/slack/T0001"));
	assert_null(strstr(seen_text, "/teams/webhookb2"));
	free(seen_text);
}

/* F8: every credential the configuration names is registered for redaction when the plugin
 * loads, before any delivery could echo one, and before anything else in the run (another
 * plugin's child process, a failing step's error) could print it. */
static void test_every_credential_is_registered_at_load(void **state)
{
	(void)state;
	mock_fini();
	char overrides[1024];
	snprintf(overrides, sizeof overrides,
	         "{'webhooks': {'tickets': {'url': '%s/tickets', 'headers': {'Authorization': "
	         "'env:NT_TICKETS_AUTH', 'X-Source': 'salve'}},"
	         " 'relay': {'url': 'https://relay:relaypw4242@relay.example/hook', 'headers': "
	         "{'X-Api-Key': 'plainapikey777', 'X-Source': 'salve-relay'}}}}",
	         base_url);
	assert_int_equal(init_with(overrides), 0);
	char slack[256], teams[256];
	snprintf(slack, sizeof slack, "%s/slack/T0001/B0001/slacksecrettoken123", base_url);
	snprintf(teams, sizeof teams, "%s/teams/webhookb2/teamssecret345", base_url);
	const char *const registered[] = {
	    slack,
	    "/slack/T0001/B0001/slacksecrettoken123", /* servers echo the path alone */
	    teams,
	    "/teams/webhookb2/teamssecret345",
	    "pdsecretroutingkey456",
	    "pddbsecretkey789",
	    "ogsecretkey012",
	    "Bearer ticketsecret678",
	    "ticketsecret678", /* without its scheme */
	    "smtpsecretpw901",
	    "plainapikey777", /* a plain value of a credential header */
	    "relaypw4242",    /* the password inside a plain URL */
	    NULL,
	};
	for (const char *const *v = registered; *v; v++)
		if (!mock_is_registered(*v))
			fail_msg("%s is not registered for redaction at load", *v);
	assert_false(mock_is_registered("salve-relay"));
	assert_false(mock_is_registered(base_url));
	/* registering sent nothing */
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
}

/* ---- dry-run and drills
 * ---------------------------------------------------------------------------- */

static void test_dry_run_renders_and_sends_nothing(void **state)
{
	(void)state;
	/* init resolved each reference once, only to register it for redaction (F8) */
	size_t resolved_at_load = json_array_size(mock_secrets_seen());
	mock_set_mode(SALVE_MODE_DRY_RUN);
	json_t *msg = NULL;
	assert_int_equal(mock_render("slack", "{\"text\": \"a <b>\", \"channel\": \"#x\"}", &msg),
	                 SALVE_OK);
	assert_string_equal(json_string_value(json_object_get(msg, "endpoint")),
	                    "(secret env:NT_SLACK_URL)");
	assert_string_equal(json_string_value(json_object_get(msg, "method")), "POST");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(msg, "body"), "text")),
	    "INFO: a &lt;b&gt;");
	json_t *rendered_slack = json_incref(json_object_get(msg, "body"));
	json_decref(msg);

	assert_int_equal(mock_render("pagerduty", "{\"summary\": \"s\"}", &msg), SALVE_OK);
	assert_string_equal(json_string_value(json_object_get(msg, "endpoint")),
	                    json_string_value(json_object_get(msg, "endpoint")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(msg, "body"), "routing_key")),
	    "(secret env:NT_PD_KEY)");
	json_decref(msg);

	assert_int_equal(
	    mock_render("email", "{\"subject\": \"s <x>\", \"body\": \"b & c\"}", &msg), SALVE_OK);
	assert_string_equal(json_string_value(json_object_get(msg, "subject")), "s <x>");
	assert_non_null(strstr(json_string_value(json_object_get(msg, "html")), "b &amp; c"));
	assert_json_eq(json_object_get(msg, "to"), "['oncall@example.org']");
	json_decref(msg);

	assert_int_equal(
	    mock_render("page", "{\"severity\": \"critical\", \"summary\": \"s\"}", &msg),
	    SALVE_OK);
	assert_json_eq(json_object_get(msg, "targets"), "['pagerduty:', 'slack:#incidents']");
	assert_int_equal(json_array_size(json_object_get(msg, "messages")), 2);
	json_decref(msg);
	assert_int_equal(mock_render("escalate", "{\"level\": 3, \"summary\": \"s\"}", &msg),
	                 SALVE_OK);
	assert_int_equal(json_array_size(json_object_get(msg, "messages")), 1);
	json_decref(msg);

	/* nothing reached any server and render resolved no secret */
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
	json_t *msgs = smtp_messages(&smtp_tls);
	assert_int_equal(json_array_size(msgs), 0);
	json_decref(msgs);
	assert_int_equal(json_array_size(mock_secrets_seen()), resolved_at_load);

	/* what render showed is what run sends */
	mock_set_mode(SALVE_MODE_APPLY);
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"a <b>\", \"channel\": \"#x\"}", &result),
	                 SALVE_OK);
	json_decref(result);
	reqs = requests();
	json_t *sent = body_of(json_array_get(reqs, 0));
	assert_true(json_equal(sent, rendered_slack));
	json_decref(sent);
	json_decref(reqs);
	json_decref(rendered_slack);
}

static void test_run_refuses_dry_run_without_drill(void **state)
{
	(void)state;
	/* the core never does this (mock_run would fail the test); call the callback directly */
	mock_set_mode(SALVE_MODE_DRY_RUN);
	const salve_action *a = mock_action("slack");
	assert_non_null(a);
	json_t *args = json_pack("{s:s}", "text", "t");
	json_t *result = NULL;
	int dummy;
	assert_int_equal(a->run((salve_call *)&dummy, args, &result), SALVE_ERR);
	assert_null(result);
	json_decref(args);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
}

static void test_drill_marks_every_channel(void **state)
{
	(void)state;
	mock_set_mode(SALVE_MODE_DRY_RUN);
	mock_set_drill(1);
	json_t *result = NULL;
	assert_int_equal(mock_run("slack", "{\"text\": \"t\"}", &result), SALVE_OK);
	assert_true(json_is_true(json_object_get(result, "drill")));
	json_decref(result);
	assert_int_equal(mock_run("pagerduty", "{\"summary\": \"p\"}", &result), SALVE_OK);
	json_decref(result);
	assert_int_equal(mock_run("opsgenie", "{\"message\": \"o\"}", &result), SALVE_OK);
	json_decref(result);
	assert_int_equal(mock_run("teams", "{\"text\": \"t\"}", &result), SALVE_OK);
	json_decref(result);
	assert_int_equal(mock_run("webhook", "{\"name\": \"tickets\", \"text\": \"w\"}", &result),
	                 SALVE_OK);
	json_decref(result);
	assert_int_equal(mock_run("email", "{\"subject\": \"e\", \"body\": \"b\"}", &result),
	                 SALVE_OK);
	json_decref(result);

	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 5);
	json_t *b;
	b = body_of(json_array_get(reqs, 0));
	assert_string_equal(json_string_value(json_object_get(b, "text")), "[DRILL] INFO: t");
	json_decref(b);
	b = body_of(json_array_get(reqs, 1));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(b, "payload"), "summary")),
	    "[DRILL] p");
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(json_object_get(b, "payload"), "custom_details"),
	                    "salve"),
	    "drill")));
	json_decref(b);
	b = body_of(json_array_get(reqs, 2));
	assert_string_equal(json_string_value(json_object_get(b, "message")), "[DRILL] o");
	assert_json_eq(json_object_get(b, "tags"), "['salve', 'drill']");
	json_decref(b);
	b = body_of(json_array_get(reqs, 3));
	assert_string_equal(json_string_value(json_object_get(b, "title")), "[DRILL] INFO: t");
	json_decref(b);
	b = body_of(json_array_get(reqs, 4));
	assert_string_equal(json_string_value(json_object_get(b, "text")), "[DRILL] w");
	assert_true(json_is_true(json_object_get(b, "drill")));
	json_decref(b);
	json_decref(reqs);

	json_t *msgs = smtp_messages(&smtp_tls);
	json_t *m = json_array_get(msgs, 0);
	assert_string_equal(json_string_value(json_object_get(m, "subject")), "[DRILL] e");
	const char *text = json_string_value(
	    json_object_get(json_array_get(json_object_get(m, "parts"), 2), "content"));
	assert_true(strncmp(text, "[DRILL] ", 8) == 0);
	json_decref(msgs);
}

/* ---- routing, escalation, send ------------------------------------------------------------------
 */

static void test_page_routes_by_severity(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(
	    mock_run("page", "{\"severity\": \"critical\", \"summary\": \"db down\"}", &result),
	    SALVE_OK);
	assert_json_eq(json_object_get(result, "targets"), "['pagerduty:', 'slack:#incidents']");
	assert_int_equal(json_array_size(json_object_get(result, "delivered")), 2);
	json_decref(result);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	assert_string_equal(path_of(json_array_get(reqs, 0)), "/pagerduty/v2/enqueue");
	json_t *b = body_of(json_array_get(reqs, 0));
	assert_string_equal(json_string_value(json_object_get(b, "dedup_key")), "fp-abc123");
	assert_string_equal(json_string_value(json_object_get(b, "event_action")), "trigger");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(b, "payload"), "severity")),
	    "critical");
	json_decref(b);
	b = body_of(json_array_get(reqs, 1));
	assert_string_equal(json_string_value(json_object_get(b, "channel")), "#incidents");
	assert_string_equal(json_string_value(json_object_get(b, "text")), "CRITICAL: db down");
	json_decref(b);
	json_decref(reqs);
	json_decref(control("reset", "{}"));

	assert_int_equal(
	    mock_run("page", "{\"severity\": \"high\", \"summary\": \"lag\"}", &result), SALVE_OK);
	json_decref(result);
	reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	b = body_of(json_array_get(reqs, 0));
	assert_string_equal(json_string_value(json_object_get(b, "channel")), "#ops");
	json_decref(b);
	json_decref(reqs);
	json_decref(control("reset", "{}"));

	assert_int_equal(
	    mock_run("page", "{\"severity\": \"medium\", \"summary\": \"disk 80%\"}", &result),
	    SALVE_OK);
	json_decref(result);
	reqs = requests();
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
	json_t *msgs = smtp_messages(&smtp_tls);
	assert_int_equal(json_array_size(msgs), 1);
	assert_json_eq(json_object_get(json_array_get(msgs, 0), "rcpt_tos"),
	               "['oncall@example.org']");
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "subject")),
	                    "[salve] MEDIUM db-failover: disk 80%");
	json_decref(msgs);

	assert_int_equal(
	    mock_run("page", "{\"severity\": \"low\", \"summary\": \"cert expires\"}", &result),
	    SALVE_OK);
	json_decref(result);
	reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	assert_string_equal(path_of(json_array_get(reqs, 0)), "/tickets");
	json_decref(reqs);

	assert_int_equal(
	    mock_run("page", "{\"severity\": \"urgent\", \"summary\": \"x\"}", &result),
	    SALVE_ERR_INVALID);
}

static void test_page_partial_failure_reports_and_continues(void **state)
{
	(void)state;
	script(
	    "[{'status': 400, 'body': 'Event object is invalid'}, {'status': 200, 'body': 'ok'}]");
	json_t *result = NULL;
	assert_int_equal(
	    mock_run("page", "{\"severity\": \"critical\", \"summary\": \"s\"}", &result),
	    SALVE_ERR_INVALID);
	assert_null(result);
	assert_string_equal(
	    mock_last_error(),
	    "notify page (critical): 1 of 2 targets failed: notify pagerduty: HTTP 400: "
	    "\"Event object is invalid\" (not retried)");
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 2);
	assert_string_equal(path_of(json_array_get(reqs, 1)),
	                    "/slack/T0001/B0001/slacksecrettoken123");
	json_decref(reqs);
}

static void test_escalate_sends_level_n(void **state)
{
	(void)state;
	json_t *result = NULL;
	assert_int_equal(
	    mock_run("escalate", "{\"level\": 2, \"summary\": \"still failing\"}", &result),
	    SALVE_OK);
	assert_int_equal(json_integer_value(json_object_get(result, "level")), 2);
	assert_json_eq(json_object_get(result, "targets"),
	               "['pagerduty:db', 'email:lead@example.org']");
	json_decref(result);
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	json_t *b = body_of(json_array_get(reqs, 0));
	assert_string_equal(json_string_value(json_object_get(b, "routing_key")),
	                    "pddbsecretkey789");
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(json_object_get(b, "payload"), "custom_details"),
	                        "salve"),
	        "escalation_level")),
	    2);
	json_decref(b);
	json_decref(reqs);
	json_t *msgs = smtp_messages(&smtp_tls);
	assert_int_equal(json_array_size(msgs), 1);
	json_t *m = json_array_get(msgs, 0);
	assert_json_eq(json_object_get(m, "rcpt_tos"), "['lead@example.org']");
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_array_get(json_object_get(m, "parts"), 2), "content")),
	                       "Escalation level: 2\n"));
	json_decref(msgs);

	json_decref(control("reset", "{}"));
	assert_int_equal(mock_run("escalate", "{\"level\": 1, \"summary\": \"s\"}", &result),
	                 SALVE_OK);
	json_decref(result);
	reqs = requests();
	assert_int_equal(json_array_size(reqs), 1);
	b = body_of(json_array_get(reqs, 0));
	assert_string_equal(json_string_value(json_object_get(b, "channel")), "#oncall");
	json_decref(b);
	json_decref(reqs);

	assert_int_equal(mock_run("escalate", "{\"level\": 4, \"summary\": \"s\"}", &result),
	                 SALVE_ERR_INVALID);
	assert_string_equal(
	    mock_last_error(),
	    "notify escalate: level 4 is not configured (notify.escalation has 3 levels)");
	assert_int_equal(mock_run("escalate", "{\"level\": 0, \"summary\": \"s\"}", &result),
	                 SALVE_ERR_INVALID);
}

static void test_escalation_policy_chain(void **state)
{
	(void)state;
	const salve_action *a = mock_action("escalation_policy");
	assert_non_null(a);
	assert_int_equal(a->kind, SALVE_READ);
	json_t *result = NULL;
	assert_int_equal(mock_run("escalation_policy", "{}", &result), SALVE_OK);
	assert_json_eq(result, "[{'level': 1, 'wait_seconds': 0.0, 'after_seconds': 0.0,"
	                       "  'targets': ['slack:#oncall']},"
	                       " {'level': 2, 'wait_seconds': 300.0, 'after_seconds': 300.0,"
	                       "  'targets': ['pagerduty:db', 'email:lead@example.org']},"
	                       " {'level': 3, 'wait_seconds': 900.0, 'after_seconds': 1200.0,"
	                       "  'targets': ['teams:']}]");
	json_decref(result);
}

static void test_send_dispatches_by_scheme(void **state)
{
	(void)state;
	const char *targets[] = {
	    "slack:#x", "pagerduty:",      "opsgenie:",
	    "teams:",   "webhook:tickets", "email:x@example.org, y@example.org"};
	const char *paths[] = {"/slack/T0001/B0001/slacksecrettoken123", "/pagerduty/v2/enqueue",
	                       "/opsgenie/v2/alerts", "/teams/webhookb2/teamssecret345",
	                       "/tickets"};
	for (size_t i = 0; i < 6; i++) {
		char args[256];
		snprintf(args, sizeof args, "{\"to\": \"%s\", \"text\": \"hello\"}", targets[i]);
		json_t *result = NULL;
		int rc = mock_run("send", args, &result);
		if (rc != SALVE_OK)
			fail_msg("send %s: %s", targets[i], mock_last_error());
		json_decref(result);
	}
	json_t *reqs = requests();
	assert_int_equal(json_array_size(reqs), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(path_of(json_array_get(reqs, i)), paths[i]);
	json_t *b = body_of(json_array_get(reqs, 0));
	assert_string_equal(json_string_value(json_object_get(b, "channel")), "#x");
	json_decref(b);
	json_decref(reqs);
	json_t *msgs = smtp_messages(&smtp_tls);
	assert_json_eq(json_object_get(json_array_get(msgs, 0), "rcpt_tos"),
	               "['x@example.org', 'y@example.org']");
	json_decref(msgs);

	json_t *result = NULL;
	assert_int_equal(mock_run("send", "{\"to\": \"pigeon:home\", \"text\": \"x\"}", &result),
	                 SALVE_ERR_INVALID);
	assert_non_null(strstr(mock_last_error(), "unknown scheme"));
	assert_int_equal(mock_run("send", "{\"to\": \"webhook:nosuch\", \"text\": \"x\"}", &result),
	                 SALVE_ERR_INVALID);
	assert_int_equal(
	    mock_run("send", "{\"to\": \"email:not-an-address\", \"text\": \"x\"}", &result),
	    SALVE_ERR_INVALID);
}

/* ---- configuration (no servers) -----------------------------------------------------------------
 */

static void expect_init_error(const char *config, const char *needle, const char *absent)
{
	char *text = jq_text(config);
	int rc = mock_init_settings(salve_plugin_entry(), text);
	free(text);
	if (rc == 0)
		fail_msg("init accepted %s", config);
	if (!strstr(mock_settings_error(), needle))
		fail_msg("error \"%s\" does not say \"%s\"", mock_settings_error(), needle);
	if (absent && strstr(mock_settings_error(), absent))
		fail_msg("error \"%s\" repeats \"%s\"", mock_settings_error(), absent);
	mock_fini();
}

static void test_config_rejects_inline_credentials(void **state)
{
	(void)state;
	expect_init_error(
	    "{'slack': {'webhook_url': 'https://hooks.slack.com/services/T/B/inl1ne'}}",
	    "plugins.notify.slack.webhook_url: must be a secret reference (env:NAME or "
	    "file:/path), got a string of 43 bytes: inline secrets are refused",
	    "inl1ne");
	expect_init_error("{'pagerduty': {'routing_key': 'R0UTINGKEY'}}",
	                  "plugins.notify.pagerduty.routing_key: must be a secret reference",
	                  "R0UTINGKEY");
	expect_init_error("{'pagerduty': {'services': {'db': 'R0UTINGKEY'}}}",
	                  "plugins.notify.pagerduty.services.db: must be a secret reference",
	                  "R0UTINGKEY");
	expect_init_error("{'opsgenie': {'api_key': 'K3Y'}}", "plugins.notify.opsgenie.api_key",
	                  "K3Y");
	expect_init_error("{'email': {'url': 'smtp://h:25', 'from': 'a@b.c', 'username': 'u',"
	                  " 'password': 'hunter2'}}",
	                  "plugins.notify.email.password: must be a secret reference", "hunter2");
	expect_init_error("{'email': {'url': 'smtp://h:25', 'from': 'a@b.c', 'username': 'u',"
	                  " 'password': 'env:P', 'starttls': false}}",
	                  "would cross the network in clear", NULL);
}

/* The core refuses the whole section, the maps inside included (salve_settings_apply, the
 * same words as for every plugin); the plugin only what no table says (URL and address
 * forms, a level without targets). */
static void test_config_rejects_unknown_keys_and_bad_values(void **state)
{
	(void)state;
	const struct {
		const char *config, *refusal;
	} refused[] = {
	    /* the core */
	    {"{'slak': {}}", "plugins.notify.slak: unknown setting (known: slack, pagerduty, "
	                     "opsgenie, teams, webhooks, email, routing, escalation, timeout, "
	                     "connect_timeout, retry, ca_file)"},
	    {"{'timeout': '10 seconds'}",
	     "plugins.notify.timeout: must be a duration such as \"30s\", \"5m\", \"1h30m\" or "
	     "a number of seconds, got \"10 seconds\""},
	    {"{'slack': 'env:X'}", "plugins.notify.slack: must be map, got string"},
	    {"{'escalation': {'wait': '1m'}}",
	     "plugins.notify.escalation: must be list, got table"},
	    {"{'ca_file': 7}", "plugins.notify.ca_file: must be string, got integer"},
	    /* the maps inside, by the core too */
	    {"{'slack': {'webhook_url': 'env:X', 'chanel': '#x'}}",
	     "plugins.notify.slack.chanel: unknown setting (known: webhook_url, channel, username, "
	     "icon_emoji)"},
	    {"{'slack': {'channel': '#x'}}",
	     "plugins.notify.slack.webhook_url: required setting is missing (secret_ref)"},
	    {"{'slack': {'webhook_url': 'env:X', 'channel': 5}}",
	     "plugins.notify.slack.channel: must be string, got integer"},
	    {"{'email': {'url': 'smtp://h', 'from': 'a@b.c', 'starttls': 'yes'}}",
	     "plugins.notify.email.starttls: must be bool, got string"},
	    {"{'retry': {'base_delay': 'soon'}}",
	     "plugins.notify.retry.base_delay: must be a duration such as \"30s\", \"5m\", "
	     "\"1h30m\" or a number of seconds, got \"soon\""},
	    {"{'retry': {'attempts': 0}}",
	     "plugins.notify.retry.attempts: must be at least 1, got 0"},
	    {"{'retry': {'attempts': 101}}",
	     "plugins.notify.retry.attempts: must be at most 100, got 101"},
	    {"{'timeout': '0s'}", "plugins.notify.timeout: must be more than 0s, got 0s"},
	    {"{'connect_timeout': 0}",
	     "plugins.notify.connect_timeout: must be more than 0s, got 0s"},
	    {"{'slack': {'webhook_url': 'env:X', 'channel': ''}}",
	     "plugins.notify.slack.channel: must not be empty"},
	    {"{'opsgenie': {'api_key': 'env:K', 'responders': [{'type': 'team', 'name': 'db'},"
	     " {'type': 'crew', 'name': 'x'}]}}",
	     "plugins.notify.opsgenie.responders[1].type: must be one of team, user, escalation, "
	     "schedule, got \"crew\""},
	    {"{'opsgenie': {'api_key': 'env:K', 'responders': [{'name': 'db'}]}}",
	     "plugins.notify.opsgenie.responders[0].type: required setting is missing (string)"},
	    {"{'opsgenie': {'api_key': 'env:K', 'tags': ['a', 3]}}",
	     "plugins.notify.opsgenie.tags[1]: must be a non-empty string"},
	    {"{'email': {'url': 'smtp://h', 'from': 'a@b.c', 'to': {'a': 1}}}",
	     "plugins.notify.email.to: must be a string or a list of strings, got table"},
	    {"{'webhooks': {'t': 'https://h'}}",
	     "plugins.notify.webhooks.t: must be map, got string"},
	    {"{'webhooks': {'t': null}}",
	     "plugins.notify.webhooks.t.url: required setting is missing (string)"},
	    {"{'escalation': [{'to': 'slack:'}, 5]}",
	     "plugins.notify.escalation[1]: must be map, got integer"},
	    {"{'retry': {'attempts': '3'}}",
	     "plugins.notify.retry.attempts: must be int, got string"},
	    {"{'teams': {'webhook_url': 'env:X', 'format': 'html'}}",
	     "plugins.notify.teams.format: must be one of messagecard, adaptive, got \"html\""},
	    {"{'email': {'url': 'http://h', 'from': 'a@b.c'}}",
	     "plugins.notify.email.url: must be smtp://host:port (STARTTLS) or smtps://host:port "
	     "(implicit TLS)"},
	    {"{'email': {'url': 'smtp://h', 'from': 'not an address'}}",
	     "plugins.notify.email.from: must be an address such as salve@example.org"},
	    {"{'webhooks': {'t': {'url': 'ftp://h'}}}",
	     "plugins.notify.webhooks.t.url: must be an http(s) URL or a secret reference"},
	    {"{'webhooks': {'t': {'url': 'https://h', 'heders': {}}}}",
	     "plugins.notify.webhooks.t.heders: unknown setting (known: url, headers, body)"},
	    {"{'escalation': [{'wait': 'soon', 'to': ['slack:']}]}",
	     "plugins.notify.escalation[0].wait: must be a duration such as \"30s\", \"5m\", "
	     "\"1h30m\" or a number of seconds, got \"soon\""},
	    {"{'routing': {'urgent': ['slack:']}}",
	     "plugins.notify.routing.urgent: unknown setting (known: critical, high, medium, low, "
	     "info)"},
	    {"{'routing': {'high': [5]}}", "plugins.notify.routing.high[0]: must be a non-empty "
	                                   "string"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char *text = jq_text(refused[i].config);
		int rc = mock_init_settings(salve_plugin_entry(), text);
		free(text);
		if (rc == 0)
			fail_msg("init accepted %s", refused[i].config);
		assert_string_equal(mock_settings_error(), refused[i].refusal);
		mock_fini();
	}
}

/* What init gets when salve.yaml says little: the declared defaults, durations in seconds. */
static void test_config_defaults_are_declared(void **state)
{
	(void)state;
	char *text = jq_text("{'slack': {'webhook_url': 'env:X'}, 'connect_timeout': '1m30s'}");
	char *effective = mock_settings_effective(salve_plugin_entry(), text);
	assert_non_null(effective);
	assert_string_equal(
	    effective, "{\"connect_timeout\":90.0,\"retry\":{\"attempts\":4,\"base_delay\":0.5,"
	               "\"max_delay\":8.0,\"max_time\":30.0},\"slack\":{\"webhook_url\":"
	               "\"env:X\"},\"timeout\":10.0}");
	free(effective);
	/* defaults inside each value of a map and each element of a list; a lone target made a
	 * list */
	char *nested =
	    jq_text("{'webhooks': {'t': {'url': 'https://h'}}, 'retry': {'attempts': 2},"
	            " 'routing': {'low': 'webhook:t'}, 'escalation': [{'to': 'webhook:t'}]}");
	effective = mock_settings_effective(salve_plugin_entry(), nested);
	free(nested);
	assert_non_null(effective);
	assert_string_equal(
	    effective, "{\"connect_timeout\":5.0,\"escalation\":[{\"to\":[\"webhook:t\"],"
	               "\"wait\":0.0}],\"retry\":{\"attempts\":2,\"base_delay\":0.5,"
	               "\"max_delay\":8.0,\"max_time\":30.0},\"routing\":{\"low\":[\"webhook:t\"]},"
	               "\"timeout\":10.0,\"webhooks\":{\"t\":{\"url\":\"https://h\"}}}");
	free(effective);
	assert_int_equal(mock_init_settings(salve_plugin_entry(), text), 0);
	free(text);
	json_t *policy = NULL;
	assert_int_equal(mock_run("escalation_policy", "{}", &policy), SALVE_OK);
	assert_json_eq(policy, "[]");
	json_decref(policy);
	mock_fini();
}

static void test_config_targets_must_name_configured_channels(void **state)
{
	(void)state;
	expect_init_error(
	    "{'slack': {'webhook_url': 'env:X'}, 'routing': {'critical': ['pagerduty:']}}",
	    "notify.routing.critical[0]: target \"pagerduty:\": notify.pagerduty is "
	    "not configured",
	    NULL);
	expect_init_error("{'slack': {'webhook_url': 'env:X'}, 'routing': {'low': ['webhook:t']}}",
	                  "no webhooks.t", NULL);
	expect_init_error("{'slack': {'webhook_url': 'env:X'}, 'escalation': [{'to': ['sms:+1']}]}",
	                  "notify.escalation[0].to[0]: target \"sms:+1\": unknown scheme", NULL);
	expect_init_error("{'slack': {'webhook_url': 'env:X'}, 'escalation': [{'wait': '1m'}]}",
	                  "plugins.notify.escalation[0].to: required setting is missing (list)",
	                  NULL);
	expect_init_error("{'slack': {'webhook_url': 'env:X'}, 'escalation': [{'to': []}]}",
	                  "plugins.notify.escalation[0].to: must list at least one target", NULL);
}

static void test_config_default_routing_uses_configured_channels(void **state)
{
	(void)state;
	char *text =
	    jq_text("{'slack': {'webhook_url': 'env:X'},"
	            " 'pagerduty': {'routing_key': 'env:Y'},"
	            " 'webhooks': {'tickets': {'url': 'https://tickets.example.org/new'}}}");
	assert_int_equal(mock_init_settings(salve_plugin_entry(), text), 0);
	free(text);
	const char *expect[][2] = {{"critical", "['pagerduty:', 'slack:']"},
	                           {"high", "['slack:']"},
	                           {"medium", "['webhook:tickets']"},
	                           {"low", "['webhook:tickets']"}};
	for (size_t i = 0; i < 4; i++) {
		char args[128];
		snprintf(args, sizeof args, "{\"severity\": \"%s\", \"summary\": \"s\"}",
		         expect[i][0]);
		json_t *msg = NULL;
		assert_int_equal(mock_render("page", args, &msg), SALVE_OK);
		assert_json_eq(json_object_get(msg, "targets"), expect[i][1]);
		json_decref(msg);
	}
	/* no escalation configured: an empty chain, and escalate says so */
	json_t *result = NULL;
	assert_int_equal(mock_run("escalation_policy", "{}", &result), SALVE_OK);
	assert_json_eq(result, "[]");
	json_decref(result);
	assert_int_equal(mock_render("escalate", "{\"level\": 1, \"summary\": \"s\"}", &result),
	                 SALVE_ERR_INVALID);
	mock_fini();
}

static void test_every_notify_action_has_run_and_render(void **state)
{
	(void)state;
	const salve_plugin *p = salve_plugin_entry();
	assert_int_equal(p->abi_major, SALVE_PLUGIN_ABI_MAJOR);
	assert_string_equal(p->name, "notify");
	size_t notify = 0;
	for (const salve_action *a = p->actions; a->name; a++) {
		if (a->kind == SALVE_NOTIFY) {
			assert_non_null(a->run);
			assert_non_null(a->render);
			notify++;
		}
		assert_null(a->apply);
	}
	assert_int_equal(notify, 9);
}

int main(void)
{
	const struct CMUnitTest config_tests[] = {
	    cmocka_unit_test(test_every_notify_action_has_run_and_render),
	    cmocka_unit_test(test_config_rejects_inline_credentials),
	    cmocka_unit_test(test_config_rejects_unknown_keys_and_bad_values),
	    cmocka_unit_test(test_config_defaults_are_declared),
	    cmocka_unit_test(test_config_targets_must_name_configured_channels),
	    cmocka_unit_test(test_config_default_routing_uses_configured_channels),
	};
#define T(fn)     cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TS(fn, s) cmocka_unit_test_setup_teardown(fn, s, teardown)
	const struct CMUnitTest server_tests[] = {
	    T(test_slack_block_kit_payload),
	    T(test_slack_many_fields_split_in_sections_of_ten),
	    T(test_pagerduty_trigger_then_resolve_same_incident),
	    T(test_pagerduty_severity_mapping_and_service_key),
	    TS(test_pagerduty_resolve_without_key_is_invalid, setup_no_fingerprint),
	    T(test_opsgenie_create_and_close_by_alias),
	    T(test_opsgenie_message_cut_to_130_and_priority_from_severity),
	    T(test_teams_message_card),
	    T(test_teams_200_with_failure_text_is_not_success),
	    TS(test_teams_adaptive_card, setup_adaptive),
	    T(test_webhook_string_template_is_json_escaped),
	    T(test_webhook_table_template_default_body_and_errors),
	    T(test_webhook_url_argument),
	    T(test_email_starttls_auth_mime),
	    T(test_email_long_subject_default_recipients),
	    TS(test_email_implicit_tls, setup_smtps),
	    TS(test_email_untrusted_certificate_refused, setup_untrusted),
	    TS(test_email_transient_451_is_retried, setup_flaky_smtp),
	    TS(test_email_rejected_recipient_is_not_retried, setup_plain_smtp),
	    T(test_retry_429_honours_retry_after),
	    T(test_retry_500_then_success),
	    T(test_retries_exhausted),
	    T(test_retry_after_beyond_budget_is_not_waited),
	    T(test_client_errors_are_not_retried),
	    TS(test_hanging_endpoint_bounded_by_timeout, setup_short_timeout),
	    T(test_step_deadline_bounds_delivery),
	    T(test_cancelled_run_sends_nothing),
	    T(test_secrets_absent_from_logs_errors_audit_results),
	    T(test_dry_run_renders_and_sends_nothing),
	    T(test_every_credential_is_registered_at_load),
	    T(test_run_refuses_dry_run_without_drill),
	    T(test_drill_marks_every_channel),
	    T(test_page_routes_by_severity),
	    T(test_page_partial_failure_reports_and_continues),
	    T(test_escalate_sends_level_n),
	    T(test_escalation_policy_chain),
	    T(test_send_dispatches_by_scheme),
	};
#undef T
#undef TS
	int failed = cmocka_run_group_tests_name("notify configuration", config_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("notify channels against local servers", server_tests,
	                                      start_servers, stop_servers);
	return failed;
}
