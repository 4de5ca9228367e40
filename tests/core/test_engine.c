/* The step engine, driven through real runbooks and the testkit plugin. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "audit.h"
#include "engine.h"
#include "exitcodes.h"
#include "journal.h"
#include "registry.h"
#include "runbook.h"
#include "util.h"

static char kit[1024]; /* tu_path's buffers are reused: keep a copy */

static int setup(void **state)
{
	(void)state;
	snprintf(kit, sizeof kit, "%s", tu_path("kit"));
	setenv("SALVE_TESTKIT_DIR", kit, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_cleanup();
	return 0;
}

struct run_opts {
	enum salve_mode mode;
	const char *fail_at;
	int drill_notify;
	volatile sig_atomic_t *cancel;
	double step_timeout;
	double rollback_timeout;
	const char *params; /* JSON object, or NULL for none */
	int drill_force;
	double run_timeout;
	FILE *out;
};

/* Runs lua as a runbook; returns the exit code; *summary optional. */
static int run_lua(const char *lua, const struct run_opts *ro, json_t **summary)
{
	const char *path = tu_path("rb.lua");
	tu_write(path, lua);
	salve_registry *reg = tu_registry(0);
	int code;
	char err[4096];
	salve_runbook *rb = salve_runbook_load(path, reg, &code, err, sizeof err);
	if (!rb)
		fail_msg("runbook did not load: %s", err);
	json_t *given = ro && ro->params ? json_loads(ro->params, 0, NULL) : json_object();
	json_t *params = NULL;
	assert_int_equal(salve_runbook_params(rb, given, &params, err, sizeof err), 0);
	salve_audit *audit =
	    salve_audit_open(tu_path("audit.jsonl"), SALVE_AUDIT_SYNC_NONE, err, sizeof err);
	assert_non_null(audit);
	salve_run_options o;
	memset(&o, 0, sizeof o);
	o.mode = ro ? ro->mode : SALVE_MODE_APPLY;
	o.fail_at = ro ? ro->fail_at : NULL;
	o.drill_notify = ro ? ro->drill_notify : 0;
	o.cancel = ro ? ro->cancel : NULL;
	o.step_timeout = ro ? ro->step_timeout : 0;
	o.rollback_timeout = ro ? ro->rollback_timeout : 0;
	o.drill_force = ro ? ro->drill_force : 0;
	o.run_timeout = ro ? ro->run_timeout : 0;
	o.out = ro ? ro->out : NULL;
	o.params = params;
	o.audit = audit;
	o.state_dir = tu_path("state");
	json_t *sum = NULL;
	code = salve_engine_run(rb, &o, &sum);
	if (summary)
		*summary = sum;
	else
		json_decref(sum);
	salve_audit_close(audit);
	json_decref(params);
	json_decref(given);
	salve_runbook_free(rb);
	salve_registry_free(reg);
	return code;
}

static char *kv(const char *key)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/kv/%s", kit, key);
	return tu_read(path);
}

static const char *outcome(json_t *summary, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(summary, "steps"), i), "outcome"));
}

#define HEAD "runbook { name = \"t\" }\nlocal kit = plugin \"testkit\"\n"

static void test_idempotent_rerun_changes_nothing(void **state)
{
	(void)state;
	const char *lua = HEAD
	    "step \"a\" { run = function() return kit.set{ key = \"a\", value = \"1\" } end }\n";
	json_t *s = NULL;
	assert_int_equal(run_lua(lua, NULL, &s), SALVE_EXIT_OK);
	assert_string_equal(outcome(s, 0), "changed");
	json_decref(s);
	assert_int_equal(tu_calls(kit, "set", "apply"), 1);
	assert_int_equal(run_lua(lua, NULL, &s), SALVE_EXIT_OK);
	assert_string_equal(outcome(s, 0), "ok");
	json_decref(s);
	assert_int_equal(tu_calls(kit, "set", "apply"), 1);
	assert_int_equal(tu_calls(kit, "set", "check"), 2);
	char *v = kv("a");
	assert_string_equal(v, "1");
	free(v);
}

