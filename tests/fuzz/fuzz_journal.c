/* salve_journal_read: what `salve recover` reads after a crash, and salve_journal_adopt +
 * salve_journal_append: what recovery then writes to the same file.
 * Invariants: every record read is an object, at most one per line, and what the journal's
 * own writer produced reads back unchanged; after adopting any journal a crash left behind
 * and appending a record, that record is the last one read back (recovery's progress is
 * never lost, whatever torn tail the crash left). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "journal.h"

int fuzz_one(const uint8_t *data, size_t size)
{
	char *path = strdup(fuzz_write_file("run.journal", data, size));
	char err[2048] = "";
	json_t *records = salve_journal_read(path, err, sizeof err);
	FUZZ_CHECK(json_is_array(records), "read failed: %s", err);
	size_t lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	FUZZ_CHECK(json_array_size(records) <= lines, "%zu records from %zu lines",
	           json_array_size(records), lines);
	size_t i;
	json_t *rec;
	json_array_foreach(records, i, rec) FUZZ_CHECK(json_is_object(rec), "record %zu", i);

	/* Written again by the journal itself, the same records read back. */
	fuzz_write_file("run.journal", "", 0);
	salve_journal *j = salve_journal_adopt(path, err, sizeof err);
	FUZZ_CHECK(j != NULL, "adopt of an empty journal: %s", err);
	json_array_foreach(records, i, rec) FUZZ_CHECK(
	    salve_journal_append(j, json_incref(rec), err, sizeof err) == 0, "append: %s", err);
	salve_journal_close(j, 0);
	json_t *again = salve_journal_read(path, err, sizeof err);
	FUZZ_CHECK(json_equal(again, records), "records written by the journal read back "
	                                       "differently");
	json_decref(again);

	/* Recovery appends to whatever the crash left. */
	fuzz_write_file("run.journal", data, size);
	j = salve_journal_adopt(path, err, sizeof err);
	FUZZ_CHECK(j != NULL, "adopt: %s", err);
	json_t *mark = json_pack("{s:s, s:s}", "t", "undone", "step", "fuzz");
	FUZZ_CHECK(salve_journal_append(j, json_incref(mark), err, sizeof err) == 0, "append: %s",
	           err);
	salve_journal_close(j, 0);
	again = salve_journal_read(path, err, sizeof err);
	size_t n = json_array_size(again);
	FUZZ_CHECK(n > 0 && json_equal(json_array_get(again, n - 1), mark),
	           "a record appended after adopting this journal is lost on reading it back");
	json_decref(again);
	json_decref(mark);
	json_decref(records);
	free(path);
	return 0;
}
