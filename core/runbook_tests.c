/* salve test: runbook tests run offline (see runbook_tests.h). */
#define _XOPEN_SOURCE 700
#include "runbook_tests.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "record.h"
#include "replay.h"
#include "util.h"
#include "yamljson.h"

/* One test, loaded: where it came from and what it says. */
struct test_case {
	char file[PATH_MAX];
	char dir[PATH_MAX];
	char name[512];
	json_t *spec;     /* the test's mapping (with the file's runbook and fixture filled in) */
	char error[1024]; /* the test file could not be read: the test fails with this */
};

/* What one run did, and what the test found wrong with it. */
struct test_run {
	salve_recorder *rec;
	json_t *summary;
	int exit_code;
	char launch_error[4096];
	json_t *problems; /* strings */
	double ms;
};

static void problem(struct test_run *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct test_run *t, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_array_append_new(t->problems, json_string(msg));
}

/* ---- finding and loading test files --------------------------------------------------------- */

static json_t *found; /* nftw has no context pointer */

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	size_t n = strlen(path);
	if (type == FTW_F && n > 10 && strcmp(path + n - 10, ".test.yaml") == 0)
		json_array_append_new(found, json_string(path));
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	              json_string_value(*(json_t *const *)b));
}

/* The test files in paths, sorted within each directory. */
static json_t *test_files(char *const *paths, size_t npaths)
{
	json_t *files = json_array();
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			found = json_array();
			nftw(paths[i], collect, 16, FTW_PHYS);
			size_t n = json_array_size(found);
			json_t **v = malloc((n ? n : 1) * sizeof *v);
			for (size_t k = 0; k < n; k++)
				v[k] = json_array_get(found, k);
			qsort(v, n, sizeof *v, by_name);
			for (size_t k = 0; k < n; k++)
				json_array_append(files, v[k]);
			free(v);
			json_decref(found);
			found = NULL;
		} else {
			json_array_append_new(files, json_string(paths[i]));
		}
	}
	return files;
}

static struct test_case *add_case(struct test_case **cases, size_t *n, const char *file)
{
	*cases = realloc(*cases, (*n + 1) * sizeof **cases);
	struct test_case *c = &(*cases)[(*n)++];
	memset(c, 0, sizeof *c);
	snprintf(c->file, sizeof c->file, "%s", file);
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", file);
	snprintf(c->dir, sizeof c->dir, "%s", dirname(copy));
	return c;
}

/* Every test of one file; a file that cannot be read is one failing test. */
static void load_file(const char *file, struct test_case **cases, size_t *n)
{
	char err[2048];
	json_t *doc = salve_yaml_load_file(file, err, sizeof err);
	const char *runbook = json_string_value(json_object_get(doc, "runbook"));
	json_t *tests = json_object_get(doc, "tests");
	if (!doc || !runbook || !json_is_array(tests) || !json_array_size(tests)) {
		struct test_case *c = add_case(cases, n, file);
		snprintf(c->name, sizeof c->name, "(the test file)");
		snprintf(c->error, sizeof c->error, "%s",
		         !doc ? err : "needs runbook: PATH and tests: a non-empty list");
		json_decref(doc);
		return;
	}
	size_t i;
	json_t *t;
	json_array_foreach(tests, i, t)
	{
		struct test_case *c = add_case(cases, n, file);
		const char *name = json_string_value(json_object_get(t, "name"));
		snprintf(c->name, sizeof c->name, "%s", name ? name : "");
		if (!json_is_object(t) || !name) {
			snprintf(c->name, sizeof c->name, "test %zu", i + 1);
			snprintf(c->error, sizeof c->error, "test %zu needs a name", i + 1);
			continue;
		}
		c->spec = json_deep_copy(t);
		json_object_set_new(c->spec, "runbook", json_string(runbook));
		json_t *fixture = json_object_get(doc, "fixture");
		if (fixture && !json_object_get(c->spec, "fixture") &&
		    !json_object_get(c->spec, "calls"))
			json_object_set(c->spec, "fixture", fixture);
	}
	json_decref(doc);
}

/* path as written in a test file: relative to the file's folder. */
static void beside(const struct test_case *c, const char *path, char *out, size_t len)
{
	if (path[0] == '/' || strncmp(path, "builtin:", 8) == 0)
		snprintf(out, len, "%s", path);
	else
		snprintf(out, len, "%s/%s", c->dir, path);
}