static void test_failure_in_step3_undoes_2_then_1(void **state)
{
	(void)state;
	const char *lua = HEAD
	    "step \"one\" { run = function() return kit.set{ key = \"a\", value = \"A\" } end }\n"
	    "step \"two\" { run = function() kit.set{ key = \"b\", value = \"B1\" } return "
	    "kit.set{ key = \"b\", value = \"B2\" } end }\n"
	    "step \"three\" { run = function() return kit.fail{ message = \"boom\" } end }\n"
	    "step \"four\" { run = function() return kit.set{ key = \"d\", value = \"D\" } end }\n";
	json_t *s = NULL;
	assert_int_equal(run_lua(lua, NULL, &s), SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(outcome(s, 0), "rolled_back");
	assert_string_equal(outcome(s, 1), "rolled_back");
	assert_string_equal(outcome(s, 2), "failed");
	assert_string_equal(outcome(s, 3), "skipped");
	const char *err = json_string_value(
	    json_object_get(json_array_get(json_object_get(s, "steps"), 2), "error"));
	assert_non_null(strstr(err, "rb.lua:5:"));
	assert_non_null(strstr(err, "boom"));
	json_decref(s);
	char *a = kv("a"), *b = kv("b"), *d = kv("d");
	assert_null(a);
	assert_null(b);
	assert_null(d);
	assert_int_equal(tu_calls(kit, "set", "undo"), 3);
	/* The audit log shows the undo order: b (B2, then B1), then a. */
	json_t *recs = tu_audit_records(tu_path("audit.jsonl"));
	const char *order[3];
	size_t n = 0, i;
	json_t *r;
	json_array_foreach(recs, i, r)
	{
		if (strcmp(json_string_value(json_object_get(r, "event")), "undo") == 0 && n < 3)
			order[n++] = json_string_value(json_object_get(r, "step"));
	}
	assert_int_equal(n, 3);
	assert_string_equal(order[0], "two");
	assert_string_equal(order[1], "two");
	assert_string_equal(order[2], "one");
	json_decref(recs);
	/* Nothing left to undo: the journal is gone. */
	json_t *left = salve_journal_list(tu_path("state"));
	assert_int_equal(json_array_size(left), 0);
	json_decref(left);
}

static void test_failing_rollback_exits_2_and_is_audited(void **state)
{
	(void)state;
	const char *lua = HEAD
	    "step \"one\" { run = function() return kit.set{ key = \"a\", value = \"A\", fail_undo "
	    "= true } end }\n"
	    "step \"two\" { run = function() return kit.set{ key = \"b\", value = \"B\" } end }\n"
	    "step \"three\" { run = function() error(\"broken\") end }\n";
	json_t *s = NULL;
	assert_int_equal(run_lua(lua, NULL, &s), SALVE_EXIT_ROLLBACK_INCOMPLETE);
	assert_string_equal(outcome(s, 0), "rollback_failed");
	assert_string_equal(outcome(s, 1), "rolled_back");
	assert_string_equal(json_string_value(json_object_get(s, "outcome")),
	                    "rollback_incomplete");
	json_decref(s);
	char *a = kv("a"), *b = kv("b");
	assert_string_equal(a, "A"); /* could not be undone */
	assert_null(b);
	free(a);
	json_t *recs = tu_audit_records(tu_path("audit.jsonl"));
	int failed_undo = 0;
	size_t i;
	json_t *r;
	json_array_foreach(recs, i, r)
	{
		if (!strcmp(json_string_value(json_object_get(r, "event")), "step_rollback") &&
		    !strcmp(json_string_value(json_object_get(r, "outcome")), "rollback_failed")) {
			failed_undo = 1;
			assert_non_null(strstr(json_string_value(json_object_get(r, "error")),
			                       "undo failed as asked"));
		}
	}
	assert_true(failed_undo);
	json_decref(recs);
	/* The journal stays for salve recover. */
	json_t *left = salve_journal_list(tu_path("state"));
	assert_int_equal(json_array_size(left), 1);
	json_decref(left);
}

static void test_dry_run_never_applies_and_plans_realistically(void **state)
{
	(void)state;
	const char *lua = HEAD "step \"one\" { run = function() return kit.set{ key = \"a\", value "
	                       "= \"planned-value\" } end }\n"
	                       "step \"two\" { run = function(p, s) assert(s.one.planned == true "
	                       "and s.one.value == \"planned-value\")\n"
	                       "  kit.drop{ key = \"x\" } kit.notify{ text = \"hello\" } return "
	                       "kit.set{ key = \"b\", value = s.one.value } end }\n";
	char path[1024];
	snprintf(path, sizeof path, "%s/kv", kit);
	json_t *s = NULL;
	/* x exists so drop's check says a change is needed. */
	struct run_opts ro = {.mode = SALVE_MODE_DRY_RUN};
	setenv("SALVE_TESTKIT_DIR", kit, 1);
	assert_int_equal(run_lua(HEAD "step \"seed\" { run = function() return kit.set{ key = "
	                              "\"x\", value = \"1\" } end }\n",
	                         NULL, NULL),
	                 0);
	assert_int_equal(run_lua(lua, &ro, &s), SALVE_EXIT_OK);
	assert_string_equal(outcome(s, 0), "changed");
	assert_string_equal(outcome(s, 1), "changed");
	assert_string_equal(json_string_value(json_object_get(s, "mode")), "dry-run");
	json_decref(s);
	assert_int_equal(tu_calls(kit, "set", "apply"), 1); /* only the seeding run */
	assert_int_equal(tu_calls(kit, "drop", "apply"), 0);
	assert_int_equal(tu_calls(kit, "notify", "run"), 0);
	assert_int_equal(tu_calls(kit, "notify", "render"), 1);
	assert_int_equal(tu_calls(kit, "set", "plan"), 2);
	char *a = kv("a"), *x = kv("x");
	assert_null(a);
	assert_string_equal(x, "1");
	free(x);
	/* A dry-run keeps no journal. */
	json_t *left = salve_journal_list(tu_path("state"));
	assert_int_equal(json_array_size(left), 0);
	json_decref(left);
}

static void test_drill_notify_sends_marked(void **state)
{
	(void)state;
	struct run_opts ro = {.mode = SALVE_MODE_DRY_RUN, .drill_notify = 1};
	assert_int_equal(
	    run_lua(HEAD
	            "step \"n\" { run = function() return kit.notify{ text = \"paging\" } end }\n",
	            &ro, NULL),
	    0);
	char path[1024];
	snprintf(path, sizeof path, "%s/notified", kit);
	char *sent = tu_read(path);
	assert_string_equal(sent, "[DRILL] paging\n");
	free(sent);
}

static void test_fail_at_rolls_back_that_step_too(void **state)
{
	(void)state;
	struct run_opts ro = {.mode = SALVE_MODE_APPLY, .fail_at = "two"};
	json_t *s = NULL;
	assert_int_equal(run_lua(HEAD "step \"one\" { run = function() return kit.set{ key = "
	                              "\"a\", value = \"A\" } end }\n"
	                              "step \"two\" { run = function() return kit.set{ key = "
	                              "\"b\", value = \"B\" } end }\n"
	                              "step \"three\" { run = function() return kit.set{ key = "
	                              "\"c\", value = \"C\" } end }\n",
	                         &ro, &s),
	                 SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(outcome(s, 1), "failed");
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_array_get(json_object_get(s, "steps"), 1), "error")),
	                       "injected failure"));
	assert_true(json_is_true(json_object_get(s, "drill")));
	json_decref(s);
	char *a = kv("a"), *b = kv("b"), *c = kv("c");
	assert_null(a);
	assert_null(b);
	assert_null(c);
}

