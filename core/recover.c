/*
 * Recovery: finishing the rollback of runs that died (kill -9, power loss) from their
 * journals, describing them (--list, --dry-run), and marking what a human handled
 * (--resolve). See engine.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "exitcodes.h"
#include "ha/node.h"
#include "redact.h"
#include "statedir.h"
#include "util.h"

/* What recovery found for one journal. */
enum recover_status {
	RECOVER_LIVE,        /* held by a live process: left to it */
	RECOVER_FINISHED,    /* the run had ended: journal removed, nothing undone */
	RECOVER_ROLLED_BACK, /* everything the run changed was undone */
	RECOVER_INCOMPLETE,  /* something could not be undone: a human must look */
	RECOVER_DAMAGED,     /* a record is damaged or missing: nothing was done */
	RECOVER_ERROR,       /* the journal could not be opened, read or written */
	RECOVER_PLANNED,     /* --dry-run, --list: described, nothing done */
};

static const char *const recover_status_names[] = {
    "live", "finished", "rolled_back", "rollback_incomplete", "damaged", "error", "planned"};

static int jstr_is(const json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

struct recover_ctx {
	const char *state_dir;
	salve_registry *reg;
	salve_audit *audit;
	FILE *out;
	int dry_run;        /* the plan: nothing changed, removed or audited */
	int list;           /* a description of each journal */
	const char *by_run; /* a run recovering its lock's previous holder, or NULL */
	salve_ha_run *ha;   /* a run taken over from etcd: its records go back there, fenced */
};

static void rsay(const struct recover_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rsay(const struct recover_ctx *c, const char *fmt, ...)
{
	if (!c->out)
		return;
	char raw[8192], safe[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_redact_string(raw, safe, sizeof safe);
	fputs(safe, c->out);
	fflush(c->out);
}

/* An audit record about a dead run, under its own run id. Planning audits nothing. */
static int recover_audit(const struct recover_ctx *c, const char *run_id, const char *runbook,
                         json_t *rec)
{
	if (c->dry_run || c->list || !c->audit) {
		json_decref(rec);
		return 0;
	}
	salve_run_info info;
	memset(&info, 0, sizeof info);
	info.run_id = run_id;
	info.runbook = runbook;
	info.trigger = "recover";
	info.mode = SALVE_MODE_APPLY;
	info.audit = c->audit;
	info.outcome = "recovering";
	if (c->by_run)
		json_object_set_new(rec, "by_run", json_string(c->by_run));
	return salve_run_audit(&info, rec);
}

static json_t *find_change(json_t *done, json_int_t id)
{
	size_t i, k;
	json_t *rec, *c;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, c)
	{
		if (json_integer_value(json_object_get(c, "id")) == id)
			return c;
	}
	return NULL;
}

/* Rebuilds the step records of a dead run from its (verified) journal, and in results (an
 * object) what each step's run returned, for the rollback functions' s. */
static json_t *replay(const json_t *records, json_t *results)
{
	json_t *done = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(records, i, r)
	{
		const char *t = json_string_value(json_object_get(r, "t"));
		json_int_t id = json_integer_value(json_object_get(r, "id"));
		json_t *last = json_array_get(done, json_array_size(done) - 1);
		if (!t)
			continue;
		if (strcmp(t, "step") == 0) {
			json_array_append_new(
			    done,
			    json_pack("{s:O, s:s, s:O, s:O, s:[]}", "name",
			              json_object_get(r, "step"), "outcome", "changed",
			              "custom_rollback", json_object_get(r, "custom_rollback"),
			              "rollback_disabled", json_object_get(r, "rollback_disabled"),
			              "changes"));
		} else if (strcmp(t, "intent") == 0 && last) {
			json_array_append_new(json_object_get(last, "changes"),
			                      json_pack("{s:I, s:O, s:O, s:O?, s:s}", "id", id,
			                                "plugin", json_object_get(r, "plugin"),
			                                "action", json_object_get(r, "action"),
			                                "target", json_object_get(r, "target"),
			                                "state", "unknown"));
		} else if (strcmp(t, "result") == 0) {
			const char *step = json_string_value(json_object_get(r, "step"));
			json_t *value = json_object_get(r, "value");
			if (step && value)
				json_object_set(results, step, value);
		} else {
			json_t *c = find_change(done, id);
			if (strcmp(t, "undo") == 0 && c) {
				json_object_set_new(c, "state", json_string("applied"));
				json_object_set(c, "undo", json_object_get(r, "undo"));
			} else if (strcmp(t, "applied_no_undo") == 0 && c) {
				json_object_set_new(c, "state", json_string("applied"));
				json_object_set_new(c, "no_undo", json_true());
			} else if (strcmp(t, "not_applied") == 0 && c) {
				json_object_set_new(c, "state", json_string("undone"));
			} else if (strcmp(t, "undone") == 0 && c) {
				json_object_set_new(c, "state", json_string("undone"));
			} else if (strcmp(t, "undo_failed") == 0 && c) {
				json_object_set(c, "last_error", json_object_get(r, "error"));
			} else if (strcmp(t, "step_rolled_back") == 0) {
				size_t k, m;
				json_t *rec, *ch;
				json_array_foreach(done, k,
				                   rec) if (json_equal(json_object_get(rec, "name"),
				                                       json_object_get(r, "step")))
				    json_array_foreach(json_object_get(rec, "changes"), m, ch)
				        json_object_set_new(ch, "state", json_string("undone"));
			}
		}
	}
	return done;
}

/* A step with its own rollback function, or a change whose apply was interrupted (its
 * step's check decides it), needs the runbook as it ran. */
static int needs_runbook(const json_t *done)
{
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec)
	{
		if (!salve_rollback_pending(rec))
			continue;
		if (json_is_true(json_object_get(rec, "custom_rollback")))
			return 1;
		json_array_foreach(
		    json_object_get(rec, "changes"), k,
		    ch) if (jstr_is(json_object_get(ch, "state"), "unknown")) return 1;
	}
	return 0;
}

/* The runbook text a journal keeps: "text", or "text_base64" when it is not UTF-8. Returns a
 * malloc'd copy (caller frees) or NULL. */
static char *journaled_text(const json_t *header, size_t *len)
{
	const json_t *text = json_object_get(header, "text");
	if (json_is_string(text)) {
		*len = json_string_length(text);
		char *copy = malloc(*len + 1);
		memcpy(copy, json_string_value(text), *len + 1);
		return copy;
	}
	const char *b64 = json_string_value(json_object_get(header, "text_base64"));
	if (!b64)
		return NULL;
	size_t n = strlen(b64);
	char *out = malloc(n / 4 * 3 + 4);
	int got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (n > 0 && b64[n - 1] == '=' && got > 0) {
		n--;
		got--;
	}
	*len = (size_t)got;
	out[got] = '\0';
	return out;
}

/* Loads the runbook exactly as it ran, from the copy its journal keeps (never the file on
 * disk now, which may have been edited since). NULL with why. */
static salve_runbook *load_runbook_as_ran(const struct recover_ctx *c, const json_t *header,
                                          const char *run_id, char *why, size_t whylen)
{
	size_t len = 0;
	char *text = journaled_text(header, &len);
	const char *want = json_string_value(json_object_get(header, "sha256"));
	char sha[65], dir[4096], path[4400];
	if (!text) {
		snprintf(why, whylen, "the journal keeps no copy of the runbook");
		return NULL;
	}
	salve_sha256_hex(text, len, sha);
	if (!want || strcmp(want, sha) != 0) {
		snprintf(why, whylen,
		         "the journal's copy of the runbook does not match its SHA-256");
		free(text);
		return NULL;
	}
	if (salve_state_subdir(c->state_dir, "runs", dir, sizeof dir, why, whylen) < 0) {
		free(text);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/.%s.runbook.lua", dir, run_id);
	unlink(path); /* left by a recover that was killed while loading it */
	char err[4600];
	int fd = salve_state_open(path, O_WRONLY | O_CREAT | O_EXCL, err, sizeof err);
	int written = fd >= 0 && write(fd, text, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	free(text);
	if (!written) {
		snprintf(why, whylen, "cannot write the runbook's copy: %s",
		         fd < 0 ? err : strerror(errno));
		unlink(path);
		return NULL;
	}
	int code;
	salve_runbook *rb = salve_runbook_load(path, c->reg, &code, why, whylen);
	unlink(path);
	return rb;
}

/* Temporary files a plugin writing a local file names TARGET.salve-RUN_ID-XXXXXX (the host
 * plugin's ensure_line does): a dead run's are garbage. Removes them (act) or lists them. */
static void remove_temporaries(const struct recover_ctx *c, const char *run_id, const json_t *done,
                               int act, json_t *entry)
{
	json_t *found = json_array();
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, ch)
	{
		const char *target = json_string_value(json_object_get(ch, "target"));
		if (!target || target[0] != '/')
			continue;
		const char *slash = strrchr(target, '/');
		char dir[4096], prefix[1024];
		snprintf(dir, sizeof dir, "%.*s", slash == target ? 1 : (int)(slash - target),
		         target);
		if (salve_fmt(prefix, sizeof prefix, "%s.salve-%s-", slash + 1, run_id) < 0)
			continue;
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			struct stat st;
			char full[5200];
			if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
			    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			snprintf(full, sizeof full, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
			         e->d_name);
			size_t m;
			json_t *seen;
			int dup = 0;
			json_array_foreach(found, m, seen) dup |=
			    strcmp(json_string_value(seen), full) == 0;
			if (dup)
				continue;
			if (act && unlinkat(dirfd(d), e->d_name, 0) < 0) {
				rsay(c, "salve: cannot remove temporary file %s: %s\n", full,
				     strerror(errno));
				continue;
			}
			json_array_append_new(found, json_string(full));
			rsay(c, "      %s temporary file %s left by the dead run\n",
			     act ? "removed" : "would remove", full);
		}
		closedir(d);
	}
	if (json_array_size(found))
		json_object_set(entry, "temporary_files", found);
	json_decref(found);
}

static void describe_change(const struct recover_ctx *c, const json_t *ch)
{
	char undo[512];
	salve_exec_brief(json_object_get(ch, "undo"), undo, sizeof undo);
	const char *target = json_string_value(json_object_get(ch, "target"));
	rsay(c, "      #%lld %s.%s%s%s: %s%s%s\n",
	     (long long)json_integer_value(json_object_get(ch, "id")),
	     json_string_value(json_object_get(ch, "plugin")),
	     json_string_value(json_object_get(ch, "action")), target ? " " : "",
	     target ? target : "", json_string_value(json_object_get(ch, "state")),
	     json_object_get(ch, "undo") ? ", undo record " : "",
	     json_object_get(ch, "undo") ? undo : "");
}

/* --list: what the journal says, step by step. */
static void describe_run(const struct recover_ctx *c, const json_t *done)
{
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec)
	{
		rsay(c, "    step %s%s%s\n", json_string_value(json_object_get(rec, "name")),
		     json_is_true(json_object_get(rec, "custom_rollback"))
		         ? " (its own rollback function)"
		         : "",
		     json_is_true(json_object_get(rec, "rollback_disabled")) ? " (rollback = false)"
		                                                             : "");
		json_array_foreach(json_object_get(rec, "changes"), k, ch) describe_change(c, ch);
	}
}

