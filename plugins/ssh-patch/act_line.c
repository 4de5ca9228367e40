/*
 * ensure_line: a line is present in a file (Ansible lineinfile's state=present).
 *
 * The file is read over the connection, edited here (POSIX extended regex), and written
 * back through stdin to a temporary file that replaces it (mode and owner kept). The write
 * refuses when the file changed since it was read (SHA-256 compare on the host). The undo
 * record carries the old content (base64), or that the file did not exist.
 * path may contain {host}, replaced by each host's inventory name (one file per host).
 */
#include "act.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char read_script[] = "if [ -e \"$1\" ]; then\n"
                                  "  if [ -f \"$1\" ]; then printf E; exec cat -- \"$1\"; fi\n"
                                  "  echo \"salve: $1 is not a regular file\" >&2; exit 4\n"
                                  "fi\n"
                                  "printf N\n";

/* $1 path, $2 sha256 the file must still have ("absent": must not exist, "any": no check),
 * $3 mode for a new file; content on stdin. */
static const char write_script[] =
    "p=$1\n"
    "if [ -L \"$p\" ]; then p=$(readlink -f -- \"$p\") || exit 1; fi\n"
    "if [ \"$2\" = absent ]; then\n"
    "  if [ -e \"$p\" ]; then echo \"salve: $p appeared since it was read; not writing\" >&2; "
    "exit 3; fi\n"
    "elif [ \"$2\" != any ]; then\n"
    "  cur=$(sha256sum < \"$p\" | cut -d' ' -f1)\n"
    "  if [ \"$cur\" != \"$2\" ]; then echo \"salve: $p changed since it was read; not "
    "overwriting\" >&2; exit 3; fi\n"
    "fi\n"
    "t=$(mktemp -- \"$p.salve.XXXXXX\") || exit 1\n"
    "if ! cat > \"$t\"; then rm -f -- \"$t\"; exit 1; fi\n"
    "if [ -e \"$p\" ]; then\n"
    "  chmod --reference=\"$p\" -- \"$t\" && chown --reference=\"$p\" -- \"$t\" || "
    "{ rm -f -- \"$t\"; exit 1; }\n"
    "else\n"
    "  chmod -- \"$3\" \"$t\" || { rm -f -- \"$t\"; exit 1; }\n"
    "fi\n"
    "mv -f -- \"$t\" \"$p\" || { rm -f -- \"$t\"; exit 1; }\n";

static const char remove_script[] = "rm -f -- \"$1\"\n";

char *sp_line_edit(const char *old, size_t oldlen, const char *line, const char *regexp,
                   size_t *newlen, int *changed, const char **what, char *err, size_t errlen)
{
	regex_t re;
	int have_re = regexp && *regexp;
	if (have_re) {
		int rc = regcomp(&re, regexp, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[200];
			regerror(rc, &re, msg, sizeof msg);
			snprintf(err, errlen, "regexp '%s': %s", regexp, msg);
			return NULL;
		}
	}
	size_t linelen = strlen(line);
	/* Walk the lines: the last regexp match, and whether the exact line is there. */
	long match_start = -1, match_end = -1;
	int exact = 0;
	size_t pos = 0;
	while (pos < oldlen) {
		const char *nl = memchr(old + pos, '\n', oldlen - pos);
		size_t end = nl ? (size_t)(nl - old) : oldlen;
		size_t len = end - pos;
		if (len == linelen && memcmp(old + pos, line, len) == 0)
			exact = 1;
		if (have_re) {
			char *l = strndup(old + pos, len);
			if (l && regexec(&re, l, 0, NULL, 0) == 0) {
				match_start = (long)pos;
				match_end = (long)end;
			}
			free(l);
		}
		pos = nl ? end + 1 : oldlen;
	}
	if (have_re)
		regfree(&re);
	struct sp_buf b = {0};
	*changed = 0;
	if (match_start >= 0) {
		size_t ms = (size_t)match_start, me = (size_t)match_end;
		if (me - ms == linelen && memcmp(old + ms, line, linelen) == 0) {
			*what = "none";
			sp_buf_add(&b, old, oldlen);
		} else {
			*what = "replace";
			*changed = 1;
			sp_buf_add(&b, old, ms);
			sp_buf_add(&b, line, linelen);
			sp_buf_add(&b, old + me, oldlen - me);
		}
	} else if (exact) {
		*what = "none";
		sp_buf_add(&b, old, oldlen);
	} else {
		*what = "append";
		*changed = 1;
		sp_buf_add(&b, old, oldlen);
		if (oldlen > 0 && old[oldlen - 1] != '\n')
			sp_buf_add(&b, "\n", 1);
		sp_buf_add(&b, line, linelen);
		sp_buf_add(&b, "\n", 1);
	}
	*newlen = b.len;
	return sp_buf_take(&b);
}

