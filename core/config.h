/* salve.yaml: where the audit log and state live, where plugins are, each plugin's settings
 * (passed to its init) and, for salve serve, the server and routes sections (kept as JSON
 * for the server to read). Ownership: salve_config_free frees everything. */
#ifndef SALVE_CONFIG_H
#define SALVE_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "audit.h"

typedef struct salve_config {
	char *path; /* NULL when no file was given */
	char *audit_path;
	enum salve_audit_sync audit_sync;
	char *state_dir;
	json_t *plugin_path; /* array of strings */
	double step_timeout, run_timeout;
	json_t *plugins; /* object: plugin name -> settings */
	json_t *doc;     /* the whole document */
} salve_config;

/* Loads path (NULL: defaults only). 0, or -1 with "file:line: reason" in err: the first of
 * the problems salve_config_check lists. */
int salve_config_load(const char *path, salve_config *cfg, char *err, size_t errlen);

/* Every problem of the configuration file path, in the order of the file's keys: a JSON array
 * of messages ("path: reason"), empty when it is fine. New reference. For salve validate. */
json_t *salve_config_check(const char *path);

/* The vocabulary of lifecycle notify settings (salve.yaml lifecycle: notify:, and notify = {}
 * in runbook{}), shared with the runbook checker. Each returns 1 when it knows the word; the
 * lists name them all for messages. Static data; thread-safe. */
#define SALVE_NOTIFY_KEYS "to, on, page_on_incomplete"
#define SALVE_NOTIFY_EVENTS                                                                        \
	"start, step_failed, rolled_back, rollback_incomplete, degraded, success"
#define SALVE_NOTIFY_SCHEMES "slack, teams, pagerduty, opsgenie, email, webhook"
int salve_notify_key_known(const char *key);
int salve_notify_event_known(const char *event);
/* Whether target ("slack:#ops") starts with a known channel scheme and a colon. */
int salve_notify_scheme_known(const char *target);
void salve_config_free(salve_config *cfg);

#endif
