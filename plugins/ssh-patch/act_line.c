/*
 * ensure_line: a line is present in a file (Ansible lineinfile's state=present).
 *
 * check reads the file on every host and edits it here (POSIX extended regex). When a change
 * is needed, its observed carries, per host to change, what it read ("seen": path, whether
 * the file existed, its content in base64), so plan needs no host and apply contacts only
 * the hosts to change, each with one command (one shell start) that compares the file's
 * SHA-256 with the digest of what check read and, only when equal, writes the new content
 * through stdin to a temporary file that replaces it (mode and owner kept). When the file
 * changed since, the same command sends back what is there now instead: the edit is made
 * again from it (nothing to do when the line is there by now) and written in a next round,
 * at most MAX_ROUNDS in all. Without observed (a 1.1 host, or no check before), plan and
 * apply read the files first, as check does. The undo record carries the content replaced
 * (base64), or that the file did not exist.
 * path may contain {host}, replaced by each host's inventory name (one file per host).
 */
#include "act.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 3

static const char read_script[] = "if [ -e \"$1\" ]; then\n"
                                  "  if [ -f \"$1\" ]; then printf E; exec cat -- \"$1\"; fi\n"
                                  "  echo \"salve: $1 is not a regular file\" >&2; exit 4\n"
                                  "fi\n"
                                  "printf N\n";

/* $1 path; $2 the SHA-256 the file must still have, "absent" (it must not exist) or "any"
 * (no check); $3 mode for a new file; the new content on stdin. Prints W once written. When
 * the file is not as $2 says, writes nothing and prints C and the file's content, or N when
 * it does not exist. stdin is always read to its end, so the sender never blocks. Every
 * process costs the host a few ms, so chown runs only when the owner or group differ. */
static const char write_script[] =
    "p=$1\n"
    "if [ -L \"$p\" ]; then p=$(readlink -f -- \"$p\") || exit 1; fi\n"
    "cur=absent\n"
    "if [ -e \"$p\" ]; then\n"
    "  if [ ! -f \"$p\" ]; then cat >/dev/null; echo \"salve: $p is not a regular file\" >&2; "
    "exit 4; fi\n"
    "  cur=present\n"
    "  if [ \"$2\" != any ]; then cur=$(sha256sum <\"$p\") || exit 1; cur=${cur%% *}; fi\n"
    "fi\n"
    "if [ \"$2\" != any ] && [ \"$cur\" != \"$2\" ]; then\n"
    "  cat >/dev/null\n"
    "  if [ \"$cur\" = absent ]; then printf N; exit 0; fi\n"
    "  printf C; exec cat -- \"$p\"\n"
    "fi\n"
    "t=$(mktemp -- \"$p.salve.XXXXXX\") || exit 1\n"
    "if ! cat >\"$t\"; then rm -f -- \"$t\"; exit 1; fi\n"
    "if [ \"$cur\" = absent ]; then chmod -- \"$3\" \"$t\"\n"
    "else chmod --reference=\"$p\" -- \"$t\" &&\n"
    "  { { [ -O \"$p\" ] && [ -G \"$p\" ] && [ -G \"$t\" ]; } ||\n"
    "    chown --reference=\"$p\" -- \"$t\"; }; fi ||\n"
    "  { rm -f -- \"$t\"; exit 1; }\n"
    "mv -f -- \"$t\" \"$p\" || { rm -f -- \"$t\"; exit 1; }\n"
    "printf W\n";

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

/* One host's file: what was read, the edit, and the host's result so far. */
struct line_host {
	const struct sp_host *host;
	char *path; /* the path on this host ({host} replaced); NULL when it cannot be one */
	int failed;
	int existed;
	int changed; /* the edit changes the file */
	int written;
	const char *what;
	char *old; /* the content read (malloc'd) */
	size_t oldlen;
	char *new; /* the edited content (malloc'd); NULL once handed to a write */
	size_t newlen;
	char sha[65]; /* of old */
	/* the last command's exit status and stderr, and the time all its commands took */
	int ran;
	int rc;
	json_t *err;
	double duration;
	char error[700];
};

static void line_free(struct line_host *lh, size_t n)
{
	for (size_t i = 0; lh && i < n; i++) {
		free(lh[i].path);
		free(lh[i].old);
		free(lh[i].new);
		json_decref(lh[i].err);
	}
	free(lh);
}