/* ---- running one test ------------------------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* The fixture a test replays: its calls inline, its file, or none. NULL with err. */
static json_t *fixture_of(const struct test_case *c, char *err, size_t errlen)
{
	json_t *calls = json_object_get(c->spec, "calls");
	if (calls)
		return json_pack("{s:O}", "calls", calls);
	const char *file = json_string_value(json_object_get(c->spec, "fixture"));
	if (!file)
		return json_pack("{s:[]}", "calls");
	char path[PATH_MAX + 1024], why[2048];
	beside(c, file, path, sizeof path);
	json_t *f = salve_yaml_load_file(path, why, sizeof why);
	if (!f)
		snprintf(err, errlen, "fixture %s", why);
	return f;
}

static void run_test(const salve_env *env, const struct test_case *c, int verbose,
                     struct test_run *t)
{
	char err[4096] = "", tmp[] = "/tmp/salve-test-XXXXXX";
	json_t *fixture = fixture_of(c, err, sizeof err);
	salve_replay *replay =
	    fixture ? salve_replay_new(fixture, json_object_get(c->spec, "inject"), err, sizeof err)
	            : NULL;
	json_decref(fixture);
	if (!replay || !mkdtemp(tmp)) {
		problem(t, "%s", replay ? strerror(errno) : err);
		salve_replay_free(replay);
		return;
	}
	char state[sizeof tmp + 16], audit[sizeof tmp + 16], runbook[PATH_MAX + 1024];
	snprintf(state, sizeof state, "%s/state", tmp);
	snprintf(audit, sizeof audit, "%s/audit.jsonl", tmp);
	beside(c, json_string_value(json_object_get(c->spec, "runbook")), runbook, sizeof runbook);
	salve_env private_env = *env;
	private_env.state_dir = state;
	private_env.audit_path = audit;
	const char *mode = json_string_value(json_object_get(c->spec, "mode"));
	volatile sig_atomic_t never = 0;
	salve_launch_request rq = {
	    .runbook = runbook,
	    .params = json_object_get(c->spec, "params"),
	    .mode = mode && strcmp(mode, "dry-run") == 0 ? SALVE_MODE_DRY_RUN : SALVE_MODE_APPLY,
	    .fail_at = json_string_value(json_object_get(c->spec, "fail_at")),
	    .approve_all = json_is_true(json_object_get(c->spec, "approve")),
	    .trigger = "test",
	    .step_timeout = -1,
	    .cancel = &never,
	    .out = verbose ? stderr : NULL,
	    .replay = replay,
	    .on_event = salve_recorder_event,
	    .ctx = t->rec,
	};
	salve_launch_result res;
	double t0 = salve_now();
	t->exit_code = salve_launch(&private_env, &rq, &res);
	t->ms = (salve_now() - t0) * 1000.0;
	t->summary = res.summary;
	if (res.stage != SALVE_LAUNCH_RAN)
		snprintf(t->launch_error, sizeof t->launch_error, "%s", res.error);
	json_t *unused = salve_replay_unused(replay);
	if (json_array_size(unused) && !json_object_get(c->spec, "inject") &&
	    !json_object_get(c->spec, "fail_at") &&
	    !json_is_true(json_object_get(c->spec, "partial"))) {
		char *s = json_dumps(unused, JSON_COMPACT);
		problem(t, "the run never made these fixture calls: %s", s);
		free(s);
	}
	json_decref(unused);
	salve_replay_free(replay);
	nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- checking what happened ------------------------------------------------------------------ */

/* The recorded calls named like "plugin.action": actions (undo = 0) or undos (undo = 1). */
static json_t *call_names(const json_t *calls, int undo, int notifications_only)
{
	json_t *names = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(calls, i, e)
	{
		const char *phase = json_string_value(json_object_get(e, "phase"));
		int is_undo = phase && strcmp(phase, "undo") == 0;
		const char *outcome = json_string_value(json_object_get(e, "outcome"));
		if (is_undo != undo || (undo && (!outcome || strcmp(outcome, "undone") != 0)))
			continue;
		if (notifications_only && (!outcome || strcmp(outcome, "sent") != 0))
			continue;
		json_array_append(names, json_object_get(e, "call"));
	}
	return names;
}

static void expect_list(struct test_run *t, const char *what, const json_t *want, json_t *got)
{
	if (want && !json_equal((json_t *)want, got)) {
		char *w = json_dumps(want, JSON_COMPACT), *g = json_dumps(got, JSON_COMPACT);
		problem(t, "%s: expected %s, got %s", what, w, g);
		free(w);
		free(g);
	}
	json_decref(got);
}

/* expect.args: the nth call of a name was given (at least) these arguments. */
static void expect_args(struct test_run *t, const json_t *calls, const json_t *want)
{
	size_t i;
	json_t *w;
	json_array_foreach(want, i, w)
	{
		const char *name = json_string_value(json_object_get(w, "call"));
		json_int_t n =
		    json_object_get(w, "n") ? json_integer_value(json_object_get(w, "n")) : 1;
		json_t *e, *found_call = NULL;
		size_t k;
		json_int_t seen = 0;
		json_array_foreach(calls, k, e) if (name &&
		                                    json_equal(json_object_get(e, "call"),
		                                               json_object_get(w, "call")) &&
		                                    ++seen == n && !found_call) found_call = e;
		if (!found_call) {
			problem(t, "args: %s call %lld was never made", name ? name : "?",
			        (long long)n);
			continue;
		}
		const char *key;
		json_t *v;
		json_object_foreach(json_object_get(w, "has"), key, v)
		{
			json_t *got = json_object_get(json_object_get(found_call, "args"), key);
			if (!got || !json_equal(got, v)) {
				char *g =
				    got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
				char *x = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
				problem(t, "args: %s call %lld: %s is %s, expected %s", name,
				        (long long)n, key, g ? g : "missing", x);
				free(g);
				free(x);
			}
		}
	}
}

static void expect_steps(struct test_run *t, const json_t *want)
{
	const char *name;
	json_t *outcome;
	json_object_foreach((json_t *)want, name, outcome)
	{
		const json_t *got = NULL;
		size_t i;
		json_t *st;
		json_array_foreach(json_object_get(t->summary, "steps"), i,
		                   st) if (strcmp(json_string_value(json_object_get(st, "name")),
		                                  name) == 0) got = json_object_get(st, "outcome");
		if (!got || !json_equal((json_t *)got, outcome))
			problem(t, "step %s: expected %s, got %s", name, json_string_value(outcome),
			        got ? json_string_value(got) : "no such step");
	}
}

static void check_expectations(const struct test_case *c, struct test_run *t)
{
	const json_t *ex = json_object_get(c->spec, "expect");
	const json_t *calls = salve_recorder_calls(t->rec);
	json_t *want;
	if ((want = json_object_get(ex, "exit")) && json_integer_value(want) != t->exit_code)
		problem(t, "exit: expected %lld, got %d%s%s", (long long)json_integer_value(want),
		        t->exit_code, t->launch_error[0] ? ": " : "", t->launch_error);
	if (!want && t->launch_error[0])
		problem(t, "the run did not start: %s", t->launch_error);
	if ((want = json_object_get(ex, "outcome")) &&
	    !json_equal(want, json_object_get(t->summary, "outcome")))
		problem(t, "outcome: expected %s, got %s", json_string_value(want),
		        json_string_value(json_object_get(t->summary, "outcome"))
		            ? json_string_value(json_object_get(t->summary, "outcome"))
		            : "none (the run did not start)");
	if ((want = json_object_get(ex, "steps")))
		expect_steps(t, want);
	expect_list(t, "calls", json_object_get(ex, "calls"), call_names(calls, 0, 0));
	expect_list(t, "undone", json_object_get(ex, "undone"), call_names(calls, 1, 0));
	if ((want = json_object_get(ex, "notifications"))) {
		json_t *sent = call_names(calls, 0, 1);
		if ((json_int_t)json_array_size(sent) != json_integer_value(want))
			problem(t, "notifications: expected %lld sent, got %zu",
			        (long long)json_integer_value(want), json_array_size(sent));
		json_decref(sent);
	}
	if ((want = json_object_get(ex, "args")))
		expect_args(t, calls, want);
	const char *error = json_string_value(json_object_get(ex, "error"));
	if (json_array_size(t->problems)) {
		/* Why the run went the way it did: its failed steps' errors. */
		size_t i;
		json_t *st;
		json_array_foreach(json_object_get(t->summary, "steps"), i, st)
		{
			const char *e = json_string_value(json_object_get(st, "error"));
			if (e)
				problem(t, "(step %s failed: %s)",
				        json_string_value(json_object_get(st, "name")), e);
		}
	}
	if (error) {
		int seen = strstr(t->launch_error, error) != NULL;
		size_t i;
		json_t *st;
		json_array_foreach(json_object_get(t->summary, "steps"), i, st)
		{
			const char *e = json_string_value(json_object_get(st, "error"));
			seen |= e && strstr(e, error) != NULL;
		}
		if (!seen)
			problem(t, "error: no failed step says \"%s\"", error);
	}
}

/* ---- reports -----------------------------------------------------------------------------------
 */

static void xml_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
				fputc(*s, out);
		}
	}
}

