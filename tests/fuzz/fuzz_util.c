#include "fuzz_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[4096];

static void remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	if (!d)
		return;
	struct dirent *e;
	char path[8192];
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmpdir);
}

static const char *ensure_tmpdir(void)
{
	if (tmpdir[0])
		return tmpdir;
	/* tmpfs when there is one: the audit and journal targets write a file per input. */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/salve-fuzz-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("salve fuzz: mkdtemp");
		abort();
	}
	atexit(remove_tmpdir);
	return tmpdir;
}

/* Continue mode (SALVE_FUZZ_CONTINUE=DIR): where inputs that broke an invariant go. */
static const char *continue_dir;
static int continue_checked;
static jmp_buf abandon;
static const uint8_t *input;
static size_t input_size;
#define MAX_LINES 1024
static unsigned reported[MAX_LINES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!continue_checked) {
		continue_checked = 1;
		const char *dir = getenv("SALVE_FUZZ_CONTINUE");
		continue_dir = dir && *dir ? dir : NULL;
	}
	input = data;
	input_size = size;
	if (continue_dir) {
		if (setjmp(abandon))
			return 0;
	}
	return fuzz_one(data, size);
}

static void save_input(const char *file, int line, unsigned n)
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	char path[8192];
	snprintf(path, sizeof path, "%s/invariant-%.*s-L%d-%u", continue_dir,
	         (int)(strcspn(base, ".")), base, line, n);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (input_size && write(fd, input, input_size) != (ssize_t)input_size)
		perror(path);
	close(fd);
}

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	unsigned n = line >= 0 && line < MAX_LINES ? ++reported[line] : 1;
	if (!continue_dir || n == 1) {
		char msg[4096];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		/* One line, whatever bytes the input put in the message. */
		fprintf(stderr, "invariant broken (%s:%d): ", file, line);
		for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
			if (*p < 0x20 || *p == 0x7f || *p == '\\')
				fprintf(stderr, "\\x%02x", *p);
			else
				fputc(*p, stderr);
		}
		fputc('\n', stderr);
	}
	if (!continue_dir)
		abort();
	/* The first few inputs of each check are kept: enough to find the smallest. */
	if (n <= 20)
		save_input(file, line, n);
	longjmp(abandon, 1);
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

const char *fuzz_write_file(const char *name, const void *data, size_t size)
{
	static char path[8192];
	snprintf(path, sizeof path, "%s/%s", ensure_tmpdir(), name);
	/* A new file each time: an input abandoned in continue mode may hold the old one open
	 * (and flock'd). */
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		abort();
	}
	const char *p = data;
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		if (n <= 0) {
			perror(path);
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	close(fd);
	return path;
}

void fuzz_remove_file(const char *name)
{
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", ensure_tmpdir(), name);
	unlink(path);
}

void fuzz_split_line(const uint8_t *data, size_t size, char **first, char **rest, size_t *rest_len)
{
	const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
	size_t n = nl ? (size_t)(nl - data) : size;
	*first = fuzz_strndup(data, n);
	size_t skip = nl ? n + 1 : size;
	*rest = fuzz_strndup(data + skip, size - skip);
	*rest_len = size - skip;
}
