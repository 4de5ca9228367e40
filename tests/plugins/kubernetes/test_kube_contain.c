/* The kubernetes plugin's containment and forensics actions (contain.c, evidence.c) against
 * the fake API server: isolate, quarantine_pod, taint/untaint and evidence, through
 * salve_mock_host as the core calls them. Asserts the requests sent (the fake logs each),
 * the objects before and after, undo records, the files written and the audit record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "fake_k8s_fixture.h"
#include "json_check.h"
#include "mock_host.h"
#include "testproc.h"

#define WEB_POD "web-86c4ff78d4-7xk2p"

static const char *const no_lines[] = {NULL};

const salve_plugin *salve_plugin_entry(void);

static int setup(void **state)
{
	int rc = fake_k8s_setup(state);
	mock_set_run_info("run_id", "run-0042");
	return rc;
}

static json_t *netpols(void)
{
	return fake_objects(&fake_k8s, "NetworkPolicy", "prod");
}

/* ---- isolate --------------------------------------------------------------------------------- */

static void test_isolate_selector_plan_apply_undo(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"selector\": \"app=web\", "
	                   "\"reason\": \"cryptominer on web\"}";
	json_t *obs = NULL, *plan = NULL, *res = NULL, *undo = NULL;
	assert_int_equal(mock_check("isolate", args, &obs), SALVE_OK);
	assert_false(json_is_true(json_object_get(obs, "created")));
	json_decref(obs);

	mock_set_mode(SALVE_MODE_DRY_RUN);
	assert_int_equal(mock_plan("isolate", args, &plan), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
	json_decref(plan);
	json_t *none = netpols();
	assert_int_equal(json_array_size(none), 0);
	json_decref(none);

	assert_int_equal(mock_apply("isolate", args, &res, &undo), SALVE_OK);
	const char *const want_lines[] = {
	    "GET /apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/"
	    "salve-isolate-f95e1400b2 404",
	    "POST "
	    "/apis/networking.k8s.io/v1/namespaces/prod/"
	    "networkpolicies?dryRun=All&fieldManager=salve "
	    "201",
	    "POST /apis/networking.k8s.io/v1/namespaces/prod/networkpolicies?fieldManager=salve "
	    "201",
	    NULL};
	assert_lines(fake_request_lines(&fake_k8s, NULL, "networkpolicies"), want_lines);
	json_t *np = fake_object(&fake_k8s, "NetworkPolicy", "prod", "salve-isolate-f95e1400b2");
	assert_non_null(np);
	assert_string_equal(tj_str_at(np, "/metadata/labels/salve~1run-id"), "run-0042");
	assert_string_equal(tj_str_at(np, "/metadata/labels/app.kubernetes.io~1managed-by"),
	                    "salve");
	assert_string_equal(tj_str_at(np, "/metadata/annotations/salve~1reason"),
	                    "cryptominer on web");
	assert_json_eq(json_object_get(np, "spec"),
	               "{\"podSelector\": {\"matchLabels\": {\"app\": \"web\"}},"
	               " \"policyTypes\": [\"Ingress\", \"Egress\"], \"ingress\": [],"
	               " \"egress\": [{\"to\": [{\"namespaceSelector\": {\"matchLabels\": "
	               "{\"kubernetes.io/metadata.name\": \"kube-system\"}}, \"podSelector\": "
	               "{\"matchLabels\": {\"k8s-app\": \"kube-dns\"}}}], \"ports\": "
	               "[{\"protocol\": \"UDP\", \"port\": 53}, {\"protocol\": \"TCP\", \"port\": "
	               "53}]}]}");
	assert_true(json_is_true(json_object_get(res, "created")));
	assert_string_equal(tj_str_at(undo, "/uid"), tj_str_at(np, "/metadata/uid"));
	json_decref(np);
	json_decref(res);

	/* a second run finds it */
	assert_int_equal(mock_check("isolate", args, &obs), SALVE_HOLDS);
	json_decref(obs);

	/* undo deletes exactly that policy, by uid; again it is a no-op */
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_undo("isolate", undo), SALVE_OK);
	json_t *dels = fake_requests(&fake_k8s, "DELETE", NULL);
	assert_int_equal(json_array_size(dels), 1);
	assert_string_equal(tj_str_at(json_array_get(dels, 0), "/body/preconditions/uid"),
	                    tj_str_at(undo, "/uid"));
	json_decref(dels);
	none = netpols();
	assert_int_equal(json_array_size(none), 0);
	json_decref(none);
	assert_int_equal(mock_undo("isolate", undo), SALVE_OK);

	/* a policy of that name made since (another uid) is not ours: undo leaves it */
	json_t *res2 = NULL, *undo2 = NULL;
	assert_int_equal(mock_apply("isolate", args, &res2, &undo2), SALVE_OK);
	assert_int_equal(mock_undo("isolate", undo), SALVE_OK);
	np = fake_object(&fake_k8s, "NetworkPolicy", "prod", "salve-isolate-f95e1400b2");
	assert_non_null(np);
	json_decref(np);
	json_decref(res2);
	json_decref(undo2);
	json_decref(undo);
}