/* The hosts of t, each with its path; NULL paths fail the host. */
static struct line_host *line_hosts(const struct sp_target *t, const struct line_args *a)
{
	struct line_host *lh = calloc(t->n + 1, sizeof *lh);
	for (size_t i = 0; lh && i < t->n; i++) {
		struct line_host *h = &lh[i];
		h->host = &t->inv->hosts[t->idx[i]];
		h->path = host_path(a->path, h->host->name);
		char why[200];
		if (h->path && !sp_valid_path(h->path, why, sizeof why)) {
			free(h->path);
			h->path = NULL;
		}
		if (!h->path) {
			h->failed = 1;
			snprintf(h->error, sizeof h->error,
			         "host %s: its name cannot stand for {host} in a path",
			         h->host->name);
		}
	}
	return lh;
}

/* Take a finished command's status and stderr into the host's result. */
static void line_took(struct line_host *h, const struct sp_cmd *c)
{
	h->ran = c->ran;
	h->rc = c->rc;
	json_decref(h->err);
	h->err = sp_json_bytes(c->err.data, c->err.len);
	h->duration += c->duration;
}

/* The host's file is now old[0..len) (existed) or missing: compute the edit. */
static void line_edit_host(struct line_host *h, const struct line_args *a, int existed,
                           const char *old, size_t len)
{
	free(h->old);
	free(h->new);
	h->new = NULL;
	h->old = malloc(len + 1);
	if (!h->old) {
		h->failed = 1;
		snprintf(h->error, sizeof h->error, "host %s: out of memory", h->host->name);
		return;
	}
	memcpy(h->old, old, len);
	h->old[len] = '\0';
	h->oldlen = len;
	h->existed = existed;
	sp_sha256_hex(h->old, h->oldlen, h->sha);
	if (!existed && !a->create) {
		h->failed = 1;
		snprintf(h->error, sizeof h->error,
		         "host %s: %s does not exist (set create=true to create it)", h->host->name,
		         h->path);
		return;
	}
	char err[300];
	h->new = sp_line_edit(h->old, h->oldlen, a->line, a->regexp, &h->newlen, &h->changed,
	                      &h->what, err, sizeof err);
	if (!h->new) {
		h->failed = 1;
		snprintf(h->error, sizeof h->error, "host %s: %s", h->host->name, err);
		return;
	}
	if (!existed) {
		h->changed = 1;
		h->what = "create";
	}
}

/* A command's output: a marker byte, then the file's content when existed. */
static void line_take_read(struct line_host *h, const struct line_args *a, const struct sp_cmd *c,
                           int existed)
{
	if (c->out.truncated) {
		h->failed = 1;
		snprintf(h->error, sizeof h->error,
		         "host %s: %s is larger than max_output; not editing it", h->host->name,
		         h->path);
		return;
	}
	line_edit_host(h, a, existed, c->out.data + 1, c->out.len - 1);
}

/* Read the file on every host that is not failed and compute the edit. Returns a run-level
 * status; per-host failures are in lh[i]. */
static int line_survey(salve_call *call, const struct sp_target *t, const struct line_args *a,
                       struct line_host *lh)
{
	struct sp_cmd *cmds = sp_cmds_for(t, NULL);
	size_t *map = calloc(t->n + 1, sizeof *map);
	size_t nr = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (lh[i].failed)
			continue;
		cmds[nr] = cmds[i];
		json_t *sargs = json_pack("[s]", lh[i].path);
		sp_cmd_set_script(&cmds[nr], read_script, sargs);
		json_decref(sargs);
		map[nr++] = i;
	}
	int rc = sp_run(call, cmds, nr, t->forks, t->connect_timeout);
	for (size_t k = 0; k < nr; k++) {
		struct line_host *h = &lh[map[k]];
		line_took(h, &cmds[k]);
		if (!sp_cmd_ok(&cmds[k]) || cmds[k].out.len < 1) {
			h->failed = 1;
			sp_cmd_reason(&cmds[k], h->error, sizeof h->error);
			continue;
		}
		line_take_read(h, a, &cmds[k], cmds[k].out.data[0] == 'E');
	}
	free(map);
	sp_cmds_free(cmds, nr);
	return rc;
}

/* What check read, from its observed: 1 when every host's entry is there (hosts that hold
 * the line, and for the others what check read), 0 when the hosts must be read again. */
