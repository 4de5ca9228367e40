/* kubeconfig and in-cluster configuration, resolved with client-go's rules
 * (tools/clientcmd loading rules and client config). YAML is read with libyaml. */
#include "k8s.h"

#include "yamljson.h"
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG_BYTES (4u << 20)

int k8s_kubeconfig_parse(const char *text, size_t len, const char *what, json_t **out, char *err,
                         size_t errlen)
{
	*out = NULL;
	/* kubectl's types: booleans are booleans, everything else a string. */
	json_t *j = salve_yaml_parse(text, len, what, SALVE_YAML_BOOLS, err, errlen);
	if (!j)
		return -1;
	if (json_is_null(j)) { /* an empty file */
		json_decref(j);
		j = json_object();
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "%s: a kubeconfig must be a mapping", what);
		return -1;
	}
	*out = j;
	return 0;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		if (cap >= MAX_CONFIG_BYTES) {
			free(buf);
			buf = NULL;
			fclose(f);
			snprintf(err, errlen, "%s is larger than %u bytes", path, MAX_CONFIG_BYTES);
			return -1;
		}
		cap *= 2;
		char *grown = realloc(buf, cap + 1);
		if (!grown) {
			free(buf);
			buf = NULL;
		} else {
			buf = grown;
		}
	}
	int failed = ferror(f);
	fclose(f);
	if (!buf || failed) {
		free(buf);
		snprintf(err, errlen, "cannot read %s", path);
		return -1;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

static int base64_decode(const char *in, k8s_blob *out)
{
	size_t n = strlen(in);
	unsigned char *buf = malloc(n / 4 * 3 + 4);
	if (!buf)
		return -1;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int len = 0, fin = 0;
	if (ctx)
		EVP_DecodeInit(ctx);
	if (!ctx || n > INT_MAX ||
	    EVP_DecodeUpdate(ctx, buf, &len, (const unsigned char *)in, (int)n) < 0 ||
	    EVP_DecodeFinal(ctx, buf + len, &fin) < 0) {
		EVP_ENCODE_CTX_free(ctx);
		free(buf);
		return -1;
	}
	EVP_ENCODE_CTX_free(ctx);
	out->data = buf;
	out->len = (size_t)(len + fin);
	return 0;
}

static char *resolve_path(const char *dir, const char *path)
{
	if (!path || !*path)
		return NULL;
	if (path[0] == '/' || !dir || !*dir)
		return strdup(path);
	size_t n = strlen(dir) + strlen(path) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, path);
	return p;
}

