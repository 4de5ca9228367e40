/* The operator's page (see ui.h). */
#include "ui.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "report.h"
#include "srv.h"

const char srv_ui_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

/* Run ids are hex; anything else in the path is refused before it reaches the page. */
static int plain_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 64)
		return 0;
	return strspn(id, "0123456789abcdefABCDEF-_") == n;
}

int srv_ui_find(const char *url, char *arg, size_t arglen)
{
	arg[0] = '\0';
	if (strcmp(url, "/ui") == 0 || strcmp(url, "/ui/") == 0)
		return SRV_UI_SHELL;
	if (strcmp(url, "/ui/app.js") == 0 || strcmp(url, "/ui/app.css") == 0) {
		snprintf(arg, arglen, "%s", url + 4);
		return SRV_UI_ASSET;
	}
	if (strncmp(url, "/ui/runs/", 9) != 0)
		return -1;
	const char *id = url + 9, *slash = strchr(id, '/');
	size_t n = slash ? (size_t)(slash - id) : strlen(id);
	if (n == 0 || n >= arglen)
		return -1;
	memcpy(arg, id, n);
	arg[n] = '\0';
	if (!plain_id(arg))
		return -1;
	if (!slash)
		return SRV_UI_SHELL;
	return strcmp(slash, "/timeline") == 0 ? SRV_UI_TIMELINE : -1;
}

/* The page's path prefix: server.ui_prefix when set (the operator's word, already
 * validated), else a reverse proxy's X-Forwarded-Prefix when it is a plain path: the header
 * comes from whoever connects, so it never reaches the page unless it is inert. */
static void prefix_of(const char *configured, const char *header, char *buf, size_t len)
{
	buf[0] = '\0';
	if (configured && configured[0])
		snprintf(buf, len, "%s", configured);
	else if (header && srv_plain_prefix(header, buf, len) < 0)
		buf[0] = '\0';
}

static void fail(struct srv_ui_response *out, unsigned status, const char *text)
{
	out->status = status;
	out->body = strdup(text);
	out->content_type = "text/plain; charset=utf-8";
}

/* The template with @PREFIX@ and @RUN@ replaced (both already plain: no escaping needed). */
void srv_ui_shell(const char *configured_prefix, const char *forwarded_prefix, const char *run,
                  struct srv_ui_response *out)
{
	const struct srv_ui_asset *page = srv_ui_asset_find("page.html");
	char prefix[256];
	prefix_of(configured_prefix, forwarded_prefix, prefix, sizeof prefix);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = page ? open_memstream(&buf, &len) : NULL;
	if (!f) {
		fail(out, 500, "the page is not embedded or out of memory\n");
		return;
	}
	for (const char *p = page->text; *p;) {
		if (strncmp(p, "@PREFIX@", 8) == 0) {
			fputs(prefix, f);
			p += 8;
		} else if (strncmp(p, "@RUN@", 5) == 0) {
			fputs(run, f);
			p += 5;
		} else {
			fputc(*p++, f);
		}
	}
	if (fclose(f) != 0 || !buf) {
		free(buf);
		fail(out, 500, "out of memory\n");
		return;
	}
	out->status = 200;
	out->body = buf;
	out->content_type = "text/html; charset=utf-8";
}

void srv_ui_asset(const char *name, struct srv_ui_response *out)
{
	const struct srv_ui_asset *a = srv_ui_asset_find(name);
	if (!a) {
		fail(out, 404, "no such file\n");
		return;
	}
	out->status = 200;
	out->body = strndup(a->text, a->len);
	out->content_type =
	    strstr(name, ".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
	if (!out->body)
		fail(out, 500, "out of memory\n");
}

void srv_ui_timeline(struct srv_server *s, const char *run, struct srv_ui_response *out)
{
	/* The report builders are not thread-safe; one view at a time reads the log. */
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct salve_report_query q = {.run = run};
	char err[512];
	char *buf = NULL;
	size_t len = 0;
	pthread_mutex_lock(&mu);
	json_t *doc = salve_report_build(salve_audit_path(s->audit), &q, err, sizeof err);
	FILE *f = doc ? open_memstream(&buf, &len) : NULL;
	int rc = f ? salve_report_write_html(f, doc) : -1;
	if (f)
		fclose(f);
	pthread_mutex_unlock(&mu);
	json_decref(doc);
	if (!doc || rc < 0 || !buf) {
		free(buf);
		char msg[600];
		snprintf(msg, sizeof msg, "cannot build the timeline: %s\n",
		         doc ? "out of memory" : err);
		fail(out, 500, msg);
		return;
	}
	out->status = 200;
	out->body = buf;
	out->content_type = "text/html; charset=utf-8";
}
