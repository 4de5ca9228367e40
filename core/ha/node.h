/*
 * This process as a member of an `ha:` cluster: the etcd client, the session (lease) and the
 * identity its keys carry, opened on first use so that commands that never change anything
 * (validate, doc, a dry-run) never contact etcd.
 *
 * Ownership: salve_ha_node_new takes conf (freed by salve_ha_node_free, which also ends the
 * session and revokes its lease). Threads: salve_ha_node_session may be called from several
 * threads at once (the first call connects, under a mutex).
 */
#ifndef SALVE_HA_NODE_H
#define SALVE_HA_NODE_H

#include <stddef.h>

#include "haconf.h"
#include "harun.h"

typedef struct salve_ha_node salve_ha_node;

/* NULL with err (no random bytes for the instance id, out of memory). */
salve_ha_node *salve_ha_node_new(salve_ha_conf *conf, char *err, size_t errlen);
void salve_ha_node_free(salve_ha_node *n);

/* The session, connecting and granting the lease on first use. NULL with err. */
salve_ha_session *salve_ha_node_session(salve_ha_node *n, char *err, size_t errlen);
/* The client (connecting on first use, without a lease). NULL with err. */
salve_etcd *salve_ha_node_etcd(salve_ha_node *n, char *err, size_t errlen);
const salve_ha_ident *salve_ha_node_ident(const salve_ha_node *n);
const salve_ha_conf *salve_ha_node_conf(const salve_ha_node *n);

#endif
