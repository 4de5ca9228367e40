/*
 * salve.yaml's `ha:` section (docs/ha.md), shared by salve serve (claims, pause, guardrails,
 * takeover) and salve run (distributed locks, the journal in etcd):
 *
 *   ha: { etcd: { endpoints, ca_file, cert_file, key_file, username, password, timeout },
 *         prefix: /salve, lease_ttl: 10s, replica: NAME }
 *
 * Ownership: salve_ha_conf_parse allocates *out, salve_ha_conf_free frees it. Stateless
 * otherwise; thread-safe.
 */
#ifndef SALVE_HA_CONF_H
#define SALVE_HA_CONF_H

#include <jansson.h>
#include <stddef.h>

#include "etcd.h"

typedef struct salve_ha_conf {
	char **endpoints; /* etcd client URLs */
	size_t nendpoints;
	char *ca_file, *cert_file, *key_file;
	char *username, *password; /* password: an env:NAME or file:/path reference */
	char *prefix;              /* every key starts with it; default "/salve" */
	char *replica;             /* this replica's name; default the host name */
	double lease_ttl;          /* the replica's lease, and the shortest a claim gets (10 s) */
	double timeout;            /* one etcd request on one endpoint; default 2 s */
} salve_ha_conf;

/* Parses the value of `ha:` (NULL or null: *out stays NULL, no HA). 0, or -1 with err naming
 * the key ("ha.etcd.endpoints[1]: ..."). */
int salve_ha_conf_parse(const json_t *value, salve_ha_conf **out, char *err, size_t errlen);
void salve_ha_conf_free(salve_ha_conf *conf);

/* A client for conf's cluster: the password reference resolved (and registered for
 * redaction). A plain http:// endpoint that is not loopback is named in *warning (""
 * otherwise) for the caller to log. NULL with err. */
salve_etcd *salve_ha_connect(const salve_ha_conf *conf, char *warning, size_t warnlen, char *err,
                             size_t errlen);

#endif