struct line_args {
	const char *path;
	const char *line;
	const char *regexp;
	int create;
};

static int line_args_get(salve_call *call, const json_t *args, struct line_args *a)
{
	a->path = json_string_value(json_object_get(args, "path"));
	a->line = json_string_value(json_object_get(args, "line"));
	a->regexp = json_string_value(json_object_get(args, "regexp"));
	a->create = sp_bool(json_object_get(args, "create"), 0);
	char why[200];
	if (!sp_valid_path(a->path, why, sizeof why)) {
		sp_fail(call, "ensure_line: path '%s' %s", a->path ? a->path : "", why);
		return SALVE_ERR_INVALID;
	}
	if (!a->line || strchr(a->line, '\n') ||
	    strlen(a->line) != json_string_length(json_object_get(args, "line"))) {
		sp_fail(call, "ensure_line: line must be one line (no newline or NUL)");
		return SALVE_ERR_INVALID;
	}
	if (a->regexp) {
		regex_t re;
		if (regcomp(&re, a->regexp, REG_EXTENDED | REG_NOSUB) != 0) {
			sp_fail(call, "ensure_line: regexp '%s' is not a valid extended regex",
			        a->regexp);
			return SALVE_ERR_INVALID;
		}
		regfree(&re);
	}
	return SALVE_OK;
}

/* What one host's file looks like and what the edit makes of it. */
struct line_host {
	char *path; /* the path on this host ({host} replaced) */
	int failed;
	int existed;
	int changed;
	const char *what;
	char *old; /* borrowed from the read command's output (after the marker byte) */
	size_t oldlen;
	char *new;
	size_t newlen;
	char sha[65];
	char error[700];
};

/* path with every {host} replaced by the inventory name; NULL when the name cannot be part of
 * a path. */
static char *host_path(const char *tmpl, const char *host)
{
	struct sp_buf b = {0};
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, "{host}", 6) == 0) {
			if (strchr(host, '/') || strcmp(host, "..") == 0) {
				sp_buf_free(&b);
				return NULL;
			}
			sp_buf_addstr(&b, host);
			p += 6;
		} else {
			sp_buf_add(&b, p++, 1);
		}
	}
	return sp_buf_take(&b);
}

/* Read the file on every host and compute the edit. Returns a run-level status; per-host
 * failures are in lh[i]. */
