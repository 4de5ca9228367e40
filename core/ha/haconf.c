/* `ha:` in salve.yaml (see haconf.h). */
#include "haconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confget.h"
#include "duration.h"
#include "httpmod.h"
#include "redact.h"
#include "util.h"

void salve_ha_conf_free(salve_ha_conf *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nendpoints; i++)
		free(h->endpoints[i]);
	free(h->endpoints);
	free(h->ca_file);
	free(h->cert_file);
	free(h->key_file);
	free(h->username);
	free(h->password);
	free(h->prefix);
	free(h->replica);
	free(h);
}

static int get_duration(const json_t *obj, const char *key, double *out, const char *where,
                        char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v || salve_duration_from_json(v, out) == 0)
		return 0;
	snprintf(err, errlen, "%s.%s: must be a duration such as \"10s\" or \"2m\"", where, key);
	return -1;
}

static int ha_endpoints(const json_t *v, salve_ha_conf *h, char *err, size_t errlen)
{
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64) {
		snprintf(err, errlen, "ha.etcd.endpoints: must be a list of 1 to 64 URLs");
		return -1;
	}
	if (!(h->endpoints = calloc(json_array_size(v), sizeof *h->endpoints))) {
		snprintf(err, errlen, "ha.etcd.endpoints: out of memory");
		return -1;
	}
	size_t i;
	json_t *ep;
	json_array_foreach(v, i, ep)
	{
		const char *url = json_string_value(ep);
		if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
			snprintf(
			    err, errlen,
			    "ha.etcd.endpoints[%zu]: must be a URL such as https://10.0.0.1:2379",
			    i);
			return -1;
		}
		if (!(h->endpoints[h->nendpoints] = strdup(url))) {
			snprintf(err, errlen, "ha.etcd.endpoints: out of memory");
			return -1;
		}
		h->nendpoints++;
	}
	return 0;
}

static int ha_etcd(const json_t *v, salve_ha_conf *h, char *err, size_t errlen)
{
	static const char *const keys[] = {"endpoints", "ca_file",  "cert_file", "key_file",
	                                   "username",  "password", "timeout",   NULL};
	const char *w = "ha.etcd";
	if (!json_is_object(v)) {
		snprintf(err, errlen, "ha.etcd: must be a mapping with endpoints");
		return -1;
	}
	if (salve_conf_known_keys(v, keys, w, err, errlen) < 0 ||
	    ha_endpoints(json_object_get(v, "endpoints"), h, err, errlen) < 0 ||
	    salve_conf_string(v, "ca_file", &h->ca_file, w, err, errlen) < 0 ||
	    salve_conf_string(v, "cert_file", &h->cert_file, w, err, errlen) < 0 ||
	    salve_conf_string(v, "key_file", &h->key_file, w, err, errlen) < 0 ||
	    salve_conf_string(v, "username", &h->username, w, err, errlen) < 0 ||
	    salve_conf_string(v, "password", &h->password, w, err, errlen) < 0 ||
	    get_duration(v, "timeout", &h->timeout, w, err, errlen) < 0)
		return -1;
	if (!h->cert_file != !h->key_file) {
		snprintf(err, errlen, "ha.etcd: cert_file and key_file go together");
		return -1;
	}
	if (!h->username != !h->password) {
		snprintf(err, errlen, "ha.etcd: username and password go together");
		return -1;
	}
	if (h->password && strncmp(h->password, "env:", 4) != 0 &&
	    strncmp(h->password, "file:", 5) != 0) {
		snprintf(err, errlen,
		         "ha.etcd.password: must be a reference, env:NAME or file:/path (inline "
		         "passwords are refused)");
		return -1;
	}
	if (h->timeout < 0.1) {
		snprintf(err, errlen, "ha.etcd.timeout: at least 100ms");
		return -1;
	}
	return 0;
}

