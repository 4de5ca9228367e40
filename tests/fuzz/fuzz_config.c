/* salve_config_load: salve.yaml from a file, then what salve-serve reads from the same
 * document (srv_conf_load: server:, srv_routes_load: routes:).
 * Invariants: a config that loads has an audit path and a state dir, timeouts that are finite
 * and >= 0, plugin_path a list of strings and plugins a mapping of mappings; loading a file
 * twice gives the same result; a refusal names the file. Accepted server settings and routes
 * hold only finite, non-negative durations, sizes in range, rate limits with a window, and
 * matchers that print back to themselves. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_util.h"
#include "route.h"

static int duration_ok(double d)
{
	return isfinite(d) && d >= 0;
}

static void check_server(const salve_config *cfg, const char *file)
{
	srv_conf sc;
	char err[4096] = "";
	if (srv_conf_load(cfg->doc, file, &sc, err, sizeof err) < 0) {
		FUZZ_CHECK(err[0], "server: refused without a reason");
		srv_conf_free(&sc);
		return;
	}
	FUZZ_CHECK(sc.listen && *sc.listen, "server.listen empty");
	FUZZ_CHECK(duration_ok(sc.connection_timeout) && duration_ok(sc.lock_timeout) &&
	               duration_ok(sc.approval_timeout) && duration_ok(sc.global_targets_window),
	           "server: a duration is %g/%g/%g/%g", sc.connection_timeout, sc.lock_timeout,
	           sc.approval_timeout, sc.global_targets_window);
	FUZZ_CHECK(sc.max_body >= 1 && sc.max_body <= (size_t)1e12, "server.max_body %zu",
	           sc.max_body);
	FUZZ_CHECK(sc.max_header >= 4096 && sc.max_header <= (size_t)1e12, "server.max_header %zu",
	           sc.max_header);
	FUZZ_CHECK(sc.max_json_depth >= 1, "server.max_json_depth %zu", sc.max_json_depth);
	FUZZ_CHECK(!sc.tls_cert == !sc.tls_key, "server.tls: cert without key or the reverse");
	FUZZ_CHECK(sc.global_max_targets >= 0, "server.max_targets %d", sc.global_max_targets);
	srv_conf_free(&sc);
}

static void check_routes(const salve_config *cfg, const char *file)
{
	srv_routes routes;
	char err[4096] = "";
	if (srv_routes_load(cfg->doc, file, "/etc/salve/runbooks", &routes, err, sizeof err) < 0) {
		FUZZ_CHECK(err[0], "routes: refused without a reason");
		return;
	}
	for (size_t i = 0; i < routes.n; i++) {
		const srv_route *r = &routes.v[i];
		FUZZ_CHECK(r->name && *r->name && r->runbook && *r->runbook,
		           "routes[%zu]: no name or runbook", i);
		FUZZ_CHECK(duration_ok(r->cooldown) && duration_ok(r->rate_window) &&
		               duration_ok(r->targets_window),
		           "routes[%zu]: cooldown %g, rate window %g, targets window %g", i,
		           r->cooldown, r->rate_window, r->targets_window);
		FUZZ_CHECK(r->rate_count >= 0 && (r->rate_count == 0 || r->rate_window > 0),
		           "routes[%zu]: rate limit %d per %g s", i, r->rate_count, r->rate_window);
		FUZZ_CHECK(r->max_concurrent >= 0 && r->breaker >= 0 && r->max_targets >= 0,
		           "routes[%zu]: a negative limit", i);
		FUZZ_CHECK(json_is_object(r->params), "routes[%zu]: params not an object", i);
		for (size_t k = 0; k < r->nmatchers; k++) {
			char text[8192];
			srv_matcher_format(&r->matchers[k], text, sizeof text);
			srv_matcher again;
			FUZZ_CHECK(srv_matcher_parse(text, &again, err, sizeof err) == 0,
			           "routes[%zu]: matcher prints as %s, which does not parse: %s", i,
			           text, err);
			srv_matcher_free(&again);
		}
	}
	srv_routes_free(&routes);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write_file("salve.yaml", data, size);
	char *file = strdup(path);
	salve_config cfg;
	char err[4096] = "";
	int rc = salve_config_load(file, &cfg, err, sizeof err);
	if (rc < 0) {
		FUZZ_CHECK(strstr(err, "salve.yaml") != NULL, "refusal does not name the file: %s",
		           err);
	} else {
		FUZZ_CHECK(rc == 0, "salve_config_load returned %d", rc);
		FUZZ_CHECK(cfg.audit_path && cfg.state_dir, "no audit path or state dir");
		FUZZ_CHECK(duration_ok(cfg.step_timeout), "step_timeout %g accepted",
		           cfg.step_timeout);
		FUZZ_CHECK(duration_ok(cfg.run_timeout), "run_timeout %g accepted",
		           cfg.run_timeout);
		FUZZ_CHECK(cfg.audit_sync == SALVE_AUDIT_SYNC_ALWAYS ||
		               cfg.audit_sync == SALVE_AUDIT_SYNC_NONE,
		           "audit_sync %d", (int)cfg.audit_sync);
		size_t i;
		json_t *d;
		FUZZ_CHECK(json_is_array(cfg.plugin_path), "plugin_path is not a list");
		json_array_foreach(cfg.plugin_path, i, d)
		    FUZZ_CHECK(json_is_string(d), "plugin_path[%zu] is not a string", i);
		const char *name;
		json_t *settings;
		FUZZ_CHECK(json_is_object(cfg.plugins), "plugins is not a mapping");
		json_object_foreach(cfg.plugins, name, settings)
		    FUZZ_CHECK(json_is_object(settings), "plugins.%s is not a mapping", name);
		FUZZ_CHECK(json_is_object(cfg.doc), "the document is not a mapping");
		salve_config again;
		char err2[4096];
		FUZZ_CHECK(salve_config_load(file, &again, err2, sizeof err2) == 0,
		           "loads once, not twice: %s", err2);
		FUZZ_CHECK(json_equal(again.doc, cfg.doc) &&
		               again.step_timeout == cfg.step_timeout &&
		               again.run_timeout == cfg.run_timeout,
		           "two loads of one file differ");
		salve_config_free(&again);
		check_server(&cfg, file);
		check_routes(&cfg, file);
	}
	salve_config_free(&cfg);
	free(file);
	return 0;
}