static void test_custom_rollback_replaces_undo_records(void **state)
{
	(void)state;
	json_t *s = NULL;
	assert_int_equal(
	    run_lua(
	        HEAD
	        "step \"one\" { run = function() return kit.set{ key = \"a\", value = \"A\" } "
	        "end,\n"
	        "  rollback = function() return kit.set{ key = \"a\", value = \"custom\" } end }\n"
	        "step \"two\" { run = function() return kit.set{ key = \"b\", value = \"B\" } end, "
	        "rollback = false }\n"
	        "step \"three\" { run = function() return kit.fail{} end }\n",
	        NULL, &s),
	    SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(outcome(s, 0), "rolled_back");
	assert_string_equal(outcome(s, 1), "changed"); /* opted out: left as it is */
	json_decref(s);
	char *a = kv("a"), *b = kv("b");
	assert_string_equal(a, "custom");
	assert_string_equal(b, "B");
	free(a);
	free(b);
	assert_int_equal(tu_calls(kit, "set", "undo"), 0);
}

static void test_verify_false_fails_and_rolls_back(void **state)
{
	(void)state;
	json_t *s = NULL;
	assert_int_equal(
	    run_lua(HEAD
	            "step \"one\" { run = function() return kit.set{ key = \"a\", value = \"A\" } "
	            "end,\n"
	            "  verify = function(p, s, r) return r.value == \"something else\" end }\n",
	            NULL, &s),
	    SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(s, "steps"), 0), "error")),
	                    "verify returned false");
	json_decref(s);
	char *a = kv("a");
	assert_null(a);
}

