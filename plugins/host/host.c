/*
 * host: this machine, without SSH. Read actions report facts, disk and memory; ensure_line
 * keeps one line in a local text file (atomic rename, undo restores the exact old content).
 * Paths must be absolute and normalized (no "." or ".." parts, no "//"): a relative path
 * would depend on the working directory, which no runbook controls.
 * The undo record carries the SHA-256 of what apply wrote: undo puts the old content back
 * only while the file still holds exactly that, and otherwise fails, leaving the file for a
 * human (something else changed it since; overwriting would destroy that change).
 * Temporary files are named PATH.salve-RUN_ID-XXXXXX, so salve recover can remove those a
 * killed run left behind.
 * Stateless; every action is safe to call from several threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <regex.h>
#include <salve/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

static const salve_host *H;

static int host_init(const salve_host *host, const json_t *config, void **state, char *err,
                     size_t errlen)
{
	(void)config;
	(void)err;
	(void)errlen;
	H = host;
	*state = NULL;
	return 0;
}

static int facts_run(salve_call *call, const json_t *args, json_t **result)
{
	(void)args;
	struct utsname u;
	struct sysinfo si;
	char hostname[HOST_NAME_MAX + 1] = "";
	if (uname(&u) < 0 || sysinfo(&si) < 0) {
		H->fail(call, "cannot read system information: %s", strerror(errno));
		return SALVE_ERR;
	}
	gethostname(hostname, sizeof hostname);
	long long avail_kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "MemAvailable: %lld kB", &avail_kb) == 1)
				break;
		fclose(f);
	}
	double scale = 1.0 / (1 << SI_LOAD_SHIFT);
	*result =
	    json_pack("{s:s, s:s, s:s, s:I, s:[f,f,f], s:I, s:I, s:I}", "hostname", hostname,
	              "kernel", u.release, "arch", u.machine, "uptime_s", (json_int_t)si.uptime,
	              "load", si.loads[0] * scale, si.loads[1] * scale, si.loads[2] * scale, "cpus",
	              (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "mem_total_mb",
	              (json_int_t)((unsigned long long)si.totalram * si.mem_unit >> 20),
	              "mem_available_mb", (json_int_t)(avail_kb >= 0 ? avail_kb >> 10 : -1));
	return SALVE_OK;
}

static int disk_run(salve_call *call, const json_t *args, json_t **result)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	struct statvfs st;
	if (statvfs(path, &st) < 0) {
		H->fail(call, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? SALVE_ERR_NOTFOUND : SALVE_ERR;
	}
	unsigned long long total = (unsigned long long)st.f_blocks * st.f_frsize;
	unsigned long long avail = (unsigned long long)st.f_bavail * st.f_frsize;
	unsigned long long used = total - (unsigned long long)st.f_bfree * st.f_frsize;
	/* As df computes it: used / (used + available to unprivileged users). */
	double pct = used + avail ? 100.0 * (double)used / (double)(used + avail) : 0;
	*result = json_pack("{s:s, s:I, s:I, s:I, s:f}", "path", path, "total_bytes",
	                    (json_int_t)total, "used_bytes", (json_int_t)used, "available_bytes",
	                    (json_int_t)avail, "used_pct", pct);
	return SALVE_OK;
}

/* ---- ensure_line -------------------------------------------------------------------------- */

/* An absolute path without empty, "." or ".." components and without a trailing slash. */
static int valid_path(salve_call *call, const char *path)
{
	const char *why = NULL;
	if (!path || path[0] != '/')
		why = "must be an absolute path";
	else if (strlen(path) >= PATH_MAX - 32)
		why = "is too long";
	for (const char *p = path; !why && *p;) {
		const char *part = p + 1, *next = strchr(part, '/');
		size_t n = next ? (size_t)(next - part) : strlen(part);
		if (n == 0)
			why = "must not contain empty components or end with /";
		else if ((n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
			why = "must be normalized (no . or .. components)";
		p = part + n;
	}
	if (why) {
		H->fail(call, "path \"%s\" %s", path ? path : "", why);
		return 0;
	}
	return 1;
}

static void sha256_hex(const char *data, size_t len, char hex[65])
{
	/* The low-level calls: SHA256() goes through EVP and its providers (megabytes). */
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX ctx;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, data, len);
	SHA256_Final(md, &ctx);
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

struct text_file {
	int exists;
	char *content; /* NUL-terminated; NULL when the file does not exist */
	size_t len;
	mode_t mode;
};

static int read_text(salve_call *call, const char *path, struct text_file *tf)
{
	memset(tf, 0, sizeof *tf);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		H->fail(call, "%s: %s", path, strerror(errno));
		return SALVE_ERR;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024) {
		H->fail(call, "%s: not a regular file of at most 16 MiB", path);
		close(fd);
		return SALVE_ERR_INVALID;
	}
	tf->content = malloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, tf->content, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		H->fail(call, "%s: short read", path);
		free(tf->content);
		return SALVE_ERR;
	}
	tf->content[n] = '\0';
	if (memchr(tf->content, '\0', (size_t)n)) {
		H->fail(call, "%s: not a text file", path);
		free(tf->content);
		return SALVE_ERR_INVALID;
	}
	tf->exists = 1;
	tf->len = (size_t)n;
	tf->mode = st.st_mode & 07777;
	return 0;
}