static int ha_fields(const json_t *v, salve_ha_conf *h, char *err, size_t errlen)
{
	static const char *const keys[] = {"etcd", "prefix", "lease_ttl", "replica", NULL};
	if (salve_conf_known_keys(v, keys, "ha", err, errlen) < 0 ||
	    ha_etcd(json_object_get(v, "etcd"), h, err, errlen) < 0 ||
	    salve_conf_string(v, "prefix", &h->prefix, "ha", err, errlen) < 0 ||
	    salve_conf_string(v, "replica", &h->replica, "ha", err, errlen) < 0 ||
	    get_duration(v, "lease_ttl", &h->lease_ttl, "ha", err, errlen) < 0)
		return -1;
	if (!h->prefix && !(h->prefix = strdup("/salve"))) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	if (h->prefix[0] != '/' || strstr(h->prefix, "//")) {
		snprintf(err, errlen, "ha.prefix: must start with / (such as /salve)");
		return -1;
	}
	size_t plen = strlen(h->prefix);
	if (plen > 1 && h->prefix[plen - 1] == '/')
		h->prefix[plen - 1] = '\0';
	if (h->lease_ttl < 2 || h->lease_ttl > 86400) {
		snprintf(err, errlen, "ha.lease_ttl: from 2s to 1d");
		return -1;
	}
	if (!h->replica) {
		char host[256] = "";
		gethostname(host, sizeof host - 1);
		if (!(h->replica = strdup(host[0] ? host : "replica"))) {
			snprintf(err, errlen, "ha: out of memory");
			return -1;
		}
	}
	return 0;
}

int salve_ha_conf_parse(const json_t *v, salve_ha_conf **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		snprintf(err, errlen, "ha: must be a mapping with etcd");
		return -1;
	}
	salve_ha_conf *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "ha: out of memory");
		return -1;
	}
	h->lease_ttl = 10;
	h->timeout = 2;
	if (ha_fields(v, h, err, errlen) < 0) {
		salve_ha_conf_free(h);
		return -1;
	}
	*out = h;
	return 0;
}

/* env:NAME or file:/path into a malloc'd value (registered for redaction). NULL with err. */
static char *resolve_ref(const char *ref, char *err, size_t errlen)
{
	char *value = NULL;
	if (strncmp(ref, "env:", 4) == 0) {
		const char *v = getenv(ref + 4);
		if (!v) {
			snprintf(err, errlen,
			         "ha.etcd.password: %s: environment variable %s is not set", ref,
			         ref + 4);
			return NULL;
		}
		value = strdup(v);
	} else {
		size_t len = 0;
		value = salve_read_file(ref + 5, &len);
		if (!value) {
			snprintf(err, errlen, "ha.etcd.password: %s: %s", ref, strerror(errno));
			return NULL;
		}
		while (len > 0 && (value[len - 1] == '\n' || value[len - 1] == '\r'))
			value[--len] = '\0';
	}
	if (!value)
		snprintf(err, errlen, "ha.etcd.password: out of memory");
	else
		salve_redact_register(value);
	return value;
}

static int loopback_url(const char *ep)
{
	return strncmp(ep, "http://127.", 11) == 0 || strncmp(ep, "http://[::1]", 12) == 0 ||
	       strncmp(ep, "http://localhost", 16) == 0;
}

salve_etcd *salve_ha_connect(const salve_ha_conf *conf, char *warning, size_t warnlen, char *err,
                             size_t errlen)
{
	warning[0] = '\0';
	char *password = NULL;
	if (conf->password && !(password = resolve_ref(conf->password, err, errlen)))
		return NULL;
	salve_etcd_options o = {
	    .endpoints = (const char *const *)conf->endpoints,
	    .nendpoints = conf->nendpoints,
	    .ca_file = conf->ca_file,
	    .cert_file = conf->cert_file,
	    .key_file = conf->key_file,
	    .username = conf->username,
	    .password = password,
	    .timeout = conf->timeout,
	};
	salve_etcd *e = salve_etcd_new(&o, salve_httpmod_load, err, errlen);
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	for (size_t i = 0; e && i < conf->nendpoints && !warning[0]; i++)
		if (strncmp(conf->endpoints[i], "http://", 7) == 0 &&
		    !loopback_url(conf->endpoints[i]))
			snprintf(
			    warning, warnlen,
			    "ha.etcd.endpoints: %s is plain HTTP: claims, locks and journals%s "
			    "cross the network unencrypted",
			    conf->endpoints[i], conf->username ? " and the etcd auth token" : "");
	return e;
}
