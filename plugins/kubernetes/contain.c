/* Containment: isolate pods behind a deny-all NetworkPolicy, quarantine one pod out of its
 * Service and ReplicaSet, taint and untaint nodes. Each is an entry of the mutation driver
 * (k8s_mutation), so check, the server-side dry run and apply send the same request. */
#include "kube.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_ID_LABEL      "salve/run-id"
#define MANAGED_BY_LABEL  "app.kubernetes.io/managed-by"
#define QUARANTINED_LABEL "salve/quarantined"
#define REASON_KEY        "salve/reason"

/* NetworkPolicy is no kind of the shared table (which `get` and `patch` use); only isolate
 * writes it. */
static const k8s_kind netpol_kind = {
    "NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", 1, ",networkpolicy,"};

json_t *kube_deny_namespaces;

void kube_run_label(salve_call *call, char *buf, size_t len)
{
	const char *id = kube_host->run_info(call, "run_id");
	size_t o = 0;
	/* A label value: at most 63 of [A-Za-z0-9._-], beginning and ending alphanumeric. */
	for (const char *p = id ? id : ""; *p && o + 1 < len && o < 63; p++) {
		char c = *p;
		int alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (alnum || ((c == '-' || c == '_' || c == '.') && o > 0))
			buf[o++] = c;
	}
	while (o > 0 && !((buf[o - 1] >= 'a' && buf[o - 1] <= 'z') ||
	                  (buf[o - 1] >= 'A' && buf[o - 1] <= 'Z') ||
	                  (buf[o - 1] >= '0' && buf[o - 1] <= '9')))
		o--;
	buf[o] = '\0';
	if (o == 0)
		snprintf(buf, len, "unknown");
}

/* ---- isolate --------------------------------------------------------------------------------- */

struct isolate {
	k8s_target t;         /* the NetworkPolicy */
	char collection[512]; /* where it is created */
	char name[64];
	json_t *policy; /* the whole object apply creates */
	int created;
	char uid[64];
};

static void isolate_clear(void *state)
{
	struct isolate *s = state;
	json_decref(s->policy);
}

static int label_chars_ok(const char *s)
{
	if (!*s || strlen(s) > 316)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.' || *s == '/'))
			return 0;
	return 1;
}

/* "a=b,c==d" as matchLabels; set-based selectors are refused (NULL with err set). */
static json_t *match_labels(const char *selector, char *err, size_t errlen)
{
	json_t *out = json_object();
	char *copy = strdup(selector);
	char *save = NULL;
	for (char *req = copy ? strtok_r(copy, ",", &save) : NULL; req;
	     req = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(req, '=');
		char *value = eq ? eq + 1 + (eq[1] == '=') : NULL;
		if (eq)
			*eq = '\0';
		if (!eq || eq == req || req[strlen(req) - 1] == '!' || !label_chars_ok(req) ||
		    (*value && !label_chars_ok(value)) || strchr(value, '/') ||
		    strlen(value) > 63) {
			snprintf(err, errlen,
			         "argument \"selector\": %.200s is not an equality selector "
			         "(key=value, comma-separated)",
			         selector);
			json_decref(out);
			free(copy);
			return NULL;
		}
		json_object_set_new(out, req, json_string(value));
	}
	free(copy);
	if (json_object_size(out) == 0) {
		snprintf(err, errlen, "argument \"selector\" is empty");
		json_decref(out);
		return NULL;
	}
	return out;
}

static int protected_namespace(const char *ns)
{
	if (strcmp(ns, "kube-system") == 0)
		return 1;
	size_t i;
	json_t *v;
	json_array_foreach(kube_deny_namespaces, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), ns) == 0)
			return 1;
	}
	return 0;
}

/* The policy's name: fixed for the namespace, or by the selector's digest, so a second run
 * with the same arguments finds the policy the first one made. */
