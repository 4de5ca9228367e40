/* salve_journal_read: what `salve recover` reads after a crash, and salve_journal_adopt +
 * salve_journal_append: what recovery then writes to the same file (runs/run.journal, so the
 * chain starts from run id "run", as the seeds in corpus/journal were written).
 * Invariants:
 *  - reading any bytes succeeds (it is a regular file we own) and never crashes; every record
 *    read is an object with the next seq, at most one per line; damaged comes with a
 *    problem, an intact journal has none, and trusted_seq counts the records returned;
 *  - adopting reads exactly what salve_journal_read read;
 *  - the records of an intact journal, written again by the journal API (create + append,
 *    same run id), read back unchanged, and their lines are the input's byte for byte
 *    (hashes included) up to its last complete line;
 *  - after adopting an intact journal (torn last line or not) and appending a record, the
 *    journal reads back intact and untorn, with the old records and then that record last;
 *  - a damaged journal refuses appends and its bytes stay as they were;
 *  - an input that is a JSON object, appended to a fresh journal, reads back as itself plus
 *    seq and h (the writer round-trips whatever a runbook or plugin puts in a record). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "journal.h"

/* The width of the tail line (docs/architecture.md, "Format"). */
#define TAIL_BYTES 128

static char state_dir[4096];
static char fresh_path[4200];

/* The state dir beside fuzz_write_file's files; the fresh journal's path in it. */
static void init_paths(void)
{
	if (state_dir[0])
		return;
	char *dir = strdup(fuzz_write_file("run.journal", "", 0));
	snprintf(state_dir, sizeof state_dir, "%s/state", dirname(dir));
	snprintf(fresh_path, sizeof fresh_path, "%s/runs/run.journal", state_dir);
	free(dir);
}

static char *read_whole(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	FUZZ_CHECK(f != NULL, "cannot open %s", path);
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*size = n;
	return buf;
}

static void check_shape(const json_t *records, const salve_journal_check *check, size_t lines)
{
	FUZZ_CHECK(json_is_array(records), "records is not an array");
	FUZZ_CHECK(json_array_size(records) <= lines, "%zu records from %zu lines",
	           json_array_size(records), lines);
	FUZZ_CHECK(check->trusted_seq == (long long)json_array_size(records),
	           "trusted_seq %lld, %zu records", check->trusted_seq, json_array_size(records));
	FUZZ_CHECK(check->damaged == (check->problem[0] != '\0'), "damaged %d, problem \"%s\"",
	           check->damaged, check->problem);
	size_t i;
	json_t *rec;
	json_array_foreach(records, i, rec)
	{
		FUZZ_CHECK(json_is_object(rec), "record %zu is not an object", i);
		FUZZ_CHECK(json_integer_value(json_object_get(rec, "seq")) == (json_int_t)i + 1,
		           "record %zu has the wrong seq", i);
	}
}

/* The records (borrowed) of the intact journal data, written again through a fresh journal,
 * read back unchanged, in the same lines. */
static void check_rewrite(json_t *records, const uint8_t *data, size_t size)
{
	char err[4096] = "";
	unlink(fresh_path);
	salve_journal *j =
	    salve_journal_create(state_dir, "run", json_array_get(records, 0), err, sizeof err);
	FUZZ_CHECK(j != NULL, "create: %s", err);
	for (size_t i = 1; i < json_array_size(records); i++)
		FUZZ_CHECK(salve_journal_append(j, json_deep_copy(json_array_get(records, i)), err,
		                                sizeof err) == 0,
		           "append: %s", err);
	json_t *again;
	salve_journal_check check;
	FUZZ_CHECK(salve_journal_read(fresh_path, &again, &check, NULL, err, sizeof err) == 0,
	           "read: %s", err);
	FUZZ_CHECK(!check.damaged && !check.torn, "a journal the API wrote reads as: %s",
	           check.problem);
	FUZZ_CHECK(json_equal(again, records), "records written by the journal read back "
	                                       "differently");
	json_decref(again);
	size_t complete = size, fresh_size;
	while (complete > 0 && data[complete - 1] != '\n')
		complete--;
	char *fresh = read_whole(fresh_path, &fresh_size);
	FUZZ_CHECK(complete >= TAIL_BYTES && fresh_size == complete &&
	               memcmp(fresh + TAIL_BYTES, data + TAIL_BYTES, complete - TAIL_BYTES) == 0,
	           "the journal writes these records as other lines than the input's");
	free(fresh);
	salve_journal_close(j, 1);
}