/* --dry-run: what recover would do, newest first. Returns 1 when a human would be needed. */
static int plan_rollback(const struct recover_ctx *c, const json_t *done)
{
	int human = 0;
	for (size_t n = json_array_size(done); n > 0; n--) {
		json_t *rec = json_array_get(done, n - 1);
		const char *name = json_string_value(json_object_get(rec, "name"));
		if (!salve_rollback_pending(rec))
			continue;
		if (json_is_true(json_object_get(rec, "rollback_disabled"))) {
			rsay(c, "    step %s: rollback = false: its changes stay\n", name);
			continue;
		}
		if (json_is_true(json_object_get(rec, "custom_rollback"))) {
			rsay(c,
			     "    step %s: would call its rollback function, from the runbook as "
			     "it ran\n",
			     name);
			continue;
		}
		json_t *changes = json_object_get(rec, "changes");
		for (size_t k = json_array_size(changes); k > 0; k--) {
			json_t *ch = json_array_get(changes, k - 1);
			const char *state = json_string_value(json_object_get(ch, "state"));
			const char *target = json_string_value(json_object_get(ch, "target"));
			const char *what = NULL;
			if (strcmp(state, "undone") == 0)
				continue;
			if (strcmp(state, "unknown") == 0) {
				what = "UNKNOWN: the runner stopped while applying it; a human "
				       "must look "
				       "unless its step's check shows it did not take effect";
				human = 1;
			} else if (json_is_true(json_object_get(ch, "no_undo"))) {
				what = "cannot be undone (declared by the plugin): stays";
			} else {
				what =
				    "would be undone (unless it changed since: then a human must "
				    "look)";
			}
			rsay(c, "    step %s: %s.%s%s%s %s\n", name,
			     json_string_value(json_object_get(ch, "plugin")),
			     json_string_value(json_object_get(ch, "action")), target ? " " : "",
			     target ? target : "", what);
		}
	}
	return human;
}