static const char *step_error(json_t *summary, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(summary, "steps"), i), "error"));
}

/* The audit records of one event, as an array (new reference). */
static json_t *audited(const char *event)
{
	char *text = tu_read(tu_path("audit.jsonl"));
	json_t *found = json_array();
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *r = json_loads(line, 0, NULL);
		if (r && strcmp(json_string_value(json_object_get(r, "event")), event) == 0)
			json_array_append(found, r);
		json_decref(r);
	}
	free(text);
	return found;
}

static void test_verify_returning_nothing_says_so(void **state)
{
	(void)state;
	json_t *s = NULL;
	assert_int_equal(run_lua(HEAD
	                         "step \"one\" { run = function() return kit.set{ key = "
	                         "\"a\", value = \"A\" } end,\n"
	                         "  verify = function(p, s, r) local ok = r.value == \"A\" end }\n",
	                         NULL, &s),
	                 SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(step_error(s, 0), "verify returned nothing (missing return?)");
	json_decref(s);
}

static void test_fail_at_a_shut_gate_injects_nothing(void **state)
{
	(void)state;
	const char *lua =
	    HEAD "step \"one\" { run = function() return kit.set{ key = \"a\", value = "
	         "\"A\" } end }\n"
	         "step \"two\" { when = function() return false end,\n"
	         "  run = function() return kit.set{ key = \"b\", value = \"B\" } end }\n";
	struct run_opts ro = {.mode = SALVE_MODE_APPLY, .fail_at = "two"};
	json_t *s = NULL;
	assert_int_equal(run_lua(lua, &ro, &s), SALVE_EXIT_USAGE);
	assert_non_null(strstr(step_error(s, 1), "--fail-at two: the step did not run (when() was "
	                                         "false), so no failure was injected"));
	assert_string_equal(outcome(s, 0), "rolled_back"); /* what the drill did is undone */
	json_decref(s);
	char *a = kv("a");
	assert_null(a);
	/* --drill-force (a dry-run) opens the gate: the step plans, then the failure is injected.
	 */
	struct run_opts forced = {.mode = SALVE_MODE_DRY_RUN, .fail_at = "two", .drill_force = 1};
	assert_int_equal(run_lua(lua, &forced, &s), SALVE_EXIT_ROLLED_BACK);
	assert_non_null(strstr(step_error(s, 1), "injected failure (--fail-at two)"));
	json_t *changes =
	    json_object_get(json_array_get(json_object_get(s, "steps"), 1), "changes");
	assert_int_equal(json_array_size(changes), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(changes, 0), "state")),
	                    "would_undo"); /* a dry-run's rollback undid nothing */
	json_decref(s);
	a = kv("a");
	char *b = kv("b");
	assert_null(a);
	assert_null(b);
}