static int line_from_observed(salve_call *call, const struct line_args *a, struct line_host *lh,
                              size_t n)
{
	if (!SALVE_HOST_HAS(sp_api, observed))
		return 0;
	const json_t *hosts = json_object_get(sp_api->observed(call), "hosts");
	for (size_t i = 0; i < n; i++) {
		struct line_host *h = &lh[i];
		const json_t *e = json_object_get(hosts, h->host->name);
		const json_t *seen = json_object_get(e, "seen");
		const json_t *rc = json_object_get(e, "rc");
		const char *b64 = json_string_value(json_object_get(seen, "content_b64"));
		const char *path = json_string_value(json_object_get(seen, "path"));
		int present = json_is_true(json_object_get(e, "present"));
		if (h->failed || !json_is_integer(rc) ||
		    (!present && (!b64 || !path || strcmp(path, h->path) != 0)))
			return 0;
		h->ran = 1;
		h->rc = (int)json_integer_value(rc);
		h->err = json_incref(json_object_get(e, "stderr"));
		h->duration = json_number_value(json_object_get(e, "duration"));
		if (present) {
			h->what = "none";
			continue;
		}
		size_t len = 0;
		char *old = (char *)sp_unbase64(b64, &len);
		if (!old)
			return 0;
		line_edit_host(h, a, json_is_true(json_object_get(seen, "existed")), old, len);
		free(old);
		if (h->failed)
			return 0;
	}
	return 1;
}

static int line_fail(salve_call *call, const struct line_host *lh, size_t n)
{
	struct sp_buf msg = {0};
	size_t nfailed = 0;
	for (size_t i = 0; i < n; i++)
		if (lh[i].failed) {
			if (nfailed < 5)
				sp_buf_printf(&msg, "%s%s", nfailed ? "; " : "", lh[i].error);
			nfailed++;
		}
	sp_fail(call, "ensure_line: %zu of %zu hosts failed: %s", nfailed, n,
	        msg.data ? msg.data : "");
	sp_buf_free(&msg);
	return SALVE_ERR;
}

static json_t *line_host_result(const struct line_host *h, int changed)
{
	json_t *hr =
	    json_pack("{s:o, s:s, s:o, s:f, s:b}", "rc", h->ran ? json_integer(h->rc) : json_null(),
	              "stdout", "", "stderr", h->err ? json_incref(h->err) : json_string(""),
	              "duration", h->duration, "changed", changed);
	json_object_set_new(hr, "error", h->failed ? json_string(h->error) : json_null());
	if (!h->failed)
		json_object_set_new(hr, "edit", json_string(h->what));
	return hr;
}

/* What plan and apply need from a host to change: kept in check's observed. */
static json_t *line_seen(const struct line_host *h)
{
	char *b64 = sp_base64(h->old, h->oldlen);
	json_t *seen = json_pack("{s:s, s:b, s:s}", "path", h->path, "existed", h->existed,
	                         "content_b64", b64 ? b64 : "");
	free(b64);
	return seen;
}

static int line_open(salve_call *call, const json_t *args, struct line_args *a, struct sp_target *t,
                     struct line_host **lh)
{
	*lh = NULL;
	int rc = line_args_get(call, args, a);
	if (rc != SALVE_OK)
		return rc;
	if ((rc = sp_target_open(call, args, t)) != SALVE_OK)
		return rc;
	*lh = line_hosts(t, a);
	if (!*lh) {
		sp_target_close(t);
		sp_fail(call, "ensure_line: out of memory");
		return SALVE_ERR;
	}
	return SALVE_OK;
}

/* plan and apply: open, then what check saw, else read the files again. Returns the status
 * of reading; when *lh is NULL nothing is open and the status says why. */
static int line_open_seen(salve_call *call, const json_t *args, struct line_args *a,
                          struct sp_target *t, struct line_host **lh)
{
	int rc = line_open(call, args, a, t, lh);
	if (rc != SALVE_OK || line_from_observed(call, a, *lh, t->n))
		return rc;
	line_free(*lh, t->n);
	*lh = line_hosts(t, a);
	if (!*lh) {
		sp_target_close(t);
		sp_fail(call, "ensure_line: out of memory");
		return SALVE_ERR;
	}
	return line_survey(call, t, a, *lh);
}

int sp_line_check(salve_call *call, const json_t *args, json_t **observed)
{
	struct line_args a;
	struct sp_target t;
	struct line_host *lh;
	int rc = line_open(call, args, &a, &t, &lh);
	if (rc != SALVE_OK)
		return rc;
	rc = line_survey(call, &t, &a, lh);
	int any_failed = 0, any_change = 0;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		any_failed |= lh[i].failed;
		any_change |= lh[i].changed;
		json_t *hr = line_host_result(&lh[i], 0);
		json_object_set_new(hr, "present", json_boolean(!lh[i].failed && !lh[i].changed));
		if (!lh[i].failed && lh[i].changed)
			json_object_set_new(hr, "seen", line_seen(&lh[i]));
		sp_result_put(res, lh[i].host->name, hr, lh[i].failed);
	}
	if (rc == SALVE_OK && any_failed)
		rc = line_fail(call, lh, t.n);
	else if (rc == SALVE_OK && !any_change)
		rc = SALVE_HOLDS;
	if (rc == SALVE_HOLDS || rc == SALVE_OK)
		*observed = res;
	else
		json_decref(res);
	line_free(lh, t.n);
	sp_target_close(&t);
	return rc;
}

