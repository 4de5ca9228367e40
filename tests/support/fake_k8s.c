#include "fake_k8s.h"

#include "testproc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static json_t *control(struct fake *f, const char *method, const char *path, const char *body)
{
	char url[1024], *out = NULL;
	snprintf(url, sizeof url, "%s%s", f->base, path);
	long st = tp_http(method, url, f->ca, body, &out);
	json_error_t e;
	json_t *j = out ? json_loads(out, 0, &e) : NULL;
	if (st != 200) {
		fprintf(stderr, "fake control %s %s -> %ld: %s\n", method, path, st,
		        out ? out : "");
		abort();
	}
	free(out);
	return j;
}

int fake_start(struct fake *f, const char *version)
{
	memset(f, 0, sizeof *f);
	f->pid = -1;
	const char *src = getenv("SALVE_SOURCE_DIR");
	const char *python = getenv("PYTHON") ? getenv("PYTHON") : "python3";
	if (!src) {
		fprintf(stderr, "SALVE_SOURCE_DIR is not set (run the test through ctest)\n");
		return -1;
	}
	f->dir = tp_tempdir("fake-k8s");
	if (!f->dir)
		return -1;
	char script[600], fixture[600], certs[600], port_file[600], log[600];
	snprintf(script, sizeof script, "%s/tests/fake-k8s/fake_k8s.py", src);
	snprintf(fixture, sizeof fixture, "%s/tests/fake-k8s/fixtures/basic.json", src);
	snprintf(certs, sizeof certs, "%s/certs", f->dir);
	snprintf(port_file, sizeof port_file, "%s/port", f->dir);
	snprintf(log, sizeof log, "%s/fake.log", f->dir);
	/* SALVE_FAKE_K8S_HTTP2=1: the fake offers h2 by ALPN as a real apiserver does, so the
	 * client's HTTP/2 path (the one production takes) runs the same tests. */
	const char *h2 = getenv("SALVE_FAKE_K8S_HTTP2");
	const char *argv[] = {python,
	                      script,
	                      "--certs",
	                      certs,
	                      "--port-file",
	                      port_file,
	                      "--fixture",
	                      fixture,
	                      "--version",
	                      version,
	                      h2 && strcmp(h2, "1") == 0 ? "--http2" : NULL,
	                      NULL};
	f->pid = tp_spawn(argv, log);
	for (int i = 0; i < 300; i++) { /* 30 s at most: certificates take a moment */
		char *port = tp_read(port_file);
		if (port) {
			f->port = atoi(port);
			free(port);
			break;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (f->port <= 0) {
		char *l = tp_read(log);
		fprintf(stderr, "the fake API server did not start:\n%s\n", l ? l : "");
		free(l);
		return -1;
	}
	snprintf(f->base, sizeof f->base, "https://127.0.0.1:%d", f->port);
	snprintf(f->ca, sizeof f->ca, "%s/ca.crt", certs);
	snprintf(f->kc_token, sizeof f->kc_token, "%s/kubeconfig-token", certs);
	snprintf(f->kc_cert, sizeof f->kc_cert, "%s/kubeconfig-cert", certs);
	snprintf(f->kc_insecure, sizeof f->kc_insecure, "%s/kubeconfig-insecure", certs);
	snprintf(f->token, sizeof f->token, "salve-test-token");
	return 0;
}

void fake_stop(struct fake *f)
{
	tp_stop(f->pid);
	f->pid = -1;
	tp_rmrf(f->dir);
	free(f->dir);
	f->dir = NULL;
}

void fake_reset(struct fake *f)
{
	json_decref(control(f, "POST", "/__fake/reset", NULL));
}

json_t *fake_requests(struct fake *f, const char *method, const char *path_regex)
{
	char path[1024] = "/__fake/requests";
	char sep = '?';
	if (method) {
		size_t n = strlen(path);
		snprintf(path + n, sizeof path - n, "%cmethod=%s", sep, method);
		sep = '&';
	}
	if (path_regex) {
		char *e = curl_easy_escape(NULL, path_regex, 0);
		size_t n = strlen(path);
		snprintf(path + n, sizeof path - n, "%cpath_regex=%s", sep, e);
		curl_free(e);
	}
	return control(f, "GET", path, NULL);
}

json_t *fake_request_lines(struct fake *f, const char *method, const char *path_regex)
{
	json_t *reqs = fake_requests(f, method, path_regex);
	json_t *lines = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(reqs, i, r)
	{
		const char *q = json_string_value(json_object_get(r, "query"));
		char line[2048];
		snprintf(line, sizeof line, "%s %s%s%s %lld",
		         json_string_value(json_object_get(r, "method")),
		         json_string_value(json_object_get(r, "path")), q && *q ? "?" : "",
		         q ? q : "", (long long)json_integer_value(json_object_get(r, "status")));
		json_array_append_new(lines, json_string(line));
	}
	json_decref(reqs);
	return lines;
}

void fake_clear_requests(struct fake *f)
{
	json_decref(control(f, "DELETE", "/__fake/requests", NULL));
}

void fake_fault(struct fake *f, const char *spec_json)
{
	json_decref(control(f, "POST", "/__fake/faults", spec_json));
}

void fake_control(struct fake *f, const char *path, const char *body_json)
{
	json_decref(control(f, "POST", path, body_json));
}

json_t *fake_object(struct fake *f, const char *kind, const char *ns, const char *name)
{
	json_t *all = fake_objects(f, kind, ns);
	json_t *found = NULL;
	size_t i;
	json_t *o;
	json_array_foreach(all, i, o)
	{
		json_t *meta = json_object_get(o, "metadata");
		const char *n = json_string_value(json_object_get(meta, "name"));
		const char *s = json_string_value(json_object_get(meta, "namespace"));
		if (n && strcmp(n, name) == 0 && (ns || !s)) {
			found = json_incref(o);
			break;
		}
	}
	json_decref(all);
	return found;
}

json_t *fake_objects(struct fake *f, const char *kind, const char *ns)
{
	json_t *all = control(f, "GET", "/__fake/objects", NULL);
	json_t *out = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(all, "items"), i, o)
	{
		json_t *meta = json_object_get(o, "metadata");
		const char *k = json_string_value(json_object_get(o, "kind"));
		const char *s = json_string_value(json_object_get(meta, "namespace"));
		if (k && strcmp(k, kind) == 0 && (!ns || (s && strcmp(ns, s) == 0)))
			json_array_append(out, o);
	}
	json_decref(all);
	return out;
}

int fake_wait(struct fake *f, const char *kind, const char *ns, fake_done_fn done, const void *arg)
{
	for (int i = 0;; i++) {
		json_t *objs = fake_objects(f, kind, ns);
		if (done(objs, arg)) {
			json_decref(objs);
			return 0;
		}
		if (i >= 1000) {
			char *text = json_dumps(objs, JSON_INDENT(1));
			fprintf(stderr, "fake_wait: %s objects did not get there in 20 s:\n%s\n",
			        kind, text ? text : "");
			free(text);
			json_decref(objs);
			return -1;
		}
		json_decref(objs);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int fake_settle(struct fake *f)
{
	for (int i = 0; i < 1000; i++) {
		json_t *c = control(f, "GET", "/__fake/controllers", NULL);
		int pending = json_is_true(json_object_get(c, "pending"));
		json_decref(c);
		if (!pending)
			return 0;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "fake_settle: the controllers were still busy after 20 s\n");
	return -1;
}

struct fake fake_k8s = {.pid = -1};

int fake_k8s_group_setup(void **state)
{
	(void)state;
	return fake_start(&fake_k8s, "1.29");
}

int fake_k8s_group_teardown(void **state)
{
	(void)state;
	fake_stop(&fake_k8s);
	return 0;
}