static void test_sleep_and_wait_until(void **state)
{
	(void)state;
	json_t *s = NULL;
	assert_int_equal(run_lua(HEAD
	                         "local n = 0\n"
	                         "step \"poll\" { run = function()\n"
	                         "  sleep(\"10ms\")\n"
	                         "  return wait_until{ timeout = \"5s\", every = \"20ms\", fn = "
	                         "function() n = n + 1; return n >= 3 end }\n"
	                         "end }\n",
	                         NULL, &s),
	                 SALVE_EXIT_OK);
	json_decref(s);
	json_t *w = audited("wait_until");
	assert_int_equal(json_array_size(w), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "outcome")),
	                    "met");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(w, 0), "tries")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "step")),
	                    "poll");
	json_decref(w);
	w = audited("sleep");
	assert_int_equal(json_array_size(w), 1);
	json_decref(w);
	/* A condition never met: an error naming the wait; the step fails. */
	assert_int_equal(run_lua(HEAD
	                         "step \"poll\" { run = function()\n"
	                         "  return wait_until{ timeout = \"60ms\", every = \"20ms\", fn = "
	                         "function() return false end } end }\n",
	                         NULL, &s),
	                 SALVE_EXIT_ROLLED_BACK);
	assert_non_null(strstr(step_error(s, 0), "wait_until: the condition was not met within"));
	json_decref(s);
	/* A sleep past the step's deadline ends at the deadline, saying so. */
	struct run_opts ro = {.mode = SALVE_MODE_APPLY, .step_timeout = 0.2};
	double t0 = salve_now();
	assert_int_equal(
	    run_lua(HEAD "step \"nap\" { run = function() sleep(\"1h\") end }\n", &ro, &s),
	    SALVE_EXIT_ROLLED_BACK);
	assert_true(salve_now() - t0 < 30);
	assert_non_null(strstr(step_error(s, 0), "sleep: step \"nap\" passed its deadline"));
	json_decref(s);
	/* The run's own timeout is named as such. */
	struct run_opts rt = {.mode = SALVE_MODE_APPLY, .run_timeout = 0.2};
	assert_int_equal(
	    run_lua(HEAD "step \"nap\" { run = function() sleep(\"1h\") end }\n", &rt, &s),
	    SALVE_EXIT_ROLLED_BACK);
	assert_non_null(strstr(step_error(s, 0), "the run's timeout passed (in step \"nap\")"));
	json_decref(s);
}

static void test_plan_lines_follow_their_status_line(void **state)
{
	(void)state;
	const char *path = tu_path("out.txt");
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	struct run_opts ro = {.mode = SALVE_MODE_DRY_RUN, .out = out};
	assert_int_equal(run_lua(HEAD
	                         "step \"one\" { run = function() return kit.set{ key = \"a\", "
	                         "value = \"A\" } end }\n",
	                         &ro, NULL),
	                 SALVE_EXIT_OK);
	fclose(out);
	char *text = tu_read(path);
	const char *status = strstr(text, "[1/1] one");
	const char *plan = strstr(text, "      would testkit.set");
	assert_non_null(status);
	assert_non_null(plan);
	assert_true(status < plan);
	free(text);
}

static void test_check_and_when(void **state)
{
	(void)state;
	json_t *s = NULL;
	assert_int_equal(
	    run_lua(HEAD
	            "step \"held\" { check = function() return true end, run = function() return "
	            "kit.set{ key = \"a\", value = \"A\" } end }\n"
	            "step \"off\" { when = function() return false end, run = function() return "
	            "kit.set{ key = \"b\", value = \"B\" } end }\n"
	            "step \"read\" { check = function() return kit.get{ key = \"zzz\" }.exists "
	            "end, run = function() return kit.set{ key = \"c\", value = \"C\" } end }\n",
	            NULL, &s),
	    0);
	assert_string_equal(outcome(s, 0), "ok");
	assert_string_equal(outcome(s, 1), "skipped");
	assert_string_equal(outcome(s, 2), "changed");
	json_decref(s);
	assert_int_equal(tu_calls(kit, "set", "apply"), 1);
}

static void test_mutate_in_check_is_refused_with_line(void **state)
{
	(void)state;
	json_t *s = NULL;
	/* Through an alias: salve validate finds the direct call before the run; this is the
	 * engine's own guard for the calls it cannot see. */
	assert_int_equal(run_lua(HEAD "step \"bad\" {\n  check = function() local k = kit return "
	                              "k.set{ key = \"a\", value = \"A\" } end,\n  run = "
	                              "function() end }\n",
	                         NULL, &s),
	                 SALVE_EXIT_ROLLED_BACK);
	const char *err = json_string_value(
	    json_object_get(json_array_get(json_object_get(s, "steps"), 0), "error"));
	assert_non_null(strstr(err, "rb.lua:4:"));
	assert_non_null(strstr(err, "only read actions may run in a step's check"));
	json_decref(s);
	assert_int_equal(tu_calls(kit, "set", "check"), 0);
}

