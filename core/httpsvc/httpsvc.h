/*
 * The HTTP client service behind host->http_* (plugin.h), in two parts:
 *
 *  - the client (httpsvc_client.c, in the core): what host->http_client returns. It keeps a
 *    copy of the options and loads the transport only on the first request, through a
 *    loader, so a run that never sends HTTP never maps libcurl;
 *  - the transport (httpsvc_curl.c, the module salve-http.so, linked against libcurl): TLS,
 *    proxies, timeouts, kept-alive connections, retries with Retry-After, cancellation and
 *    the response cap. The core dlopens it (httpsvc_load.c); tests link it directly.
 *
 * Threads: every function here may be called from several threads at once; a client is
 * shared by all the calls of one plugin. Ownership: options are copied; a response's body
 * belongs to the caller until salve_http_response_clear.
 */
#ifndef SALVE_HTTPSVC_H
#define SALVE_HTTPSVC_H

#include <salve/plugin.h>

#include <stddef.h>
#include <stdint.h>

/* The one symbol salve-http.so exports. */
#define SALVE_HTTPSVC_ENTRY_SYMBOL "salve_httpsvc_entry"

/* One client's connections inside the transport. */
typedef struct httpsvc_conn httpsvc_conn;

/* The transport's functions. */
typedef struct salve_httpsvc_ops {
	uint32_t struct_size;
	/* Connections for options o, which are borrowed and outlive the result. NULL with err
	 * set when the options are refused. */
	httpsvc_conn *(*open)(const salve_http_options *o, char *err, size_t errlen);
	void (*close)(httpsvc_conn *c);
	/* host->http_request for the call of host (its cancelled, remaining and
	 * register_secret). */
	int (*request)(const salve_host *host, salve_call *call, httpsvc_conn *c,
	               const salve_http_request *req, salve_http_response *resp);
	char *(*escape)(const char *s);
} salve_httpsvc_ops;

/* The transport's table (salve-http.so exports it; initialises libcurl the first time). */
const salve_httpsvc_ops *salve_httpsvc_entry(void);

/* Finds the transport: called at most once per client, from any thread; returns the same
 * table every time, or NULL with the reason in err (then every request fails with it). */
typedef const salve_httpsvc_ops *(*salve_httpsvc_loader)(char *err, size_t errlen);

/* The service as the host table offers it, for a host (whose fail, cancelled, remaining and
 * register_secret it uses) and a loader. */
salve_http_client *salve_http_client_new(const salve_host *host, salve_httpsvc_loader load,
                                         salve_call *call, const salve_http_options *options);
int salve_http_client_request(const salve_host *host, salve_call *call, salve_http_client *c,
                              const salve_http_request *req, salve_http_response *resp);
void salve_http_response_clear(salve_http_response *resp);
void salve_http_client_free(salve_http_client *c);
char *salve_http_escape(salve_httpsvc_loader load, const char *s);

#endif
