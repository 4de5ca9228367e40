/* salve_audit_verify: `salve audit verify` on a log and its .head file.
 * Input: the log, optionally followed by "\n--head--\n" and the content of LOG.head.
 * Invariants: the answer is 0 or 1 (the file is readable) and names the log; and when a log
 * verifies, then with a head that matches its last record it still verifies, and changing any
 * one byte of any line (newlines kept) makes verification fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fuzz_util.h"
#include "util.h"

#define SEP       "\n--head--\n"
#define MAX_FLIPS 16

static int verify(const char *path, char *msg, size_t msglen)
{
	msg[0] = '\0';
	int rc = salve_audit_verify(path, msg, msglen);
	FUZZ_CHECK(rc == 0 || rc == 1, "verify returned %d: %s", rc, msg);
	FUZZ_CHECK(strstr(msg, path) != NULL, "verify's message does not name the log: %s", msg);
	return rc;
}

/* The seq and line bytes of the last record of an intact log (which ends with '\n'). */
static int last_record(const char *log, size_t len, long long *seq, const char **line,
                       size_t *line_len)
{
	if (len == 0)
		return -1;
	const char *end = log + len - 1; /* the final '\n' */
	const char *start = end;
	while (start > log && start[-1] != '\n')
		start--;
	char *copy = fuzz_strndup((const uint8_t *)start, (size_t)(end - start));
	json_t *rec = json_loads(copy, 0, NULL);
	free(copy);
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
	char *path = strdup(fuzz_write_file("audit.jsonl", text, log_len));
	char headpath[8192];
	snprintf(headpath, sizeof headpath, "%s.head", path);
	if (sep)
		fuzz_write_file("audit.jsonl.head", sep + sizeof SEP - 1,
		                size - log_len - (sizeof SEP - 2));
	else
		fuzz_remove_file("audit.jsonl.head");

	char msg[8192];
	int rc = verify(path, msg, sizeof msg);
	long long seq;
	const char *line;
	size_t line_len;
	if (rc != 0 || last_record(text, log_len, &seq, &line, &line_len) < 0)
		goto out;

	/* The head the writer would have left: the last record's seq and hash. */
	char hash[65], head[128];
	salve_sha256_hex(line, line_len, hash);
	int hn = snprintf(head, sizeof head, "{\"seq\":%lld,\"hash\":\"%s\"}\n", seq, hash);
	fuzz_write_file("audit.jsonl.head", head, (size_t)hn);
	FUZZ_CHECK(verify(path, msg, sizeof msg) == 0,
	           "an intact log with a matching head fails: %s", msg);

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
		FUZZ_CHECK(verify(path, msg, sizeof msg) == 1,
		           "byte %zu changed (0x%02x -> 0x%02x) and the log still verifies: %s", at,
		           (unsigned char)text[at], (unsigned char)edited[at], msg);
	}
	free(edited);
out:
	free(path);
	return 0;
}
