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

/* Loads path (NULL: defaults only). 0, or -1 with "file:line: reason" in err. */
int salve_config_load(const char *path, salve_config *cfg, char *err, size_t errlen);
void salve_config_free(salve_config *cfg);

#endif