static void test_bad_arguments_name_the_line(void **state)
{
	(void)state;
	json_t *s = NULL;
	/* Computed values: only the runtime check can judge them. */
	assert_int_equal(run_lua(HEAD "step \"x\" { run = function() return kit.set{ key = \"a\", "
	                              "value = 1 + 2 } end }\n",
	                         NULL, &s),
	                 1);
	const char *err = json_string_value(
	    json_object_get(json_array_get(json_object_get(s, "steps"), 0), "error"));
	if (!strstr(err, "rb.lua:3: testkit.set: argument 'value' must be string, got integer"))
		fail_msg("got: %s", err);
	json_decref(s);
	assert_int_equal(
	    run_lua(
	        HEAD
	        "step \"x\" { run = function() local t = { key = \"a\" } return kit.set(t) end }\n",
	        NULL, &s),
	    1);
	err = json_string_value(
	    json_object_get(json_array_get(json_object_get(s, "steps"), 0), "error"));
	assert_non_null(strstr(err, "missing required argument 'value'"));
	json_decref(s);
}

static void test_step_timeout_stops_plugin_and_lua(void **state)
{
	(void)state;
	json_t *s = NULL;
	assert_int_equal(run_lua(HEAD "step \"slow\" { timeout = \"200ms\", run = function() "
	                              "return kit.sleep{ seconds = 30 } end }\n",
	                         NULL, &s),
	                 1);
	const char *err = json_string_value(
	    json_object_get(json_array_get(json_object_get(s, "steps"), 0), "error"));
	assert_non_null(strstr(err, "deadline passed"));
	json_decref(s);
	assert_int_equal(
	    run_lua(
	        HEAD
	        "step \"spin\" { timeout = \"200ms\", run = function() while true do end end }\n",
	        NULL, &s),
	    1);
	err = json_string_value(
	    json_object_get(json_array_get(json_object_get(s, "steps"), 0), "error"));
	assert_non_null(strstr(err, "passed its deadline"));
	json_decref(s);
}

static void test_cancelled_run_rolls_back(void **state)
{
	(void)state;
	static volatile sig_atomic_t cancel;
	cancel = 0;
	struct run_opts ro = {.mode = SALVE_MODE_APPLY, .cancel = &cancel};
	/* The second step cancels (as a signal would) while the plugin is busy. */
	json_t *s = NULL;
	const char *lua = HEAD
	    "step \"one\" { run = function() return kit.set{ key = \"a\", value = \"A\" } end }\n"
	    "step \"two\" { run = function() return kit.sleep{ seconds = 30 } end }\n";
	cancel = 15; /* already signalled: nothing may start */
	assert_int_equal(run_lua(lua, &ro, &s), SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(outcome(s, 0), "failed");
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_array_get(json_object_get(s, "steps"), 0), "error")),
	                       "signal 15"));
	json_decref(s);
	char *a = kv("a");
	assert_null(a);
	assert_int_equal(tu_calls(kit, "set", "apply"), 0);
}

/* Step one changes a; step two (with timeout, a duration or NULL) is the attack. The run must
 * fail at step two with error in its message and undo a, and the process must live on. */
static void expect_rolled_back(const char *attack, const char *timeout, const struct run_opts *ro,
                               const char *error)
{
	char lua[4096];
	snprintf(lua, sizeof lua,
	         HEAD "step \"one\" { run = function() return kit.set{ key = \"a\", value = "
	              "\"A\" } end }\n"
	              "step \"two\" { timeout = %s%s%s, run = function(p, s)\n%s\nend }\n",
	         timeout ? "\"" : "", timeout ? timeout : "nil", timeout ? "\"" : "", attack);
	json_t *s = NULL;
	int code = run_lua(lua, ro, &s);
	if (code != SALVE_EXIT_ROLLED_BACK) {
		char *dump = json_dumps(s, JSON_COMPACT);
		fail_msg("%s\nexit %d: %s", attack, code, dump);
	}
	assert_string_equal(outcome(s, 0), "rolled_back");
	assert_string_equal(outcome(s, 1), "failed");
	const char *err = step_error(s, 1);
	if (!err || !strstr(err, error))
		fail_msg("%s\nexpected \"%s\" in the error, got \"%s\"", attack, error,
		         err ? err : "(none)");
	json_decref(s);
	char *a = kv("a");
	assert_null(a);
}

/* Fills Lua's memory to within about 4 KB of the cap, and keeps it so (a global). */
#define FILL_MEMORY                                                                                \
	"kept = {}\n"                                                                              \
	"for _, n in ipairs{ 2^20, 2^16, 2^12 } do\n"                                              \
	"  pcall(function() while true do kept = { kept, string.rep('z', n) } end end)\n"          \
	"end\n"

