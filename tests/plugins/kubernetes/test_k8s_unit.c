/* Unit tests of the pure parts of the Kubernetes client (plugins/common/k8s): kubeconfig
 * resolution, DNS-1123 validation and paths, merge patches and the undo records of patches,
 * kubectl's rollout status judgement and rollout undo's revision choice. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_check.h"
#include "k8s.h"

/* ---- kubeconfig ---------------------------------------------------------------------------- */

static const char *kubeconfig_yaml =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: prod\n"
    "clusters:\n"
    "- name: prod-cluster\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: aGVsbG8gY2E=\n" /* "hello ca" */
    "- name: lab\n"
    "  cluster:\n"
    "    server: https://lab.example:6443\n"
    "    certificate-authority: certs/ca.pem\n"
    "- name: sloppy\n"
    "  cluster:\n"
    "    server: https://sloppy:6443\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: robot\n"
    "  user:\n"
    "    token: s3cr3t-token\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate-data: Y2VydA==\n" /* "cert" */
    "    client-key-data: a2V5\n"             /* "key" */
    "- name: filer\n"
    "  user:\n"
    "    client-certificate: certs/me.crt\n"
    "    client-key: /abs/me.key\n"
    "    tokenFile: tok\n"
    "- name: execer\n"
    "  user:\n"
    "    exec:\n"
    "      command: aws\n"
    "contexts:\n"
    "- name: prod\n"
    "  context: {cluster: prod-cluster, user: robot, namespace: shop}\n"
    "- name: lab\n"
    "  context: {cluster: lab, user: filer}\n"
    "- name: admin\n"
    "  context: {cluster: prod-cluster, user: admin}\n"
    "- name: sloppy\n"
    "  context: {cluster: sloppy, user: robot}\n"
    "- name: exec\n"
    "  context: {cluster: lab, user: execer}\n"
    "- name: ghost\n"
    "  context: {cluster: nowhere, user: robot}\n";

static int resolve(const char *context, k8s_config *cfg, char *err, size_t errlen)
{
	json_t *doc = NULL;
	assert_int_equal(k8s_kubeconfig_parse(kubeconfig_yaml, strlen(kubeconfig_yaml), "test.yaml",
	                                      &doc, err, errlen),
	                 0);
	const char *dir = "/etc/kube";
	int rc = k8s_config_from_docs(&doc, &dir, 1, context, "test.yaml", cfg, err, errlen);
	json_decref(doc);
	return rc;
}

static void test_kubeconfig_token_user(void **state)
{
	(void)state;
	k8s_config cfg;
	char err[512] = "";
	assert_int_equal(resolve(NULL, &cfg, err, sizeof err), 0);
	assert_string_equal(cfg.context, "prod");
	assert_string_equal(cfg.server, "https://10.0.0.1:6443"); /* trailing '/' dropped */
	assert_string_equal(cfg.namespace, "shop");
	assert_string_equal(cfg.token, "s3cr3t-token");
	assert_int_equal(cfg.ca_data.len, 8);
	assert_memory_equal(cfg.ca_data.data, "hello ca", 8);
	assert_null(cfg.ca_file);
	assert_null(cfg.cert_file);
	assert_int_equal(cfg.insecure, 0);
	k8s_config_free(&cfg);
}

static void test_kubeconfig_client_cert_data(void **state)
{
	(void)state;
	k8s_config cfg;
	char err[512] = "";
	assert_int_equal(resolve("admin", &cfg, err, sizeof err), 0);
	assert_int_equal(cfg.cert_data.len, 4);
	assert_memory_equal(cfg.cert_data.data, "cert", 4);
	assert_int_equal(cfg.key_data.len, 3);
	assert_memory_equal(cfg.key_data.data, "key", 3);
	assert_null(cfg.token);
	assert_null(cfg.namespace);
	k8s_config_free(&cfg);
}

static void test_kubeconfig_relative_files(void **state)
{
	(void)state;
	k8s_config cfg;
	char err[512] = "";
	assert_int_equal(resolve("lab", &cfg, err, sizeof err), 0);
	assert_string_equal(cfg.ca_file, "/etc/kube/certs/ca.pem");
	assert_string_equal(cfg.cert_file, "/etc/kube/certs/me.crt");
	assert_string_equal(cfg.key_file, "/abs/me.key");
	assert_string_equal(cfg.token_file, "/etc/kube/tok");
	k8s_config_free(&cfg);
}

