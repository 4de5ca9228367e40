/* `salve audit show|tail` and `salve report` (cli_report.h, docs/reports.md). */
#include "cli_report.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auditscan.h"
#include "config.h"
#include "exitcodes.h"
#include "report.h"
#include "util.h"

static void say_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_error(const char *fmt, ...)
{
	char raw[4096], shown[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	salve_escape_controls(raw, shown, sizeof shown, 0);
	fprintf(stderr, "salve: %s\n", shown);
}

/* The log the globals name: --audit, else the config's (salve.yaml or the default). The
 * returned string is malloc'd. NULL after saying why. */
static char *audit_path_of(const struct salve_cli_globals *g)
{
	if (g->audit_path)
		return strdup(g->audit_path);
	salve_config cfg;
	char err[2048];
	if (salve_config_load(g->config_path, &cfg, err, sizeof err) < 0) {
		say_error("config %s", err);
		salve_config_free(&cfg);
		return NULL;
	}
	char *p = cfg.audit_path ? strdup(cfg.audit_path) : NULL;
	salve_config_free(&cfg);
	return p;
}

static int sub_getopt(int argc, char **argv, const char *shortopts, const struct option *opts)
{
	int c = getopt_long(argc, argv, shortopts, opts, NULL);
	if (c == '?')
		fprintf(stderr, "salve %s: %s: unknown option, or its value is missing\n", argv[0],
		        argv[optind - 1]);
	return c;
}

static void begin_options(void)
{
	optind = 0;
	opterr = 0;
}

static const char *s_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : dflt;
}

/* One timeline entry as a terminal line; every value has its control characters written
 * out, so a record cannot repaint the operator's screen. */
static void print_entry(const json_t *e, int with_run)
{
	char at[64], shown[4][512], detail[2048], el[32] = "";
	snprintf(at, sizeof at, "%s", s_or(e, "at", "-"));
	if (strlen(at) > 10 && at[10] == 'T')
		at[10] = ' ';
	if (json_is_number(json_object_get(e, "elapsed_s")))
		snprintf(el, sizeof el, "+%.3fs",
		         json_number_value(json_object_get(e, "elapsed_s")));
	const char *keys[4] = {"event", "step", "outcome", "who"};
	for (int k = 0; k < 4; k++)
		salve_escape_controls(s_or(e, keys[k], "-"), shown[k], sizeof shown[k], 0);
	salve_escape_controls(s_or(e, "detail", ""), detail, sizeof detail, 0);
	char run[16] = "";
	if (with_run)
		snprintf(run, sizeof run, "%.8s ", s_or(e, "run", "-"));
	printf("%-24s %s%-10s %-20s %-16s %-13s %-18s %s%s\n", at, run, el, shown[0], shown[1],
	       shown[2], shown[3], json_is_true(json_object_get(e, "drill")) ? "[drill] " : "",
	       detail);
}

/* ---- salve audit show RUN ------------------------------------------------------------- */

