/* A run's steps from the engine's events (core/serve/steps.c): the events are the one source,
 * the summary adds only what no event carries, and what was shown during a run is still
 * shown after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "redact.h"
#include "run.h"
#include "srv.h"
#include "status.h"
#include "steps.h"

static char dir[256];
static char route_name[] = "checkout", runbook[] = "restart.lua";
static struct srv_server srv;
static srv_route route;
static struct srv_route_state rs;
static struct srv_run *run;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/salve-steps-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	memset(&srv, 0, sizeof srv);
	pthread_mutex_init(&srv.mu, NULL);
	srv.metrics = srv_metrics_new();
	srv_status_declare_metrics(srv.metrics);
	snprintf(srv.spool_dir, sizeof srv.spool_dir, "%s", dir);
	memset(&route, 0, sizeof route);
	route.name = route_name;
	route.runbook = runbook;
	memset(&rs, 0, sizeof rs);
	rs.route = &route;
	json_t *alert = json_pack("{s:s}", "fingerprint", "ff878461ae8abf23");
	run = srv_run_new(&srv, &rs, "alert:ff878461ae8abf23", alert, 0, json_object(), strdup("t"),
	                  "occ", "tkey");
	json_decref(alert);
	return run ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	srv_run_free(run);
	srv_metrics_free(srv.metrics);
	pthread_mutex_destroy(&srv.mu);
	salve_redact_clear();
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Sends one event (stolen) as the engine does: from the run's thread, borrowed. */
static void event(json_t *ev)
{
	srv_steps_on_event(run, ev);
	json_decref(ev);
}

static json_t *step(size_t i)
{
	return json_array_get(run->steps, i);
}

static const char *field(size_t i, const char *key)
{
	return json_string_value(json_object_get(step(i), key));
}

static void assert_json(const json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, 0, NULL);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS);
		fprintf(stderr, "got  %s\nwant %s\n", g, want_text);
		free(g);
	}
	assert_true(json_equal(got, want));
	json_decref(want);
}

static size_t metric_count(const char *series)
{
	char *text = srv_metrics_render(srv.metrics);
	const char *at = strstr(text, series);
	size_t n = at ? strtoul(at + strlen(series), NULL, 10) : 0;
	free(text);
	return n;
}

static void test_steps_during_and_after(void **state)
{
	(void)state;
	event(json_pack("{s:s, s:s, s:i, s:i}", "event", "step_start", "step", "drain", "index", 1,
	                "line", 4));
	assert_int_equal(run->state, SRV_RUN_RUNNING);
	assert_string_equal(field(0, "state"), "running");
	assert_non_null(field(0, "started_at"));
	assert_true(run->first_step_at[0] != '\0');
	event(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:{}}", "event", "action",
	                "step", "drain", "phase", "run", "plugin", "kubernetes", "action", "cordon",
	                "kind", "mutate", "target", "node-1", "outcome", "changed", "duration_ms",
	                1.5, "args"));
	event(json_pack("{s:s, s:s, s:s, s:f}", "event", "step_end", "step", "drain", "outcome",
	                "changed", "duration_ms", 2.5));
	json_t *during = json_deep_copy(step(0));
	json_object_del(during, "started_at");
	assert_json(during,
	            "{\"name\": \"drain\", \"index\": 1, \"state\": \"changed\", \"outcome\": "
	            "\"changed\", \"duration_ms\": 2.5, \"actions\": [{\"plugin\": \"kubernetes\", "
	            "\"action\": \"cordon\", \"target\": \"node-1\", \"outcome\": \"changed\", "
	            "\"duration_ms\": 1.5}]}");
	json_object_set(during, "started_at", json_object_get(step(0), "started_at"));

	event(json_pack("{s:s, s:s, s:i}", "event", "step_start", "step", "restart", "index", 2));
	event(json_pack("{s:s, s:s, s:{}}", "event", "approval_requested", "step", "restart",
	                "approve"));
	assert_string_equal(field(1, "state"), "awaiting_approval");
	event(json_pack("{s:s, s:s, s:s, s:s}", "event", "approval", "step", "restart", "outcome",
	                "refused", "reason", "denied by bob: not now"));
	assert_string_equal(field(1, "state"), "running");
	event(json_pack("{s:s, s:s, s:s, s:f, s:s, s:s}", "event", "step_end", "step", "restart",
	                "outcome", "failed", "duration_ms", 3.0, "error",
	                "not approved: denied by bob: not now", "traceback", "stack"));
	/* The steps after a failure: announced by a step_end alone, in order. */
	event(json_pack("{s:s, s:s, s:s, s:s}", "event", "step_end", "step", "verify", "outcome",
	                "skipped", "note", "an earlier step failed"));
	event(json_pack("{s:s, s:s, s:s}", "event", "step_rollback", "step", "restart", "outcome",
	                "rolled_back"));
	event(json_pack("{s:s, s:s, s:s}", "event", "step_rollback", "step", "drain", "outcome",
	                "rolled_back"));

	/* The summary disagrees on what events said (duration) and adds what they cannot. */
	json_t *summary = json_pack(
	    "{s:s, s:[{s:s, s:i, s:s, s:f, s:b, s:b, s:[{s:i, s:s}]}, {s:s, s:i, s:s}]}", "outcome",
	    "rolled_back", "steps", "name", "drain", "index", 1, "outcome", "rolled_back",
	    "duration_ms", 99.0, "custom_rollback", 0, "rollback_disabled", 0, "changes", "id", 1,
	    "state", "undone", "name", "restart", "index", 2, "outcome", "failed");
	pthread_mutex_lock(&srv.mu);
	srv_steps_finish(run, summary);
	pthread_mutex_unlock(&srv.mu);
	json_decref(summary);

	/* What was shown during the run is shown after it, but for the rollback's outcome. */
	json_t *after = json_deep_copy(step(0));
	assert_string_equal(json_string_value(json_object_get(after, "state")), "rolled_back");
	assert_string_equal(json_string_value(json_object_get(after, "outcome")), "rolled_back");
	assert_json(json_object_get(after, "changes"), "[{\"id\": 1, \"state\": \"undone\"}]");
	assert_false(json_is_true(json_object_get(after, "custom_rollback")));
	json_object_set_new(after, "state", json_string("changed"));
	json_object_set_new(after, "outcome", json_string("changed"));
	json_object_del(after, "changes");
	json_object_del(after, "custom_rollback");
	json_object_del(after, "rollback_disabled");
	assert_true(json_equal(after, during));
	json_decref(after);
	json_decref(during);

	json_t *restart = json_deep_copy(step(1));
	json_object_del(restart, "started_at");
	assert_json(restart, "{\"name\": \"restart\", \"index\": 2, \"state\": \"failed\", "
	                     "\"outcome\": \"failed\", \"duration_ms\": 3.0, \"error\": "
	                     "\"not approved: denied by bob: not now\", \"actions\": [], "
	                     "\"approval\": {\"outcome\": \"refused\", \"reason\": \"denied by "
	                     "bob: not now\"}}");
	json_decref(restart);
	assert_json(step(2), "{\"name\": \"verify\", \"index\": 3, \"state\": \"skipped\", "
	                     "\"outcome\": \"skipped\", \"note\": \"an earlier step failed\", "
	                     "\"actions\": []}");
	assert_int_equal(json_array_size(run->steps), 3);

	/* Two steps ran (the skipped one is not timed); the first step was seen once. */
	assert_int_equal(
	    metric_count("salve_step_duration_seconds_count{runbook=\"restart.lua\"} "), 2);
	assert_int_equal(
	    metric_count("salve_alert_to_first_step_seconds_count{route=\"checkout\"} "), 1);
}

