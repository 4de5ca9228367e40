/* auditscan: the streaming chain check of `salve report` and the field reader it uses.
 * Input: a log, optionally followed by "\n--head--\n" and its head (as fuzz_audit).
 * Invariants:
 *  - the scan reads any file to its end without a sanitizer report;
 *  - whatever `salve audit verify` accepts, the scan accepts (no false alarm in a report);
 *  - on a log both accept, with the head the writer would leave, changing any one byte of any
 *    line makes the scan say the log is not intact (every edit shows in the first line);
 *  - salve_scan_fields agrees with jansson: on each line that jansson reads as an object
 *    without duplicate keys, every top-level member the scan finds is there, a string exactly
 *    when jansson's is, with the same text when it holds no escapes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "auditscan.h"
#include "fuzz_util.h"
#include "util.h"

#define SEP       "\n--head--\n"
#define MAX_FLIPS 16

static int ignore(void *ctx, const struct salve_scan_line *l)
{
	(void)ctx;
	(void)l;
	return 0;
}

static int scan_intact(const char *path)
{
	struct salve_scan_result res;
	int rc = salve_scan_log(path, ignore, NULL, &res);
	FUZZ_CHECK(rc == 0, "the scan could not read %s: %s", path, res.verdict);
	return res.intact;
}

static void check_fields(const char *line, size_t len)
{
	static const char *const keys[] = {"seq", "ts", "run", "event", "prev", "labels", ""};
	struct salve_field f[7];
	for (size_t i = 0; i < 7; i++)
		f[i].key = keys[i];
	int found = salve_scan_fields(line, len, f, 7);
	json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj) || found < 0) {
		json_decref(obj);
		return;
	}
	for (size_t i = 0; i < 7; i++) {
		if (!f[i].val)
			continue;
		json_t *v = json_object_get(obj, keys[i]);
		FUZZ_CHECK(v != NULL, "scan found \"%s\" that jansson does not have", keys[i]);
		FUZZ_CHECK(f[i].string == json_is_string(v), "\"%s\": string %d, jansson's type %d",
		           keys[i], f[i].string, (int)json_typeof(v));
		if (f[i].string && !f[i].escaped)
			FUZZ_CHECK(json_string_length(v) == f[i].len &&
			               memcmp(json_string_value(v), f[i].val, f[i].len) == 0,
			           "\"%s\": the scan's value differs from jansson's", keys[i]);
	}
	json_decref(obj);
}

/* The seq and line of the last record of a log that ends with '\n'. */
static int last_record(const char *log, size_t len, long long *seq, const char **line,
                       size_t *line_len)
{
	if (len == 0)
		return -1;
	const char *end = log + len - 1;
	const char *start = end;
	while (start > log && start[-1] != '\n')
		start--;
	json_t *rec = json_loadb(start, (size_t)(end - start), 0, NULL);
	if (!rec)
		return -1;
	*seq = json_integer_value(json_object_get(rec, "seq"));
	json_decref(rec);
	*line = start;
	*line_len = (size_t)(end - start);
	return 0;
}

int fuzz_one(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *sep = size >= sizeof SEP - 1 ? memmem(text, size, SEP, sizeof SEP - 1) : NULL;
	size_t log_len = sep ? (size_t)(sep - text) + 1 : size;
	for (const char *p = text; p < text + log_len;) {
		const char *nl = memchr(p, '\n', (size_t)(text + log_len - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(text + log_len - p);
		check_fields(p, n);
		p += n + 1;
	}
	char *path = strdup(fuzz_write_file("audit.jsonl", text, log_len));
	if (sep)
		fuzz_write_file("audit.jsonl.head", sep + sizeof SEP - 1,
		                size - log_len - (sizeof SEP - 2));
	else
		fuzz_remove_file("audit.jsonl.head");
	char msg[8192];
	int verified = salve_audit_verify(path, msg, sizeof msg) == 0;
	int intact = scan_intact(path);
	FUZZ_CHECK(!verified || intact, "audit verify accepts the log, the scan does not");
	long long seq;
	const char *line;
	size_t line_len;
	if (!verified || last_record(text, log_len, &seq, &line, &line_len) < 0)
		goto out;
	char hash[65], head[128];
	salve_sha256_hex(line, line_len, hash);
	int hn = snprintf(head, sizeof head, "{\"seq\":%lld,\"hash\":\"%s\"}\n", seq, hash);
	fuzz_write_file("audit.jsonl.head", head, (size_t)hn);
	if (salve_audit_verify(path, msg, sizeof msg) != 0)
		goto out;
	FUZZ_CHECK(scan_intact(path), "an intact log with a matching head fails the scan");
	char *edited = malloc(log_len);
	for (size_t k = 0; k < MAX_FLIPS && k < log_len; k++) {
		size_t at = (k * 7919u + size) % log_len;
		if (text[at] == '\n')
			continue;
		memcpy(edited, text, log_len);
		edited[at] ^= 0x01;
		if (edited[at] == '\n')
			edited[at] ^= 0x03;
		fuzz_write_file("audit.jsonl", edited, log_len);
		FUZZ_CHECK(!scan_intact(path), "byte %zu changed and the scan still says intact",
		           at);
	}
	free(edited);
out:
	free(path);
	return 0;
}