int sp_line_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	struct line_args a;
	struct sp_target t;
	struct line_host *lh;
	int rc = line_open_seen(call, args, &a, &t, &lh);
	if (!lh)
		return rc;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		json_t *hr = line_host_result(&lh[i], lh[i].changed);
		json_object_set_new(hr, "path", json_string(lh[i].path ? lh[i].path : a.path));
		json_object_set_new(hr, "line", json_string(a.line));
		sp_result_put(res, lh[i].host->name, hr, lh[i].failed);
	}
	*predicted = res;
	line_free(lh, t.n);
	sp_target_close(&t);
	return rc;
}

/* One round of writes: every host still to change gets one command that compares, then
 * writes (W) or sends back what is there now (C/N), which is edited again for the next
 * round. The undo entry goes in before the write runs (a write cut short may have happened)
 * and out when the command says it wrote nothing. Returns a run-level status; *pending
 * counts the hosts a next round must write. */
static int line_write_round(salve_call *call, const struct sp_target *t, const struct line_args *a,
                            struct line_host *lh, json_t *undo_hosts, size_t *pending)
{
	struct sp_cmd *w = calloc(t->n + 1, sizeof *w);
	size_t *map = calloc(t->n + 1, sizeof *map);
	size_t nw = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct line_host *h = &lh[i];
		if (h->failed || !h->changed || h->written)
			continue;
		char *b64 = sp_base64(h->old, h->oldlen);
		json_object_set_new(undo_hosts, h->host->name,
		                    json_pack("{s:o, s:s, s:b, s:s}", "host", sp_host_json(h->host),
		                              "path", h->path, "existed", h->existed, "content_b64",
		                              h->existed && b64 ? b64 : ""));
		free(b64);
		json_t *wargs =
		    json_pack("[s, s, s]", h->path, h->existed ? h->sha : "absent", "0644");
		w[nw].host = h->host;
		w[nw].timeout = t->timeout;
		sp_cmd_set_script(&w[nw], write_script, wargs);
		json_decref(wargs);
		w[nw].input = h->new;
		w[nw].input_len = h->newlen;
		h->new = NULL;
		map[nw++] = i;
	}
	int rc = sp_run(call, w, nw, t->forks, t->connect_timeout);
	*pending = 0;
	for (size_t k = 0; k < nw; k++) {
		struct line_host *h = &lh[map[k]];
		const struct sp_cmd *c = &w[k];
		char mark = sp_cmd_ok(c) && c->out.len > 0 ? c->out.data[0] : '\0';
		line_took(h, c);
		if (mark == 'W' && c->out.len == 1) {
			h->written = 1;
		} else if (mark == 'C' || mark == 'N') {
			/* Changed since it was read, nothing written: edit what is there now. */
			json_object_del(undo_hosts, h->host->name);
			line_take_read(h, a, c, mark == 'C');
			*pending += !h->failed && h->changed;
		} else {
			h->failed = 1;
			sp_cmd_reason(c, h->error, sizeof h->error);
		}
	}
	free(map);
	sp_cmds_free(w, nw);
	return rc;
}

int sp_line_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	struct line_args a;
	struct sp_target t;
	struct line_host *lh;
	int rc = line_open_seen(call, args, &a, &t, &lh);
	if (!lh)
		return rc;
	json_t *undo_rec = json_pack("{s:s, s:{}}", "path", a.path, "hosts");
	*undo = undo_rec;
	size_t pending = 1;
	for (int round = 0; rc == SALVE_OK && pending > 0 && round < MAX_ROUNDS; round++)
		rc = line_write_round(call, &t, &a, lh, json_object_get(undo_rec, "hosts"),
		                      &pending);
	int any_failed = 0;
	json_t *res = sp_result_new();
	for (size_t i = 0; i < t.n; i++) {
		struct line_host *h = &lh[i];
		if (rc == SALVE_OK && !h->failed && h->changed && !h->written) {
			h->failed = 1;
			snprintf(h->error, sizeof h->error,
			         "host %s: %s kept changing while it was edited (%d times); not "
			         "writing",
			         h->host->name, h->path, MAX_ROUNDS);
		}
		any_failed |= h->failed;
		sp_result_put(res, h->host->name, line_host_result(h, h->written), h->failed);
	}
	*result = res;
	if (rc == SALVE_OK && any_failed)
		rc = line_fail(call, lh, t.n);
	else if (rc != SALVE_OK)
		sp_fail(call, "ensure_line interrupted (%s)",
		        rc == SALVE_ERR_CANCELED ? "cancelled" : "the step's deadline passed");
	line_free(lh, t.n);
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
