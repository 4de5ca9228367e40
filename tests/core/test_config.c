#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

static void test_config_file(void **state)
{
	(void)state;
	const char *p = tu_path("salve.yaml");
	tu_write(
	    p,
	    "audit: /x/audit.jsonl\nstate_dir: /x/state\naudit_sync: none\nplugin_path: [/a, /b]\n"
	    "step_timeout: 2m\nplugins:\n  kubernetes: {context: prod}\n  host:\n");
	salve_config c;
	char err[512];
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), 0);
	assert_string_equal(c.audit_path, "/x/audit.jsonl");
	assert_string_equal(c.state_dir, "/x/state");
	assert_int_equal(c.audit_sync, SALVE_AUDIT_SYNC_NONE);
	assert_int_equal(json_array_size(c.plugin_path), 2);
	assert_true(c.step_timeout == 120);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(c.plugins, "kubernetes"), "context")),
	    "prod");
	assert_true(json_is_object(json_object_get(c.plugins, "host")));
	salve_config_free(&c);
	tu_write(p, "audit: /x\nunknwon: 1\n");
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "salve.yaml: unknown key 'unknwon'"));
	salve_config_free(&c);
	tu_write(p, "step_timeout: soon\n");
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "step_timeout must be a duration"));
	salve_config_free(&c);
	tu_cleanup();
}

static char *joined(json_t *problems)
{
	char *out = calloc(1, 4096);
	size_t used = 0, i;
	json_t *p;
	json_array_foreach(problems, i, p) used +=
	    (size_t)snprintf(out + used, 4096 - used, "%s\n", json_string_value(p));
	json_decref(problems);
	return out;
}

/* Every problem of a salve.yaml is listed, in the file's order; loading stops at the first. */
static void test_config_check_lists_all(void **state)
{
	(void)state;
	const char *p = tu_path("salve.yaml");
	tu_write(p, "audit: 5\nunknwon: 1\nlifecycle:\n  notfy: {to: 'slack:#ops'}\n"
	            "  notify:\n    to: ['slack:#ops', 'slak:#ops']\n    on: [start, rolledback]\n"
	            "    events: [start]\n    page_on_incomplete: 1\nrun_timeout: soon\n");
	char *got = joined(salve_config_check(p));
	char want[4096];
	snprintf(want, sizeof want,
	         "%s: unknown key 'unknwon' (audit, audit_sync, state_dir, plugin_path, "
	         "step_timeout, run_timeout, plugins, server, routes, lifecycle, ha)\n"
	         "%s: audit must be a file path\n"
	         "%s: run_timeout must be a duration such as \"10m\"\n"
	         "%s: lifecycle: unknown key 'notfy' (notify)\n"
	         "%s: lifecycle.notify.to: unknown channel scheme in \"slak:#ops\" (slack, teams, "
	         "pagerduty, opsgenie, email, webhook)\n"
	         "%s: lifecycle.notify.on: unknown event \"rolledback\" (start, step_failed, "
	         "rolled_back, rollback_incomplete, degraded, success)\n"
	         "%s: lifecycle.notify: unknown key 'events' (to, on, page_on_incomplete)\n"
	         "%s: lifecycle.notify.page_on_incomplete must be true or false\n",
	         p, p, p, p, p, p, p, p);
	assert_string_equal(got, want);
	free(got);
	salve_config c;
	char err[512];
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), -1);
	snprintf(want, sizeof want,
	         "%s: unknown key 'unknwon' (audit, audit_sync, state_dir, plugin_path, "
	         "step_timeout, run_timeout, plugins, server, routes, lifecycle, ha)",
	         p);
	assert_string_equal(err, want);
	salve_config_free(&c);
	/* A good lifecycle section loads and has no problems. */
	tu_write(p, "lifecycle:\n  notify: {to: 'teams:x', on: rolled_back, page_on_incomplete: "
	            "false}\nrun_timeout: 1h\n");
	got = joined(salve_config_check(p));
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(salve_config_load(p, &c, err, sizeof err), 0);
	assert_true(c.run_timeout == 3600);
	salve_config_free(&c);
	/* ha: is checked as salve serve and salve run read it; an inline password is refused
	 * without being echoed. */
	tu_write(p, "ha:\n  etcd: {endpoints: ['http://127.0.0.1:2379'], username: u, password: "
	            "hunter2-inline}\n");
	got = joined(salve_config_check(p));
	snprintf(want, sizeof want,
	         "%s: ha.etcd.password: must be a reference, env:NAME or file:/path (inline "
	         "passwords are refused)\n",
	         p);
	assert_string_equal(got, want);
	free(got);
	tu_write(p, "ha:\n  etcd: {endpoints: ['http://127.0.0.1:2379']}\n  lease_ttl: 1s\n");
	got = joined(salve_config_check(p));
	snprintf(want, sizeof want, "%s: ha.lease_ttl: from 2s to 1d\n", p);
	assert_string_equal(got, want);
	free(got);
	/* A file that does not parse is one problem, saying where. */
	tu_write(p, "audit: [\n");
	got = joined(salve_config_check(p));
	assert_non_null(strstr(got, "salve.yaml:"));
	assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1);
	free(got);
	tu_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_config_file),
	                                   cmocka_unit_test(test_config_check_lists_all)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