static const char *str_at(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && *s ? s : NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void k8s_config_free(k8s_config *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->context);
	free(c->cluster);
	free(c->user);
	free(c->namespace);
	free(c->ca_file);
	free(c->ca_data.data);
	free(c->cert_file);
	free(c->cert_data.data);
	free(c->key_file);
	if (c->key_data.data) {
		memset(c->key_data.data, 0, c->key_data.len);
		free(c->key_data.data);
	}
	free(c->proxy_url);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	free(c->token_file);
	free(c->username);
	if (c->password) {
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	free(c->source);
	memset(c, 0, sizeof *c);
}

/* Merge the named list `section` of every document into {name: {"v": entry, "dir": dir}};
 * the first document to define a name wins, as client-go merges $KUBECONFIG. */
static json_t *merge_section(json_t *const *docs, const char *const *dirs, size_t n,
                             const char *section, const char *inner)
{
	json_t *merged = json_object();
	for (size_t i = 0; i < n; i++) {
		size_t j;
		json_t *entry;
		json_array_foreach(json_object_get(docs[i], section), j, entry)
		{
			const char *name = str_at(entry, "name");
			json_t *body = json_object_get(entry, inner);
			if (!name || json_object_get(merged, name))
				continue;
			json_object_set_new(merged, name,
			                    json_pack("{s:O, s:s}", "v",
			                              json_is_object(body) ? body : json_null(),
			                              "dir", dirs && dirs[i] ? dirs[i] : ""));
		}
	}
	return merged;
}

int k8s_config_from_docs(json_t *const *docs, const char *const *dirs, size_t n,
                         const char *context, const char *source, k8s_config *out, char *err,
                         size_t errlen)
{
	memset(out, 0, sizeof *out);
	json_t *clusters = merge_section(docs, dirs, n, "clusters", "cluster");
	json_t *users = merge_section(docs, dirs, n, "users", "user");
	json_t *contexts = merge_section(docs, dirs, n, "contexts", "context");
	int rc = -1;
	const char *ctx_name = context && *context ? context : NULL;
	for (size_t i = 0; !ctx_name && i < n; i++)
		ctx_name = str_at(docs[i], "current-context");
	if (!ctx_name) {
		snprintf(err, errlen,
		         "kubeconfig %s sets no current-context; name one with the plugin's "
		         "`context:` setting",
		         source);
		goto done;
	}
	json_t *ctx = json_object_get(json_object_get(contexts, ctx_name), "v");
	if (!json_is_object(ctx)) {
		snprintf(err, errlen, "context \"%s\" is not defined in kubeconfig %s", ctx_name,
		         source);
		goto done;
	}
	const char *cluster_name = str_at(ctx, "cluster");
	const char *user_name = str_at(ctx, "user");
	json_t *centry = cluster_name ? json_object_get(clusters, cluster_name) : NULL;
	json_t *cluster = json_object_get(centry, "v");
	if (!json_is_object(cluster)) {
		snprintf(err, errlen,
		         "cluster \"%s\" of context \"%s\" is not defined in kubeconfig %s",
		         cluster_name ? cluster_name : "", ctx_name, source);
		goto done;
	}
	const char *cdir = str_at(centry, "dir");
	json_t *uentry = user_name ? json_object_get(users, user_name) : NULL;
	json_t *user = json_object_get(uentry, "v");
	if (user_name && !uentry) {
		snprintf(err, errlen,
		         "user \"%s\" of context \"%s\" is not defined in kubeconfig %s", user_name,
		         ctx_name, source);
		goto done;
	}
	const char *udir = str_at(uentry, "dir");

	out->context = strdup(ctx_name);
	out->cluster = strdup(cluster_name);
	out->user = dup_or_null(user_name);
	out->namespace = dup_or_null(str_at(ctx, "namespace"));
	out->source = strdup(source);

	const char *server = str_at(cluster, "server");
	if (!server) {
		snprintf(err, errlen, "cluster \"%s\" in kubeconfig %s has no server", cluster_name,
		         source);
		goto done;
	}
	if (strncmp(server, "https://", 8) != 0) {
		snprintf(
		    err, errlen,
		    "cluster \"%s\" in kubeconfig %s: server %.200s is not https:// (salve only "
		    "talks to the API server over TLS)",
		    cluster_name, source, server);
		goto done;
	}
	out->server = strdup(server);
	size_t sl = strlen(out->server);
	while (sl > 8 && out->server[sl - 1] == '/')
		out->server[--sl] = '\0';
	out->proxy_url = dup_or_null(str_at(cluster, "proxy-url"));
	json_t *insecure = json_object_get(cluster, "insecure-skip-tls-verify");
	out->insecure =
	    json_is_true(insecure) ||
	    (json_is_string(insecure) && strcasecmp(json_string_value(insecure), "true") == 0);
	if (str_at(cluster, "tls-server-name")) {
		snprintf(
		    err, errlen,
		    "cluster \"%s\" in kubeconfig %s sets tls-server-name, which salve does not "
		    "support",
		    cluster_name, source);
		goto done;
	}
	const char *ca_data = str_at(cluster, "certificate-authority-data");
	const char *ca_file = str_at(cluster, "certificate-authority");
	if (out->insecure && (ca_data || ca_file)) {
		snprintf(
		    err, errlen,
		    "cluster \"%s\" in kubeconfig %s: specifying a root certificates file with "
		    "the insecure flag is not allowed",
		    cluster_name, source);
		goto done;
	}
	if (ca_data) {
		if (base64_decode(ca_data, &out->ca_data) < 0) {
			snprintf(
			    err, errlen,
			    "cluster \"%s\" in kubeconfig %s: certificate-authority-data is not "
			    "valid base64",
			    cluster_name, source);
			goto done;
		}
	} else if (ca_file) {
		out->ca_file = resolve_path(cdir, ca_file);
	}

	if (user) {
		if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
			snprintf(err, errlen,
			         "user \"%s\" in kubeconfig %s uses %s credentials, which salve "
			         "does not "
			         "support; use a token, a token file or a client certificate",
			         user_name, source,
			         json_object_get(user, "exec") ? "exec" : "auth-provider");
			goto done;
		}
		out->token = dup_or_null(str_at(user, "token"));
		if (!out->token && str_at(user, "tokenFile"))
			out->token_file = resolve_path(udir, str_at(user, "tokenFile"));
		out->username = dup_or_null(str_at(user, "username"));
		out->password = dup_or_null(str_at(user, "password"));
		const char *cert_data = str_at(user, "client-certificate-data");
		const char *key_data = str_at(user, "client-key-data");
		if (cert_data) {
			if (base64_decode(cert_data, &out->cert_data) < 0) {
				snprintf(err, errlen,
				         "user \"%s\" in kubeconfig %s: client-certificate-data is "
				         "not valid "
				         "base64",
				         user_name, source);
				goto done;
			}
		} else {
			out->cert_file = resolve_path(udir, str_at(user, "client-certificate"));
		}
		if (key_data) {
			if (base64_decode(key_data, &out->key_data) < 0) {
				snprintf(err, errlen,
				         "user \"%s\" in kubeconfig %s: client-key-data is not "
				         "valid base64",
				         user_name, source);
				goto done;
			}
		} else {
			out->key_file = resolve_path(udir, str_at(user, "client-key"));
		}
		int has_cert = out->cert_data.data || out->cert_file;
		int has_key = out->key_data.data || out->key_file;
		if (has_cert != has_key) {
			snprintf(err, errlen,
			         "user \"%s\" in kubeconfig %s: %s must be specified to use the "
			         "clientCert authentication method",
			         user_name, source,
			         has_cert ? "client-key-data or client-key"
			                  : "client-certificate-data or client-certificate");
			goto done;
		}
	}
	rc = 0;
done:
	if (rc < 0)
		k8s_config_free(out);
	json_decref(clusters);
	json_decref(users);
	json_decref(contexts);
	return rc;
}

