/* The helpers every module of salve serve uses: audit records, route lookup, clocks. */
#include "srv.h"

#include <string.h>
#include <time.h>

#include "log.h"

int srv_audit_to(salve_audit *audit, json_t *rec)
{
	json_t *full = rec;
	/* seq and ts lead the line: a record not made by salve_audit_record is copied into one. */
	if (!json_object_get(rec, "seq")) {
		full = salve_audit_record();
		json_object_update(full, rec);
		json_decref(rec);
	}
	char err[512];
	if (salve_audit_write(audit, full, err, sizeof err) < 0) {
		srv_log(SALVE_LOG_ERROR, "serve: audit: %s", err);
		return -1;
	}
	return 0;
}

int srv_audit(struct srv_server *s, json_t *rec)
{
	return srv_audit_to(s->audit, rec);
}

void srv_route_labels(char *buf, size_t len, const struct srv_route_state *rs)
{
	srv_metrics_labels(buf, len, "route", rs->route->name, NULL);
}

struct srv_route_state *srv_route_state_find(struct srv_server *s, const char *name)
{
	for (size_t i = 0; name && i < s->routes.n; i++)
		if (strcmp(s->routes.v[i].name, name) == 0)
			return &s->rs[i];
	return NULL;
}

void srv_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}