static int line_survey(salve_call *call, const struct sp_target *t, const struct line_args *a,
                       struct sp_cmd **cmds_out, struct line_host **lh_out)
{
	struct sp_cmd *cmds = sp_cmds_for(t, NULL);
	struct line_host *lh = calloc(t->n + 1, sizeof *lh);
	for (size_t i = 0; i < t->n; i++) {
		lh[i].path = host_path(a->path, cmds[i].host->name);
		char why[200];
		if (lh[i].path && !sp_valid_path(lh[i].path, why, sizeof why)) {
			free(lh[i].path);
			lh[i].path = NULL;
		}
		json_t *sargs = json_pack("[s]", lh[i].path ? lh[i].path : "/nonexistent/salve");
		sp_cmd_set_script(&cmds[i], read_script, sargs);
		json_decref(sargs);
	}
	int rc = sp_run(call, cmds, t->n, t->forks, t->connect_timeout);
	for (size_t i = 0; i < t->n; i++) {
		struct sp_cmd *c = &cmds[i];
		struct line_host *h = &lh[i];
		if (!h->path) {
			h->failed = 1;
			snprintf(h->error, sizeof h->error,
			         "host %s: its name cannot stand for {host} in a path",
			         c->host->name);
			continue;
		}
		if (!sp_cmd_ok(c) || c->out.len < 1) {
			h->failed = 1;
			sp_cmd_reason(c, h->error, sizeof h->error);
			continue;
		}
		if (c->out.truncated) {
			h->failed = 1;
			snprintf(h->error, sizeof h->error,
			         "host %s: %s is larger than max_output; not editing it",
			         c->host->name, h->path);
			continue;
		}
		h->existed = c->out.data[0] == 'E';
		if (!h->existed && !a->create) {
			h->failed = 1;
			snprintf(h->error, sizeof h->error,
			         "host %s: %s does not exist (set create=true to create it)",
			         c->host->name, h->path);
			continue;
		}
		h->old = c->out.data + 1;
		h->oldlen = c->out.len - 1;
		sp_sha256_hex(h->old, h->oldlen, h->sha);
		char err[300];
		h->new = sp_line_edit(h->old, h->oldlen, a->line, a->regexp, &h->newlen,
		                      &h->changed, &h->what, err, sizeof err);
		if (!h->new) {
			h->failed = 1;
			snprintf(h->error, sizeof h->error, "host %s: %s", c->host->name, err);
			continue;
		}
		if (!h->existed) {
			h->changed = 1;
			h->what = "create";
		}
	}
	*cmds_out = cmds;
	*lh_out = lh;
	return rc;
}

static void line_free(struct line_host *lh, size_t n)
{
	for (size_t i = 0; lh && i < n; i++) {
		free(lh[i].new);
		free(lh[i].path);
	}
	free(lh);
}

static int line_fail(salve_call *call, const struct sp_target *t, const struct line_host *lh)
{
	struct sp_buf msg = {0};
	size_t nfailed = 0;
	for (size_t i = 0; i < t->n; i++)
		if (lh[i].failed) {
			if (nfailed < 5)
				sp_buf_printf(&msg, "%s%s", nfailed ? "; " : "", lh[i].error);
			nfailed++;
		}
	sp_fail(call, "ensure_line: %zu of %zu hosts failed: %s", nfailed, t->n,
	        msg.data ? msg.data : "");
	sp_buf_free(&msg);
	return SALVE_ERR;
}

static json_t *line_host_result(const struct sp_cmd *c, const struct line_host *h, int changed)
{
	json_t *hr =
	    json_pack("{s:o, s:s, s:o, s:f, s:b}", "rc", c->ran ? json_integer(c->rc) : json_null(),
	              "stdout", "", "stderr", sp_json_bytes(c->err.data, c->err.len), "duration",
	              c->duration, "changed", changed);
	json_object_set_new(hr, "error", h->failed ? json_string(h->error) : json_null());
	if (!h->failed)
		json_object_set_new(hr, "edit", json_string(h->what));
	return hr;
}