/* What the trusted part of a damaged journal names, for the human who must check it. */
static void name_changes(const struct recover_ctx *c, const json_t *done)
{
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, ch)
	{
		const char *target = json_string_value(json_object_get(ch, "target"));
		rsay(c, "      step %s: %s.%s%s%s (%s when the journal was last trustworthy)\n",
		     json_string_value(json_object_get(rec, "name")),
		     json_string_value(json_object_get(ch, "plugin")),
		     json_string_value(json_object_get(ch, "action")), target ? " " : "",
		     target ? target : "", json_string_value(json_object_get(ch, "state")));
	}
}

static void header_facts(json_t *entry, const json_t *header)
{
	static const char *const keys[] = {"runbook", "path", "sha256", "started",
	                                   "pid",     "lock", "trigger"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		json_t *v = json_object_get(header, keys[i]);
		if (v)
			json_object_set(entry, keys[i], v);
	}
}

/* One journal being recovered: what recover_one's parts share. */
struct journal_view {
	const char *path;
	char run_id[128];
	salve_journal *j; /* adopted (NULL when planning or listing) */
	json_t *records;
	salve_journal_check check;
	const json_t *header;
	const char *runbook;
	json_t *results; /* what each step's run returned, for the rollback functions' s */
	json_t *done;    /* the step records the journal rebuilds */
};

/* Opens (adopts, or only reads when planning) the journal. 1 when a live process holds it,
 * 0 when it is ours to look at, -1 with err. */
static int open_journal(const struct recover_ctx *c, struct journal_view *v, char *err,
                        size_t errlen)
{
	int live = 0;
	if (c->dry_run || c->list)
		return salve_journal_read(v->path, &v->records, &v->check, &live, err, errlen) < 0
		           ? -1
		           : live;
	enum salve_journal_status js =
	    salve_journal_adopt(v->path, &v->j, &v->records, &v->check, err, errlen);
	if (js == SALVE_JOURNAL_ERROR)
		return -1;
	if (js == SALVE_JOURNAL_BUSY) {
		if (salve_journal_read(v->path, &v->records, &v->check, NULL, err, errlen) < 0)
			v->records = NULL;
		return 1;
	}
	return 0;
}

/* A journal that cannot be trusted: nothing is undone; what its verified part names is
 * shown for the human who must check it. */
