/*
 * The HTTP front of salve serve on libmicrohttpd (a pool of epoll threads): authentication,
 * limits, slow-client deadlines and the endpoints of docs/serve.md. Its fields of the server
 * (the daemon, the tracked connections under srv->conn_mu) are this module's. Start, tick and
 * stop run on the main thread.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <stddef.h>

struct srv_server;

/* 0; -2 when the settings are wrong (listen address, tokens missing off loopback, TLS
 * files); -1 when the daemon cannot start (address in use). err says why. */
int srv_http_start(struct srv_server *s, char *err, size_t errlen);
/* Answers every request in flight (suspended hooks included), then stops the daemon and
 * the group-commit writer. */
void srv_http_stop(struct srv_server *s);
/* Closes connections that passed their request deadline (request_timeout). Called every
 * second by the main loop. */
void srv_http_tick(struct srv_server *s);

#endif