/* The new content with line ensured: replaces the last line matching re (when given), else
 * appends. Sets *replaced to the old line (malloc'd) when one was replaced. */
static char *with_line(const struct text_file *tf, const char *line, const regex_t *re,
                       char **replaced)
{
	*replaced = NULL;
	const char *text = tf->content ? tf->content : "";
	const char *hit = NULL, *hit_end = NULL;
	if (re) {
		for (const char *p = text; *p;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			char *one = strndup(p, n);
			if (regexec(re, one, 0, NULL, 0) == 0) {
				hit = p;
				hit_end = p + n;
			}
			free(one);
			p += n + (nl ? 1 : 0);
		}
	}
	size_t linelen = strlen(line);
	char *out = malloc(strlen(text) + linelen + 3);
	if (hit) {
		*replaced = strndup(hit, (size_t)(hit_end - hit));
		size_t pre = (size_t)(hit - text);
		memcpy(out, text, pre);
		memcpy(out + pre, line, linelen);
		strcpy(out + pre + linelen, hit_end);
	} else {
		size_t n = strlen(text);
		memcpy(out, text, n);
		if (n && text[n - 1] != '\n')
			out[n++] = '\n';
		memcpy(out + n, line, linelen);
		out[n + linelen] = '\n';
		out[n + linelen + 1] = '\0';
	}
	return out;
}

static int has_line(const struct text_file *tf, const char *line)
{
	if (!tf->content)
		return 0;
	size_t n = strlen(line);
	for (const char *p = tf->content; (p = strstr(p, line)); p++)
		if ((p == tf->content || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

static int compile_regexp(salve_call *call, const json_t *args, regex_t *re, int *have)
{
	const char *pattern = json_string_value(json_object_get(args, "regexp"));
	*have = 0;
	if (!pattern)
		return 0;
	int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char why[256];
		regerror(rc, re, why, sizeof why);
		H->fail(call, "regexp \"%s\": %s", pattern, why);
		return SALVE_ERR_INVALID;
	}
	*have = 1;
	return 0;
}

/* A missing file is created only when the runbook says create = true (as ssh-patch's
 * ensure_line): a typo in a path must not make a new file. */
static int refuse_missing(salve_call *call, const json_t *args, const struct text_file *tf)
{
	if (tf->exists || json_is_true(json_object_get(args, "create")))
		return 0;
	H->fail(call, "%s does not exist (set create=true to create it)",
	        json_string_value(json_object_get(args, "path")));
	return SALVE_ERR_NOTFOUND;
}

static int line_check(salve_call *call, const json_t *args, json_t **observed)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	const char *line = json_string_value(json_object_get(args, "line"));
	if (!valid_path(call, path))
		return SALVE_ERR_INVALID;
	if (strchr(line, '\n')) {
		H->fail(call, "line must be one line (it contains a newline)");
		return SALVE_ERR_INVALID;
	}
	struct text_file tf;
	int rc = read_text(call, path, &tf);
	if (rc < 0)
		return rc;
	if ((rc = refuse_missing(call, args, &tf)) < 0)
		return rc;
	int holds = has_line(&tf, line);
	*observed =
	    json_pack("{s:s, s:b, s:b}", "path", path, "exists", tf.exists, "present", holds);
	free(tf.content);
	return holds ? SALVE_HOLDS : SALVE_OK;
}

static int line_change(salve_call *call, const json_t *args, struct text_file *tf, char **next,
                       json_t **result)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	const char *line = json_string_value(json_object_get(args, "line"));
	regex_t re;
	int have_re;
	memset(tf, 0, sizeof *tf);
	if (!valid_path(call, path))
		return SALVE_ERR_INVALID;
	int rc = compile_regexp(call, args, &re, &have_re);
	if (rc < 0)
		return rc;
	if ((rc = read_text(call, path, tf)) < 0 || (rc = refuse_missing(call, args, tf)) < 0) {
		if (have_re)
			regfree(&re);
		return rc;
	}
	char *replaced = NULL;
	*next = with_line(tf, line, have_re ? &re : NULL, &replaced);
	if (have_re)
		regfree(&re);
	*result = json_pack("{s:s, s:s, s:s, s:s?, s:b}", "path", path, "change",
	                    replaced ? "replace" : "append", "line", line, "replaced", replaced,
	                    "created", !tf->exists);
	free(replaced);
	return 0;
}