static void test_isolate_namespace_allow_from(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"allow_dns\": false, "
	                   "\"allow_from\": \"monitoring\"}";
	json_t *res = NULL, *undo = NULL;
	assert_int_equal(mock_exec("isolate", args, &res, &undo), SALVE_OK);
	json_t *np = fake_object(&fake_k8s, "NetworkPolicy", "prod", "salve-isolate");
	assert_json_eq(json_object_get(np, "spec"),
	               "{\"podSelector\": {}, \"policyTypes\": [\"Ingress\", \"Egress\"], "
	               "\"ingress\": [{\"from\": [{\"namespaceSelector\": {\"matchLabels\": "
	               "{\"kubernetes.io/metadata.name\": \"monitoring\"}}}]}], \"egress\": []}");
	json_decref(np);
	json_decref(res);
	json_decref(undo);
}

static void test_isolate_refuses_protected_namespaces(void **state)
{
	(void)state;
	json_t *obs = NULL, *res = NULL, *undo = NULL;
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_check("isolate", "{\"namespace\": \"kube-system\"}", &obs),
	                 SALVE_ERR_INVALID);
	assert_string_equal(mock_last_error(),
	                    "refusing to isolate namespace kube-system: it is kube-system or "
	                    "listed in isolate_deny_namespaces (pass force=true to isolate it "
	                    "anyway)");
	assert_int_equal(mock_check("isolate",
	                            "{\"namespace\": \"prod\", \"selector\": "
	                            "\"app in (web)\"}",
	                            &obs),
	                 SALVE_ERR_INVALID);
	assert_lines(fake_request_lines(&fake_k8s, NULL, NULL), no_lines);

	/* the configured deny-list, and force */
	mock_fini();
	char cfg[1024];
	snprintf(cfg, sizeof cfg,
	         "{\"kubeconfig\": \"%s\", \"isolate_deny_namespaces\": [\"monitoring\"]}",
	         fake_k8s.kc_token);
	assert_int_equal(mock_init(salve_plugin_entry(), cfg), 0);
	assert_int_equal(mock_check("isolate", "{\"namespace\": \"monitoring\"}", &obs),
	                 SALVE_ERR_INVALID);
	assert_int_equal(
	    mock_exec("isolate", "{\"namespace\": \"monitoring\", \"force\": true}", &res, &undo),
	    SALVE_OK);
	json_t *np = fake_object(&fake_k8s, "NetworkPolicy", "monitoring", "salve-isolate");
	assert_non_null(np);
	json_decref(np);
	json_decref(res);
	json_decref(undo);
	snprintf(cfg, sizeof cfg,
	         "{\"kubeconfig\": \"%s\", \"isolate_deny_namespaces\": [\"../x\"]}",
	         fake_k8s.kc_token);
	mock_fini();
	assert_int_not_equal(mock_init(salve_plugin_entry(), cfg), 0);
	assert_non_null(strstr(mock_last_error(), "isolate_deny_namespaces[0]"));
	mock_fini();
	assert_int_equal(fake_k8s_init_plugin(fake_k8s.kc_token), 0);
}