int sp_line_check(salve_call *call, const json_t *args, json_t **observed)
{
	struct line_args a;
	int rc = line_args_get(call, args, &a);
	if (rc != SALVE_OK)
		return rc;
	struct sp_target t;
	if ((rc = sp_target_open(call, args, &t)) != SALVE_OK)
		return rc;
	struct sp_cmd *cmds;
	struct line_host *lh;
	rc = line_survey(call, &t, &a, &cmds, &lh);
	int any_failed = 0, any_change = 0;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		any_failed |= lh[i].failed;
		any_change |= lh[i].changed;
		json_t *hr = line_host_result(&cmds[i], &lh[i], 0);
		json_object_set_new(hr, "present", json_boolean(!lh[i].failed && !lh[i].changed));
		sp_result_put(res, cmds[i].host->name, hr, lh[i].failed);
	}
	if (rc == SALVE_OK && any_failed)
		rc = line_fail(call, &t, lh);
	else if (rc == SALVE_OK && !any_change)
		rc = SALVE_HOLDS;
	if (rc == SALVE_HOLDS || rc == SALVE_OK)
		*observed = res;
	else
		json_decref(res);
	line_free(lh, t.n);
	sp_cmds_free(cmds, t.n);
	sp_target_close(&t);
	return rc;
}

int sp_line_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	struct line_args a;
	int rc = line_args_get(call, args, &a);
	if (rc != SALVE_OK)
		return rc;
	struct sp_target t;
	if ((rc = sp_target_open(call, args, &t)) != SALVE_OK)
		return rc;
	struct sp_cmd *cmds;
	struct line_host *lh;
	rc = line_survey(call, &t, &a, &cmds, &lh);
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		json_t *hr = line_host_result(&cmds[i], &lh[i], lh[i].changed);
		json_object_set_new(hr, "path", json_string(lh[i].path ? lh[i].path : a.path));
		json_object_set_new(hr, "line", json_string(a.line));
		sp_result_put(res, cmds[i].host->name, hr, lh[i].failed);
	}
	*predicted = res;
	line_free(lh, t.n);
	sp_cmds_free(cmds, t.n);
	sp_target_close(&t);
	return rc;
}

int sp_line_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	struct line_args a;
	int rc = line_args_get(call, args, &a);
	if (rc != SALVE_OK)
		return rc;
	struct sp_target t;
	if ((rc = sp_target_open(call, args, &t)) != SALVE_OK)
		return rc;
	struct sp_cmd *reads;
	struct line_host *lh;
	rc = line_survey(call, &t, &a, &reads, &lh);
	json_t *undo_rec = json_pack("{s:s, s:{}}", "path", a.path, "hosts");
	json_t *undo_hosts = json_object_get(undo_rec, "hosts");
	*undo = undo_rec;
	struct sp_cmd *writes = calloc(t.n + 1, sizeof *writes);
	size_t *wmap = calloc(t.n + 1, sizeof *wmap);
	size_t nw = 0;
	for (size_t i = 0; rc == SALVE_OK && i < t.n; i++) {
		if (lh[i].failed || !lh[i].changed)
			continue;
		const struct sp_host *h = reads[i].host;
		char *b64 = sp_base64(lh[i].old, lh[i].oldlen);
		json_object_set_new(undo_hosts, h->name,
		                    json_pack("{s:o, s:s, s:b, s:s}", "host", sp_host_json(h),
		                              "path", lh[i].path, "existed", lh[i].existed,
		                              "content_b64", lh[i].existed ? b64 : ""));
		free(b64);
		json_t *wargs = json_pack("[s, s, s]", lh[i].path,
		                          lh[i].existed ? lh[i].sha : "absent", "0644");
		writes[nw].host = h;
		writes[nw].timeout = t.timeout;
		sp_cmd_set_script(&writes[nw], write_script, wargs);
		json_decref(wargs);
		writes[nw].input = lh[i].new;
		writes[nw].input_len = lh[i].newlen;
		lh[i].new = NULL;
		wmap[nw++] = i;
	}
	if (rc == SALVE_OK && nw > 0)
		rc = sp_run(call, writes, nw, t.forks, t.connect_timeout);
	json_t *res = sp_result_new();
	unsigned char *changed = calloc(t.n + 1, 1);
	for (size_t k = 0; k < nw; k++) {
		size_t i = wmap[k];
		if (sp_cmd_ok(&writes[k])) {
			changed[i] = 1;
		} else {
			lh[i].failed = 1;
			sp_cmd_reason(&writes[k], lh[i].error, sizeof lh[i].error);
		}
		reads[i].duration += writes[k].duration;
	}
	int any_failed = 0;
	for (size_t i = 0; i < t.n; i++) {
		any_failed |= lh[i].failed;
		sp_result_put(res, reads[i].host->name,
		              line_host_result(&reads[i], &lh[i], changed[i]), lh[i].failed);
	}
	*result = res;
	if (rc == SALVE_OK && any_failed)
		rc = line_fail(call, &t, lh);
	else if (rc != SALVE_OK)
		sp_fail(call, "ensure_line interrupted (%s)",
		        rc == SALVE_ERR_CANCELED ? "cancelled" : "the step's deadline passed");
	free(changed);
	free(wmap);
	sp_cmds_free(writes, nw);
	line_free(lh, t.n);
	sp_cmds_free(reads, t.n);
	sp_target_close(&t);
	return rc;
}