static void isolate_name(const char *selector, char *buf, size_t len)
{
	if (!selector) {
		snprintf(buf, len, "salve-isolate");
		return;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(selector, strlen(selector), md, &n, EVP_sha256(), NULL);
	snprintf(buf, len, "salve-isolate-%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4]);
}

static json_t *dns_egress(void)
{
	return json_pack("{s:[{s:{s:{s:s}}, s:{s:{s:s}}}], s:[{s:s, s:i}, {s:s, s:i}]}", "to",
	                 "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name",
	                 "kube-system", "podSelector", "matchLabels", "k8s-app", "kube-dns",
	                 "ports", "protocol", "UDP", "port", 53, "protocol", "TCP", "port", 53);
}

static int isolate_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct isolate *s = state;
	s->t.kind = &netpol_kind;
	s->t.ns = k8s_arg_namespace(ctx, args);
	if (!s->t.ns)
		return SALVE_ERR_INVALID;
	if (protected_namespace(s->t.ns) && !k8s_arg_bool(args, "force", 0))
		return k8s_invalid(
		    ctx,
		    "refusing to isolate namespace %s: it is kube-system or listed in "
		    "isolate_deny_namespaces (pass force=true to isolate it anyway)",
		    s->t.ns);
	const char *selector = k8s_arg_str(args, "selector");
	const char *allow_from = k8s_arg_str(args, "allow_from");
	const char *reason = k8s_arg_str(args, "reason");
	char err[512];
	json_t *pod_selector = json_object();
	if (selector) {
		json_t *ml = match_labels(selector, err, sizeof err);
		if (!ml) {
			json_decref(pod_selector);
			return k8s_invalid(ctx, "%s", err);
		}
		json_object_set_new(pod_selector, "matchLabels", ml);
	}
	if (allow_from && k8s_check_label("allow_from", allow_from, err, sizeof err) < 0) {
		json_decref(pod_selector);
		return k8s_invalid(ctx, "%s", err);
	}
	isolate_name(selector, s->name, sizeof s->name);
	s->t.name = s->name;
	char run[80];
	kube_run_label(ctx->call, run, sizeof run);
	json_t *spec = json_pack("{s:o, s:[s,s], s:[], s:[]}", "podSelector", pod_selector,
	                         "policyTypes", "Ingress", "Egress", "ingress", "egress");
	if (allow_from)
		json_array_append_new(json_object_get(spec, "ingress"),
		                      json_pack("{s:[{s:{s:{s:s}}}]}", "from", "namespaceSelector",
		                                "matchLabels", "kubernetes.io/metadata.name",
		                                allow_from));
	if (k8s_arg_bool(args, "allow_dns", 1))
		json_array_append_new(json_object_get(spec, "egress"), dns_egress());
	s->policy = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:{s:s}}, s:o}", "apiVersion",
	                      "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata", "name",
	                      s->name, "namespace", s->t.ns, "labels", MANAGED_BY_LABEL, "salve",
	                      RUN_ID_LABEL, run, "annotations", REASON_KEY,
	                      reason ? reason : "isolated by salve", "spec", spec);
	int rc = k8s_path(ctx, s->collection, sizeof s->collection, &netpol_kind, NULL, s->t.ns,
	                  NULL, NULL, NULL);
	if (rc == SALVE_OK)
		rc = k8s_path(ctx, s->t.path, sizeof s->t.path, &netpol_kind, NULL, s->t.ns,
		              s->name, "name", NULL);
	return rc;
}

static json_t *isolate_result(const struct isolate *s, const json_t *stored, int created)
{
	json_t *labels = k8s_ptr_get(stored ? stored : s->policy, "/metadata/labels");
	return json_pack("{s:s, s:s, s:O, s:O?, s:b, s:O?}", "namespace", s->t.ns, "name", s->name,
	                 "spec", json_object_get(s->policy, "spec"), "run_id",
	                 json_object_get(labels, RUN_ID_LABEL), "created", created, "uid",
	                 k8s_ptr_get(stored, "/metadata/uid"));
}

/* What the API server stores is what we send (defaults are all explicit in it). */
static int same_policy(const struct isolate *s, const json_t *found)
{
	return k8s_semantic_equal(json_object_get(found, "spec"),
	                          json_object_get(s->policy, "spec"));
}

