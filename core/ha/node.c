/* This process in an `ha:` cluster, connected on first use (see node.h). */
#include "node.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "util.h"

struct salve_ha_node {
	salve_ha_conf *conf;
	char instance[33];
	salve_ha_ident ident;
	pthread_mutex_t mu;
	salve_etcd *etcd;
	salve_ha_session *session;
};

salve_ha_node *salve_ha_node_new(salve_ha_conf *conf, char *err, size_t errlen)
{
	salve_ha_node *n = calloc(1, sizeof *n);
	if (!n || salve_random_id(n->instance, sizeof n->instance) < 0) {
		snprintf(err, errlen, "ha: no random bytes for this process's instance id");
		free(n);
		salve_ha_conf_free(conf);
		return NULL;
	}
	n->conf = conf;
	n->ident.prefix = conf->prefix;
	n->ident.replica = conf->replica;
	n->ident.instance = n->instance;
	pthread_mutex_init(&n->mu, NULL);
	return n;
}

void salve_ha_node_free(salve_ha_node *n)
{
	if (!n)
		return;
	salve_ha_session_close(n->session, 1);
	salve_etcd_free(n->etcd);
	salve_ha_conf_free(n->conf);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

/* Under n->mu. */
static salve_etcd *connect_locked(salve_ha_node *n, char *err, size_t errlen)
{
	if (!n->etcd) {
		char warning[512];
		n->etcd = salve_ha_connect(n->conf, warning, sizeof warning, err, errlen);
		if (warning[0])
			salve_log(SALVE_LOG_WARN, "%s", warning);
	}
	return n->etcd;
}

salve_etcd *salve_ha_node_etcd(salve_ha_node *n, char *err, size_t errlen)
{
	pthread_mutex_lock(&n->mu);
	salve_etcd *e = connect_locked(n, err, errlen);
	pthread_mutex_unlock(&n->mu);
	return e;
}

salve_ha_session *salve_ha_node_session(salve_ha_node *n, char *err, size_t errlen)
{
	pthread_mutex_lock(&n->mu);
	if (!n->session && connect_locked(n, err, errlen))
		n->session = salve_ha_session_open(n->etcd, n->conf->lease_ttl, err, errlen);
	salve_ha_session *s = n->session;
	pthread_mutex_unlock(&n->mu);
	return s;
}

const salve_ha_ident *salve_ha_node_ident(const salve_ha_node *n)
{
	return &n->ident;
}

const salve_ha_conf *salve_ha_node_conf(const salve_ha_node *n)
{
	return n->conf;
}
