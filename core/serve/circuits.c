/* Circuit breakers of the routes and their files (see circuits.h). */
#include "circuits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha.h"
#include "log.h"
#include "srv.h"
#include "state.h"
#include "util.h"

/* 1 open, 0 closed, -1 something that is not a circuit file of ours is there: the route
 * stays disabled (err says why) until salve routes reset removes it. */
static int circuit_state(const struct srv_server *s, const char *route, char *err, size_t errlen)
{
	char path[4400];
	snprintf(path, sizeof path, "%s/%s.open", s->circuit_dir, route);
	return srv_state_file_present(path, err, errlen);
}

static void close_circuit(struct srv_route_state *rs)
{
	rs->open = 0;
	rs->failures = 0;
	free(rs->open_reason);
	rs->open_reason = NULL;
}

void srv_circuit_load(struct srv_server *s, struct srv_route_state *rs)
{
	char why[1024];
	int circuit = circuit_state(s, rs->route->name, why, sizeof why);
	if (circuit == 0)
		return;
	rs->open = 1;
	rs->failures = rs->route->breaker;
	rs->open_reason = strdup(circuit > 0 ? "opened before this server started" : why);
	srv_log(SALVE_LOG_WARN,
	        "serve: route %s starts disabled: its circuit is open%s%s (salve routes reset "
	        "%s)",
	        rs->route->name, circuit > 0 ? "" : ": ", circuit > 0 ? "" : why, rs->route->name);
}

int srv_circuit_refuses(struct srv_server *s, struct srv_route_state *rs, char *detail, size_t len)
{
	char err[1024];
	if (!rs->open)
		return 0;
	if (s->ha) {
		/* The shared circuit is read by each alert's decision; this is the file. */
		if (circuit_state(s, rs->route->name, err, sizeof err) == 0) {
			close_circuit(rs);
			return 0;
		}
		snprintf(
		    detail, len,
		    "circuit open on this replica (%s: a circuit file in its state dir); reset "
		    "with salve routes reset %s",
		    rs->open_reason ? rs->open_reason : "", rs->route->name);
		return 1;
	}
	if (circuit_state(s, rs->route->name, err, sizeof err) == 0) {
		/* salve routes reset removed the file. */
		close_circuit(rs);
		return 0;
	}
	snprintf(detail, len,
	         "circuit open after %d failed runs in a row (%s); reset with salve routes reset "
	         "%s",
	         rs->failures, rs->open_reason ? rs->open_reason : "", rs->route->name);
	return 1;
}

json_t *srv_circuit_count(struct srv_route_state *rs, int success, int failed, const char *run_id,
                          const char *why)
{
	if (success) {
		rs->failures = 0;
		return NULL;
	}
	if (!failed)
		return NULL;
	rs->failures++;
	if (rs->route->breaker <= 0 || rs->failures < rs->route->breaker || rs->open)
		return NULL;
	rs->open = 1;
	char reason[512];
	snprintf(reason, sizeof reason, "last failed run %s: %s", run_id, why);
	rs->open_reason = strdup(reason);
	return json_pack("{s:s, s:s, s:i, s:s, s:s}", "event", "circuit_open", "route",
	                 rs->route->name, "failures", rs->failures, "last_run", run_id, "reason",
	                 reason);
}

void srv_circuit_persist(struct srv_server *s, struct srv_route_state *rs, json_t *record)
{
	char err[4600], ts[40], path[4400];
	salve_timestamp(ts, sizeof ts);
	json_t *file = json_deep_copy(record);
	json_object_set_new(file, "opened_at", json_string(ts));
	char *text = json_dumps(file, JSON_COMPACT);
	json_decref(file);
	snprintf(path, sizeof path, "%s/%s.open", s->circuit_dir, rs->route->name);
	if (!text ||
	    srv_state_write_atomic(path, text, strlen(text), s->durable, err, sizeof err) < 0)
		srv_log(SALVE_LOG_ERROR, "serve: circuit of route %s: %s", rs->route->name,
		        text ? err : "out of memory");
	free(text);
	srv_log(SALVE_LOG_WARN,
	        "serve: route %s disabled after %d failed runs in a row (salve routes reset %s)",
	        rs->route->name, rs->route->breaker, rs->route->name);
	srv_audit(s, record);
}

void srv_circuit_count_shared(struct srv_server *s, struct srv_route_state *rs, int success,
                              int failed, const char *run_id, const char *why)
{
	char err[1024];
	json_t *opened = NULL;
	if (srv_ha_circuit_count(s->ha, rs->route->name, rs->route->breaker, success, failed,
	                         run_id, why, &opened, err, sizeof err) < 0) {
		srv_log(SALVE_LOG_ERROR,
		        "serve: run %s of route %s is not counted in its shared circuit: %s",
		        run_id, rs->route->name, err);
		return;
	}
	if (!opened)
		return;
	srv_log(SALVE_LOG_WARN,
	        "serve: route %s disabled on every replica after %d failed runs in a row (salve "
	        "routes reset %s)",
	        rs->route->name, rs->route->breaker, rs->route->name);
	srv_audit(s, json_pack("{s:s, s:s, s:O, s:s, s:O, s:b}", "event", "circuit_open", "route",
	                       rs->route->name, "failures", json_object_get(opened, "failures"),
	                       "last_run", run_id, "reason", json_object_get(opened, "reason"),
	                       "shared", 1));
	json_decref(opened);
}

int srv_circuit_reset(struct srv_server *s, const char *name, const char *by, json_t **out)
{
	struct srv_route_state *rs = srv_route_state_find(s, name);
	if (!rs) {
		*out = json_pack("{s:s}", "error", "no such route");
		return 404;
	}
	char err[1024];
	int shared_open = 0;
	if (s->ha && srv_ha_circuit_reset(s->ha, name, &shared_open, err, sizeof err) < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 503;
	}
	if (srv_state_remove_circuit(s->circuit_dir, name, err, sizeof err) < 0) {
		*out = json_pack("{s:s}", "error", err);
		return 500;
	}
	pthread_mutex_lock(&s->mu);
	int was_open = rs->open || shared_open;
	close_circuit(rs);
	pthread_mutex_unlock(&s->mu);
	json_t *rec = json_pack("{s:s, s:s, s:s, s:b, s:s}", "event", "circuit_reset", "route",
	                        name, "by", by ? by : "api", "was_open", was_open, "via", "api");
	if (s->ha)
		json_object_set_new(rec, "shared", json_true());
	srv_audit(s, rec);
	*out = json_pack("{s:s, s:b, s:b}", "route", name, "was_open", was_open, "circuit_open", 0);
	return 200;
}

int srv_circuit_reset_shared(const srv_conf *conf, const char *name, int *was_open, char *err,
                             size_t errlen)
{
	if (!conf->ha)
		return 0;
	struct srv_ha *h = srv_ha_open(conf->ha, err, errlen);
	if (!h)
		return -1;
	int rc = srv_ha_circuit_reset(h, name, was_open, err, errlen);
	srv_ha_close(h);
	return rc < 0 ? -1 : 1;
}