static void report_tap(FILE *out, size_t i, const struct test_case *c, const json_t *problems)
{
	fprintf(out, "%sok %zu - %s: %s\n", json_array_size(problems) ? "not " : "", i + 1, c->file,
	        c->name);
	size_t k;
	json_t *p;
	json_array_foreach(problems, k, p) fprintf(out, "  # %s\n", json_string_value(p));
}

static void report_junit(FILE *out, const struct test_case *cases, size_t n,
                         json_t *const *problems, const double *ms, size_t failed)
{
	fprintf(out,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<testsuites tests=\"%zu\" failures=\"%zu\">\n<testsuite name=\"salve test\" "
	        "tests=\"%zu\" failures=\"%zu\">\n",
	        n, failed, n, failed);
	for (size_t i = 0; i < n; i++) {
		fputs("  <testcase classname=\"", out);
		xml_text(out, cases[i].file);
		fputs("\" name=\"", out);
		xml_text(out, cases[i].name);
		fprintf(out, "\" time=\"%.3f\"", ms[i] / 1000.0);
		if (!json_array_size(problems[i])) {
			fputs("/>\n", out);
			continue;
		}
		fputs(">\n    <failure message=\"", out);
		xml_text(out, json_string_value(json_array_get(problems[i], 0)));
		fputs("\">", out);
		size_t k;
		json_t *p;
		json_array_foreach(problems[i], k, p)
		{
			xml_text(out, json_string_value(p));
			fputc('\n', out);
		}
		fputs("</failure>\n  </testcase>\n", out);
	}
	fputs("</testsuite>\n</testsuites>\n", out);
}

