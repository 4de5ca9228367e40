/*
 * The operator's page of salve serve (docs/serve.md, "The operator's page"): an HTML shell,
 * its script and style sheet embedded in the binary (core/serve/ui/, generated into C by
 * ui_embed.cmake), and a run's timeline rendered by salve report's HTML renderer. The shell
 * carries no data: the script fetches the API with the tokens the operator types.
 *
 * Ownership: a srv_ui_response's body is malloc'd and freed by the caller. Thread safety:
 * every function may be called from any HTTP thread (the timeline serializes its reads of
 * the audit log).
 */
#ifndef SRV_UI_H
#define SRV_UI_H

#include <stddef.h>

struct srv_server;

/* An embedded file (generated table). */
struct srv_ui_asset {
	const char *name;
	const char *text;
	size_t len;
};
const struct srv_ui_asset *srv_ui_asset_find(const char *name);

enum srv_ui_kind {
	SRV_UI_SHELL = 0, /* /ui, /ui/, /ui/runs/ID: no data, no token */
	SRV_UI_ASSET,     /* /ui/app.js, /ui/app.css */
	SRV_UI_TIMELINE,  /* /ui/runs/ID/timeline: the read token */
};

/* The Content-Security-Policy of every response of the page: scripts and styles from the
 * server's own files only (no inline script), fetches to the server only. */
extern const char srv_ui_csp[];

struct srv_ui_response {
	unsigned status;
	char *body;
	const char *content_type;
};

/* Which page url (without query) asks for, with the run id or file name in arg; -1 when
 * url is not the page's. */
int srv_ui_find(const char *url, char *arg, size_t arglen);

/* The shell; configured_prefix is server.ui_prefix ("" or NULL: none) and wins;
 * forwarded_prefix is the X-Forwarded-Prefix header (NULL: none), used only without a
 * configured prefix and only when it is a plain path; run is "" for the runs list. */
void srv_ui_shell(const char *configured_prefix, const char *forwarded_prefix, const char *run,
                  struct srv_ui_response *out);
void srv_ui_asset(const char *name, struct srv_ui_response *out);
/* salve report's HTML of one run, built from the audit log (its chain verified). */
void srv_ui_timeline(struct srv_server *s, const char *run, struct srv_ui_response *out);

#endif