/* F2: where C touches Lua (p, s, the salve table, error objects, Lua's memory) a runbook's
 * error fails its run and rolls it back; it never aborts the process. */
static void test_runbook_errors_never_abort_the_process(void **state)
{
	(void)state;
	/* The audit's exploit: s with erroring metamethods (SIGABRT before); the engine stores
	 * the step's result in s raw and hands it to verify. */
	json_t *s = NULL;
	assert_int_equal(
	    run_lua(HEAD "step \"one\" { run = function() return kit.set{ key = \"a\", value = "
	                 "\"A\" } end }\n"
	                 "step \"two\" { run = function(p, s)\n"
	                 "  setmetatable(s, { __newindex = function() error('x') end,\n"
	                 "    __index = function() error('y') end })\n"
	                 "  return 7 end, verify = function(p, s, r) return r == 7 end }\n"
	                 "step \"three\" { run = function(p, s) error('two left ' .. rawget(s, "
	                 "'two')) end }\n",
	            NULL, &s),
	    SALVE_EXIT_ROLLED_BACK);
	assert_string_equal(outcome(s, 0), "rolled_back");
	assert_string_equal(outcome(s, 1), "ok");
	assert_non_null(strstr(step_error(s, 2), "rb.lua:8: two left 7"));
	json_decref(s);
	char *a = kv("a");
	assert_null(a);
	expect_rolled_back("error(setmetatable({}, { __tostring = function() error('nested') end "
	                   "}))",
	                   NULL, NULL, "(error object is a table value)");
	expect_rolled_back("error(setmetatable({}, { __tostring = function() while true do end "
	                   "end }))",
	                   "200ms", NULL, "(error object is a table value)");
	expect_rolled_back("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 2^20) .. i end",
	                   NULL, NULL, "not enough memory");
	/* A plugin's result (set echoes the value) that Lua has no room for: its JSON is freed
	 * (ASan, valgrind) and the change is undone. */
	int undos = tu_calls(kit, "set", "undo");
	expect_rolled_back("local big = string.rep('y', 2^20)\n" FILL_MEMORY
	                   "return kit.set{ key = 'big', value = big }, big",
	                   NULL, NULL, "not enough memory");
	char *big = kv("big");
	assert_null(big);
	assert_int_equal(tu_calls(kit, "set", "undo"), undos + 2); /* big, then a */
	/* The globals the engine updates, replaced or guarded by the runbook. */
	assert_int_equal(
	    run_lua(HEAD
	            "local error, tostring, rawget = error, tostring, rawget\n"
	            "step \"one\" { run = function() return kit.set{ key = \"a\", value = "
	            "\"A\" } end }\n"
	            "step \"two\" { run = function(p, s) error('one gave ' .. "
	            "tostring(rawget(s, 'one').value)) end }\n"
	            "salve = 5\n"
	            "setmetatable(_G, { __index = function(_, k) error('no global ' .. k) end,\n"
	            "  __newindex = function(_, k) error('frozen ' .. k) end })\n",
	            NULL, &s),
	    SALVE_EXIT_ROLLED_BACK);
	assert_non_null(strstr(step_error(s, 1), "rb.lua:5: one gave A"));
	json_decref(s);
	a = kv("a");
	assert_null(a);
	/* No room left for the params: every step fails, nothing runs. */
	struct run_opts ro = {.mode = SALVE_MODE_APPLY};
	char *params = NULL;
	if (asprintf(&params, "{\"big\": \"%0*d\"}", 1 << 20, 0) < 0)
		fail_msg("asprintf");
	ro.params = params;
	int applies = tu_calls(kit, "set", "apply");
	assert_int_equal(
	    run_lua("runbook { name = \"t\", params = { big = {} } }\n"
	            "local kit = plugin \"testkit\"\n"
	            "step \"one\" { run = function() return kit.set{ key = \"a\", value = \"A\" } "
	            "end }\n" FILL_MEMORY,
	            &ro, &s),
	    SALVE_EXIT_ROLLED_BACK);
	free(params);
	assert_string_equal(step_error(s, 0),
	                    "the run's params could not be handed to Lua (not enough memory)");
	json_decref(s);
	assert_int_equal(tu_calls(kit, "set", "apply"), applies);
}

/* F3: a finalizer, a runaway pattern, a caught deadline: each ends within the deadline with
 * the run failed and rolled back. */