static int isolate_observe(k8s_ctx *ctx, void *state, const json_t *current, json_t **observed)
{
	(void)ctx;
	struct isolate *s = state;
	int same = same_policy(s, current);
	*observed = isolate_result(s, current, 0);
	json_object_set_new(*observed, "message",
	                    json_string(same ? "the isolating NetworkPolicy is already there"
	                                     : "a NetworkPolicy of that name has another spec"));
	return same ? SALVE_HOLDS : SALVE_OK;
}

static int isolate_check(k8s_ctx *ctx, void *state, json_t **observed)
{
	struct isolate *s = state;
	json_t *current = NULL;
	int rc = k8s_get(ctx, s->t.path, 0, &current);
	if (rc == SALVE_ERR_NOTFOUND) {
		*observed = isolate_result(s, NULL, 0);
		json_object_set_new(*observed, "message",
		                    json_string("no isolating NetworkPolicy"));
		return SALVE_OK;
	}
	if (rc == SALVE_OK)
		rc = isolate_observe(ctx, s, current, observed);
	json_decref(current);
	return rc;
}

static int isolate_write(k8s_ctx *ctx, void *state, unsigned mode, json_t **before, json_t **after,
                         json_t **patch)
{
	(void)before, (void)patch;
	struct isolate *s = state;
	char path[600];
	if (mode & K8S_UPDATE_DRY_RUN)
		k8s_dry_run_path(path, sizeof path, s->collection);
	else
		snprintf(path, sizeof path, "%s", s->collection);
	k8s_resp resp;
	int rc = k8s_request(ctx, "POST", path, "application/json", s->policy, 0, &resp);
	long status = resp.status;
	if (rc == SALVE_OK) {
		s->created = 1;
		*after = resp.json;
		resp.json = NULL;
	}
	k8s_resp_clear(&resp);
	if (status != 409)
		return rc;
	/* AlreadyExists: made meanwhile, by an earlier attempt whose answer was lost or by
	 * another run. Ours only if it isolates the same pods the same way. */
	json_t *current = NULL;
	rc = k8s_get(ctx, s->t.path, 0, &current);
	if (rc != SALVE_OK)
		return rc;
	if (!same_policy(s, current)) {
		const char *run = json_string_value(k8s_ptr_get(current, "/metadata/labels/"
		                                                         "salve~1run-id"));
		json_decref(current);
		ctx->host->fail(ctx->call,
		                "NetworkPolicy %s/%s already exists with another spec (run id %s); "
		                "delete it or isolate with another selector",
		                s->t.ns, s->name, run ? run : "none");
		return SALVE_ERR;
	}
	*after = current;
	return SALVE_OK;
}

static json_t *isolate_done(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx, (void)before;
	struct isolate *s = state;
	const char *uid = json_string_value(k8s_ptr_get(after, "/metadata/uid"));
	snprintf(s->uid, sizeof s->uid, "%s", uid ? uid : "");
	return isolate_result(s, after, s->created);
}

/* Undo deletes exactly the policy this apply created (by uid); nothing when it was there
 * already. */
static json_t *isolate_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	(void)before, (void)patch;
	const struct isolate *s = state;
	return json_pack("{s:s, s:s, s:s, s:b}", "namespace", s->t.ns, "name", s->name, "uid",
	                 s->uid, "created", s->created);
}

const k8s_mutation kube_isolate = {
    .state_size = sizeof(struct isolate),
    .parse = isolate_parse,
    .clear = isolate_clear,
    .check = isolate_check,
    .write = isolate_write,
    .result = isolate_done,
    .undo_record = isolate_undo_record,
};