int k8s_config_in_cluster(const char *sa_dir, const char *host, const char *port, k8s_config *out,
                          char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!host || !*host || !port || !*port) {
		snprintf(
		    err, errlen,
		    "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
		    "must be set");
		return -1;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/token", sa_dir);
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "in-cluster: cannot read the service account token %s: %s",
		         path, strerror(errno));
		return -1;
	}
	out->token_file = strdup(path);
	snprintf(path, sizeof path, "%s/ca.crt", sa_dir);
	out->ca_file = strdup(path);
	size_t n = strlen(host) + strlen(port) + 16;
	out->server = malloc(n);
	if (out->server)
		snprintf(out->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		         host, port);
	snprintf(path, sizeof path, "%s/namespace", sa_dir);
	char *ns = NULL;
	size_t nslen = 0;
	char ignored[256];
	if (read_file(path, &ns, &nslen, ignored, sizeof ignored) == 0) {
		while (nslen > 0 && (ns[nslen - 1] == '\n' || ns[nslen - 1] == ' '))
			ns[--nslen] = '\0';
		if (nslen)
			out->namespace = ns;
		else
			free(ns);
	}
	out->context = strdup("in-cluster");
	out->cluster = strdup("in-cluster");
	out->source = strdup("in-cluster service account");
	if (!out->server || !out->token_file || !out->ca_file || !out->context || !out->cluster ||
	    !out->source) {
		k8s_config_free(out);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static char *dir_of(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return NULL;
	char *slash = strrchr(copy, '/');
	if (!slash) {
		free(copy);
		return strdup(".");
	}
	if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	return copy;
}

int k8s_config_load(const char *explicit_path, const char *context, k8s_config *out, char *err,
                    size_t errlen)
{
	enum { MAX_FILES = 32 };
	char *paths[MAX_FILES];
	size_t npaths = 0;
	char source[1024] = "";
	int rc = -1;
	json_t *docs[MAX_FILES];
	char *dirs[MAX_FILES];
	size_t ndocs = 0;

	if (explicit_path && *explicit_path) {
		paths[npaths++] = strdup(explicit_path);
	} else if (getenv("KUBECONFIG") && *getenv("KUBECONFIG")) {
		char *list = strdup(getenv("KUBECONFIG"));
		char *save = NULL;
		for (char *p = list ? strtok_r(list, ":", &save) : NULL; p && npaths < MAX_FILES;
		     p = strtok_r(NULL, ":", &save))
			if (access(p, F_OK) ==
			    0) /* client-go skips listed files that are missing */
				paths[npaths++] = strdup(p);
		free(list);
	} else {
		const char *home = getenv("HOME");
		struct passwd *pw = (!home || !*home) ? getpwuid(getuid()) : NULL;
		if (pw)
			home = pw->pw_dir;
		if (home) {
			char p[PATH_MAX];
			snprintf(p, sizeof p, "%s/.kube/config", home);
			if (access(p, F_OK) == 0)
				paths[npaths++] = strdup(p);
		}
	}

	for (size_t i = 0; i < npaths; i++) {
		char *text = NULL;
		size_t len = 0;
		if (!paths[i] || read_file(paths[i], &text, &len, err, errlen) < 0)
			goto done;
		int prc = k8s_kubeconfig_parse(text, len, paths[i], &docs[ndocs], err, errlen);
		free(text);
		if (prc < 0)
			goto done;
		dirs[ndocs] = dir_of(paths[i]);
		ndocs++;
		size_t sl = strlen(source);
		snprintf(source + sl, sizeof source - sl, "%s%s", sl ? ":" : "", paths[i]);
	}

	int any_context = 0;
	for (size_t i = 0; i < ndocs; i++)
		any_context |= json_array_size(json_object_get(docs[i], "contexts")) > 0;
	if (ndocs > 0 && (any_context || explicit_path)) {
		rc = k8s_config_from_docs(docs, (const char *const *)dirs, ndocs, context, source,
		                          out, err, errlen);
	} else if (getenv("KUBERNETES_SERVICE_HOST")) {
		rc = k8s_config_in_cluster("/var/run/secrets/kubernetes.io/serviceaccount",
		                           getenv("KUBERNETES_SERVICE_HOST"),
		                           getenv("KUBERNETES_SERVICE_PORT"), out, err, errlen);
	} else {
		snprintf(err, errlen,
		         "no Kubernetes configuration: %s, and not running in a cluster "
		         "(KUBERNETES_SERVICE_HOST is not set)",
		         ndocs ? "the kubeconfig files define no context"
		               : "no kubeconfig found ($KUBECONFIG, ~/.kube/config or the plugin's "
		                 "`kubeconfig:` setting)");
	}
done:
	for (size_t i = 0; i < ndocs; i++) {
		json_decref(docs[i]);
		free(dirs[i]);
	}
	for (size_t i = 0; i < npaths; i++)
		free(paths[i]);
	return rc;
}

/* ---- secrets --------------------------------------------------------------------------------- */

void k8s_register_secret(const salve_host *host, salve_call *call, const char *value)
{
	if (host && value && SALVE_HOST_HAS(host, register_secret))
		host->register_secret(call, value);
}

/* The key as a whole, and each line of its PEM body: an error that quotes one line of a
 * key must not show it either. */
static void register_key(const salve_host *host, salve_call *call, const k8s_blob *key)
{
	if (!key->data || !key->len)
		return;
	char *pem = strndup((const char *)key->data, key->len);
	if (!pem)
		return;
	k8s_register_secret(host, call, pem);
	char *save = NULL;
	for (char *line = strtok_r(pem, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
		if (strncmp(line, "-----", 5) != 0 && strlen(line) >= 16)
			k8s_register_secret(host, call, line);
	memset(pem, 0, key->len);
	free(pem);
}

void k8s_config_register_secrets(const k8s_config *c, const salve_host *host, salve_call *call)
{
	k8s_register_secret(host, call, c->token);
	k8s_register_secret(host, call, c->password);
	register_key(host, call, &c->key_data);
}
