/* The client host->http_client returns: a copy of the options, and the transport's
 * connections made on the first request (so libcurl is loaded then, not at init). */
#include "httpsvc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct salve_http_client {
	pthread_mutex_t lock;
	salve_httpsvc_loader load;
	const salve_httpsvc_ops *ops;
	httpsvc_conn *conn;
	char why[512];        /* why the transport could not be made, once it was tried */
	salve_http_options o; /* strings and PEM data owned */
};

static int dup_str(const char **to, const char *from)
{
	*to = from ? strdup(from) : NULL;
	return from && !*to ? -1 : 0;
}

static int dup_pem(const char **to, size_t *to_len, const char *from, size_t len)
{
	*to = NULL;
	*to_len = 0;
	if (!from || !len)
		return 0;
	char *copy = malloc(len + 1);
	if (!copy)
		return -1;
	memcpy(copy, from, len);
	copy[len] = '\0';
	*to = copy;
	*to_len = len;
	return 0;
}

static void wipe_free(const char *s, size_t len)
{
	if (!s)
		return;
	explicit_bzero((char *)s, len ? len : strlen(s));
	free((char *)s);
}

static void free_options(salve_http_options *o)
{
	free((char *)o->protocols);
	free((char *)o->user_agent);
	free((char *)o->ca_file);
	free((char *)o->ca_pem);
	free((char *)o->cert_file);
	free((char *)o->cert_pem);
	free((char *)o->key_file);
	wipe_free(o->key_pem, o->key_pem_len);
	free((char *)o->username);
	wipe_free(o->password, 0);
	free((char *)o->proxy);
}

salve_http_client *salve_http_client_new(const salve_host *host, salve_httpsvc_loader load,
                                         salve_call *call, const salve_http_options *in)
{
	if (!in || in->struct_size > sizeof(salve_http_options) ||
	    in->struct_size < offsetof(salve_http_options, max_response) + sizeof(size_t)) {
		host->fail(call, "HTTP client options of %u bytes: this salve knows %zu",
		           in ? in->struct_size : 0, sizeof(salve_http_options));
		return NULL;
	}
	salve_http_client *c = calloc(1, sizeof *c);
	if (!c) {
		host->fail(call, "HTTP client: out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->load = load;
	salve_http_options *o = &c->o;
	memcpy(o, in, in->struct_size); /* an older plugin's options: the rest stays zero */
	o->struct_size = sizeof *o;
	o->protocols = o->user_agent = o->ca_file = o->ca_pem = NULL;
	o->cert_file = o->cert_pem = o->key_file = o->key_pem = NULL;
	o->username = o->password = o->proxy = NULL;
	int failed = dup_str(&o->protocols, in->protocols) |
	             dup_str(&o->user_agent, in->user_agent) | dup_str(&o->ca_file, in->ca_file) |
	             dup_pem(&o->ca_pem, &o->ca_pem_len, in->ca_pem, in->ca_pem_len) |
	             dup_str(&o->cert_file, in->cert_file) |
	             dup_pem(&o->cert_pem, &o->cert_pem_len, in->cert_pem, in->cert_pem_len) |
	             dup_str(&o->key_file, in->key_file) |
	             dup_pem(&o->key_pem, &o->key_pem_len, in->key_pem, in->key_pem_len) |
	             dup_str(&o->username, in->username) | dup_str(&o->password, in->password) |
	             dup_str(&o->proxy, in->proxy);
	if (failed) {
		salve_http_client_free(c);
		host->fail(call, "HTTP client: out of memory");
		return NULL;
	}
	if (SALVE_HOST_HAS(host, register_secret)) {
		if (o->password)
			host->register_secret(call, o->password);
		if (o->key_pem)
			host->register_secret(call, o->key_pem);
	}
	return c;
}

/* The client's connections, made on first use. NULL with the reason in resp->error. */
static httpsvc_conn *connections(salve_http_client *c, const salve_httpsvc_ops **ops,
                                 salve_http_response *resp)
{
	pthread_mutex_lock(&c->lock);
	if (!c->conn && !c->why[0]) {
		char err[sizeof c->why] = "";
		c->ops = c->load(err, sizeof err);
		if (c->ops)
			c->conn = c->ops->open(&c->o, err, sizeof err);
		if (!c->conn)
			snprintf(c->why, sizeof c->why, "%s", err[0] ? err : "no HTTP transport");
	}
	httpsvc_conn *conn = c->conn;
	*ops = c->ops;
	if (!conn)
		snprintf(resp->error, sizeof resp->error, "%s", c->why);
	pthread_mutex_unlock(&c->lock);
	return conn;
}

int salve_http_client_request(const salve_host *host, salve_call *call, salve_http_client *c,
                              const salve_http_request *req, salve_http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	if (!c || !req || req->struct_size < offsetof(salve_http_request, ud) + sizeof(void *) ||
	    req->struct_size > sizeof(salve_http_request) || !req->method || !req->url) {
		snprintf(resp->error, sizeof resp->error,
		         "HTTP request without a client, a method or a URL, or from a newer salve");
		return SALVE_ERR_INVALID;
	}
	const salve_httpsvc_ops *ops;
	httpsvc_conn *conn = connections(c, &ops, resp);
	if (!conn)
		return SALVE_ERR;
	return ops->request(host, call, conn, req, resp);
}

void salve_http_response_clear(salve_http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	memset(resp, 0, sizeof *resp);
}

void salve_http_client_free(salve_http_client *c)
{
	if (!c)
		return;
	if (c->conn)
		c->ops->close(c->conn);
	free_options(&c->o);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

char *salve_http_escape(salve_httpsvc_loader load, const char *s)
{
	char err[256];
	const salve_httpsvc_ops *ops = load(err, sizeof err);
	return ops && s ? ops->escape(s) : NULL;
}
