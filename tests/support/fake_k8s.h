/*
 * The fake Kubernetes API server (tests/fake-k8s/fake_k8s.py) for the kubernetes and scale
 * plugin tests and the shared client's: start it on 127.0.0.1 with the basic fixture, read its
 * request log, inject faults, reset it, stop it. Its control API is documented in
 * tests/fake-k8s/README.md. One test thread; json_t returned are the caller's.
 */
#ifndef SALVE_TEST_FAKE_K8S_H
#define SALVE_TEST_FAKE_K8S_H

#include <jansson.h>
#include <sys/types.h>

struct fake {
	pid_t pid;
	char *dir;
	int port;
	char base[64];         /* https://127.0.0.1:PORT */
	char ca[512];          /* the fake's CA certificate */
	char kc_token[512];    /* kubeconfig: bearer token, CA by file */
	char kc_cert[512];     /* kubeconfig: client certificate, CA by data */
	char kc_insecure[512]; /* kubeconfig: insecure-skip-tls-verify */
	char token[64];
};

/* Start the fake mimicking Kubernetes `version` ("1.29", "1.20"), offering HTTP/2 when the
 * environment says SALVE_FAKE_K8S_HTTP2=1. 0 or -1 (log on stderr). */
int fake_start(struct fake *f, const char *version);
void fake_stop(struct fake *f);

/* Back to the fixture: objects reloaded, faults and the request log cleared. */
void fake_reset(struct fake *f);
/* The API requests logged so far (method and/or path_regex may be NULL). */
json_t *fake_requests(struct fake *f, const char *method, const char *path_regex);
/* The same, reduced to "METHOD path?query status" lines for exact assertions. */
json_t *fake_request_lines(struct fake *f, const char *method, const char *path_regex);
void fake_clear_requests(struct fake *f);
/* Add one fault (a JSON object as the README describes). */
void fake_fault(struct fake *f, const char *spec_json);
/* POST a control endpoint, e.g. ("/__fake/deployments/prod/web", "{\"broken\": true}"). */
void fake_control(struct fake *f, const char *path, const char *body_json);
/* One object as the fake stores it (through the control API: not an API request), NULL when
 * absent. ns NULL for cluster-scoped kinds. */
json_t *fake_object(struct fake *f, const char *kind, const char *ns, const char *name);
/* Every object of a kind (in ns, or everywhere when ns is NULL). */
json_t *fake_objects(struct fake *f, const char *kind, const char *ns);

/* The fake's controllers act a moment after a write has been answered, as real ones do: a test
 * that wants their work waits for it as a client would. Polls every 20 ms until done(objects of
 * kind in ns, arg) is non-zero; 0 then, -1 after 20 s (the objects last seen on stderr). */
typedef int (*fake_done_fn)(const json_t *objects, const void *arg);
int fake_wait(struct fake *f, const char *kind, const char *ns, fake_done_fn done, const void *arg);
/* Waits (20 s at most) until no controller run is still to come (GET /__fake/controllers): for
 * tests that count a plugin's own requests on a quiet cluster. 0, or -1 on timeout. */
int fake_settle(struct fake *f);

/* The fake a test group shares: cmocka group fixtures that start it (Kubernetes 1.29) and stop
 * it. */
extern struct fake fake_k8s;
int fake_k8s_group_setup(void **state);
int fake_k8s_group_teardown(void **state);

#endif