static void test_kubeconfig_errors(void **state)
{
	(void)state;
	k8s_config cfg;
	char err[512] = "";
	assert_int_equal(resolve("nope", &cfg, err, sizeof err), -1);
	assert_string_equal(err, "context \"nope\" is not defined in kubeconfig test.yaml");
	assert_int_equal(resolve("ghost", &cfg, err, sizeof err), -1);
	assert_string_equal(err,
	                    "cluster \"nowhere\" of context \"ghost\" is not defined in kubeconfig "
	                    "test.yaml");
	assert_int_equal(resolve("exec", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "uses exec credentials, which salve does not support"));
	/* insecure with no CA is allowed (and audited by the client) */
	assert_int_equal(resolve("sloppy", &cfg, err, sizeof err), 0);
	assert_int_equal(cfg.insecure, 1);
	k8s_config_free(&cfg);
}

static void test_kubeconfig_insecure_with_ca_refused(void **state)
{
	(void)state;
	const char *y = "current-context: c\n"
	                "clusters: [{name: k, cluster: {server: 'https://h', "
	                "insecure-skip-tls-verify: true, certificate-authority: /ca}}]\n"
	                "contexts: [{name: c, context: {cluster: k}}]\n";
	json_t *doc;
	char err[512];
	assert_int_equal(k8s_kubeconfig_parse(y, strlen(y), "x", &doc, err, sizeof err), 0);
	k8s_config cfg;
	assert_int_equal(k8s_config_from_docs(&doc, NULL, 1, NULL, "x", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "specifying a root certificates file with the insecure flag is "
	                            "not allowed"));
	json_decref(doc);
	const char *plain = "current-context: c\n"
	                    "clusters: [{name: k, cluster: {server: 'http://h:8080'}}]\n"
	                    "contexts: [{name: c, context: {cluster: k}}]\n";
	assert_int_equal(k8s_kubeconfig_parse(plain, strlen(plain), "x", &doc, err, sizeof err), 0);
	assert_int_equal(k8s_config_from_docs(&doc, NULL, 1, NULL, "x", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "is not https://"));
	json_decref(doc);
}