static enum recover_status recover_damaged(const struct recover_ctx *c, struct journal_view *v,
                                           json_t *entry)
{
	json_object_set_new(entry, "error", json_string(v->check.problem));
	json_object_set_new(entry, "trusted_records", json_integer(v->check.trusted_seq));
	json_object_set(entry, "steps", v->done);
	rsay(c, "salve: run %s (journal %s) cannot be trusted: %s. Nothing was undone for it.\n",
	     v->run_id, v->path, v->check.problem);
	if (json_array_size(v->done)) {
		rsay(c, "      its first %lld records verified; they name:\n",
		     v->check.trusted_seq);
		name_changes(c, v->done);
	}
	rsay(c,
	     "      check those targets by hand, then `salve recover --resolve %s --note TEXT`\n",
	     v->run_id);
	recover_audit(c, v->run_id, v->runbook,
	              json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "recover_end", "journal",
	                        v->path, "outcome", "damaged", "error", v->check.problem,
	                        "trusted_records", (json_int_t)v->check.trusted_seq));
	salve_journal_close(v->j, 0);
	return RECOVER_DAMAGED;
}

/* The run had finished; only the removal of its journal was cut short. */
static enum recover_status recover_finished(const struct recover_ctx *c, struct journal_view *v,
                                            const char *last_outcome, json_t *entry)
{
	int planning = c->dry_run || c->list;
	json_object_set_new(entry, "outcome", json_string(last_outcome));
	rsay(c, "salve: run %s of %s had already ended (%s): nothing to undo; %s its journal\n",
	     v->run_id, v->runbook ? v->runbook : "?", last_outcome,
	     planning ? "would remove" : "removing");
	if (planning)
		return RECOVER_PLANNED;
	remove_temporaries(c, v->run_id, v->done, 1, entry);
	recover_audit(c, v->run_id, v->runbook,
	              json_pack("{s:s, s:s, s:s, s:s}", "event", "recover_end", "journal", v->path,
	                        "outcome", "finished", "run_outcome", last_outcome));
	salve_journal_close(v->j, 1);
	return RECOVER_FINISHED;
}

static const char *header_string(const json_t *header, const char *key)
{
	const char *s = json_string_value(json_object_get(header, key));
	return s ? s : "?";
}

/* --dry-run and --list: what the journal says and what recover would do. */
static enum recover_status describe_dead_run(const struct recover_ctx *c, struct journal_view *v,
                                             json_t *entry)
{
	rsay(c, "salve: run %s of %s (%s, sha256 %.12s), started %s, pid %lld: dead\n", v->run_id,
	     v->runbook ? v->runbook : "?", header_string(v->header, "path"),
	     header_string(v->header, "sha256"), header_string(v->header, "started"),
	     (long long)json_integer_value(json_object_get(v->header, "pid")));
	if (c->list)
		describe_run(c, v->done);
	int human = 0;
	if (c->dry_run) {
		rsay(c, "  would roll back, newest first:\n");
		human = plan_rollback(c, v->done);
	}
	remove_temporaries(c, v->run_id, v->done, 0, entry);
	json_object_set(entry, "steps", v->done);
	if (human)
		json_object_set_new(entry, "needs_human", json_true());
	return RECOVER_PLANNED;
}

/* The rollback functions' runbook, loaded from the journal's copy when a step needs one. */
static salve_runbook *runbook_for_rollback(const struct recover_ctx *c, struct journal_view *v,
                                           char *why, size_t whylen)
{
	if (!needs_runbook(v->done))
		return NULL;
	salve_runbook *rb = load_runbook_as_ran(c, v->header, v->run_id, why, whylen);
	if (!rb)
		return NULL;
	const char *rb_path = json_string_value(json_object_get(v->header, "path"));
	const char *sha = header_string(v->header, "sha256");
	size_t len;
	char now[65] = "";
	char *text = rb_path ? salve_read_file(rb_path, &len) : NULL;
	if (text)
		salve_sha256_hex(text, len, now);
	free(text);
	rsay(c,
	     "salve: run %s: rollback functions come from the runbook as it ran: %s (sha256 "
	     "%.12s), kept in its journal%s\n",
	     v->run_id, rb_path ? rb_path : "?", sha,
	     strcmp(now, sha) == 0 ? "" : " (the file on disk differs now: not used)");
	return rb;
}