static int unisolate_parse(k8s_ctx *ctx, const json_t *undo, void *state)
{
	struct isolate *s = state;
	s->t.kind = &netpol_kind;
	s->t.ns = k8s_arg_str(undo, "namespace");
	s->t.name = k8s_arg_str(undo, "name");
	const char *uid = k8s_arg_str(undo, "uid");
	if (!s->t.ns || !s->t.name || !uid || !json_is_boolean(json_object_get(undo, "created")))
		return k8s_invalid(
		    ctx, "undo record is malformed: it needs namespace, name, uid, created");
	snprintf(s->uid, sizeof s->uid, "%s", uid);
	s->created = k8s_arg_bool(undo, "created", 0);
	return k8s_path(ctx, s->t.path, sizeof s->t.path, &netpol_kind, NULL, s->t.ns, s->t.name,
	                "name", NULL);
}

static int unisolate_write(k8s_ctx *ctx, void *state, unsigned mode, json_t **before,
                           json_t **after, json_t **patch)
{
	(void)mode, (void)before, (void)after, (void)patch;
	struct isolate *s = state;
	if (!s->created)
		return SALVE_OK;
	json_t *opts = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
	                         "preconditions", "uid", s->uid);
	k8s_resp resp;
	int rc = k8s_request(ctx, "DELETE", s->t.path, "application/json", opts, 0, &resp);
	long status = resp.status;
	json_decref(opts);
	k8s_resp_clear(&resp);
	if (status == 404 || status == 409) {
		/* gone already, or a policy of that name that is not the one we made */
		s->created = 0;
		return SALVE_OK;
	}
	return rc;
}

static void unisolate_undone(k8s_ctx *ctx, const void *state, const json_t *patch)
{
	(void)patch;
	const struct isolate *s = state;
	ctx->host->log(ctx->call, SALVE_LOG_INFO, "kubernetes: NetworkPolicy %s/%s %s", s->t.ns,
	               s->t.name, s->created ? "deleted" : "was not ours or is gone already");
}

const k8s_mutation kube_isolate_remove = {
    .state_size = sizeof(struct isolate),
    .parse = unisolate_parse,
    .clear = isolate_clear,
    .write = unisolate_write,
    .undone = unisolate_undone,
};

/* ---- quarantine_pod ----------------------------------------------------------------------------
 */

struct quarantine {
	k8s_target t;
	const char *reason;
	char run[80];
};

static int quarantine_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct quarantine *q = state;
	q->t.kind = k8s_kind_find("pod");
	q->t.ns = k8s_arg_namespace(ctx, args);
	if (!q->t.ns)
		return SALVE_ERR_INVALID;
	q->t.name = k8s_arg_str(args, "pod");
	q->reason = k8s_arg_str(args, "reason");
	if (!q->reason)
		q->reason = "quarantined by salve";
	kube_run_label(ctx->call, q->run, sizeof q->run);
	return k8s_path(ctx, q->t.path, sizeof q->t.path, q->t.kind, NULL, q->t.ns, q->t.name,
	                "pod", NULL);
}

static json_t *quarantine_result(const struct quarantine *q, const json_t *before,
                                 const json_t *after, json_t *changes)
{
	return json_pack("{s:s, s:s, s:O?, s:O?, s:o}", "namespace", q->t.ns, "pod", q->t.name,
	                 "labels_before", k8s_ptr_get(before, "/metadata/labels"), "labels_after",
	                 k8s_ptr_get(after, "/metadata/labels"), "changes", changes);
}

static int quarantine_observe(k8s_ctx *ctx, void *state, const json_t *current, json_t **observed)
{
	(void)ctx;
	const struct quarantine *q = state;
	const char *mark = json_string_value(k8s_ptr_get(current, "/metadata/labels/"
	                                                          "salve~1quarantined"));
	*observed = quarantine_result(q, current, current, json_array());
	return mark && strcmp(mark, "true") == 0 ? SALVE_HOLDS : SALVE_OK;
}

/* Every label goes (Services and the ReplicaSet select by them, so the pod leaves both and
 * the ReplicaSet starts a replacement); the pod is marked and annotated with why and by
 * which run. The old labels stay in an annotation for the people looking at it. */
