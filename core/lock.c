#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "statedir.h"
#include "util.h"

struct salve_lock {
	int fd;
};

/* Keys come from alert labels: keep [A-Za-z0-9._-], escape the rest, so no key can name a
 * path outside the locks directory. */
static void escape_key(const char *key, char *out, size_t outlen)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)key; *p && w + 4 < outlen; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    (*p == '.' && p != (const unsigned char *)key))
			out[w++] = (char)*p;
		else
			w += (size_t)snprintf(out + w, outlen - w, "%%%02X", *p);
	}
	out[w] = '\0';
}

/* A parameter as part of a lock key: the same thing written two ways gives one key. A path
 * loses repeated and trailing slashes ("/srv//data/" is "/srv/data"); other values are
 * kept as written. */
static void canonical_value(const char *v, char *out, size_t len)
{
	size_t w = 0;
	for (const char *p = v; *p && w + 1 < len; p++) {
		if (v[0] == '/' && *p == '/' && w > 0 && out[w - 1] == '/')
			continue;
		out[w++] = *p;
	}
	if (v[0] == '/')
		while (w > 1 && out[w - 1] == '/')
			w--;
	out[w] = '\0';
}

int salve_lock_key(const char *template_, const json_t *params, char *out, size_t outlen, char *err,
                   size_t errlen)
{
	size_t w = 0;
	for (const char *p = template_; *p;) {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			if (!end) {
				snprintf(err, errlen, "lock \"%s\": unclosed {", template_);
				return -1;
			}
			char name[128];
			size_t n = (size_t)(end - p - 1);
			if (n == 0 || n >= sizeof name) {
				snprintf(err, errlen, "lock \"%s\": bad placeholder", template_);
				return -1;
			}
			memcpy(name, p + 1, n);
			name[n] = '\0';
			json_t *v = json_object_get(params, name);
			char val[1024];
			if (json_is_string(v))
				canonical_value(json_string_value(v), val, sizeof val);
			else if (json_is_integer(v))
				snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
			else if (json_is_boolean(v))
				snprintf(val, sizeof val, "%s", json_is_true(v) ? "true" : "false");
			else {
				snprintf(err, errlen,
				         "lock \"%s\": parameter %s has no value to fill it",
				         template_, name);
				return -1;
			}
			size_t vl = strlen(val);
			if (w + vl >= outlen) {
				snprintf(err, errlen, "lock \"%s\": key too long", template_);
				return -1;
			}
			memcpy(out + w, val, vl);
			w += vl;
			p = end + 1;
		} else {
			if (w + 1 >= outlen) {
				snprintf(err, errlen, "lock \"%s\": key too long", template_);
				return -1;
			}
			out[w++] = *p++;
		}
	}
	out[w] = '\0';
	return 0;
}

enum salve_lock_result salve_lock_acquire(const char *state_dir, const char *key,
                                          const char *run_id, int wait, double timeout,
                                          salve_lock **out, char *err, size_t errlen)
{
	char dir[4096], escaped[1024], path[5200];
	if (salve_state_subdir(state_dir, "locks", dir, sizeof dir, err, errlen) < 0)
		return SALVE_LOCK_ERROR;
	escape_key(key, escaped, sizeof escaped);
	snprintf(path, sizeof path, "%s/%s.lock", dir, escaped);
	char why[5400];
	int fd = salve_state_open(path, O_RDWR | O_CREAT, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "lock %s", why);
		return SALVE_LOCK_ERROR;
	}
	double until = salve_now() + timeout;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "lock %s: %s", path, strerror(errno));
			close(fd);
			return SALVE_LOCK_ERROR;
		}
		if (!wait || (timeout > 0 && salve_now() >= until)) {
			char holder[256] = "";
			ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
			snprintf(err, errlen, "lock \"%s\" is held by %s", key,
			         holder[0] ? holder : "another run");
			close(fd);
			return SALVE_LOCK_BUSY;
		}
		usleep(50000);
	}
	char holder[256];
	int n = snprintf(holder, sizeof holder, "run %s (pid %ld)\n", run_id, (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, holder, (size_t)n, 0) != n) {
		/* The lock is held; the holder note is only for people. */
	}
	salve_lock *l = calloc(1, sizeof *l);
	l->fd = fd;
	*out = l;
	return SALVE_LOCK_ACQUIRED;
}

void salve_lock_release(salve_lock *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l);
}