/* Rolls back what the dead run left, with the runbook exactly as it ran. */
static enum recover_status roll_back_dead_run(const struct recover_ctx *c, struct journal_view *v,
                                              json_t *entry)
{
	char rb_err[2048] = "";
	salve_runbook *rb = runbook_for_rollback(c, v, rb_err, sizeof rb_err);
	salve_run_options o;
	memset(&o, 0, sizeof o);
	o.mode = SALVE_MODE_APPLY;
	o.trigger = "recover";
	o.run_id = v->run_id;
	o.audit = c->audit;
	o.state_dir = c->state_dir;
	o.out = c->out;
	const json_t *params = json_object_get(v->header, "params");
	json_t *empty = json_object();
	struct salve_exec x;
	salve_exec_init(&x, rb, c->reg, &o, json_is_object(params) ? params : empty);
	json_decref(empty);
	if (rb)
		salve_runbook_restore_results(rb, v->results);
	else
		x.info.runbook = v->runbook;
	x.journal = v->j;
	o.ha = c->ha;
	char merr[512];
	if (c->ha)
		salve_journal_set_mirror(v->j, salve_exec_mirror, &x, 0, merr, sizeof merr);
	rsay(c, "salve: recovering run %s of %s (%s, journal %s)\n", v->run_id,
	     v->runbook ? v->runbook : "?", header_string(v->header, "path"), v->path);
	json_t *start =
	    json_pack("{s:s, s:s, s:s?, s:s?}", "event", "recover_start", "journal", v->path,
	              "runbook_path", json_string_value(json_object_get(v->header, "path")),
	              "runbook_sha256", json_string_value(json_object_get(v->header, "sha256")));
	if (c->by_run)
		json_object_set_new(start, "by_run", json_string(c->by_run));
	salve_exec_audit(&x, start);
	int incomplete = salve_rollback_all(&x, v->done) < 0;
	if (!rb && rb_err[0] && incomplete)
		rsay(c, "salve: the runbook's rollback functions could not be loaded: %s\n",
		     rb_err);
	remove_temporaries(c, v->run_id, v->done, 1, entry);
	const char *outcome = incomplete ? "rollback_incomplete" : "rolled_back";
	json_t *end = json_pack("{s:s, s:s}", "event", "recover_end", "outcome", outcome);
	if (c->by_run)
		json_object_set_new(end, "by_run", json_string(c->by_run));
	salve_exec_audit(&x, end);
	char jerr[512];
	if (salve_exec_journal(&x, json_pack("{s:s, s:s}", "t", "end", "outcome", outcome), jerr,
	                       sizeof jerr) < 0)
		rsay(c, "salve: run %s: %s\n", v->run_id, jerr);
	rsay(c, "salve: run %s: %s\n", v->run_id, outcome);
	json_object_set(entry, "steps", v->done);
	x.journal = NULL;
	salve_journal_set_mirror(v->j, NULL, NULL, 0, merr, sizeof merr);
	salve_journal_close(v->j, !incomplete);
	salve_exec_fini(&x);
	salve_runbook_free(rb);
	return incomplete ? RECOVER_INCOMPLETE : RECOVER_ROLLED_BACK;
}

/* Whether the journal's first record is the run record of its own run. */
static int header_matches(const json_t *header, const char *run_id)
{
	const char *id = json_string_value(json_object_get(header, "run_id"));
	return header && jstr_is(json_object_get(header, "t"), "run") && id &&
	       strcmp(id, run_id) == 0;
}

/* Recovers (or describes, or plans) one journal, filling entry for the report. Returns the
 * status. */
static enum recover_status recover_one(const struct recover_ctx *c, const char *path, json_t *entry)
{
	struct journal_view v;
	memset(&v, 0, sizeof v);
	v.path = path;
	char err[4096];
	salve_journal_run_id(path, v.run_id, sizeof v.run_id);
	json_object_set_new(entry, "journal", json_string(path));
	json_object_set_new(entry, "run_id", json_string(v.run_id));
	int live = open_journal(c, &v, err, sizeof err);
	if (live < 0) {
		json_object_set_new(entry, "error", json_string(err));
		rsay(c, "salve: run %s could not be recovered: %s\n", v.run_id, err);
		recover_audit(c, v.run_id, NULL,
		              json_pack("{s:s, s:s, s:s, s:s}", "event", "recover_end", "journal",
		                        path, "outcome", "error", "error", err));
		return RECOVER_ERROR;
	}
	v.header = json_array_get(v.records, 0);
	v.runbook = json_string_value(json_object_get(v.header, "runbook"));
	header_facts(entry, v.header);
	if (live) {
		rsay(c,
		     "salve: run %s of %s: its journal %s is held by a live process (the run "
		     "itself, pid %lld per the journal, or a recover in progress): left to it\n",
		     v.run_id, v.runbook ? v.runbook : "?", path,
		     (long long)json_integer_value(json_object_get(v.header, "pid")));
		json_decref(v.records);
		return RECOVER_LIVE;
	}
	if (!v.check.damaged && !header_matches(v.header, v.run_id)) {
		v.check.damaged = 1;
		snprintf(v.check.problem, sizeof v.check.problem,
		         "its first record is not the run record of run %s", v.run_id);
	}
	v.results = json_object();
	v.done = replay(v.records, v.results);
	enum recover_status status;
	json_t *last = json_array_get(v.records, json_array_size(v.records) - 1);
	const char *last_outcome = json_string_value(json_object_get(last, "outcome"));
	if (v.check.damaged) {
		status = recover_damaged(c, &v, entry);
	} else {
		if (v.check.torn)
			rsay(c,
			     "salve: run %s: its journal's last line was unfinished (its write "
			     "never returned, so nothing it announced happened): left out\n",
			     v.run_id);
		if (jstr_is(json_object_get(last, "t"), "end") && last_outcome &&
		    strcmp(last_outcome, "rollback_incomplete") != 0)
			status = recover_finished(c, &v, last_outcome, entry);
		else if (c->dry_run || c->list)
			status = describe_dead_run(c, &v, entry);
		else
			status = roll_back_dead_run(c, &v, entry);
	}
	json_decref(v.results);
	json_decref(v.done);
	json_decref(v.records);
	return status;
}