static int line_plan(salve_call *call, const json_t *args, json_t **predicted)
{
	struct text_file tf;
	char *next = NULL;
	int rc = line_change(call, args, &tf, &next, predicted);
	free(next);
	free(tf.content);
	return rc;
}

static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Writes content to path atomically (temp file in the same directory, fsync, rename, fsync
 * of the directory). The temp file's name carries the run id (salve recover removes a dead
 * run's). */
static int write_atomic(salve_call *call, const char *path, const char *content, mode_t mode)
{
	char tmp[PATH_MAX];
	const char *run_id = H->run_info(call, "run_id");
	if (run_id && strlen(run_id) <= 64 && !strchr(run_id, '/'))
		snprintf(tmp, sizeof tmp, "%s.salve-%s-XXXXXX", path, run_id);
	else
		snprintf(tmp, sizeof tmp, "%s.salve-XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		H->fail(call, "%s: cannot create a temporary file beside it: %s", path,
		        strerror(errno));
		return SALVE_ERR;
	}
	size_t len = strlen(content);
	int ok = fchmod(fd, mode) == 0 && write(fd, content, len) == (ssize_t)len && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) < 0) {
		H->fail(call, "%s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
		return SALVE_ERR;
	}
	if (sync_parent(path) < 0) {
		H->fail(call, "%s: written, but its directory cannot be synced: %s", path,
		        strerror(errno));
		return SALVE_ERR;
	}
	return SALVE_OK;
}

static int line_apply(salve_call *call, const json_t *args, json_t **result, json_t **undo)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	struct text_file tf;
	char *next = NULL;
	int rc = line_change(call, args, &tf, &next, result);
	if (rc < 0)
		return rc;
	json_int_t mode = json_integer_value(json_object_get(args, "mode"));
	mode_t m = tf.exists ? tf.mode : (mode_t)(mode > 0 ? mode : 0644);
	char written[65];
	sha256_hex(next, strlen(next), written);
	rc = write_atomic(call, path, next, m);
	if (rc == SALVE_OK)
		*undo = tf.exists ? json_pack("{s:s, s:b, s:s, s:I, s:s}", "path", path, "existed",
		                              1, "content", tf.content, "mode", (json_int_t)tf.mode,
		                              "after_sha256", written)
		                  : json_pack("{s:s, s:b, s:s}", "path", path, "existed", 0,
		                              "after_sha256", written);
	free(next);
	free(tf.content);
	return rc;
}

/* Undo puts back what was there only while the file holds exactly what apply wrote; when
 * it already holds the old state it is done (undo may run twice after a crash). */
static int line_undo(salve_call *call, const json_t *undo)
{
	const char *path = json_string_value(json_object_get(undo, "path"));
	const char *written = json_string_value(json_object_get(undo, "after_sha256"));
	if (!path) {
		H->fail(call, "undo record has no path");
		return SALVE_ERR_INVALID;
	}
	if (!valid_path(call, path))
		return SALVE_ERR_INVALID;
	if (!written || strlen(written) != 64) {
		H->fail(call,
		        "%s: the undo record does not say what was written, so whether the file "
		        "changed since is unknown: left as it is; a human must look",
		        path);
		return SALVE_ERR_INVALID;
	}
	int existed = json_is_true(json_object_get(undo, "existed"));
	const char *content = json_string_value(json_object_get(undo, "content"));
	json_int_t mode = json_integer_value(json_object_get(undo, "mode"));
	struct text_file now;
	int rc = read_text(call, path, &now);
	if (rc < 0)
		return rc;
	char now_sha[65] = "", old_sha[65] = "";
	if (now.exists)
		sha256_hex(now.content, now.len, now_sha);
	if (existed && content)
		sha256_hex(content, strlen(content), old_sha);
	int is_old = existed ? now.exists && strcmp(now_sha, old_sha) == 0 : !now.exists;
	int is_ours = now.exists && strcmp(now_sha, written) == 0;
	free(now.content);
	if (is_old)
		return SALVE_OK;
	if (!is_ours) {
		if (now.exists)
			H->fail(
			    call,
			    "%s changed since this run wrote it (it now has sha256 %.12s, the run "
			    "wrote %.12s): left as it is; whether to restore it is unknown, a "
			    "human must look",
			    path, now_sha, written);
		else
			H->fail(call,
			        "%s was removed since this run wrote it: left as it is; whether to "
			        "restore it is unknown, a human must look",
			        path);
		return SALVE_ERR;
	}
	if (!existed) {
		if (unlink(path) < 0 && errno != ENOENT) {
			H->fail(call, "%s: cannot remove: %s", path, strerror(errno));
			return SALVE_ERR;
		}
		if (sync_parent(path) < 0) {
			H->fail(call, "%s: removed, but its directory cannot be synced: %s", path,
			        strerror(errno));
			return SALVE_ERR;
		}
		return SALVE_OK;
	}
	return write_atomic(call, path, content ? content : "", (mode_t)(mode ? mode : 0644));
}

