#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"
#include "util.h"

static char tmpdir[256];

const char *tu_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/salve-test-XXXXXX");
		if (!mkdtemp(tmpdir))
			fail_msg("mkdtemp failed");
	}
	return tmpdir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_cleanup(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

const char *tu_path(const char *name)
{
	static char bufs[8][1024];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, 1024, "%s/%s", tu_tmpdir(), name);
	return b;
}

void tu_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

char *tu_read(const char *path)
{
	return salve_read_file(path, NULL);
}

int tu_calls(const char *dir, const char *action, const char *callback)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/calls/%s.%s", dir, action, callback);
	struct stat st;
	return stat(path, &st) == 0 ? (int)st.st_size : 0;
}

struct salve_registry *tu_registry(int bad)
{
	const char *dirs[4] = {getenv("SALVE_TEST_PLUGIN_DIR"), getenv("SALVE_PLUGIN_DIR"),
	                       bad ? getenv("SALVE_BAD_PLUGIN_DIR") : NULL, NULL};
	if (!dirs[0] || !dirs[1])
		fail_msg(
		    "run through ctest: SALVE_TEST_PLUGIN_DIR and SALVE_PLUGIN_DIR are needed");
	return salve_registry_new(dirs, NULL);
}

json_t *tu_audit_records(const char *path)
{
	char *text = salve_read_file(path, NULL);
	json_t *out = json_array();
	if (!text)
		return out;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_array_append_new(out, json_loads(line, 0, NULL));
	free(text);
	return out;
}