/* ---- with ha: takeover through etcd ------------------------------------------------------ */

/* What the journal taken over holds, for the takeover's audit record. */
static json_t *found_in(const json_t *lines)
{
	size_t n = json_array_size(lines);
	const char *first = json_string_value(json_array_get(lines, 0));
	const char *last = json_string_value(json_array_get(lines, n - 1));
	json_t *header = first ? json_loads(first, 0, NULL) : NULL;
	json_t *tail = last ? json_loads(last, 0, NULL) : NULL;
	json_t *found = json_pack(
	    "{s:I, s:O?, s:O?, s:O?, s:O?}", "records", (json_int_t)n, "runbook",
	    json_object_get(header, "runbook"), "lock", json_object_get(header, "lock"), "last",
	    json_object_get(tail, "t"), "outcome", json_object_get(tail, "outcome"));
	json_decref(header);
	json_decref(tail);
	return found;
}

static const char *from_replica(const json_t *lines, char *buf, size_t len)
{
	const char *first = json_string_value(json_array_get(lines, 0));
	json_t *header = first ? json_loads(first, 0, NULL) : NULL;
	const char *r = json_string_value(json_object_get(header, "replica"));
	snprintf(buf, len, "%s", r ? r : "?");
	json_decref(header);
	return buf;
}

int salve_engine_take_over(const char *state_dir, salve_registry *reg, salve_audit *audit,
                           FILE *out, salve_ha_node *ha, const char *run_id, const char *by_run,
                           char *err, size_t errlen)
{
	salve_ha_session *s = salve_ha_node_session(ha, err, errlen);
	if (!s)
		return -1;
	const salve_ha_ident *id = salve_ha_node_ident(ha);
	salve_ha_run *r = NULL;
	json_t *lines = NULL;
	int got = salve_ha_run_adopt(s, id, run_id, &r, &lines, err, errlen);
	if (got <= 0)
		return got;
	char path[4400], dir[4096], from[256];
	struct stat st;
	int rc = -1;
	if (salve_state_subdir(state_dir, "runs", dir, sizeof dir, err, errlen) == 0) {
		snprintf(path, sizeof path, "%s/%s.journal", dir, run_id);
		/* This host's own journal of the run (a restarted replica) holds every record
		 * etcd has, and maybe one more. */
		rc = stat(path, &st) == 0 ? 0
		                          : salve_journal_import(state_dir, run_id, lines, path,
		                                                 sizeof path, err, errlen);
	}
	struct recover_ctx c = {state_dir, reg, audit, out, 0, 0, by_run, r};
	if (rc == 0) {
		json_t *rec =
		    json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I}", "event", "run_takeover", "run",
		              run_id, "from_replica", from_replica(lines, from, sizeof from),
		              "replica", id->replica, "found", found_in(lines), "journal", path,
		              "fence", (json_int_t)salve_ha_run_fence(r));
		if (by_run)
			json_object_set_new(rec, "by_run", json_string(by_run));
		recover_audit(&c, run_id, NULL, rec);
		rsay(&c, "salve: run %s of replica %s: its lease ended mid-run: taken over here\n",
		     run_id, from);
		json_t *entry = json_object();
		enum recover_status status = recover_one(&c, path, entry);
		json_decref(entry);
		if (status == RECOVER_ROLLED_BACK || status == RECOVER_FINISHED) {
			rc = salve_ha_run_finish(r, err, errlen) < 0 ? -1 : 1;
		} else if (status == RECOVER_LIVE) {
			/* This host's journal is still held (the run's own process, fenced but not
			 * stopped yet): given back, taken over on a later pass. */
			salve_ha_run_release(r, err, errlen);
			snprintf(err, errlen, "run %s: its journal here is held by a live process",
			         run_id);
			rc = -1;
		} else {
			salve_ha_run_park(r, err, errlen);
			rc = 2;
		}
	}
	json_decref(lines);
	salve_ha_run_free(r);
	return rc;
}