/* An input that is a JSON object, as a record of a fresh journal, reads back as itself. */
static void check_object_roundtrip(const uint8_t *data, size_t size)
{
	json_t *obj = json_loadb((const char *)data, size, 0, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return;
	}
	char err[4096] = "";
	unlink(fresh_path);
	salve_journal *j = salve_journal_create(state_dir, "run", obj, err, sizeof err);
	FUZZ_CHECK(j != NULL, "create: %s", err);
	json_t *again;
	salve_journal_check check;
	FUZZ_CHECK(salve_journal_read(fresh_path, &again, &check, NULL, err, sizeof err) == 0,
	           "read: %s", err);
	FUZZ_CHECK(!check.damaged && !check.torn && json_array_size(again) == 1,
	           "a journal the API wrote reads as: %s", check.problem);
	json_t *rec = json_deep_copy(json_array_get(again, 0));
	/* seq and h are the journal's own fields: an input's are replaced by them. */
	json_object_del(rec, "h");
	json_object_del(obj, "h");
	json_object_set_new(obj, "seq", json_integer(1));
	FUZZ_CHECK(json_equal(rec, obj), "a record read back differently from what was written");
	json_decref(rec);
	json_decref(again);
	json_decref(obj);
	salve_journal_close(j, 1);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	init_paths();
	char *path = strdup(fuzz_write_file("run.journal", data, size));
	char err[4096] = "";
	size_t lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	json_t *records;
	salve_journal_check check;
	FUZZ_CHECK(salve_journal_read(path, &records, &check, NULL, err, sizeof err) == 0,
	           "read failed: %s", err);
	check_shape(records, &check, lines);
	if (!check.damaged)
		check_rewrite(records, data, size);

	/* Recovery adopts whatever the crash left: the same verdict, the same records. */
	salve_journal *j;
	json_t *adopted;
	salve_journal_check adopt_check;
	FUZZ_CHECK(salve_journal_adopt(path, &j, &adopted, &adopt_check, err, sizeof err) ==
	               SALVE_JOURNAL_OK,
	           "adopt: %s", err);
	FUZZ_CHECK(json_equal(adopted, records) && adopt_check.damaged == check.damaged &&
	               adopt_check.torn == check.torn &&
	               adopt_check.trusted_seq == check.trusted_seq &&
	               strcmp(adopt_check.problem, check.problem) == 0,
	           "adopt and read disagree");
	json_decref(adopted);
	json_t *mark = json_pack("{s:s, s:s}", "t", "undone", "step", "fuzz");
	int appended = salve_journal_append(j, json_incref(mark), err, sizeof err);
	salve_journal_close(j, 0);

	json_t *again;
	salve_journal_check after;
	if (check.damaged) {
		FUZZ_CHECK(appended < 0, "a damaged journal (%s) took an append", check.problem);
		size_t now_size;
		char *now = read_whole(path, &now_size);
		FUZZ_CHECK(now_size == size && (size == 0 || memcmp(now, data, size) == 0),
		           "a refused append changed the journal");
		free(now);
	} else {
		FUZZ_CHECK(appended == 0, "append after adopting an intact journal: %s", err);
		FUZZ_CHECK(salve_journal_read(path, &again, &after, NULL, err, sizeof err) == 0,
		           "read: %s", err);
		FUZZ_CHECK(!after.damaged && !after.torn,
		           "after an append the journal reads as: %s", after.problem);
		size_t n = json_array_size(again);
		FUZZ_CHECK(n == json_array_size(records) + 1, "%zu records after appending to %zu",
		           n, json_array_size(records));
		for (size_t i = 0; i + 1 < n; i++)
			FUZZ_CHECK(json_equal(json_array_get(again, i), json_array_get(records, i)),
			           "record %zu changed when one was appended", i);
		json_t *last = json_deep_copy(json_array_get(again, n - 1));
		json_object_del(last, "h");
		json_object_set_new(mark, "seq", json_integer((json_int_t)n));
		FUZZ_CHECK(
		    json_equal(last, mark),
		    "a record appended after adopting this journal is not the last one read");
		json_decref(last);
		json_decref(again);
	}
	json_decref(mark);
	json_decref(records);
	free(path);

	check_object_roundtrip(data, size);
	return 0;
}