static void test_rollback_failed_and_opted_out(void **state)
{
	(void)state;
	event(json_pack("{s:s, s:s, s:i}", "event", "step_start", "step", "a", "index", 1));
	event(json_pack("{s:s, s:s, s:s, s:f}", "event", "step_end", "step", "a", "outcome",
	                "changed", "duration_ms", 1.0));
	event(json_pack("{s:s, s:s, s:i}", "event", "step_start", "step", "b", "index", 2));
	event(json_pack("{s:s, s:s, s:s, s:f}", "event", "step_end", "step", "b", "outcome",
	                "changed", "duration_ms", 1.0));
	event(json_pack("{s:s, s:s, s:s}", "event", "step_rollback", "step", "b", "outcome",
	                "opted_out"));
	event(json_pack("{s:s, s:s, s:s, s:s}", "event", "step_rollback", "step", "a", "outcome",
	                "rollback_failed", "error", "undo of kv.set k failed: gone"));
	assert_string_equal(field(0, "state"), "rollback_failed");
	assert_string_equal(field(0, "outcome"), "rollback_failed");
	assert_string_equal(field(0, "rollback_error"), "undo of kv.set k failed: gone");
	assert_string_equal(field(1, "state"), "changed");
	assert_string_equal(field(1, "rollback"), "opted out");
}

static void test_secrets_are_redacted(void **state)
{
	(void)state;
	salve_redact_register("s3cr3t-token-value");
	event(json_pack("{s:s, s:s, s:i}", "event", "step_start", "step", "call", "index", 1));
	event(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f}", "event", "action", "step", "call",
	                "plugin", "http", "action", "get", "target",
	                "https://x/?key=s3cr3t-token-value", "outcome", "failed", "duration_ms",
	                1.0));
	event(json_pack("{s:s, s:s, s:s, s:s}", "event", "step_end", "step", "call", "outcome",
	                "failed", "error", "401 for token s3cr3t-token-value"));
	char *text = json_dumps(run->steps, 0);
	assert_null(strstr(text, "s3cr3t-token-value"));
	assert_non_null(strstr(text, "401 for token " SALVE_REDACTED));
	free(text);
}

static void test_run_start_hands_over_the_spool_entry(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof path, "%s/%s.json", dir, run->id);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("salve-spool-v1 x\n{}", f);
	fclose(f);
	event(json_pack("{s:s, s:s}", "event", "run_start", "source", "restart.lua"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(json_array_size(run->steps), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_steps_during_and_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_failed_and_opted_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_are_redacted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_start_hands_over_the_spool_entry, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
