/* Forensics: evidence{} copies what the API shows about pods (objects, current and previous
 * container logs, events, owner chain, node conditions) into a new directory with a manifest
 * of SHA-256 digests, and records the digests in the audit log, so a post-incident review can
 * prove what was seen. Read-only towards the cluster, so it runs in dry-runs too. */
#include "kube.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PODS          100
#define DEFAULT_LOG_BYTES (1 << 20)
#define MAX_LOG_BYTES     (16 << 20)
#define MAX_OWNER_DEPTH   5

struct bundle {
	k8s_ctx *ctx;
	const char *dir;
	int dirfd;
	long long log_bytes;
	json_t *files; /* [{path, sha256, bytes}] in the order written */
	json_t *notes; /* what could not be captured, and why */
};

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A new, empty directory we own: created 0700, or an existing empty one that is no symlink. */
static int open_dir(struct bundle *b)
{
	if (b->dir[0] != '/')
		return k8s_invalid(b->ctx, "argument \"dir\" must be an absolute path");
	if (mkdir(b->dir, 0700) < 0 && errno != EEXIST) {
		b->ctx->host->fail(b->ctx->call, "evidence: cannot create %s: %s", b->dir,
		                   strerror(errno));
		return SALVE_ERR;
	}
	struct stat st;
	if (lstat(b->dir, &st) == 0 && S_ISLNK(st.st_mode)) {
		b->ctx->host->fail(b->ctx->call, "evidence: %s is a symbolic link", b->dir);
		return SALVE_ERR;
	}
	b->dirfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (b->dirfd < 0) {
		b->ctx->host->fail(b->ctx->call, "evidence: cannot open %s: %s", b->dir,
		                   errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return SALVE_ERR;
	}
	int dup_fd = dup(b->dirfd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	int entries = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	else if (dup_fd >= 0)
		close(dup_fd);
	if (!d || entries) {
		b->ctx->host->fail(b->ctx->call,
		                   "evidence: %s %s; evidence goes into a new or empty directory",
		                   b->dir, d ? "is not empty" : "cannot be read");
		return SALVE_ERR;
	}
	return SALVE_OK;
}

/* Write sub/name (sub NULL: the top) exclusively, never through a symlink; record its digest. */
static int put_file(struct bundle *b, const char *sub, const char *name, const char *data,
                    size_t len)
{
	int parent = b->dirfd, subfd = -1;
	if (sub) {
		if (mkdirat(b->dirfd, sub, 0700) < 0 && errno != EEXIST)
			goto fail;
		subfd = openat(b->dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (subfd < 0)
			goto fail;
		parent = subfd;
	}
	int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		goto fail;
	if (subfd >= 0)
		close(subfd);
	char hex[65] = "";
	sha256_hex(data, len, hex);
	char path[600];
	snprintf(path, sizeof path, "%s%s%s", sub ? sub : "", sub ? "/" : "", name);
	json_array_append_new(b->files, json_pack("{s:s, s:s, s:I}", "path", path, "sha256", hex,
	                                          "bytes", (json_int_t)len));
	return SALVE_OK;
fail:;
	int err = errno;
	if (subfd >= 0)
		close(subfd);
	b->ctx->host->fail(b->ctx->call, "evidence: cannot write %s/%s%s%s: %s", b->dir,
	                   sub ? sub : "", sub ? "/" : "", name, strerror(err));
	return SALVE_ERR;
}

static int put_json(struct bundle *b, const char *sub, const char *name, const json_t *value)
{
	char *text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		b->ctx->host->fail(b->ctx->call, "evidence: out of memory");
		return SALVE_ERR;
	}
	int rc = put_file(b, sub, name, text, strlen(text));
	free(text);
	return rc;
}

static void note(struct bundle *b, const char *what, const k8s_resp *resp)
{
	const char *msg = json_string_value(json_object_get(resp->json, "message"));
	json_array_append_new(b->notes, json_pack("{s:s, s:I, s:s}", "missing", what, "status",
	                                          (json_int_t)resp->status, "message",
	                                          msg ? msg : "no answer"));
}

/* One container's log (previous: of the terminated instance before it), bounded. A log the
 * API cannot give (a container still waiting, no previous instance) is a note, not a
 * failure. */
static int capture_log(struct bundle *b, const char *ns, const char *pod, const char *container,
                       int previous)
{
	char path[4096], limit[32], file[128];
	int rc =
	    k8s_path(b->ctx, path, sizeof path, k8s_kind_find("pod"), NULL, ns, pod, "pod", "log");
	snprintf(limit, sizeof limit, "%lld", b->log_bytes);
	if (rc == SALVE_OK)
		rc = k8s_path_query(path, sizeof path, "container", container);
	if (rc == SALVE_OK)
		rc = k8s_path_query(path, sizeof path, "limitBytes", limit);
	if (rc == SALVE_OK && previous)
		rc = k8s_path_query(path, sizeof path, "previous", "true");
	if (rc != SALVE_OK)
		return rc;
	snprintf(file, sizeof file, "%s%s.log", container, previous ? ".previous" : "");
	k8s_resp resp;
	rc = k8s_request(b->ctx, "GET", path, NULL, NULL, K8S_TEXT, &resp);
	if (rc == SALVE_OK) {
		rc = put_file(b, pod, file, resp.text ? resp.text : "",
		              resp.text ? resp.text_len : 0);
	} else if (resp.status == 400 || resp.status == 404) {
		char what[400];
		snprintf(what, sizeof what, "%s/%s", pod, file);
		note(b, what, &resp);
		rc = SALVE_OK;
	}
	k8s_resp_clear(&resp);
	return rc;
}

static int capture_events(struct bundle *b, const char *ns, const char *pod)
{
	char path[4096], selector[600];
	snprintf(selector, sizeof selector, "involvedObject.name=%s", pod);
	int rc =
	    k8s_path(b->ctx, path, sizeof path, k8s_kind_find("event"), NULL, ns, NULL, NULL, NULL);
	if (rc == SALVE_OK)
		rc = k8s_path_query(path, sizeof path, "fieldSelector", selector);
	json_t *list = NULL;
	if (rc == SALVE_OK)
		rc = k8s_get(b->ctx, path, 0, &list);
	if (rc == SALVE_OK) {
		json_t *items = json_object_get(list, "items");
		rc = put_json(b, pod, "events.json", items ? items : json_array());
	}
	json_decref(list);
	return rc;
}

/* The controllers above the pod (ReplicaSet, Deployment, ...), each object as read. */
static int capture_owners(struct bundle *b, const char *ns, const json_t *pod, const char *name)
{
	json_t *chain = json_array();
	const json_t *obj = pod;
	json_t *held = NULL;
	int rc = SALVE_OK;
	for (int depth = 0; depth < MAX_OWNER_DEPTH && rc == SALVE_OK; depth++) {
		const json_t *ref = NULL;
		size_t i;
		json_t *r;
		json_array_foreach(k8s_ptr_get(obj, "/metadata/ownerReferences"), i, r)
		{
			if (json_is_true(json_object_get(r, "controller")))
				ref = r;
		}
		const char *kind = json_string_value(json_object_get(ref, "kind"));
		const char *owner = json_string_value(json_object_get(ref, "name"));
		if (!kind || !owner)
			break;
		const k8s_kind *k = k8s_kind_find(kind);
		if (!k || !k->namespaced) {
			json_array_append_new(b->notes,
			                      json_pack("{s:s, s:s}", "missing", kind, "message",
			                                "a kind salve does not read"));
			break;
		}
		char path[2048];
		rc = k8s_path(b->ctx, path, sizeof path, k, NULL, ns, owner, "owner", NULL);
		json_t *next = NULL;
		if (rc == SALVE_OK)
			rc = k8s_get(b->ctx, path, 0, &next);
		if (rc == SALVE_ERR_NOTFOUND) {
			char what[400];
			snprintf(what, sizeof what, "%s %s", kind, owner);
			json_array_append_new(b->notes, json_pack("{s:s, s:s}", "missing", what,
			                                          "message", "not found"));
			rc = SALVE_OK;
			break;
		}
		if (rc != SALVE_OK)
			break;
		kube_strip(next);
		json_array_append_new(chain, json_pack("{s:s, s:s, s:O}", "kind", kind, "name",
		                                       owner, "object", next));
		json_decref(held);
		held = next;
		obj = next;
	}
	json_decref(held);
	if (rc == SALVE_OK)
		rc = put_json(b, name, "owners.json", chain);
	json_decref(chain);
	return rc;
}

static int capture_node(struct bundle *b, const char *pod, const char *node_name)
{
	char path[2048];
	json_t *node = NULL;
	int rc = k8s_path(b->ctx, path, sizeof path, k8s_kind_find("node"), NULL, NULL, node_name,
	                  "node", NULL);
	if (rc == SALVE_OK)
		rc = k8s_get(b->ctx, path, 0, &node);
	if (rc == SALVE_OK) {
		json_t *summary =
		    json_pack("{s:s, s:O?, s:O?, s:b, s:O?, s:O?}", "name", node_name, "conditions",
		              k8s_ptr_get(node, "/status/conditions"), "taints",
		              k8s_ptr_get(node, "/spec/taints"), "unschedulable",
		              json_is_true(k8s_ptr_get(node, "/spec/unschedulable")), "addresses",
		              k8s_ptr_get(node, "/status/addresses"), "nodeInfo",
		              k8s_ptr_get(node, "/status/nodeInfo"));
		rc = put_json(b, pod, "node.json", summary);
		json_decref(summary);
	}
	json_decref(node);
	return rc;
}

static int capture_pod(struct bundle *b, const char *ns, json_t *pod)
{
	const char *name = json_string_value(k8s_ptr_get(pod, "/metadata/name"));
	char err[512];
	if (!name || k8s_check_subdomain("pod", name, err, sizeof err) < 0) {
		b->ctx->host->fail(b->ctx->call, "evidence: the API answered a pod without a valid "
		                                 "name");
		return SALVE_ERR;
	}
	kube_strip(pod);
	int rc = put_json(b, name, "pod.json", pod);
	static const char *const lists[] = {"/spec/initContainers", "/spec/containers"};
	for (size_t l = 0; l < 2 && rc == SALVE_OK; l++) {
		size_t i;
		json_t *c;
		json_array_foreach(k8s_ptr_get(pod, lists[l]), i, c)
		{
			const char *cname = json_string_value(json_object_get(c, "name"));
			if (!cname || k8s_check_label("container", cname, err, sizeof err) < 0)
				continue;
			rc = capture_log(b, ns, name, cname, 0);
			if (rc == SALVE_OK)
				rc = capture_log(b, ns, name, cname, 1);
			if (rc != SALVE_OK)
				break;
		}
	}
	if (rc == SALVE_OK)
		rc = capture_events(b, ns, name);
	if (rc == SALVE_OK)
		rc = capture_owners(b, ns, pod, name);
	const char *node = json_string_value(k8s_ptr_get(pod, "/spec/nodeName"));
	if (rc == SALVE_OK && node)
		rc = capture_node(b, name, node);
	return rc;
}

/* The pod named, or the pods the selector matches (at most MAX_PODS). */
static int find_pods(k8s_ctx *ctx, const json_t *args, const char *ns, json_t **pods)
{
	const char *pod = k8s_arg_str(args, "pod");
	const char *selector = k8s_arg_str(args, "selector");
	if ((pod != NULL) == (selector != NULL))
		return k8s_invalid(ctx, "evidence needs exactly one of \"pod\" or \"selector\"");
	char path[4096];
	const k8s_kind *k = k8s_kind_find("pod");
	int rc = k8s_path(ctx, path, sizeof path, k, NULL, ns, pod, "pod", NULL);
	if (rc == SALVE_OK && selector)
		rc = k8s_path_query(path, sizeof path, "labelSelector", selector);
	json_t *got = NULL;
	if (rc == SALVE_OK)
		rc = k8s_get(ctx, path, 0, &got);
	if (rc != SALVE_OK)
		return rc;
	if (pod) {
		*pods = json_pack("[o]", got);
		return SALVE_OK;
	}
	*pods = json_incref(json_object_get(got, "items"));
	json_decref(got);
	size_t n = json_array_size(*pods);
	if (n == 0 || n > MAX_PODS) {
		ctx->host->fail(ctx->call,
		                "evidence: selector %s matches %zu pods in %s (want 1 to %d)",
		                selector, n, ns, MAX_PODS);
		json_decref(*pods);
		*pods = NULL;
		return n ? SALVE_ERR_INVALID : SALVE_ERR_NOTFOUND;
	}
	return SALVE_OK;
}

int kube_evidence(salve_call *call, const json_t *args, json_t **result)
{
	k8s_ctx ctx;
	kube_ctx(&ctx, call);
	struct bundle b = {.ctx = &ctx, .dir = k8s_arg_str(args, "dir"), .dirfd = -1};
	const char *ns = k8s_arg_namespace(&ctx, args);
	if (!ns)
		return SALVE_ERR_INVALID;
	json_t *lb = json_object_get(args, "max_log_bytes");
	b.log_bytes = lb ? json_integer_value(lb) : DEFAULT_LOG_BYTES;
	if (lb && (!json_is_integer(lb) || b.log_bytes < 1 || b.log_bytes > MAX_LOG_BYTES))
		return k8s_invalid(&ctx, "argument \"max_log_bytes\" must be 1 to %d",
		                   MAX_LOG_BYTES);
	json_t *pods = NULL;
	int rc = find_pods(&ctx, args, ns, &pods);
	if (rc != SALVE_OK)
		return rc;
	rc = open_dir(&b);
	b.files = json_array();
	b.notes = json_array();
	json_t *names = json_array();
	size_t i;
	json_t *pod;
	json_array_foreach(pods, i, pod)
	{
		if (rc != SALVE_OK)
			break;
		json_array_append(names, k8s_ptr_get(pod, "/metadata/name"));
		rc = capture_pod(&b, ns, pod);
	}
	char stamp[40];
	k8s_now_rfc3339(stamp, sizeof stamp);
	const char *run = kube_host->run_info(call, "run_id");
	json_t *manifest = json_pack("{s:s, s:s, s:s?, s:O, s:o, s:O}", "namespace", ns,
	                             "captured_at", stamp, "run_id", run, "pods", names, "files",
	                             json_deep_copy(b.files), "notes", b.notes);
	char *text = rc == SALVE_OK ? json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	if (rc == SALVE_OK && !text) {
		ctx.host->fail(call, "evidence: out of memory");
		rc = SALVE_ERR;
	}
	char digest[65] = "";
	if (rc == SALVE_OK) {
		sha256_hex(text, strlen(text), digest);
		rc = put_file(&b, NULL, "manifest.json", text, strlen(text));
	}
	free(text);
	if (rc == SALVE_OK) {
		/* The audit record proves what was captured: every file's digest and the
		 * manifest's. */
		json_t *audit = json_pack("{s:s, s:s, s:O, s:s, s:O}", "dir", b.dir, "namespace",
		                          ns, "pods", names, "manifest_sha256", digest, "files",
		                          json_object_get(manifest, "files"));
		ctx.host->audit(call, "k8s.evidence", audit);
		json_decref(audit);
		*result =
		    json_pack("{s:s, s:s, s:O, s:s, s:s, s:O, s:O}", "dir", b.dir, "namespace", ns,
		              "pods", names, "manifest", "manifest.json", "manifest_sha256", digest,
		              "files", json_object_get(manifest, "files"), "notes", b.notes);
	}
	json_decref(manifest);
	json_decref(names);
	json_decref(pods);
	json_decref(b.files);
	json_decref(b.notes);
	if (b.dirfd >= 0)
		close(b.dirfd);
	return rc;
}
