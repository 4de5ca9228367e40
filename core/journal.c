#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util.h"

struct salve_journal {
	int fd;
	char *path;
};

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

salve_journal *salve_journal_create(const char *state_dir, const char *run_id, const json_t *header,
                                    char *err, size_t errlen)
{
	char dir[4096], path[4200];
	snprintf(dir, sizeof dir, "%s/runs", state_dir);
	if (salve_mkdirs(dir, 0700) < 0) {
		snprintf(err, errlen, "state dir %s: %s", dir, strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof path, "%s/%s.journal", dir, run_id);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "journal %s: lock: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	salve_journal *j = calloc(1, sizeof *j);
	j->fd = fd;
	j->path = strdup(path);
	if (salve_journal_append(j, json_deep_copy(header), err, errlen) < 0 || sync_dir(dir) < 0) {
		unlink(path);
		salve_journal_close(j, 0);
		return NULL;
	}
	return j;
}

salve_journal *salve_journal_adopt(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "journal %s belongs to a run that is still going", path);
		close(fd);
		return NULL;
	}
	salve_journal *j = calloc(1, sizeof *j);
	j->fd = fd;
	j->path = strdup(path);
	return j;
}

const char *salve_journal_path(const salve_journal *j)
{
	return j->path;
}

int salve_journal_append(salve_journal *j, json_t *record, char *err, size_t errlen)
{
	char *line = json_dumps(record, JSON_COMPACT);
	json_decref(record);
	if (!line) {
		snprintf(err, errlen, "journal %s: cannot encode record", j->path);
		return -1;
	}
	size_t len = strlen(line);
	line[len] = '\n';
	const char *p = line;
	size_t left = len + 1;
	while (left) {
		ssize_t n = write(j->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "journal %s: write: %s", j->path, strerror(errno));
			free(line);
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	free(line);
	if (fdatasync(j->fd) < 0) {
		snprintf(err, errlen, "journal %s: fdatasync: %s", j->path, strerror(errno));
		return -1;
	}
	return 0;
}

json_t *salve_journal_read(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = salve_read_file(path, &len);
	if (!text) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		return NULL;
	}
	json_t *out = json_array();
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *rec = json_loads(line, 0, NULL);
		if (json_is_object(rec))
			json_array_append_new(out, rec);
		else
			json_decref(
			    rec); /* a torn last write: the action it described never returned */
	}
	free(text);
	return out;
}

json_t *salve_journal_list(const char *state_dir)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/runs", state_dir);
	json_t *out = json_array();
	DIR *d = opendir(dir);
	if (!d)
		return out;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 8 && strcmp(e->d_name + n - 8, ".journal") == 0) {
			char path[4400];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			json_array_append_new(out, json_string(path));
		}
	}
	closedir(d);
	size_t count = json_array_size(out);
	for (size_t a = 1; a < count; a++)
		for (size_t b = a; b > 0 && strcmp(json_string_value(json_array_get(out, b - 1)),
		                                   json_string_value(json_array_get(out, b))) > 0;
		     b--) {
			json_t *tmp = json_incref(json_array_get(out, b));
			json_array_set(out, b, json_array_get(out, b - 1));
			json_array_set_new(out, b - 1, tmp);
		}
	return out;
}

void salve_journal_close(salve_journal *j, int remove_file)
{
	if (!j)
		return;
	if (remove_file)
		unlink(j->path);
	close(j->fd);
	free(j->path);
	free(j);
}