static const salve_arg no_args[] = {{NULL, 0, 0, NULL}};
static const salve_arg disk_args[] = {
    {"path", SALVE_T_STRING, SALVE_ARG_REQUIRED, "a path on the filesystem to measure"},
    {NULL, 0, 0, NULL}};
static const salve_arg line_args[] = {
    {"path", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the text file"},
    {"line", SALVE_T_STRING, SALVE_ARG_REQUIRED, "the exact line that must be present"},
    {"regexp", SALVE_T_STRING, 0, "extended regex: the last matching line is replaced"},
    {"create", SALVE_T_BOOL, 0, "create the file when missing (default false)"},
    {"mode", SALVE_T_INT, 0, "permissions of a file created (default 0644)"},
    {NULL, 0, 0, NULL}};

static const salve_arg facts_results[] = {
    {"hostname", SALVE_T_STRING, 0, "the machine's host name"},
    {"kernel", SALVE_T_STRING, 0, "kernel release (uname -r)"},
    {"arch", SALVE_T_STRING, 0, "machine architecture (uname -m)"},
    {"uptime_s", SALVE_T_INT, 0, "seconds since boot"},
    {"load", SALVE_T_LIST, 0, "load averages over 1, 5 and 15 minutes"},
    {"cpus", SALVE_T_INT, 0, "CPUs online"},
    {"mem_total_mb", SALVE_T_INT, 0, "memory in MiB"},
    {"mem_available_mb", SALVE_T_INT, 0, "memory available in MiB; -1 without MemAvailable"},
    {NULL, 0, 0, NULL}};
static const salve_arg disk_results[] = {
    {"path", SALVE_T_STRING, 0, "the path measured"},
    {"total_bytes", SALVE_T_INT, 0, "size of the filesystem"},
    {"used_bytes", SALVE_T_INT, 0, "bytes in use"},
    {"available_bytes", SALVE_T_INT, 0, "bytes available to unprivileged users"},
    {"used_pct", SALVE_T_NUMBER, 0, "used / (used + available), 0 to 100, as df computes it"},
    {NULL, 0, 0, NULL}};
static const salve_arg line_results[] = {
    {"path", SALVE_T_STRING, 0, "the text file"},
    {"exists", SALVE_T_BOOL, 0, "the file exists (when the line is already there)"},
    {"present", SALVE_T_BOOL, 0, "the line is there (when it already was)"},
    {"change", SALVE_T_STRING, 0, "\"append\" or \"replace\" (when planned or applied)"},
    {"line", SALVE_T_STRING, 0, "the line written (when planned or applied)"},
    {"replaced", SALVE_T_STRING, 0, "the line a regexp replaced, if any"},
    {"created", SALVE_T_BOOL, 0, "the file was created (when planned or applied)"},
    {NULL, 0, 0, NULL}};

static const salve_action actions[] = {
    {.name = "facts",
     .kind = SALVE_READ,
     .args = no_args,
     .description = "hostname, kernel, uptime, load, CPUs and memory of this machine",
     .run = facts_run,
     .results = facts_results},
    {.name = "disk",
     .kind = SALVE_READ,
     .args = disk_args,
     .target_arg = "path",
     .description = "size, use and free space of the filesystem holding path",
     .run = disk_run,
     .results = disk_results},
    {.name = "ensure_line",
     .kind = SALVE_MUTATE,
     .args = line_args,
     .target_arg = "path",
     .description = "keep a line in a local text file; undo restores the old content",
     .check = line_check,
     .plan = line_plan,
     .apply = line_apply,
     .undo = line_undo,
     .results = line_results},
    {.name = NULL},
};

static const salve_plugin descriptor = {
    SALVE_PLUGIN_HEADER, .name = "host",
    .version = "1.0.0",  .description = "this machine: facts, disk space, local file lines",
    .actions = actions,  .init = host_init,
};

SALVE_PLUGIN_DECLARE(descriptor)