static int build_quarantine(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	const struct quarantine *q = ud;
	json_t *d = json_deep_copy(current);
	json_t *meta = k8s_child_object(d, "metadata");
	json_t *old = json_object_get(meta, "labels");
	char *old_text = json_dumps(old ? old : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
	json_object_set_new(
	    meta, "labels",
	    json_pack("{s:s, s:s}", QUARANTINED_LABEL, "true", RUN_ID_LABEL, q->run));
	json_t *ann = k8s_child_object(meta, "annotations");
	json_object_set_new(ann, REASON_KEY, json_string(q->reason));
	json_object_set_new(ann, RUN_ID_LABEL, json_string(q->run));
	json_object_set_new(ann, "salve/quarantined-labels",
	                    json_string(old_text ? old_text : "{}"));
	free(old_text);
	*desired = d;
	return SALVE_OK;
}

static json_t *quarantine_done(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	return quarantine_result(state, before, after, k8s_changes(before, after));
}

const k8s_mutation kube_quarantine_pod = {
    .state_size = sizeof(struct quarantine),
    .parse = quarantine_parse,
    .observe = quarantine_observe,
    .build = build_quarantine,
    .result = quarantine_done,
    .undo_record = kube_touched_record,
};

/* ---- taint / untaint ---------------------------------------------------------------------------
 */

struct taint {
	k8s_target t;
	const char *key;
	const char *effect;
	const char *value; /* NULL: none */
	int want;          /* 1: the taint is there, 0: it is not */
};

static int taint_fields(k8s_ctx *ctx, const json_t *args, struct taint *tn)
{
	tn->t.kind = k8s_kind_find("node");
	tn->t.name = k8s_arg_str(args, "node");
	tn->key = k8s_arg_str(args, "key");
	tn->effect = k8s_arg_str(args, "effect");
	tn->value = k8s_arg_str(args, "value");
	if (!tn->key || !label_chars_ok(tn->key))
		return k8s_invalid(ctx, "argument \"key\" must be a label key (e.g. "
		                        "security.example.com/compromised)");
	if (!tn->effect || (strcmp(tn->effect, "NoSchedule") && strcmp(tn->effect, "NoExecute") &&
	                    strcmp(tn->effect, "PreferNoSchedule")))
		return k8s_invalid(ctx,
		                   "argument \"effect\" must be NoSchedule, PreferNoSchedule or "
		                   "NoExecute");
	if (tn->value && (strlen(tn->value) > 63 || (*tn->value && !label_chars_ok(tn->value)) ||
	                  strchr(tn->value, '/')))
		return k8s_invalid(ctx, "argument \"value\" must be a label value (63 characters "
		                        "of A-Z a-z 0-9 - _ .)");
	return k8s_path(ctx, tn->t.path, sizeof tn->t.path, tn->t.kind, NULL, NULL, tn->t.name,
	                "node", NULL);
}

static int taint_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct taint *tn = state;
	tn->want = 1;
	return taint_fields(ctx, args, tn);
}

static int untaint_parse(k8s_ctx *ctx, const json_t *args, void *state)
{
	struct taint *tn = state;
	tn->want = 0;
	int rc = taint_fields(ctx, args, tn);
	tn->value = NULL;
	return rc;
}

/* The undo record: the taint as it was, {node, key, effect, present, value?}. */
static int taint_restore_parse(k8s_ctx *ctx, const json_t *undo, void *state)
{
	struct taint *tn = state;
	json_t *present = json_object_get(undo, "present");
	if (!json_is_boolean(present))
		return k8s_invalid(ctx, "undo record is malformed: it needs node, key, effect and "
		                        "present");
	tn->want = json_is_true(present);
	return taint_fields(ctx, undo, tn);
}

static const json_t *find_taint(const json_t *node, const char *key, const char *effect)
{
	size_t i;
	json_t *t;
	json_array_foreach(k8s_ptr_get(node, "/spec/taints"), i, t)
	{
		const char *k = json_string_value(json_object_get(t, "key"));
		const char *e = json_string_value(json_object_get(t, "effect"));
		if (k && e && strcmp(k, key) == 0 && strcmp(e, effect) == 0)
			return t;
	}
	return NULL;
}

