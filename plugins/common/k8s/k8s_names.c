/* Names, kinds and API paths: everything that turns runbook arguments into a URL. Values come
 * from alert labels, so they are validated as the API server would (DNS-1123) before any
 * request is built, and escaped anyway. */
#include "k8s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A printable, bounded rendering of a hostile value for an error message. */
static void quote_value(const char *value, char *out, size_t len)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)value; *p && o + 6 < len; p++) {
		if (p - (const unsigned char *)value >= 64) {
			o += (size_t)snprintf(out + o, len - o, "...");
			break;
		}
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
}

static int is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One DNS-1123 label in [s, s+n); max_len 63 for a label on its own. A subdomain's parts
 * have no length limit of their own in apimachinery's IsDNS1123Subdomain, only the whole. */
static int label_ok(const char *s, size_t n, size_t max_len)
{
	if (n == 0 || n > max_len)
		return 0;
	if (!is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int k8s_check_label(const char *arg, const char *value, char *err, size_t errlen)
{
	char q[300];
	if (!value || !*value) {
		snprintf(err, errlen, "argument \"%s\" must not be empty", arg);
		return -1;
	}
	size_t n = strlen(value);
	if (label_ok(value, n, 63))
		return 0;
	quote_value(value, q, sizeof q);
	if (n > 63)
		snprintf(
		    err, errlen,
		    "argument \"%s\": \"%s\" is not a valid DNS-1123 label: %zu characters, at "
		    "most 63 allowed",
		    arg, q, n);
	else
		snprintf(
		    err, errlen,
		    "argument \"%s\": \"%s\" is not a valid DNS-1123 label (lowercase letters, "
		    "digits and '-', starting and ending with a letter or digit)",
		    arg, q);
	return -1;
}

int k8s_check_subdomain(const char *arg, const char *value, char *err, size_t errlen)
{
	char q[300];
	if (!value || !*value) {
		snprintf(err, errlen, "argument \"%s\" must not be empty", arg);
		return -1;
	}
	size_t n = strlen(value);
	int ok = n <= 253;
	for (const char *p = value; ok;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		ok = label_ok(p, len, 253);
		if (!dot)
			break;
		p = dot + 1;
	}
	if (ok)
		return 0;
	quote_value(value, q, sizeof q);
	if (n > 253)
		snprintf(
		    err, errlen,
		    "argument \"%s\": \"%s\" is not a valid DNS-1123 subdomain: %zu characters, "
		    "at most 253 allowed",
		    arg, q, n);
	else
		snprintf(
		    err, errlen,
		    "argument \"%s\": \"%s\" is not a valid DNS-1123 subdomain (lowercase "
		    "letters, digits, '-' and '.', each part starting and ending with a letter or "
		    "digit)",
		    arg, q);
	return -1;
}

/* RFC 3986 percent-encoding of everything but the unreserved characters, as
 * curl_easy_escape does. Here rather than host->http_escape because names and selectors are
 * escaped by pure code that has no host (and is unit-tested without one). */
char *k8s_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

int k8s_path_query(char *path, size_t len, const char *key, const char *value)
{
	char *esc = k8s_escape(value);
	if (!esc)
		return SALVE_ERR;
	size_t n = strlen(path);
	snprintf(path + n, len - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', key, esc);
	free(esc);
	return SALVE_OK;
}

static const k8s_kind kinds[] = {
    {"Pod", "", "v1", "pods", 1, ",pod,pods,po,"},
    {"Service", "", "v1", "services", 1, ",service,services,svc,"},
    {"ConfigMap", "", "v1", "configmaps", 1, ",configmap,configmaps,cm,"},
    {"Node", "", "v1", "nodes", 0, ",node,nodes,no,"},
    {"Namespace", "", "v1", "namespaces", 0, ",namespace,namespaces,ns,"},
    {"Event", "", "v1", "events", 1, ",event,events,ev,"},
    {"Endpoints", "", "v1", "endpoints", 1, ",endpoints,ep,"},
    {"PersistentVolumeClaim", "", "v1", "persistentvolumeclaims", 1,
     ",persistentvolumeclaim,persistentvolumeclaims,pvc,"},
    {"ServiceAccount", "", "v1", "serviceaccounts", 1, ",serviceaccount,serviceaccounts,sa,"},
    {"Deployment", "apps", "v1", "deployments", 1, ",deployment,deployments,deploy,"},
    {"StatefulSet", "apps", "v1", "statefulsets", 1, ",statefulset,statefulsets,sts,"},
    {"DaemonSet", "apps", "v1", "daemonsets", 1, ",daemonset,daemonsets,ds,"},
    {"ReplicaSet", "apps", "v1", "replicasets", 1, ",replicaset,replicasets,rs,"},
    {"Job", "batch", "v1", "jobs", 1, ",job,jobs,"},
    {"CronJob", "batch", "v1", "cronjobs", 1, ",cronjob,cronjobs,cj,"},
    {"Ingress", "networking.k8s.io", "v1", "ingresses", 1, ",ingress,ingresses,ing,"},
    {"PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", 1,
     ",poddisruptionbudget,poddisruptionbudgets,pdb,"},
    {"HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers", 1,
     ",horizontalpodautoscaler,horizontalpodautoscalers,hpa,"},
};

const k8s_kind *k8s_kind_find(const char *name)
{
	if (!name || !*name || strlen(name) > 64 || strchr(name, ','))
		return NULL;
	char needle[80];
	snprintf(needle, sizeof needle, ",%s,", name);
	for (char *p = needle; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strstr(kinds[i].aliases, needle))
			return &kinds[i];
	return NULL;
}

void k8s_kind_qualified(const k8s_kind *k, char *buf, size_t len)
{
	if (*k->group)
		snprintf(buf, len, "%s.%s", k->resource, k->group);
	else
		snprintf(buf, len, "%s", k->resource);
}

int k8s_object_path(char *buf, size_t len, const k8s_kind *k, const char *version, const char *ns,
                    const char *name, const char *name_arg, const char *subresource, char *err,
                    size_t errlen)
{
	if (k->namespaced && k8s_check_label("namespace", ns, err, errlen) < 0)
		return SALVE_ERR_INVALID;
	if (name && k8s_check_subdomain(name_arg ? name_arg : "name", name, err, errlen) < 0)
		return SALVE_ERR_INVALID;
	/* Validated values need no escaping; escape anyway so a future relaxed check cannot
	 * turn into a path traversal. */
	char *ens = k->namespaced ? k8s_escape(ns) : NULL;
	char *ename = name ? k8s_escape(name) : NULL;
	if ((k->namespaced && !ens) || (name && !ename)) {
		free(ens);
		free(ename);
		snprintf(err, errlen, "out of memory");
		return SALVE_ERR;
	}
	const char *ver = version ? version : k->version;
	int n;
	if (*k->group)
		n = snprintf(buf, len, "/apis/%s/%s", k->group, ver);
	else
		n = snprintf(buf, len, "/api/%s", ver);
	if (k->namespaced && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "/namespaces/%s", ens);
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "/%s", k->resource);
	if (ename && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "/%s", ename);
	if (subresource && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "/%s", subresource);
	free(ens);
	free(ename);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "API path too long");
		return SALVE_ERR_INVALID;
	}
	return SALVE_OK;
}