/* A local journal with ha: recovered only through etcd (see salve_recover_options). */
static enum recover_status recover_through_etcd(const struct recover_ctx *c, salve_ha_node *ha,
                                                const char *path, json_t *entry)
{
	char run_id[128], err[4096] = "";
	salve_journal_run_id(path, run_id, sizeof run_id);
	json_object_set_new(entry, "journal", json_string(path));
	json_object_set_new(entry, "run_id", json_string(run_id));
	salve_etcd *e = salve_ha_node_etcd(ha, err, sizeof err);
	int there =
	    e ? salve_ha_run_exists(e, salve_ha_node_ident(ha)->prefix, run_id, err, sizeof err)
	      : -1;
	if (there < 0) {
		rsay(c,
		     "salve: run %s: etcd cannot be asked whether another replica recovered it "
		     "(%s): left as it is\n",
		     run_id, err);
		json_object_set_new(entry, "error", json_string(err));
		return RECOVER_ERROR;
	}
	if (c->dry_run || c->list)
		return recover_one(c, path, entry);
	if (!there) {
		/* Not in etcd: the run ended and its keys went, or another replica took it over
		 * and finished it. Undoing it here could undo a later run's work. */
		salve_journal *j = NULL;
		json_t *records = NULL;
		salve_journal_check check;
		if (salve_journal_adopt(path, &j, &records, &check, err, sizeof err) !=
		    SALVE_JOURNAL_OK) {
			json_decref(records);
			return RECOVER_LIVE;
		}
		json_decref(records);
		rsay(c,
		     "salve: run %s: etcd no longer has it (it finished, or another replica "
		     "recovered it): its journal here is retired, nothing undone\n",
		     run_id);
		recover_audit(
		    c, run_id, NULL,
		    json_pack("{s:s, s:s, s:s, s:s}", "event", "recover_end", "journal", path,
		              "outcome", "finished", "note",
		              "etcd no longer has the run: recovered elsewhere or finished"));
		salve_journal_retire(j, err, sizeof err);
		return RECOVER_FINISHED;
	}
	int rc = salve_engine_take_over(c->state_dir, c->reg, c->audit, c->out, ha, run_id, NULL,
	                                err, sizeof err);
	if (rc < 0) {
		json_object_set_new(entry, "error", json_string(err));
		rsay(c, "salve: run %s: %s\n", run_id, err);
	}
	return rc == 1   ? RECOVER_ROLLED_BACK
	       : rc == 2 ? RECOVER_INCOMPLETE
	       : rc == 0 ? RECOVER_LIVE
	                 : RECOVER_ERROR;
}

static int recover_exit(enum recover_status st, const json_t *entry)
{
	if (st == RECOVER_INCOMPLETE || st == RECOVER_DAMAGED || st == RECOVER_ERROR)
		return SALVE_EXIT_ROLLBACK_INCOMPLETE;
	if (st == RECOVER_PLANNED && json_is_true(json_object_get(entry, "needs_human")))
		return SALVE_EXIT_ROLLBACK_INCOMPLETE;
	return SALVE_EXIT_OK;
}

/* The state dir and its runs dir, checked without creating anything: 1 when there are
 * journals to look at, 0 when there is no runs dir, -1 when the state dir is refused. */
static int runs_dir(const char *state_dir, char *err, size_t errlen)
{
	char dir[4096];
	int rc = salve_state_check(state_dir, 1, err, errlen);
	if (rc <= 0)
		return rc;
	snprintf(dir, sizeof dir, "%s/runs", state_dir);
	return salve_state_check(dir, 0, err, errlen);
}

int salve_engine_recover(const char *state_dir, salve_registry *reg, salve_audit *audit_log,
                         FILE *out, const salve_recover_options *ro, json_t **summary)
{
	struct recover_ctx c = {state_dir,         reg,  audit_log, out, ro ? ro->dry_run : 0,
	                        ro ? ro->list : 0, NULL, NULL};
	json_t *report = json_array();
	int code = SALVE_EXIT_OK;
	char err[4600] = "";
	int have = runs_dir(state_dir, err, sizeof err);
	if (have < 0) {
		rsay(&c, "salve: %s\n", err);
		code = SALVE_EXIT_CANTCREAT;
	}
	if (have > 0 && !c.dry_run && !c.list)
		salve_journal_remove_stale(state_dir);
	json_t *paths = have > 0 ? salve_journal_list(state_dir) : json_array();
	size_t i;
	json_t *jp;
	json_array_foreach(paths, i, jp)
	{
		json_t *entry = json_object();
		enum recover_status st =
		    ro && ro->ha ? recover_through_etcd(&c, ro->ha, json_string_value(jp), entry)
		                 : recover_one(&c, json_string_value(jp), entry);
		json_object_set_new(entry, "status", json_string(recover_status_names[st]));
		int rc = recover_exit(st, entry);
		if (rc && !code)
			code = rc;
		json_array_append_new(report, entry);
	}
	if (summary) {
		*summary = json_pack("{s:i, s:O}", "exit_code", code, "runs", report);
		if (err[0])
			json_object_set_new(*summary, "error", json_string(err));
		salve_redact_json(*summary);
	}
	json_decref(report);
	json_decref(paths);
	return code;
}