int sp_line_undo(salve_call *call, const json_t *undo)
{
	const char *record_path = json_string_value(json_object_get(undo, "path"));
	char why[200];
	if (!sp_valid_path(record_path, why, sizeof why)) {
		sp_fail(call, "ensure_line undo: the record has no absolute path");
		return SALVE_ERR_INVALID;
	}
	struct sp_undo_hosts u;
	int rc = sp_undo_hosts_open(call, undo, &u);
	if (rc != SALVE_OK)
		return rc;
	struct sp_state *st = sp_state_of(call);
	const struct sp_host **hosts = calloc(u.n + 1, sizeof *hosts);
	for (size_t i = 0; i < u.n; i++)
		hosts[i] = &u.hosts[i];
	struct sp_cmd *cmds = sp_cmds_on(hosts, u.n, st->cfg.command_timeout);
	for (size_t i = 0; i < u.n && rc == SALVE_OK; i++) {
		int existed = sp_bool(json_object_get(u.entries[i], "existed"), 1);
		const char *path = json_string_value(json_object_get(u.entries[i], "path"));
		if (!path)
			path = record_path;
		if (!sp_valid_path(path, why, sizeof why) || strstr(path, "{host}")) {
			sp_fail(call, "ensure_line undo: host %s: no absolute path in the record",
			        u.hosts[i].name);
			rc = SALVE_ERR_INVALID;
			break;
		}
		if (!existed) {
			json_t *rargs = json_pack("[s]", path);
			sp_cmd_set_script(&cmds[i], remove_script, rargs);
			json_decref(rargs);
			continue;
		}
		const char *b64 = json_string_value(json_object_get(u.entries[i], "content_b64"));
		size_t len = 0;
		unsigned char *content = b64 ? sp_unbase64(b64, &len) : NULL;
		if (!content) {
			sp_fail(call,
			        "ensure_line undo: host %s: the record's content is not "
			        "valid base64",
			        u.hosts[i].name);
			rc = SALVE_ERR_INVALID;
			break;
		}
		/* Restore whatever is there now: running undo twice leaves the same file. */
		json_t *wargs = json_pack("[s, s, s]", path, "any", "0644");
		sp_cmd_set_script(&cmds[i], write_script, wargs);
		json_decref(wargs);
		cmds[i].input = (char *)content;
		cmds[i].input_len = len;
	}
	if (rc == SALVE_OK) {
		rc = sp_run(call, cmds, u.n, st->cfg.forks, st->cfg.connect_timeout);
		size_t nfailed = 0;
		for (size_t i = 0; i < u.n; i++)
			nfailed += !sp_cmd_ok(&cmds[i]);
		if (rc == SALVE_OK && nfailed)
			rc = sp_fail_hosts(call, "ensure_line undo", cmds, u.n, NULL);
		else if (rc != SALVE_OK)
			sp_fail_hosts(call, "ensure_line undo", cmds, u.n, NULL);
	}
	sp_cmds_free(cmds, u.n);
	free(hosts);
	sp_undo_hosts_close(&u);
	return rc;
}
