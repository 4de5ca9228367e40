/*
 * salve.yaml's `server:` and `routes:` sections, validated once at start-up (unknown keys,
 * bad matchers and template syntax are refused with the route named), and the pure routing
 * helpers the server and `salve routes test` share.
 *
 * Ownership: srv_conf_free / srv_routes_free release everything. A loaded
 * srv_routes is read-only afterwards and may be used from several threads.
 */
#ifndef SRV_ROUTE_H
#define SRV_ROUTE_H

#include <jansson.h>
#include <stddef.h>

#include "ha/haconf.h"
#include "matcher.h"

enum srv_token_kind {
	SRV_TOKEN_HOOKS = 0, /* POST /hooks/... */
	SRV_TOKEN_READ,      /* GET /runs, /routes, /metrics */
	SRV_TOKEN_APPROVE,   /* approve, deny, cancel, reset, pause, resume (and read) */
	SRV_TOKEN_KINDS,
};

typedef struct srv_conf {
	char *listen; /* "127.0.0.1:9095", "[::1]:9095", "0.0.0.0:9095" */
	int http_threads, workers, queue_size, history, max_connections;
	int max_connections_per_ip; /* 0: no limit */
	int max_alerts;             /* alerts in one request; more: 413 */
	size_t max_body, max_header, max_json_depth;
	double connection_timeout, lock_timeout, approval_timeout;
	double request_timeout;   /* from connect (or a request's first line) to its whole body */
	double shutdown_grace;    /* how long SIGTERM waits for runs to roll back */
	char *tls_cert, *tls_key; /* both or neither */
	char *tokens[SRV_TOKEN_KINDS]; /* env:NAME or file:/path references, or NULL */
	char *runbook_dir;             /* relative runbook paths start here */
	int global_max_targets;        /* across all routes; 0 = no limit */
	double global_targets_window;
	int dedup_size;         /* keys the dedup table keeps (an LRU beyond) */
	double resolved_memory; /* how long a resolved occurrence's later "firing" is ignored */
	double stale_after;     /* a run accepted longer ago never starts (dropped); 0: never */
	salve_ha_conf *ha;      /* NULL without `ha:` */
	char *ui_prefix; /* the operator page's path prefix behind a proxy: "" or "/ops/salve" */
} srv_conf;

enum srv_resolved_action {
	SRV_RESOLVED_IGNORE = 0, /* audit it, do nothing */
	SRV_RESOLVED_CANCEL,     /* cancel the occurrence's run if queued or awaiting approval */
	SRV_RESOLVED_RUN,        /* run resolved_runbook */
};

typedef struct srv_route {
	char *name;
	srv_matcher *matchers;
	size_t nmatchers;
	char *runbook;  /* a path (resolved) or builtin:NAME */
	json_t *params; /* object of templates */
	char *target;   /* template naming what a run acts on; NULL: the rendered params */
	/* Host-pattern and list syntax in values from alerts: refused unless allowed for every
	 * param (allow_patterns: true) or the params named (allow_patterns: [a, b]). */
	int allow_patterns_all;
	json_t *allow_patterns; /* array of param names, or NULL */
	int dry_run;
	int cont; /* continue: later routes are tried too */
	double cooldown;
	int max_concurrent; /* 0: only the worker pool limits */
	int rate_count;     /* at most rate_count runs per rate_window; 0: no limit */
	double rate_window;
	int breaker;     /* consecutive failed runs that open the circuit; 0: off */
	int max_targets; /* distinct targets per targets_window; 0: no limit */
	double targets_window;
	enum srv_resolved_action on_resolved;
	char *resolved_runbook;
	json_t *resolved_params;
	int resolved_dry_run;
} srv_route;

typedef struct srv_routes {
	srv_route *v;
	size_t n;
} srv_routes;

/* doc is the whole salve.yaml document (salve_config.doc); config_path may be NULL. Fills
 * defaults for every missing key; reads `server:` and `ha:`. 0, or -1 with "server.x: reason" in
 * err. */
int srv_conf_load(const json_t *doc, const char *config_path, srv_conf *c, char *err,
                  size_t errlen);
void srv_conf_free(srv_conf *c);

/* Loads routes: relative runbook paths resolve against runbook_dir (NULL: the config
 * file's directory). 0, or -1 with "routes[i] (name): reason" in err. */
int srv_routes_load(const json_t *doc, const char *config_path, const char *runbook_dir,
                    srv_routes *out, char *err, size_t errlen);
void srv_routes_free(srv_routes *r);

/* 1 when every matcher of r holds for labels; else 0 and why names the first that does
 * not ("severity=~\"critical\" does not hold: severity is \"warning\""). */
int srv_route_match(const srv_route *r, const json_t *labels, char *why, size_t whylen);

/* The route's matchers in canonical form (severity=~"critical|page"): a new array. */
json_t *srv_route_matchers_json(const srv_route *r);
/* A duration from the config: "30s", "1h30m", "250ms", "2d" or a bare number of seconds;
 * finite, >= 0 and at most ten years. nan, inf, hex, exponents and signs are refused.
 * 0 or -1. */
int srv_parse_duration(const char *text, double *seconds);
/* "10/1h" -> 10 runs per 3600 s (the window as srv_parse_duration, above 0). 0 or
 * -1. */
int srv_parse_rate(const char *text, int *count, double *window);
/* A URL path prefix the operator's page may be put under ("/ops/salve"): '/' then letters,
 * digits and "/-._~", at most 200 characters, no "//" and no segment starting with '.' (no
 * "..", nothing that leaves the server or the path). Into out without trailing slashes ("/"
 * gives ""). 0, or -1 when text is not such a path. */
int srv_plain_prefix(const char *text, char *out, size_t outlen);
/* 1048576, "512KiB", "1MiB", "64k", "2MB" -> bytes. 0 or -1. */
int srv_parse_size(const json_t *v, size_t *out);

#endif