int salve_cmd_audit_show(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve [--audit FILE | --config FILE] audit show [--json] RUN\n"
	    "One run's records as a timeline: time, elapsed, event, step, outcome, who, and\n"
	    "detail. RUN is the run id or its first 8 or more characters. The first line says\n"
	    "whether the log's hash chain is intact (exit 1 when it is not).\n"
	    "\n"
	    "  --json   the run's report document (format 1, docs/reports.md) instead\n";
	static const struct option opts[] = {
	    {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int as_json = 0, c;
	begin_options();
	while ((c = sub_getopt(argc, argv, "h", opts)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c != 'j') {
			fputs(usage, stderr);
			return SALVE_EXIT_USAGE;
		}
		as_json = 1;
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	const char *run = argv[optind];
	if (strlen(run) < 8) {
		say_error("audit show: a run id has at least 8 characters, not \"%s\"", run);
		return SALVE_EXIT_USAGE;
	}
	char *path = audit_path_of(g);
	if (!path)
		return SALVE_EXIT_USAGE;
	struct salve_report_query q;
	memset(&q, 0, sizeof q);
	q.run = run;
	char err[1200];
	json_t *doc = salve_report_build(path, &q, err, sizeof err);
	free(path);
	if (!doc) {
		say_error("audit show: %s", err);
		return SALVE_EXIT_USAGE;
	}
	const json_t *audit = json_object_get(doc, "audit");
	int intact = json_is_true(json_object_get(audit, "intact"));
	json_t *runs = json_object_get(doc, "runs");
	int code = intact ? 0 : 1;
	if (json_array_size(runs) != 1) {
		say_error("audit show: %s run %s in %s",
		          json_array_size(runs) ? "more than one run starts with" : "no record of",
		          run, s_or(audit, "path", "?"));
		json_decref(doc);
		return json_array_size(runs) ? SALVE_EXIT_USAGE : 1;
	}
	if (as_json) {
		char *s = json_dumps(doc, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
		json_decref(doc);
		return code;
	}
	char shown[1400];
	salve_escape_controls(s_or(audit, "verdict", "?"), shown, sizeof shown, 0);
	printf("%s %s\n", intact ? "audit log verified:" : "WARNING: audit log NOT intact:", shown);
	const json_t *r = json_array_get(runs, 0);
	char line[2048];
	snprintf(line, sizeof line, "run %s  runbook %s  trigger %s  mode %s%s  outcome %s",
	         s_or(r, "run", "-"), s_or(r, "runbook", "-"), s_or(r, "trigger", "-"),
	         s_or(r, "mode", "-"), json_is_true(json_object_get(r, "drill")) ? " (drill)" : "",
	         s_or(r, "outcome", "-"));
	salve_escape_controls(line, shown, sizeof shown, 0);
	printf("%s\n", shown);
	printf("%-24s %-10s %-20s %-16s %-13s %-18s %s\n", "TIME (UTC)", "ELAPSED", "EVENT", "STEP",
	       "OUTCOME", "WHO", "DETAIL");
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, "timeline"), i, e) print_entry(e, 0);
	json_decref(doc);
	return code;
}

/* ---- salve audit tail [-f] [FILE] ----------------------------------------------------- */

/* Prints the complete lines in buf[0..len) as entries; returns the bytes consumed. */
static size_t print_lines(const char *buf, size_t len)
{
	size_t start = 0;
	for (;;) {
		const char *nl = memchr(buf + start, '\n', len - start);
		if (!nl)
			return start;
		size_t n = (size_t)(nl - (buf + start));
		json_t *rec = json_loadb(buf + start, n, 0, NULL);
		if (json_is_object(rec)) {
			const char *ev = s_or(rec, "event", "?");
			json_t *e =
			    salve_report__entry(rec, ev, s_or(rec, "ts", "-"),
			                        json_is_true(json_object_get(rec, "drill")));
			print_entry(e, 1);
			json_decref(e);
		} else {
			printf("(line is not a JSON record)\n");
		}
		json_decref(rec);
		start += n + 1;
	}
}

/* Where the last `lines` records start: read backwards in growing chunks. */
static off_t tail_start(int fd, off_t size, long lines)
{
	size_t chunk = 65536;
	for (;;) {
		off_t from = (off_t)chunk < size ? size - (off_t)chunk : 0;
		size_t n = (size_t)(size - from);
		char *buf = malloc(n);
		if (!buf || pread(fd, buf, n, from) != (ssize_t)n) {
			free(buf);
			return 0;
		}
		long seen = 0;
		/* The newline ending the last line does not start a line. */
		for (size_t i = n; i > 0; i--) {
			if (buf[i - 1] == '\n' && i != n && ++seen == lines) {
				free(buf);
				return from + (off_t)i;
			}
		}
		free(buf);
		if (from == 0)
			return 0;
		chunk *= 4;
	}
}

int salve_cmd_audit_tail(const struct salve_cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "usage: salve [--audit FILE | --config FILE] audit tail [-f] [-n N] [FILE]\n"
	    "The last N (10) records, one line each: time, run, event, step, outcome, who,\n"
	    "detail. With -f, keeps printing records as they are appended (Ctrl-C ends it);\n"
	    "a log cut short or replaced is read again from its start.\n";
	static const struct option opts[] = {{"follow", no_argument, 0, 'f'},
	                                     {"lines", required_argument, 0, 'n'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	int follow = 0, c;
	long lines = 10;
	begin_options();
	while ((c = sub_getopt(argc, argv, "fn:h", opts)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		} else if (c == 'f') {
			follow = 1;
		} else if (c == 'n') {
			char *end;
			lines = strtol(optarg, &end, 10);
			if (*end || lines < 0 || lines > 1000000) {
				say_error(
				    "audit tail: -n takes a number of records (0 to 1000000), not "
				    "\"%s\"",
				    optarg);
				return SALVE_EXIT_USAGE;
			}
		} else {
			fputs(usage, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	if (optind < argc - 1) {
		fputs(usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	char *path = optind == argc - 1 ? strdup(argv[optind]) : audit_path_of(g);
	if (!path)
		return SALVE_EXIT_USAGE;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		say_error("audit tail: %s: %s", path,
		          fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		free(path);
		return SALVE_EXIT_USAGE;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	off_t pos = lines ? tail_start(fd, st.st_size, lines) : st.st_size;
	size_t cap = 1 << 16, have = 0;
	char *buf = malloc(cap);
	ino_t ino = st.st_ino;
	for (;;) {
		ssize_t n = buf ? pread(fd, buf + have, cap - have, pos) : -1;
		if (n < 0) {
			say_error("audit tail: %s: %s", path,
			          buf ? strerror(errno) : "out of memory");
			break;
		}
		pos += n;
		have += (size_t)n;
		size_t used = print_lines(buf, have);
		memmove(buf, buf + used, have - used);
		have -= used;
		if (have == cap) {
			char *grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		if (n > 0)
			continue;
		if (!follow)
			break;
		struct timespec pause = {0, 250 * 1000 * 1000};
		nanosleep(&pause, NULL);
		struct stat now;
		int replaced = stat(path, &now) == 0 && now.st_ino != ino;
		if (replaced || (fstat(fd, &now) == 0 && now.st_size < pos)) {
			fprintf(stderr, "salve: audit tail: %s was %s: reading it from the start\n",
			        path, replaced ? "replaced" : "cut short");
			if (replaced) {
				int nfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
				if (nfd < 0)
					continue;
				close(fd);
				fd = nfd;
				ino = now.st_ino;
			}
			pos = 0;
			have = 0;
		}
	}
	free(buf);
	close(fd);
	free(path);
	return 0;
}

/* ---- salve report --------------------------------------------------------------------- */

static const char report_usage[] =
    "usage: salve [--audit FILE | --config FILE] report [RUN] [options]\n"
    "A post-incident review from the audit log: summary, timeline, key figures (time to\n"
    "detect, start, remediate, resolve), what changed and whether it is still in place,\n"
    "follow-up items, drills apart. The log's hash chain is verified first; the first line\n"
    "of the report says whether it is intact (exit 1 when it is not).\n"
    "\n"
    "  RUN, --run RUN     one run (its id, or the first 8 or more characters)\n"
    "  --alert FP         every run an alert fingerprint caused, across firing/resolved\n"
    "  --runbook NAME     runs of this runbook\n"
    "  --since T          from T: a duration back from now (30d, 12h) or RFC 3339 time\n"
    "  --until T          up to T (same forms)\n"
    "  --summary          many incidents: per runbook and alert name, counts, median and\n"
    "                     p90 time to remediate, failing steps, flapping alerts, drills\n"
    "  --flapping N       with --summary: an alert remediated more than N times (3) flaps\n"
    "  --format F         md (default), html (one self-contained file) or json (format 1)\n"
    "  -o, --output FILE  write there instead of stdout\n";

static int parse_when(const char *text, double *out)
{
	double d;
	if (salve_parse_duration(text, &d) == 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		*out = (double)now.tv_sec + now.tv_nsec / 1e9 - d;
		return 0;
	}
	return salve_parse_rfc3339(text, out);
}

/* What `salve report` was asked for. */
struct report_options {
	struct salve_report_query q;
	const char *format, *output;
	int summary;
};

/* The options into o: -1 to go on, else the exit status (0 after --help). */
static int report_options_parse(int argc, char **argv, struct report_options *o)
{
	static const struct option opts[] = {{"run", required_argument, 0, 'r'},
	                                     {"alert", required_argument, 0, 'a'},
	                                     {"runbook", required_argument, 0, 'b'},
	                                     {"since", required_argument, 0, 's'},
	                                     {"until", required_argument, 0, 'u'},
	                                     {"summary", no_argument, 0, 'S'},
	                                     {"flapping", required_argument, 0, 'F'},
	                                     {"format", required_argument, 0, 'f'},
	                                     {"output", required_argument, 0, 'o'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	memset(o, 0, sizeof *o);
	o->format = "md";
	int c;
	begin_options();
	while ((c = sub_getopt(argc, argv, "o:h", opts)) != -1) {
		switch (c) {
		case 'r':
			o->q.run = optarg;
			break;
		case 'a':
			o->q.alert = optarg;
			break;
		case 'b':
			o->q.runbook = optarg;
			break;
		case 's':
		case 'u':
			if (parse_when(optarg, c == 's' ? &o->q.since : &o->q.until) < 0) {
				say_error(
				    "report: --%s takes a duration (30d, 12h) or an RFC 3339 time "
				    "(2026-01-31T08:00:00Z), not \"%s\"",
				    c == 's' ? "since" : "until", optarg);
				return SALVE_EXIT_USAGE;
			}
			break;
		case 'S':
			o->summary = 1;
			break;
		case 'F': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 1000000) {
				say_error(
				    "report: --flapping takes a count of at least 1, not \"%s\"",
				    optarg);
				return SALVE_EXIT_USAGE;
			}
			o->q.flapping = (int)n;
			break;
		}
		case 'f':
			o->format = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'h':
			fputs(report_usage, stdout);
			return 0;
		default:
			fputs(report_usage, stderr);
			return SALVE_EXIT_USAGE;
		}
	}
	if (optind == argc - 1 && !o->q.run)
		o->q.run = argv[optind++];
	if (optind != argc) {
		fputs(report_usage, stderr);
		return SALVE_EXIT_USAGE;
	}
	if (strcmp(o->format, "md") != 0 && strcmp(o->format, "html") != 0 &&
	    strcmp(o->format, "json") != 0) {
		say_error("report: --format is md, html or json, not \"%s\"", o->format);
		return SALVE_EXIT_USAGE;
	}
	if (o->q.run && strlen(o->q.run) < 8) {
		say_error("report: a run id has at least 8 characters, not \"%s\"", o->q.run);
		return SALVE_EXIT_USAGE;
	}
	if (!o->summary && o->q.flapping) {
		say_error("report: --flapping goes with --summary");
		return SALVE_EXIT_USAGE;
	}
	if (!o->summary && !o->q.run && !o->q.alert && !o->q.runbook && o->q.since <= 0 &&
	    o->q.until <= 0) {
		say_error("report: say which incident: RUN, --alert FP, --runbook NAME or "
		          "--since/--until (or --summary)");
		return SALVE_EXIT_USAGE;
	}
	if (o->q.since > 0 && o->q.until > 0 && o->q.until < o->q.since) {
		say_error("report: --until is before --since");
		return SALVE_EXIT_USAGE;
	}
	return -1;
}

/* The report document o selects, or NULL with *status the exit status after saying why. */
static json_t *report_select(const struct salve_cli_globals *g, const struct report_options *o,
                             int *status)
{
	char *path = audit_path_of(g);
	if (!path) {
		*status = SALVE_EXIT_USAGE;
		return NULL;
	}
	char err[1200];
	json_t *doc = o->summary ? salve_report_summary(path, &o->q, err, sizeof err)
	                         : salve_report_build(path, &o->q, err, sizeof err);
	free(path);
	if (!doc) {
		say_error("report: %s", err);
		*status = SALVE_EXIT_USAGE;
		return NULL;
	}
	if (!o->summary && !json_array_size(json_object_get(doc, "runs")) &&
	    !json_array_size(json_object_get(doc, "alerts"))) {
		const json_t *audit = json_object_get(doc, "audit");
		if (!json_is_true(json_object_get(audit, "intact")))
			say_error("report: the audit log is NOT intact: %s",
			          s_or(audit, "verdict", "?"));
		say_error("report: no run or alert in %s matches the selection",
		          s_or(audit, "path", "?"));
		json_decref(doc);
		*status = 1;
		return NULL;
	}
	return doc;
}

/* The document written in o's format to o's file; the command's exit status. */
static int report_write(json_t *doc, const struct report_options *o)
{
	FILE *f = stdout;
	if (o->output && !(f = fopen(o->output, "we"))) {
		say_error("report: %s: %s", o->output, strerror(errno));
		json_decref(doc);
		return SALVE_EXIT_CANTCREAT;
	}
	int rc;
	if (strcmp(o->format, "json") == 0) {
		rc = json_dumpf(doc, f, JSON_INDENT(2)) < 0 || fputc('\n', f) == EOF ? -1 : 0;
	} else if (strcmp(o->format, "html") == 0) {
		rc = salve_report_write_html(f, doc);
	} else {
		rc = salve_report_write_md(f, doc);
	}
	if (f != stdout && fclose(f) != 0)
		rc = -1;
	const json_t *audit = json_object_get(doc, "audit");
	int intact = json_is_true(json_object_get(audit, "intact"));
	if (!intact)
		say_error("report: the audit log is NOT intact: %s (the report says so)",
		          s_or(audit, "verdict", "?"));
	json_decref(doc);
	if (rc < 0) {
		say_error("report: writing %s failed", o->output ? o->output : "stdout");
		return SALVE_EXIT_IOERR;
	}
	return intact ? 0 : 1;
}

int salve_cmd_report(const struct salve_cli_globals *g, int argc, char **argv)
{
	struct report_options o;
	int status = report_options_parse(argc, argv, &o);
	if (status >= 0)
		return status;
	json_t *doc = report_select(g, &o, &status);
	return doc ? report_write(doc, &o) : status;
}