int salve_engine_resolve(const char *state_dir, salve_audit *audit_log, const char *run_id,
                         const char *note, FILE *out)
{
	struct recover_ctx c = {state_dir, NULL, audit_log, out, 0, 0, NULL, NULL};
	char err[4600], path[4400];
	if (!salve_journal_valid_run_id(run_id)) {
		rsay(&c, "salve: \"%s\" is not a run id\n", run_id);
		return SALVE_EXIT_USAGE;
	}
	if (!note || !*note) {
		rsay(&c, "salve: --resolve needs --note TEXT: what was checked or done by hand\n");
		return SALVE_EXIT_USAGE;
	}
	int have = runs_dir(state_dir, err, sizeof err);
	if (have < 0) {
		rsay(&c, "salve: %s\n", err);
		return SALVE_EXIT_CANTCREAT;
	}
	snprintf(path, sizeof path, "%s/runs/%s.journal", state_dir, run_id);
	if (!have || access(path, F_OK) < 0) {
		rsay(&c, "salve: run %s has no journal in %s/runs\n", run_id, state_dir);
		return SALVE_EXIT_USAGE;
	}
	salve_journal *j = NULL;
	json_t *records = NULL;
	salve_journal_check check;
	enum salve_journal_status js =
	    salve_journal_adopt(path, &j, &records, &check, err, sizeof err);
	if (js != SALVE_JOURNAL_OK) {
		rsay(&c, "salve: %s\n", err);
		return js == SALVE_JOURNAL_BUSY ? SALVE_EXIT_TEMPFAIL : SALVE_EXIT_IOERR;
	}
	json_t *last = json_array_get(records, json_array_size(records) - 1);
	int waiting =
	    check.damaged || (jstr_is(json_object_get(last, "t"), "end") &&
	                      jstr_is(json_object_get(last, "outcome"), "rollback_incomplete"));
	json_t *header = json_array_get(records, 0);
	const char *runbook = json_string_value(json_object_get(header, "runbook"));
	if (!waiting) {
		rsay(&c,
		     "salve: run %s is not waiting for a human: `salve recover` can still roll it "
		     "back (see `salve recover --dry-run`)\n",
		     run_id);
		salve_journal_close(j, 0);
		json_decref(records);
		return SALVE_EXIT_USAGE;
	}
	json_t *results = json_object();
	json_t *done = replay(records, results);
	json_t *left = json_array();
	size_t i, k;
	json_t *rec, *ch;
	json_array_foreach(done, i, rec) json_array_foreach(json_object_get(rec, "changes"), k, ch)
	{
		if (strcmp(json_string_value(json_object_get(ch, "state")), "undone") != 0)
			json_array_append_new(left,
			                      json_pack("{s:O, s:O, s:O, s:O?, s:O}", "step",
			                                json_object_get(rec, "name"), "plugin",
			                                json_object_get(ch, "plugin"), "action",
			                                json_object_get(ch, "action"), "target",
			                                json_object_get(ch, "target"), "state",
			                                json_object_get(ch, "state")));
	}
	json_t *arec = json_pack("{s:s, s:s, s:s, s:o}", "event", "recover_resolved", "journal",
	                         path, "note", note, "left", left);
	if (check.damaged)
		json_object_set_new(arec, "damaged", json_string(check.problem));
	int code = SALVE_EXIT_OK;
	if (recover_audit(&c, run_id, runbook, arec) < 0) {
		rsay(&c, "salve: the audit log cannot be written: run %s is not marked handled\n",
		     run_id);
		salve_journal_close(j, 0);
		code = SALVE_EXIT_IOERR;
	} else if (salve_journal_retire(j, err, sizeof err) < 0) {
		rsay(&c, "salve: %s\n", err);
		code = SALVE_EXIT_IOERR;
	} else {
		rsay(&c,
		     "salve: run %s marked as handled (audited); its journal is kept in "
		     "%s/runs/resolved/\n",
		     run_id, state_dir);
	}
	json_decref(results);
	json_decref(done);
	json_decref(records);
	return code;
}

/* A run must not start on a lock whose previous holder died with its journal in place: that
 * run is recovered first, under the lock. Returns 0 to go on, or the exit status that
 * refuses the run (why says why). */
int salve_recover_lock_predecessors(struct salve_exec *x, const char *key, char *why, size_t whylen)
{
	json_t *paths = salve_journal_list(x->opt->state_dir);
	int code = 0;
	size_t i;
	json_t *jp;
	json_array_foreach(paths, i, jp)
	{
		const char *path = json_string_value(jp);
		char run_id[128], err[4096];
		salve_journal_run_id(path, run_id, sizeof run_id);
		json_t *records = NULL;
		salve_journal_check check;
		if (strcmp(run_id, x->run_id) == 0 ||
		    salve_journal_read(path, &records, &check, NULL, err, sizeof err) < 0)
			continue;
		const char *lock =
		    json_string_value(json_object_get(json_array_get(records, 0), "lock"));
		int same = lock && strcmp(lock, key) == 0;
		json_decref(records);
		if (!same)
			continue;
		salve_exec_say(
		    x,
		    "salve: lock \"%s\": its previous holder, run %s, died with its journal in "
		    "place: recovering it first\n",
		    key, run_id);
		struct recover_ctx c = {x->opt->state_dir, x->reg, x->opt->audit, x->opt->out, 0, 0,
		                        x->run_id,         NULL};
		json_t *entry = json_object();
		enum recover_status st = recover_one(&c, path, entry);
		json_decref(entry);
		if (st == RECOVER_LIVE) {
			snprintf(why, whylen,
			         "lock \"%s\": the journal of its previous holder, run %s, is held "
			         "by another process (a recover in progress?): try again later",
			         key, run_id);
			code = SALVE_EXIT_TEMPFAIL;
			break;
		}
		if (st != RECOVER_ROLLED_BACK && st != RECOVER_FINISHED) {
			snprintf(why, whylen,
			         "lock \"%s\": its previous holder, run %s, died and what it left "
			         "needs a human (%s): see `salve recover --list`, then `salve "
			         "recover --resolve %s --note TEXT` once it is handled",
			         key, run_id, recover_status_names[st], run_id);
			code = SALVE_EXIT_ROLLBACK_INCOMPLETE;
			break;
		}
	}
	json_decref(paths);
	return code;
}
