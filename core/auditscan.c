#include "auditscan.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* The writer ends every line with this and the 64 hex digits of the previous line's hash. */
#define PREV_KEY  "\"prev\":\""
#define PREV_TAIL (sizeof PREV_KEY - 1 + 64 + 2) /* "prev":"<64>"} */

static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", the form every record's ts has: without strptime and timegm,
 * which cost more than the rest of a summary's work on a record. 0, or -1 for another form. */
static int parse_ts_fast(const char *t, double *out)
{
	if (strlen(t) != 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
	    t[16] != ':' || t[19] != '.' || t[23] != 'Z')
		return -1;
	int y = digits(t, 4), mo = digits(t + 5, 2), d = digits(t + 8, 2), h = digits(t + 11, 2),
	    mi = digits(t + 14, 2), s = digits(t + 17, 2), ms = digits(t + 20, 3);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    s < 0 || s > 60 || ms < 0)
		return -1;
	*out = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0 + h * 3600.0 +
	       mi * 60.0 + s + ms / 1000.0;
	return 0;
}

int salve_parse_rfc3339(const char *text, double *out)
{
	if (parse_ts_fast(text, out) == 0)
		return 0;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	double frac = 0;
	if (*p == '.') {
		double scale = 0.1;
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
		if (hh > 23 || mm > 59)
			return -1;
		offset = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (double)t - (double)offset + frac;
	return 0;
}

void salve_format_rfc3339(double t, char *buf, size_t len)
{
	time_t secs = (time_t)t;
	if ((double)secs > t)
		secs--;
	long ms = (long)((t - (double)secs) * 1000.0 + 0.5);
	if (ms >= 1000) {
		secs++;
		ms -= 1000;
	}
	struct tm tm;
	gmtime_r(&secs, &tm);
	char base[32];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", base, ms);
}

/* The end of the string whose opening quote is at p (the byte past the closing quote), or
 * NULL when it does not end before end; *escaped set when it holds a backslash. */
static const char *string_end(const char *p, const char *end, int *escaped)
{
	for (const char *q = p + 1; q < end;) {
		const char *c = memchr(q, '"', (size_t)(end - q));
		if (!c)
			return NULL;
		const char *b = c;
		while (b > q && b[-1] == '\\')
			b--;
		if ((c - b) % 2 == 0) {
			*escaped = memchr(p + 1, '\\', (size_t)(c - (p + 1))) != NULL;
			return c + 1;
		}
		q = c + 1;
	}
	return NULL;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past one value starting at p: a string, or a nested object or array, or a scalar. */
static const char *value_end(const char *p, const char *end)
{
	int esc;
	if (p >= end)
		return NULL;
	if (*p == '"')
		return string_end(p, end, &esc);
	if (*p != '{' && *p != '[') {
		const char *start = p;
		while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
		       *p != '\n' && *p != '\r')
			p++;
		return p > start ? p : NULL;
	}
	int depth = 0;
	while (p < end) {
		if (*p == '"') {
			p = string_end(p, end, &esc);
			if (!p)
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return p + 1;
		p++;
	}
	return NULL;
}

int salve_scan_fields(const char *text, size_t len, struct salve_field *f, size_t n)
{
	const char *p = text, *end = text + len;
	size_t found = 0, klens[16];
	if (n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		klens[i] = strlen(f[i].key);
		f[i].val = NULL;
		f[i].len = 0;
		f[i].string = f[i].escaped = 0;
	}
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return 0;
	while (p < end && found < n) {
		int esc;
		if (*p != '"')
			return -1;
		const char *kend = string_end(p, end, &esc);
		if (!kend)
			return -1;
		const char *k = p + 1;
		size_t klen = (size_t)(kend - 1 - k);
		p = skip_ws(kend, end);
		if (p >= end || *p != ':')
			return -1;
		p = skip_ws(p + 1, end);
		const char *vend = value_end(p, end);
		if (!vend)
			return -1;
		for (size_t i = 0; i < n && !esc; i++) {
			if (f[i].val || klens[i] != klen || memcmp(f[i].key, k, klen) != 0)
				continue;
			f[i].string = *p == '"';
			f[i].val = f[i].string ? p + 1 : p;
			f[i].len = (size_t)(vend - p) - (f[i].string ? 2 : 0);
			if (f[i].string)
				string_end(p, end, &f[i].escaped);
			found++;
			break;
		}
		p = skip_ws(vend, end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
		else if (p < end && *p == '}')
			return (int)found;
		else
			return -1;
	}
	return found == n ? (int)found : -1;
}

const char *salve_field_str(const struct salve_field *f, char *buf, size_t len)
{
	if (!f->val || !f->string || f->escaped || f->len + 1 > len) {
		buf[0] = '\0';
		return buf;
	}
	memcpy(buf, f->val, f->len);
	buf[f->len] = '\0';
	return buf;
}

struct chain {
	char prev_hash[65];
	long long prev_seq;
	long long lineno;
	long long wanted_seq; /* the head's seq: the hash of that record is kept */
	char wanted_hash[65];
	int broken;
	char why[1024];
};

static void broke(struct chain *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void broke(struct chain *c, const char *fmt, ...)
{
	if (c->broken)
		return;
	c->broken = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
}

/* seq and prev where the writer puts them ({"seq":N,... and ...,"prev":"HASH"}), else from a
 * full parse (a line written otherwise is still checked, only slower). 0, or -1. */
static int seq_and_prev(const char *line, size_t len, long long *seq, char *prev)
{
	static const char lead[] = "{\"seq\":";
	/* A second "seq" (jansson keeps the last of duplicate keys) takes the parse. */
	if (len > sizeof lead - 1 + PREV_TAIL && memcmp(line, lead, sizeof lead - 1) == 0 &&
	    memcmp(line + len - PREV_TAIL, PREV_KEY, sizeof PREV_KEY - 1) == 0 &&
	    memcmp(line + len - 2, "\"}", 2) == 0 &&
	    !memmem(line + sizeof lead - 1, len - (sizeof lead - 1), "\"seq\"", 5)) {
		const char *p = line + sizeof lead - 1;
		long long v = 0;
		int digits = 0;
		while (*p == ' ')
			p++; /* the head pads seq with spaces; records do not, but JSON allows it */
		for (; *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
			v = v * 10 + (*p - '0');
		if (digits && (*p == ',' || *p == '}')) {
			*seq = v;
			memcpy(prev, line + len - PREV_TAIL + sizeof PREV_KEY - 1, 64);
			prev[64] = '\0';
			return 0;
		}
	}
	json_t *rec = json_loadb(line, len, 0, NULL);
	json_t *jseq = json_object_get(rec, "seq");
	const char *p = json_string_value(json_object_get(rec, "prev"));
	int rc = -1;
	if (json_is_integer(jseq) && p && strlen(p) == 64) {
		*seq = json_integer_value(jseq);
		memcpy(prev, p, 65);
		rc = 0;
	}
	json_decref(rec);
	return rc;
}

static void check_line(struct chain *c, const char *path, const char *line, size_t len,
                       long long *seq_out)
{
	long long seq = 0;
	char prev[65];
	*seq_out = 0;
	if (seq_and_prev(line, len, &seq, prev) < 0) {
		broke(c, "%s:%lld: not an audit record (no seq or prev): the line was edited", path,
		      c->lineno);
	} else if (seq != c->prev_seq + 1) {
		if (seq > c->prev_seq + 1)
			broke(c,
			      "%s:%lld: record seq %lld follows seq %lld: %lld record(s) missing",
			      path, c->lineno, seq, c->prev_seq, seq - 1 - c->prev_seq);
		else
			broke(c, "%s:%lld: record seq %lld follows seq %lld: out of order", path,
			      c->lineno, seq, c->prev_seq);
	} else if (memcmp(prev, c->prev_hash, 64) != 0) {
		broke(
		    c,
		    "%s:%lld: hash chain broken: the previous line (%lld) was edited, or a record "
		    "before this one was removed",
		    path, c->lineno, c->lineno - 1);
	}
	if (seq > 0)
		*seq_out = seq;
	salve_sha256_hex(line, len, c->prev_hash);
	c->prev_seq = seq;
	if (c->wanted_seq && seq == c->wanted_seq)
		memcpy(c->wanted_hash, c->prev_hash, 65);
}

/* PATH.head: 0 with seq and hash; 1 missing; 2 empty or damaged; -1 unreadable. */
static int read_head(const char *path, long long *seq, char *hash, char *why, size_t whylen)
{
	char hp[4200];
	snprintf(hp, sizeof hp, "%s.head", path);
	int fd = open(hp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", hp,
		         errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return errno == ENOENT ? 1 : -1;
	}
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		snprintf(why, whylen, "%s: %s", hp, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	json_t *h = json_loads(buf, 0, NULL);
	json_t *jseq = json_object_get(h, "seq");
	const char *jh = json_string_value(json_object_get(h, "hash"));
	int rc = 2;
	if (json_is_integer(jseq) && json_integer_value(jseq) >= 0 && jh && strlen(jh) == 64) {
		*seq = json_integer_value(jseq);
		memcpy(hash, jh, 65);
		rc = 0;
	}
	json_decref(h);
	return rc;
}

/* The scanned line: the pieces every consumer uses, then the callback. */
static int hand_over(salve_scan_fn fn, void *ctx, const char *line, size_t len, long long lineno,
                     long long seq)
{
	struct salve_scan_line l;
	l.text = line;
	l.len = len;
	l.lineno = lineno;
	l.seq = seq;
	struct salve_field f[3] = {{.key = "ts"}, {.key = "event"}, {.key = "run"}};
	char ts[48];
	salve_scan_fields(line, len, f, 3);
	if (!salve_field_str(&f[0], ts, sizeof ts)[0] || salve_parse_rfc3339(ts, &l.ts) < 0)
		l.ts = 0;
	salve_field_str(&f[1], l.event, sizeof l.event);
	salve_field_str(&f[2], l.run, sizeof l.run);
	return fn(ctx, &l);
}

int salve_scan_log(const char *path, salve_scan_fn fn, void *ctx, struct salve_scan_result *res)
{
	memset(res, 0, sizeof *res);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(res->verdict, sizeof res->verdict, "%s: %s", path,
		         fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* The size and the head as one writer left them: a record and its head move together
	 * under the exclusive lock. */
	while (flock(fd, LOCK_SH) < 0 && errno == EINTR)
		;
	fstat(fd, &st);
	long long hseq = 0;
	char hhash[65] = "", hwhy[512] = "";
	int hrc = read_head(path, &hseq, hhash, hwhy, sizeof hwhy);
	flock(fd, LOCK_UN);

	struct chain c;
	memset(&c, 0, sizeof c);
	memcpy(c.prev_hash, ZERO_HASH, 65);
	c.wanted_seq = hrc == 0 ? hseq : 0;
	off_t left = st.st_size;
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap);
	int rc = 0;
	while (buf && left > 0) {
		if (have == cap) {
			char *grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		size_t want = cap - have;
		if ((off_t)want > left)
			want = (size_t)left;
		ssize_t n = read(fd, buf + have, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(res->verdict, sizeof res->verdict, "%s: read: %s", path,
			         n < 0 ? strerror(errno) : "the file shrank while it was read");
			rc = -1;
			break;
		}
		have += (size_t)n;
		left -= n;
		size_t start = 0;
		for (;;) {
			char *nl = memchr(buf + start, '\n', have - start);
			if (!nl)
				break;
			size_t len = (size_t)(nl - (buf + start));
			c.lineno++;
			long long seq;
			check_line(&c, path, buf + start, len, &seq);
			rc = hand_over(fn, ctx, buf + start, len, c.lineno, seq);
			start += len + 1;
			if (rc)
				break;
		}
		if (rc)
			break;
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	if (!buf) {
		snprintf(res->verdict, sizeof res->verdict, "%s: out of memory", path);
		rc = -1;
	}
	free(buf);
	close(fd);
	res->records = c.lineno;
	if (rc)
		return rc;
	if (have > 0)
		broke(&c, "%s:%lld: last line is incomplete (a torn write)", path, c.lineno + 1);
	if (hrc == -1)
		broke(&c, "%s", hwhy);
	else if ((hrc == 1 || hrc == 2) && c.lineno > 0)
		broke(&c,
		      "%s.head is %s while the log has %lld records: records removed from the end "
		      "cannot be detected",
		      path, hrc == 1 ? "missing" : "empty or damaged", c.lineno);
	else if (hrc == 0 && hseq > c.prev_seq)
		broke(&c,
		      "%s: the log ends at seq %lld but its head says %lld records were written: "
		      "%lld record(s) removed from the end",
		      path, c.prev_seq, hseq, hseq - c.prev_seq);
	else if (hrc == 0 && hseq == c.prev_seq && c.lineno && strcmp(hhash, c.prev_hash) != 0)
		broke(&c, "%s:%lld: the last record was edited (its hash differs from the head)",
		      path, c.lineno);
	else if (hrc == 0 && hseq > 0 && hseq < c.prev_seq && strcmp(hhash, c.wanted_hash) != 0)
		broke(&c, "%s:%lld: record seq %lld was edited (its hash differs from the head)",
		      path, hseq, hseq);
	res->intact = !c.broken;
	if (c.broken)
		snprintf(res->verdict, sizeof res->verdict, "%s", c.why);
	else
		snprintf(res->verdict, sizeof res->verdict, "%s: %lld records, hash chain intact",
		         path, c.lineno);
	return 0;
}