static void test_every_phase_ends_at_its_deadline(void **state)
{
	(void)state;
	/* (a) the audit's finalizer that spun after the run printed success. */
	expect_rolled_back("setmetatable({}, { __gc = function() while true do end end })", NULL,
	                   NULL, "setmetatable: __gc finalizers are not available to runbooks");
	assert_int_equal(run_lua(HEAD "step \"late\" { run = function()\n"
	                              "local mt = {} setmetatable({}, mt)\n"
	                              "mt.__gc = function() while true do end end end }\n",
	                         NULL, NULL),
	                 SALVE_EXIT_OK);
	/* (c) the audit's pattern in a 2 s step. */
	expect_rolled_back("string.rep('a', 20000):find('.-.-.-b')", "2s", NULL,
	                   "string.find: pattern \".-.-.-b\" is too costly for a 20000-byte "
	                   "subject");
	/* A deadline the runbook tries to catch. */
	expect_rolled_back("while true do pcall(function() while true do end end) end", "200ms",
	                   NULL, "step \"two\" passed its deadline");
	/* Rollback has a deadline too: a custom rollback that spins fails the rollback. */
	struct run_opts ro = {.mode = SALVE_MODE_APPLY, .rollback_timeout = 0.2};
	json_t *s = NULL;
	assert_int_equal(run_lua(HEAD "step \"one\" { run = function() return kit.set{ key = "
	                              "\"a\", value = \"A\" } end,\n"
	                              "  rollback = function() while true do end end }\n"
	                              "step \"two\" { run = function() error('boom') end }\n",
	                         &ro, &s),
	                 SALVE_EXIT_ROLLBACK_INCOMPLETE);
	assert_string_equal(outcome(s, 0), "rollback_failed");
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_array_get(json_object_get(s, "steps"), 0),
	                                             "rollback_error")),
	           "step \"one\" passed its deadline"));
	json_decref(s);
}

static void test_secrets_never_reach_audit_or_errors(void **state)
{
	(void)state;
	setenv("SALVE_TESTKIT_SECRET", "s3cr3t-from-env-42", 1);
	json_t *s = NULL;
	assert_int_equal(
	    run_lua(
	        HEAD
	        "step \"leak\" { run = function() local t = secret \"env:SALVE_TESTKIT_SECRET\"\n"
	        "  return kit.leak{ token = \"tok-arg-0123456789\" } end }\n",
	        NULL, &s),
	    1);
	char *dump = json_dumps(s, 0);
	assert_null(strstr(dump, "tok-arg-0123456789"));
	assert_null(strstr(dump, "s3cr3t-from-env-42"));
	assert_non_null(strstr(dump, "[REDACTED]"));
	free(dump);
	json_decref(s);
	char *audit = tu_read(tu_path("audit.jsonl"));
	assert_null(strstr(audit, "tok-arg-0123456789"));
	assert_null(strstr(audit, "s3cr3t-from-env-42"));
	assert_non_null(strstr(audit, "leak_attempt"));
	free(audit);
}

static void test_unknown_action_is_reported_at_its_line(void **state)
{
	(void)state;
	json_t *s = NULL;
	assert_int_equal(
	    run_lua(HEAD
	            "step \"x\" { run = function()\n  return kit[\"no\" .. \"such\"]{}\nend }\n",
	            NULL, &s),
	    1);
	const char *err = json_string_value(
	    json_object_get(json_array_get(json_object_get(s, "steps"), 0), "error"));
	assert_non_null(strstr(err, "rb.lua:4: plugin testkit has no action 'nosuch'"));
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_idempotent_rerun_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_in_step3_undoes_2_then_1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failing_rollback_exits_2_and_is_audited, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_dry_run_never_applies_and_plans_realistically,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drill_notify_sends_marked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail_at_rolls_back_that_step_too, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_custom_rollback_replaces_undo_records, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_verify_returning_nothing_says_so, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail_at_a_shut_gate_injects_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sleep_and_wait_until, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plan_lines_follow_their_status_line, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_verify_false_fails_and_rolls_back, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_check_and_when, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mutate_in_check_is_refused_with_line, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments_name_the_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_timeout_stops_plugin_and_lua, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cancelled_run_rolls_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runbook_errors_never_abort_the_process, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_every_phase_ends_at_its_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_never_reach_audit_or_errors, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_action_is_reported_at_its_line, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