static int taint_holds(const struct taint *tn, const json_t *node)
{
	const json_t *t = find_taint(node, tn->key, tn->effect);
	if (!tn->want)
		return t == NULL;
	const char *v = json_string_value(json_object_get(t, "value"));
	return t && strcmp(v ? v : "", tn->value ? tn->value : "") == 0;
}

static json_t *taint_result(const struct taint *tn, const json_t *node, json_t *changes)
{
	json_t *taints = k8s_ptr_get(node, "/spec/taints");
	return json_pack("{s:s, s:s, s:s, s:s?, s:b, s:o, s:o}", "node", tn->t.name, "key", tn->key,
	                 "effect", tn->effect, "value", tn->value, "present",
	                 find_taint(node, tn->key, tn->effect) != NULL, "taints",
	                 taints ? json_incref(taints) : json_array(), "changes", changes);
}

static int taint_observe(k8s_ctx *ctx, void *state, const json_t *current, json_t **observed)
{
	(void)ctx;
	const struct taint *tn = state;
	*observed = taint_result(tn, current, json_array());
	return taint_holds(tn, current) ? SALVE_HOLDS : SALVE_OK;
}

/* Only this taint (key and effect) changes; every other taint, the node controller's
 * included, is kept as the node has it now (a 409 rebuilds from a fresh read). */
static int build_taint(k8s_ctx *ctx, const json_t *current, json_t **desired, void *ud)
{
	(void)ctx;
	const struct taint *tn = ud;
	const json_t *old = find_taint(current, tn->key, tn->effect);
	json_t *d = json_deep_copy(current);
	if (taint_holds(tn, current)) {
		*desired = d;
		return SALVE_OK;
	}
	json_t *spec = k8s_child_object(d, "spec");
	json_t *taints = json_array();
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(spec, "taints"), i, t)
	{
		if (t != old && !json_equal(t, old))
			json_array_append(taints, t);
	}
	if (tn->want) {
		json_t *nt = json_pack("{s:s, s:s}", "key", tn->key, "effect", tn->effect);
		if (tn->value && *tn->value)
			json_object_set_new(nt, "value", json_string(tn->value));
		json_array_append_new(taints, nt);
	}
	if (json_array_size(taints))
		json_object_set_new(spec, "taints", taints);
	else {
		json_decref(taints);
		json_object_del(spec, "taints");
	}
	*desired = d;
	return SALVE_OK;
}

static json_t *taint_done(k8s_ctx *ctx, void *state, const json_t *before, const json_t *after)
{
	(void)ctx;
	return taint_result(state, after, k8s_changes(before, after));
}

static json_t *taint_undo_record(const void *state, const json_t *before, const json_t *patch)
{
	(void)patch;
	const struct taint *tn = state;
	const json_t *old = find_taint(before, tn->key, tn->effect);
	return json_pack("{s:s, s:s, s:s, s:b, s:O*}", "node", tn->t.name, "key", tn->key, "effect",
	                 tn->effect, "present", old != NULL, "value",
	                 json_object_get(old, "value"));
}

static void taint_undone(k8s_ctx *ctx, const void *state, const json_t *patch)
{
	const struct taint *tn = state;
	ctx->host->log(ctx->call, SALVE_LOG_INFO, "kubernetes: node %s: taint %s:%s %s", tn->t.name,
	               tn->key, tn->effect,
	               json_object_size(patch) == 0 ? "already as before"
	               : tn->want                   ? "put back"
	                                            : "removed");
}

const k8s_mutation kube_taint = {
    .state_size = sizeof(struct taint),
    .parse = taint_parse,
    .observe = taint_observe,
    .build = build_taint,
    .result = taint_done,
    .undo_record = taint_undo_record,
};

const k8s_mutation kube_untaint = {
    .state_size = sizeof(struct taint),
    .parse = untaint_parse,
    .observe = taint_observe,
    .build = build_taint,
    .result = taint_done,
    .undo_record = taint_undo_record,
};

const k8s_mutation kube_taint_restore = {
    .state_size = sizeof(struct taint),
    .parse = taint_restore_parse,
    .build = build_taint,
    .undone = taint_undone,
};