/* ---- quarantine_pod ------------------------------------------------------------------------- */

/* Web pods, those a controller owns, and whether WEB_POD is one of them. */
static void count_web(const json_t *pods, size_t *web, size_t *owned, int *web_pod_owned)
{
	size_t i;
	json_t *p;
	*web = *owned = 0;
	*web_pod_owned = 0;
	json_array_foreach(pods, i, p)
	{
		const char *app = tj_str_at(p, "/metadata/labels/app");
		int own = tj_at(p, "/metadata/ownerReferences") != NULL;
		*web += app && strcmp(app, "web") == 0;
		*owned += app && strcmp(app, "web") == 0 && own;
		if (strcmp(tj_str_at(p, "/metadata/name"), WEB_POD) == 0)
			*web_pod_owned = own;
	}
}

/* The ReplicaSet let the quarantined pod go and made a replacement. */
static int released_and_replaced(const json_t *pods, const void *arg)
{
	(void)arg;
	size_t web, owned;
	int mine;
	count_web(pods, &web, &owned, &mine);
	return !mine && owned == 3;
}

/* The ReplicaSet took the pod back and scaled back to 3. */
static int adopted_again(const json_t *pods, const void *arg)
{
	(void)arg;
	size_t web, owned;
	int mine;
	count_web(pods, &web, &owned, &mine);
	return mine && web == 3 && owned == 3;
}

static void test_quarantine_pod_and_undo(void **state)
{
	(void)state;
	const char *args = "{\"namespace\": \"prod\", \"pod\": \"" WEB_POD "\", "
	                   "\"reason\": \"suspicious outbound traffic\"}";
	json_t *before = fake_object(&fake_k8s, "Pod", "prod", WEB_POD);
	json_t *res = NULL, *undo = NULL, *obs = NULL;
	assert_int_equal(mock_check("quarantine_pod", args, &obs), SALVE_OK);
	json_decref(obs);
	fake_clear_requests(&fake_k8s);
	assert_int_equal(mock_apply("quarantine_pod", args, &res, &undo), SALVE_OK);
	json_t *patches = fake_requests(&fake_k8s, "PATCH", NULL);
	assert_int_equal(json_array_size(patches), 1);
	json_t *body = tj_at(json_array_get(patches, 0), "/body");
	assert_string_equal(tj_str_at(body, "/metadata/resourceVersion"),
	                    tj_str_at(before, "/metadata/resourceVersion"));
	assert_true(json_is_null(tj_at(body, "/metadata/labels/app")));
	json_decref(patches);

	assert_int_equal(fake_wait(&fake_k8s, "Pod", "prod", released_and_replaced, NULL), 0);
	json_t *pod = fake_object(&fake_k8s, "Pod", "prod", WEB_POD);
	assert_json_eq(tj_at(pod, "/metadata/labels"),
	               "{\"salve/quarantined\": \"true\", \"salve/run-id\": \"run-0042\"}");
	assert_string_equal(tj_str_at(pod, "/metadata/annotations/salve~1reason"),
	                    "suspicious outbound traffic");
	assert_string_equal(tj_str_at(pod, "/metadata/annotations/salve~1quarantined-labels"),
	                    "{\"app\":\"web\",\"pod-template-hash\":\"86c4ff78d4\"}");
	/* released by its ReplicaSet, still running, and replaced */
	assert_null(tj_at(pod, "/metadata/ownerReferences"));
	assert_string_equal(tj_str_at(pod, "/status/phase"), "Running");
	json_decref(pod);
	json_t *pods = fake_objects(&fake_k8s, "Pod", "prod");
	size_t i, web = 0;
	json_t *p;
	json_array_foreach(pods, i, p)
	{
		const char *app = tj_str_at(p, "/metadata/labels/app");
		web += app && strcmp(app, "web") == 0 && tj_at(p, "/metadata/ownerReferences");
	}
	assert_int_equal(web, 3);
	json_decref(pods);

	assert_int_equal(mock_check("quarantine_pod", args, &obs), SALVE_HOLDS);
	json_decref(obs);

	assert_int_equal(mock_undo("quarantine_pod", undo), SALVE_OK);
	assert_int_equal(fake_wait(&fake_k8s, "Pod", "prod", adopted_again, NULL), 0);
	pod = fake_object(&fake_k8s, "Pod", "prod", WEB_POD);
	assert_true(json_equal(tj_at(pod, "/metadata/labels"), tj_at(before, "/metadata/labels")));
	assert_null(tj_at(before, "/metadata/annotations"));
	assert_null(tj_at(pod, "/metadata/annotations"));
	/* its labels back, its ReplicaSet adopts it again and scales back to 3 */
	assert_string_equal(tj_str_at(pod, "/metadata/ownerReferences/0/kind"), "ReplicaSet");
	json_decref(pod);
	pods = fake_objects(&fake_k8s, "Pod", "prod");
	web = 0;
	json_array_foreach(pods, i, p)
	{
		const char *app = tj_str_at(p, "/metadata/labels/app");
		web += app && strcmp(app, "web") == 0;
	}
	assert_int_equal(web, 3);
	json_decref(pods);
	json_decref(before);
	json_decref(res);
	json_decref(undo);
}

