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

static const char *kit;

static int setup(void **state)
{
	(void)state;
	kit = tu_path("kit");
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
	json_t *given = json_object(), *params = NULL;
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
	assert_int_equal(run_lua(HEAD "step \"bad\" {\n  check = function() return kit.set{ key = "
	                              "\"a\", value = \"A\" } end,\n  run = function() end }\n",
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
	    cmocka_unit_test_setup_teardown(test_verify_false_fails_and_rolls_back, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_check_and_when, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mutate_in_check_is_refused_with_line, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments_name_the_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_timeout_stops_plugin_and_lua, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cancelled_run_rolls_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_never_reach_audit_or_errors, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_action_is_reported_at_its_line, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