/* $KUBECONFIG merging: the first file to define a name wins, and the first current-context. */
static void test_kubeconfig_merge_order(void **state)
{
	(void)state;
	const char *a = "current-context: one\n"
	                "clusters: [{name: k, cluster: {server: 'https://first'}}]\n"
	                "users: [{name: u, user: {token: first}}]\n"
	                "contexts: [{name: one, context: {cluster: k, user: u}}]\n";
	const char *b = "current-context: two\n"
	                "clusters: [{name: k, cluster: {server: 'https://second'}},"
	                "           {name: k2, cluster: {server: 'https://only-second'}}]\n"
	                "users: [{name: u, user: {token: second}}]\n"
	                "contexts: [{name: two, context: {cluster: k2, user: u}}]\n";
	json_t *docs[2];
	char err[512];
	assert_int_equal(k8s_kubeconfig_parse(a, strlen(a), "a", &docs[0], err, sizeof err), 0);
	assert_int_equal(k8s_kubeconfig_parse(b, strlen(b), "b", &docs[1], err, sizeof err), 0);
	k8s_config cfg;
	assert_int_equal(k8s_config_from_docs(docs, NULL, 2, NULL, "a:b", &cfg, err, sizeof err),
	                 0);
	assert_string_equal(cfg.server, "https://first");
	assert_string_equal(cfg.token, "first");
	k8s_config_free(&cfg);
	assert_int_equal(k8s_config_from_docs(docs, NULL, 2, "two", "a:b", &cfg, err, sizeof err),
	                 0);
	assert_string_equal(cfg.server, "https://only-second");
	assert_string_equal(cfg.token, "first"); /* user u came from a */
	k8s_config_free(&cfg);
	json_decref(docs[0]);
	json_decref(docs[1]);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_in_cluster(void **state)
{
	(void)state;
	char dir[] = "/tmp/salve-sa-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p[256];
	snprintf(p, sizeof p, "%s/token", dir);
	write_file(p, "sa-token\n");
	snprintf(p, sizeof p, "%s/namespace", dir);
	write_file(p, "payments\n");
	k8s_config cfg;
	char err[512];
	assert_int_equal(k8s_config_in_cluster(dir, "10.96.0.1", "443", &cfg, err, sizeof err), 0);
	assert_string_equal(cfg.server, "https://10.96.0.1:443");
	assert_string_equal(cfg.namespace, "payments");
	snprintf(p, sizeof p, "%s/ca.crt", dir);
	assert_string_equal(cfg.ca_file, p);
	snprintf(p, sizeof p, "%s/token", dir);
	assert_string_equal(cfg.token_file, p);
	assert_null(cfg.token); /* read per request, never kept in the config */
	k8s_config_free(&cfg);
	assert_int_equal(k8s_config_in_cluster(dir, "fd00::1", "6443", &cfg, err, sizeof err), 0);
	assert_string_equal(cfg.server, "https://[fd00::1]:6443");
	k8s_config_free(&cfg);
	assert_int_equal(k8s_config_in_cluster(dir, NULL, "443", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	snprintf(p, sizeof p, "rm -rf %s", dir);
	assert_int_equal(system(p), 0);
	assert_int_equal(k8s_config_in_cluster(dir, "h", "1", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot read the service account token"));
}

static void test_config_load_explicit_and_env(void **state)
{
	(void)state;
	char dir[] = "/tmp/salve-kc-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char a[256], b[256], env[600];
	snprintf(a, sizeof a, "%s/a.yaml", dir);
	snprintf(b, sizeof b, "%s/b.yaml", dir);
	write_file(a, "current-context: x\nclusters: [{name: k, cluster: {server: 'https://a', "
	              "certificate-authority: ca.pem}}]\ncontexts: [{name: x, context: {cluster: "
	              "k}}]\n");
	write_file(b, "current-context: y\nclusters: [{name: k, cluster: {server: 'https://b'}}]\n"
	              "contexts: [{name: y, context: {cluster: k}}]\n");
	k8s_config cfg;
	char err[512];
	assert_int_equal(k8s_config_load(b, NULL, &cfg, err, sizeof err), 0);
	assert_string_equal(cfg.server, "https://b");
	k8s_config_free(&cfg);
	/* a missing file in $KUBECONFIG is skipped, as client-go does */
	snprintf(env, sizeof env, "%s/missing.yaml:%s:%s", dir, a, b);
	setenv("KUBECONFIG", env, 1);
	assert_int_equal(k8s_config_load(NULL, NULL, &cfg, err, sizeof err), 0);
	assert_string_equal(cfg.server, "https://a");
	char ca[300];
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	assert_string_equal(cfg.ca_file, ca);
	k8s_config_free(&cfg);
	/* an explicit file that does not exist is an error, not a fallback */
	snprintf(env, sizeof env, "%s/none.yaml", dir);
	assert_int_equal(k8s_config_load(env, NULL, &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "none.yaml"));
	unsetenv("KUBECONFIG");
	snprintf(env, sizeof env, "rm -rf %s", dir);
	assert_int_equal(system(env), 0);
}

/* ---- names and paths ----------------------------------------------------------------------- */

static void test_dns1123(void **state)
{
	(void)state;
	char err[512];
	char long_name[301], label64[65];
	memset(long_name, 'a', 300);
	long_name[300] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	const char *good_labels[] = {"a", "shop", "kube-system", "x1", "0abc", NULL};
	const char *bad_labels[] = {"",    "Shop", "-a",  "a-",    "a.b",      "../x", "%2F",
	                            "a/b", "a b",  "a_b", label64, "\xc3\xa9", NULL};
	for (const char **v = good_labels; *v; v++)
		assert_int_equal(k8s_check_label("namespace", *v, err, sizeof err), 0);
	for (const char **v = bad_labels; *v; v++) {
		assert_int_equal(k8s_check_label("namespace", *v, err, sizeof err), -1);
		assert_non_null(strstr(err, "argument \"namespace\""));
	}
	const char *good_names[] = {"web", "web-1", "web.v2", "a.b.c", label64, NULL};
	const char *bad_names[] = {"",   "Web", "..",  "../etc", "%2F",     "a..b", ".a",
	                           "a.", "a/b", "a?b", "a#b",    long_name, NULL};
	for (const char **v = good_names; *v; v++)
		assert_int_equal(k8s_check_subdomain("name", *v, err, sizeof err), 0);
	for (const char **v = bad_names; *v; v++) {
		assert_int_equal(k8s_check_subdomain("name", *v, err, sizeof err), -1);
		assert_non_null(strstr(err, "argument \"name\""));
	}
	assert_int_equal(k8s_check_subdomain("name", long_name, err, sizeof err), -1);
	assert_non_null(strstr(err, "300 characters, at most 253 allowed"));
	assert_int_equal(k8s_check_label("namespace", "../etc", err, sizeof err), -1);
	assert_string_equal(err, "argument \"namespace\": \"../etc\" is not a valid DNS-1123 label "
	                         "(lowercase letters, digits and '-', starting and ending with a "
	                         "letter or digit)");
}

static void test_paths(void **state)
{
	(void)state;
	char buf[2048], err[512];
	const k8s_kind *d = k8s_kind_find("Deploy");
	assert_non_null(d);
	assert_string_equal(d->kind, "Deployment");
	assert_int_equal(k8s_object_path(buf, sizeof buf, d, NULL, "shop", "web", NULL, "scale",
	                                 err, sizeof err),
	                 SALVE_OK);
	assert_string_equal(buf, "/apis/apps/v1/namespaces/shop/deployments/web/scale");
	assert_int_equal(k8s_object_path(buf, sizeof buf, k8s_kind_find("pods"), NULL, "shop", NULL,
	                                 NULL, NULL, err, sizeof err),
	                 SALVE_OK);
	assert_string_equal(buf, "/api/v1/namespaces/shop/pods");
	assert_int_equal(k8s_object_path(buf, sizeof buf, k8s_kind_find("no"), NULL, NULL, "n1.x",
	                                 "node", NULL, err, sizeof err),
	                 SALVE_OK);
	assert_string_equal(buf, "/api/v1/nodes/n1.x");
	assert_int_equal(k8s_object_path(buf, sizeof buf, k8s_kind_find("hpa"), "v2beta2", "a", "b",
	                                 NULL, NULL, err, sizeof err),
	                 SALVE_OK);
	assert_string_equal(buf,
	                    "/apis/autoscaling/v2beta2/namespaces/a/horizontalpodautoscalers/b");
	assert_int_equal(k8s_object_path(buf, sizeof buf, d, NULL, "shop", "../../x", NULL, NULL,
	                                 err, sizeof err),
	                 SALVE_ERR_INVALID);
	assert_non_null(strstr(err, "argument \"name\""));
	assert_int_equal(k8s_object_path(buf, sizeof buf, k8s_kind_find("node"), NULL, NULL, "N%2F",
	                                 "node", NULL, err, sizeof err),
	                 SALVE_ERR_INVALID);
	assert_non_null(strstr(err, "argument \"node\""));
	assert_null(k8s_kind_find("secret")); /* results are audited: secrets are not readable */
	assert_null(k8s_kind_find("deploy,pod"));
	char *e = k8s_escape("app=web,tier in (a,b)");
	assert_string_equal(e, "app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
	free(e);
	k8s_kind_qualified(d, buf, sizeof buf);
	assert_string_equal(buf, "deployments.apps");
}

/* ---- JSON: merge patches, changes, patch undo records --------------------------------------- */

static void test_merge_diff_apply(void **state)
{
	(void)state;
	json_t *from = tj_parse("{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":[1,2],\"f\":\"x\"}");
	json_t *to = tj_parse("{\"a\":1,\"b\":{\"c\":5},\"e\":[1,2,3],\"g\":true}");
	json_t *patch = k8s_merge_diff(from, to);
	assert_json_eq(patch, "{\"b\":{\"c\":5,\"d\":null},\"e\":[1,2,3],\"f\":null,\"g\":true}");
	json_t *applied = json_deep_copy(from);
	k8s_merge_apply(&applied, patch);
	assert_true(json_equal(applied, to));
	json_t *same = k8s_merge_diff(from, from);
	assert_json_eq(same, "{}");
	json_decref(same);
	json_decref(applied);
	json_decref(patch);
	json_decref(from);
	json_decref(to);
}

static void test_changes(void **state)
{
	(void)state;
	json_t *a =
	    tj_parse("{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"1\",\"generation\":1},"
	             "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":"
	             "\"app\",\"image\":\"v1\"}]}}},\"status\":{\"replicas\":3}}");
	json_t *b =
	    tj_parse("{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"2\",\"generation\":2,"
	             "\"labels\":{\"x\":\"y\"}},\"spec\":{\"replicas\":5,\"template\":{\"spec\":{"
	             "\"containers\":[{\"name\":\"app\",\"image\":\"v2\"}]}}},\"status\":{}}");
	json_t *c = k8s_changes(a, b);
	assert_json_eq(c,
	               "[{\"path\":\"/metadata/labels\",\"before\":null,\"after\":{\"x\":\"y\"}},"
	               "{\"path\":\"/spec/replicas\",\"before\":3,\"after\":5},"
	               "{\"path\":\"/spec/template/spec/containers/0/image\",\"before\":\"v1\","
	               "\"after\":\"v2\"}]");
	json_decref(c);
	json_decref(a);
	json_decref(b);
}

static void test_semantic_equal(void **state)
{
	(void)state;
	json_t *a =
	    tj_parse("{\"metadata\":{\"labels\":{}},\"spec\":{\"containers\":[{\"name\":\"a\","
	             "\"ports\":[]}],\"hostNetwork\":false}}");
	json_t *b = tj_parse("{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	json_t *c = tj_parse("{\"spec\":{\"containers\":[{\"name\":\"b\"}]}}");
	assert_true(k8s_semantic_equal(a, b));
	assert_false(k8s_semantic_equal(a, c));
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

/* The undo of a merge patch: exactly the paths it touches, old values or absence. */
static void test_patch_touched_merge(void **state)
{
	(void)state;
	char err[256];
	json_t *cur = tj_parse(
	    "{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"fe\"},"
	    "\"annotations\":{\"keep\":\"1\"}},\"spec\":{\"replicas\":3,"
	    "\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"v1\"}]}}}}");
	json_t *patch =
	    tj_parse("{\"metadata\":{\"labels\":{\"tier\":\"be\",\"new\":\"x\",\"gone\":null},"
	             "\"finalizers\":[\"f\"]},\"spec\":{\"replicas\":5,\"template\":{\"spec\":"
	             "{\"containers\":[{\"name\":\"a\",\"image\":\"v2\"}]}}}}");
	json_t *t = k8s_patch_touched(cur, patch, 0, err, sizeof err);
	assert_non_null(t);
	assert_json_eq(t, "[{\"path\":\"/metadata/labels/tier\",\"present\":true,\"value\":\"fe\"},"
	                  "{\"path\":\"/metadata/labels/new\",\"present\":false},"
	                  "{\"path\":\"/metadata/finalizers\",\"present\":false},"
	                  "{\"path\":\"/spec/replicas\",\"present\":true,\"value\":3},"
	                  "{\"path\":\"/spec/template/spec/containers\",\"present\":true,"
	                  "\"value\":[{\"name\":\"a\",\"image\":\"v1\"}]}]");
	/* after the patch (and an unrelated change), restoring touches only those paths */
	json_t *now = json_deep_copy(cur);
	k8s_merge_apply(&now, patch);
	json_object_set_new(json_object_get(json_object_get(now, "metadata"), "annotations"),
	                    "other", json_string("kept"));
	json_t *restore = k8s_restore_patch(now, t);
	assert_json_eq(restore,
	               "{\"metadata\":{\"labels\":{\"tier\":\"fe\",\"new\":null},"
	               "\"finalizers\":null},\"spec\":{\"replicas\":3,\"template\":{\"spec\":"
	               "{\"containers\":[{\"name\":\"a\",\"image\":\"v1\"}]}}}}");
	k8s_merge_apply(&now, restore);
	json_t *expect = json_deep_copy(cur);
	json_object_set_new(json_object_get(json_object_get(expect, "metadata"), "annotations"),
	                    "other", json_string("kept"));
	assert_true(json_equal(now, expect));
	/* idempotent: once restored, nothing is left to send */
	json_t *again = k8s_restore_patch(now, t);
	assert_json_eq(again, "{}");
	json_decref(again);
	json_decref(expect);
	json_decref(restore);
	json_decref(now);
	json_decref(t);
	json_decref(patch);
	json_decref(cur);
}

static void test_patch_touched_json(void **state)
{
	(void)state;
	char err[256];
	json_t *cur =
	    tj_parse("{\"metadata\":{\"labels\":{\"a~b/c\":\"1\"}},\"spec\":{\"replicas\":2,"
	             "\"containers\":[{\"name\":\"x\",\"env\":[]}]}}");
	json_t *ops =
	    tj_parse("[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":2},"
	             "{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":4},"
	             "{\"op\":\"add\",\"path\":\"/spec/containers/0/env/-\",\"value\":{}},"
	             "{\"op\":\"remove\",\"path\":\"/metadata/labels/a~0b~1c\"},"
	             "{\"op\":\"add\",\"path\":\"/metadata/annotations/x\",\"value\":\"y\"},"
	             "{\"op\":\"move\",\"from\":\"/spec/paused\",\"path\":\"/spec/paused2\"}]");
	json_t *t = k8s_patch_touched(cur, ops, 1, err, sizeof err);
	assert_non_null(t);
	assert_json_eq(t,
	               "[{\"path\":\"/spec/replicas\",\"present\":true,\"value\":2},"
	               "{\"path\":\"/spec/containers\",\"present\":true,\"value\":[{\"name\":\"x\","
	               "\"env\":[]}]},"
	               "{\"path\":\"/metadata/labels/a~0b~1c\",\"present\":true,\"value\":\"1\"},"
	               "{\"path\":\"/metadata/annotations\",\"present\":false},"
	               "{\"path\":\"/spec/paused\",\"present\":false},"
	               "{\"path\":\"/spec/paused2\",\"present\":false}]");
	json_decref(t);
	json_t *bad = tj_parse("[{\"op\":\"frobnicate\",\"path\":\"/a\"}]");
	assert_null(k8s_patch_touched(cur, bad, 1, err, sizeof err));
	assert_non_null(strstr(err, "operation 0 is malformed"));
	json_decref(bad);
	bad = tj_parse("[{\"op\":\"replace\",\"path\":\"\",\"value\":{}}]");
	assert_null(k8s_patch_touched(cur, bad, 1, err, sizeof err));
	assert_non_null(strstr(err, "whole object"));
	json_decref(bad);
	json_decref(ops);
	json_decref(cur);
	json_t *p = tj_parse("{\"a\":{\"b\":1}}");
	json_t *ptr = k8s_ptr_get(p, "/a/b");
	assert_int_equal(json_integer_value(ptr), 1);
	assert_null(k8s_ptr_get(p, "/a/c"));
	json_decref(p);
}

/* ---- workloads: kubectl's judgements --------------------------------------------------------- */

static k8s_rollout judge_deploy(const char *status, long long generation, long long replicas)
{
	char text[1024];
	snprintf(
	    text, sizeof text,
	    "{\"metadata\":{\"name\":\"web\",\"generation\":%lld},\"spec\":{\"replicas\":%lld},"
	    "\"status\":%s}",
	    generation, replicas, status);
	json_t *d = tj_parse(text);
	k8s_rollout r;
	k8s_rollout_judge(k8s_kind_find("deployment"), d, &r);
	json_decref(d);
	return r;
}

static void test_rollout_status_deployment(void **state)
{
	(void)state;
	k8s_rollout r = judge_deploy("{\"observedGeneration\":1,\"replicas\":3,"
	                             "\"updatedReplicas\":3,\"readyReplicas\":3,"
	                             "\"availableReplicas\":3}",
	                             2, 3);
	assert_false(r.healthy);
	assert_string_equal(r.message, "Waiting for deployment spec update to be observed...");
	r = judge_deploy("{\"observedGeneration\":2,\"replicas\":3,\"updatedReplicas\":1,"
	                 "\"availableReplicas\":3}",
	                 2, 3);
	assert_false(r.healthy);
	assert_string_equal(r.message,
	                    "Waiting for deployment \"web\" rollout to finish: 1 out of 3 "
	                    "new replicas have been updated...");
	r = judge_deploy("{\"observedGeneration\":2,\"replicas\":4,\"updatedReplicas\":3,"
	                 "\"availableReplicas\":3}",
	                 2, 3);
	assert_false(r.healthy);
	assert_string_equal(r.message, "Waiting for deployment \"web\" rollout to finish: 1 old "
	                               "replicas are pending termination...");
	r = judge_deploy("{\"observedGeneration\":2,\"replicas\":3,\"updatedReplicas\":3,"
	                 "\"availableReplicas\":2}",
	                 2, 3);
	assert_false(r.healthy);
	assert_string_equal(r.message, "Waiting for deployment \"web\" rollout to finish: 2 of 3 "
	                               "updated replicas are available...");
	r = judge_deploy("{\"observedGeneration\":3,\"replicas\":3,\"updatedReplicas\":3,"
	                 "\"readyReplicas\":3,\"availableReplicas\":3}",
	                 2, 3);
	assert_true(r.healthy);
	assert_int_equal(r.ready, 3);
	assert_string_equal(r.message, "deployment \"web\" successfully rolled out");
	r = judge_deploy("{\"observedGeneration\":2,\"conditions\":[{\"type\":\"Progressing\","
	                 "\"reason\":\"ProgressDeadlineExceeded\"}]}",
	                 2, 3);
	assert_false(r.healthy);
	assert_true(r.failed);
	assert_string_equal(r.message, "deployment \"web\" exceeded its progress deadline");
}

static void test_rollout_status_statefulset_daemonset(void **state)
{
	(void)state;
	json_t *s = tj_parse(
	    "{\"metadata\":{\"name\":\"db\",\"generation\":1},\"spec\":{\"replicas\":3},"
	    "\"status\":{\"observedGeneration\":1,\"readyReplicas\":3,"
	    "\"updateRevision\":\"db-2\",\"currentRevision\":\"db-1\",\"updatedReplicas\":1}}");
	k8s_rollout r;
	k8s_rollout_judge(k8s_kind_find("sts"), s, &r);
	assert_false(r.healthy);
	assert_string_equal(r.message,
	                    "waiting for statefulset rolling update to complete 1 pods at revision "
	                    "db-2...");
	json_object_set_new(json_object_get(s, "status"), "currentRevision", json_string("db-2"));
	k8s_rollout_judge(k8s_kind_find("sts"), s, &r);
	assert_true(r.healthy);
	json_decref(s);
	json_t *d = tj_parse("{\"metadata\":{\"name\":\"agent\",\"generation\":4},\"status\":{"
	                     "\"observedGeneration\":4,\"desiredNumberScheduled\":5,"
	                     "\"updatedNumberScheduled\":5,\"numberAvailable\":4}}");
	k8s_rollout_judge(k8s_kind_find("ds"), d, &r);
	assert_false(r.healthy);
	assert_string_equal(r.message, "Waiting for daemon set \"agent\" rollout to finish: 4 of 5 "
	                               "updated pods are available...");
	json_decref(d);
}

static void test_select_revision(void **state)
{
	(void)state;
	json_t *rss = tj_parse("[{\"metadata\":{\"name\":\"a\",\"annotations\":{"
	                       "\"deployment.kubernetes.io/revision\":\"3\"}}},"
	                       "{\"metadata\":{\"name\":\"b\",\"annotations\":{"
	                       "\"deployment.kubernetes.io/revision\":\"5\"}}},"
	                       "{\"metadata\":{\"name\":\"c\",\"annotations\":{"
	                       "\"deployment.kubernetes.io/revision\":\"4\"}}},"
	                       "{\"metadata\":{\"name\":\"d\",\"annotations\":{"
	                       "\"deployment.kubernetes.io/revision\":\"x\"}}},"
	                       "{\"metadata\":{\"name\":\"e\"}}]");
	const json_t *rs;
	long long rev;
	char err[256];
	assert_int_equal(k8s_select_revision(rss, 0, "web", &rs, &rev, err, sizeof err), SALVE_OK);
	assert_int_equal(rev, 4); /* the second newest */
	assert_string_equal(json_string_value(k8s_ptr_get(rs, "/metadata/name")), "c");
	assert_int_equal(k8s_select_revision(rss, 3, "web", &rs, &rev, err, sizeof err), SALVE_OK);
	assert_string_equal(json_string_value(k8s_ptr_get(rs, "/metadata/name")), "a");
	assert_int_equal(k8s_select_revision(rss, 9, "web", &rs, &rev, err, sizeof err),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(err, "unable to find specified revision 9 in history");
	json_t *one =
	    tj_parse("[{\"metadata\":{\"annotations\":{\"deployment.kubernetes.io/revision\":"
	             "\"1\"}}}]");
	assert_int_equal(k8s_select_revision(one, 0, "web", &rs, &rev, err, sizeof err),
	                 SALVE_ERR_NOTFOUND);
	assert_string_equal(err, "no rollout history found for deployment \"web\"");
	json_decref(one);
	json_decref(rss);
}

static void test_template_equal_and_ownership(void **state)
{
	(void)state;
	json_t *rs =
	    tj_parse("{\"metadata\":{\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"abc\"}},"
	             "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"v1\"}]}}");
	json_t *dep = tj_parse("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
	                       "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"v1\"}]}}");
	json_t *dep2 = tj_parse("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
	                        "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"v2\"}]}}");
	assert_true(k8s_template_equal_ignore_hash(rs, dep));
	assert_false(k8s_template_equal_ignore_hash(rs, dep2));
	json_t *clean = k8s_template_without_hash(rs);
	assert_json_eq(k8s_ptr_get(clean, "/metadata/labels"), "{\"app\":\"web\"}");
	json_decref(clean);
	json_t *owned =
	    tj_parse("{\"metadata\":{\"ownerReferences\":[{\"uid\":\"u1\",\"controller\":false},"
	             "{\"uid\":\"u2\",\"controller\":true}]}}");
	assert_true(k8s_is_controlled_by(owned, "u2"));
	assert_false(k8s_is_controlled_by(owned, "u1"));
	json_decref(owned);
	json_t *sel =
	    tj_parse("{\"matchLabels\":{\"tier\":\"fe\",\"app\":\"web\"},\"matchExpressions\":["
	             "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
	             "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"}]}");
	char err[256];
	char *s = k8s_selector_string(sel, err, sizeof err);
	assert_string_equal(s, "app=web,tier=fe,env in (a,b),!canary");
	free(s);
	json_decref(sel);
	json_decref(rs);
	json_decref(dep);
	json_decref(dep2);
}

static void test_durations(void **state)
{
	(void)state;
	double s;
	json_t *v;
	struct {
		const char *text;
		double want;
	} ok[] = {{"\"90s\"", 90}, {"\"5m\"", 300}, {"\"1h30m\"", 5400}, {"\"250ms\"", 0.25},
	          {"\"42\"", 42},  {"7", 7},        {"1.5", 1.5}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		v = tj_parse(ok[i].text);
		assert_int_equal(salve_duration_from_json(v, &s), 0);
		assert_true(s > ok[i].want - 1e-9 && s < ok[i].want + 1e-9);
		json_decref(v);
	}
	const char *bad[] = {"\"\"", "\"5x\"", "\"m\"", "-1", "\"-5s\"", "true", "\"5 m\""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = tj_parse(bad[i]);
		assert_int_equal(salve_duration_from_json(v, &s), -1);
		json_decref(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kubeconfig_token_user),
	    cmocka_unit_test(test_kubeconfig_client_cert_data),
	    cmocka_unit_test(test_kubeconfig_relative_files),
	    cmocka_unit_test(test_kubeconfig_errors),
	    cmocka_unit_test(test_kubeconfig_insecure_with_ca_refused),
	    cmocka_unit_test(test_kubeconfig_merge_order),
	    cmocka_unit_test(test_in_cluster),
	    cmocka_unit_test(test_config_load_explicit_and_env),
	    cmocka_unit_test(test_dns1123),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_merge_diff_apply),
	    cmocka_unit_test(test_changes),
	    cmocka_unit_test(test_semantic_equal),
	    cmocka_unit_test(test_patch_touched_merge),
	    cmocka_unit_test(test_patch_touched_json),
	    cmocka_unit_test(test_rollout_status_deployment),
	    cmocka_unit_test(test_rollout_status_statefulset_daemonset),
	    cmocka_unit_test(test_select_revision),
	    cmocka_unit_test(test_template_equal_and_ownership),
	    cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