/* ---- taint / untaint ------------------------------------------------------------------------- */

/* A node's taints without the time the node controller stamps on its own. */
static json_t *taints_of(const char *node)
{
	json_t *n = fake_object(&fake_k8s, "Node", NULL, node);
	json_t *taints = json_incref(tj_at(n, "/spec/taints"));
	json_decref(n);
	size_t i;
	json_t *t;
	json_array_foreach(taints, i, t)
	{
		json_object_del(t, "timeAdded");
	}
	return taints;
}

static void test_taint_untaint_keep_other_taints(void **state)
{
	(void)state;
	const char *args = "{\"node\": \"node-1\", \"key\": \"security.example.com/compromised\", "
	                   "\"effect\": \"NoExecute\", \"value\": \"yes\"}";
	json_t *obs = NULL, *res = NULL, *undo = NULL, *cres = NULL, *cundo = NULL;
	/* a node without taints: an empty list, freed with the rest (it used to leak) */
	assert_int_equal(mock_check("taint",
	                            "{\"node\": \"node-2\", \"key\": \"k\", \"effect\": "
	                            "\"NoSchedule\"}",
	                            &obs),
	                 SALVE_OK);
	assert_json_eq(tj_at(obs, "/taints"), "[]");
	json_decref(obs);
	/* the node controller's taint for a cordon must survive ours */
	assert_int_equal(mock_apply("cordon", "{\"node\": \"node-1\"}", &cres, &cundo), SALVE_OK);
	assert_int_equal(mock_check("taint", args, &obs), SALVE_OK);
	json_decref(obs);
	mock_set_mode(SALVE_MODE_DRY_RUN);
	assert_int_equal(mock_plan("taint", args, &res), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);
	json_decref(res);
	json_t *n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_int_equal(json_array_size(tj_at(n, "/spec/taints")), 1);
	json_decref(n);

	assert_int_equal(mock_apply("taint", args, &res, &undo), SALVE_OK);
	n = taints_of("node-1");
	assert_json_eq(n, "[{\"key\": \"node.kubernetes.io/unschedulable\", \"effect\": "
	                  "\"NoSchedule\"}, {\"key\": \"security.example.com/compromised\", "
	                  "\"value\": \"yes\", \"effect\": \"NoExecute\"}]");
	json_decref(n);
	assert_json_eq(undo,
	               "{\"node\": \"node-1\", \"key\": \"security.example.com/compromised\", "
	               "\"effect\": \"NoExecute\", \"present\": false}");
	assert_int_equal(mock_check("taint", args, &obs), SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_undo("taint", undo), SALVE_OK);
	n = taints_of("node-1");
	assert_json_eq(n, "[{\"key\": \"node.kubernetes.io/unschedulable\", \"effect\": "
	                  "\"NoSchedule\"}]");
	json_decref(n);
	json_decref(res);
	json_decref(undo);

	/* untaint, and its undo puts the taint back with its value */
	assert_int_equal(mock_apply("taint", args, &res, &undo), SALVE_OK);
	json_decref(res);
	json_decref(undo);
	assert_int_equal(mock_apply("untaint", args, &res, &undo), SALVE_OK);
	assert_json_eq(undo,
	               "{\"node\": \"node-1\", \"key\": \"security.example.com/compromised\", "
	               "\"effect\": \"NoExecute\", \"present\": true, \"value\": \"yes\"}");
	assert_int_equal(mock_check("untaint", args, &obs), SALVE_HOLDS);
	json_decref(obs);
	assert_int_equal(mock_undo("untaint", undo), SALVE_OK);
	n = fake_object(&fake_k8s, "Node", NULL, "node-1");
	assert_string_equal(tj_str_at(n, "/spec/taints/1/value"), "yes");
	json_decref(n);
	json_decref(res);
	json_decref(undo);
	assert_int_equal(mock_undo("cordon", cundo), SALVE_OK);
	json_decref(cres);
	json_decref(cundo);

	assert_int_equal(mock_check("taint",
	                            "{\"node\": \"node-1\", \"key\": \"k\", \"effect\": \"Evict\"}",
	                            &obs),
	                 SALVE_ERR_INVALID);
}