int salve_runbook_tests(const salve_env *env, char *const *paths, size_t npaths,
                        enum salve_test_format format, int verbose, FILE *out)
{
	json_t *files = test_files(paths, npaths);
	struct test_case *cases = NULL;
	size_t n = 0, i;
	json_t *f;
	json_array_foreach(files, i, f) load_file(json_string_value(f), &cases, &n);
	json_decref(files);
	if (!n) {
		fprintf(stderr, "salve: test: no *.test.yaml found\n");
		return SALVE_EXIT_USAGE;
	}
	json_t **problems = calloc(n, sizeof *problems);
	double *ms = calloc(n, sizeof *ms);
	size_t failed = 0;
	if (format == SALVE_TEST_TAP)
		fprintf(out, "TAP version 13\n1..%zu\n", n);
	for (i = 0; i < n; i++) {
		struct test_run t = {.rec = salve_recorder_new(), .problems = json_array()};
		if (cases[i].error[0]) {
			problem(&t, "%s", cases[i].error);
		} else {
			run_test(env, &cases[i], verbose, &t);
			if (!json_array_size(t.problems) || t.summary || t.launch_error[0])
				check_expectations(&cases[i], &t);
		}
		problems[i] = t.problems;
		ms[i] = t.ms;
		failed += json_array_size(t.problems) > 0;
		if (format == SALVE_TEST_TAP)
			report_tap(out, i, &cases[i], t.problems);
		json_decref(t.summary);
		salve_recorder_free(t.rec);
	}
	if (format == SALVE_TEST_JUNIT)
		report_junit(out, cases, n, problems, ms, failed);
	else
		fprintf(out, "# %zu passed, %zu failed\n", n - failed, failed);
	for (i = 0; i < n; i++) {
		json_decref(problems[i]);
		json_decref(cases[i].spec);
	}
	free(problems);
	free(ms);
	free(cases);
	return failed ? 1 : 0;
}