/* ---- evidence -------------------------------------------------------------------------------- */

static void sha256_file(const char *path, char out[65])
{
	char *text = tp_read(path);
	assert_non_null(text);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	free(text);
}

static void test_evidence_in_dry_run(void **state)
{
	(void)state;
	fake_control(&fake_k8s, "/__fake/logs/prod/" WEB_POD,
	             "{\"container\": \"web\", \"log\": \"panic: miner exited\\n\", "
	             "\"previous\": true}");
	char *tmp = tp_tempdir("evidence");
	char dir[600], args[1024], path[800];
	snprintf(dir, sizeof dir, "%s/case-1", tmp);
	snprintf(args, sizeof args,
	         "{\"namespace\": \"prod\", \"pod\": \"" WEB_POD "\", \"dir\": \"%s\"}", dir);
	mock_set_mode(SALVE_MODE_DRY_RUN);
	fake_clear_requests(&fake_k8s);
	json_t *res = NULL;
	assert_int_equal(mock_run("evidence", args, &res), SALVE_OK);
	mock_set_mode(SALVE_MODE_APPLY);

	/* read-only: GETs only */
	json_t *reqs = fake_requests(&fake_k8s, NULL, NULL);
	size_t i;
	json_t *r;
	json_array_foreach(reqs, i, r)
	{
		assert_string_equal(tj_str_at(r, "/method"), "GET");
	}
	json_decref(reqs);

	const char *const want_files[] = {WEB_POD "/pod.json",
	                                  WEB_POD "/web.log",
	                                  WEB_POD "/web.previous.log",
	                                  WEB_POD "/events.json",
	                                  WEB_POD "/owners.json",
	                                  WEB_POD "/node.json",
	                                  NULL};
	json_t *files = tj_at(res, "/files");
	assert_int_equal(json_array_size(files), 6);
	for (i = 0; want_files[i]; i++) {
		json_t *f = json_array_get(files, i);
		assert_string_equal(tj_str_at(f, "/path"), want_files[i]);
		snprintf(path, sizeof path, "%s/%s", dir, want_files[i]);
		char hex[65];
		sha256_file(path, hex);
		assert_string_equal(tj_str_at(f, "/sha256"), hex);
	}
	snprintf(path, sizeof path, "%s/" WEB_POD "/web.previous.log", dir);
	char *text = tp_read(path);
	assert_string_equal(text, "panic: miner exited\n");
	free(text);
	snprintf(path, sizeof path, "%s/" WEB_POD "/web.log", dir);
	text = tp_read(path);
	assert_non_null(strstr(text, "GET /api/orders HTTP/1.1\" 502"));
	free(text);
	snprintf(path, sizeof path, "%s/" WEB_POD "/owners.json", dir);
	json_t *owners = tj_parse(text = tp_read(path));
	free(text);
	assert_string_equal(tj_str_at(owners, "/0/kind"), "ReplicaSet");
	assert_string_equal(tj_str_at(owners, "/0/name"), "web-86c4ff78d4");
	assert_string_equal(tj_str_at(owners, "/1/kind"), "Deployment");
	assert_string_equal(tj_str_at(owners, "/1/object/metadata/name"), "web");
	json_decref(owners);
	snprintf(path, sizeof path, "%s/" WEB_POD "/node.json", dir);
	json_t *node = tj_parse(text = tp_read(path));
	free(text);
	assert_string_equal(tj_str_at(node, "/name"), "node-1");
	assert_non_null(tj_at(node, "/conditions/0/type"));
	json_decref(node);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* the manifest's digest is in the audit log, with every file's */
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	char hex[65];
	sha256_file(path, hex);
	assert_string_equal(tj_str_at(res, "/manifest_sha256"), hex);
	json_t *ev = NULL;
	json_array_foreach(mock_audit_events(), i, r)
	{
		if (strcmp(tj_str_at(r, "/event"), "k8s.evidence") == 0)
			ev = r;
	}
	assert_non_null(ev);
	assert_string_equal(tj_str_at(ev, "/data/manifest_sha256"), hex);
	assert_true(json_equal(tj_at(ev, "/data/files"), files));
	json_t *manifest = tj_parse(text = tp_read(path));
	free(text);
	assert_true(json_equal(json_object_get(manifest, "files"), files));
	assert_string_equal(tj_str_at(manifest, "/run_id"), "run-0042");
	json_decref(manifest);
	json_decref(res);

	/* never into a directory that has something in it, nor through a symlink */
	assert_int_equal(mock_run("evidence", args, &res), SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "is not empty"));
	char link[600];
	snprintf(link, sizeof link, "%s/link", tmp);
	assert_int_equal(symlink(dir, link), 0);
	snprintf(args, sizeof args,
	         "{\"namespace\": \"prod\", \"pod\": \"" WEB_POD "\", \"dir\": \"%s\"}", link);
	assert_int_equal(mock_run("evidence", args, &res), SALVE_ERR);
	assert_non_null(strstr(mock_last_error(), "symbolic link"));

	/* by selector, logs bounded; a missing previous log is a note */
	snprintf(dir, sizeof dir, "%s/case-2", tmp);
	snprintf(args, sizeof args,
	         "{\"namespace\": \"prod\", \"selector\": \"app=web\", \"dir\": \"%s\", "
	         "\"max_log_bytes\": 10}",
	         dir);
	assert_int_equal(mock_run("evidence", args, &res), SALVE_OK);
	assert_int_equal(json_array_size(tj_at(res, "/pods")), 3);
	snprintf(path, sizeof path, "%s/web-86c4ff78d4-9mq4z/web.log", dir);
	text = tp_read(path);
	assert_int_equal(strlen(text), 10);
	free(text);
	assert_string_equal(tj_str_at(res, "/notes/0/missing"),
	                    "web-86c4ff78d4-4bh8w/web.previous.log");
	assert_int_equal(json_integer_value(tj_at(res, "/notes/0/status")), 400);
	json_decref(res);
	tp_rmrf(tmp);
	free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_isolate_selector_plan_apply_undo, setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_isolate_namespace_allow_from, setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_isolate_refuses_protected_namespaces, setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_quarantine_pod_and_undo, setup, fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_taint_untaint_keep_other_taints, setup,
	                                    fake_k8s_teardown),
	    cmocka_unit_test_setup_teardown(test_evidence_in_dry_run, setup, fake_k8s_teardown),
	};
	return cmocka_run_group_tests(tests, fake_k8s_group_setup, fake_k8s_group_teardown);
}
