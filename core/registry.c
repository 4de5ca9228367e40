#include "registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "redact.h"
#include "schema.h"

#ifndef SALVE_PLUGIN_INSTALL_DIR
#define SALVE_PLUGIN_INSTALL_DIR "/usr/local/lib/salve/plugins"
#endif

#define MAX_DIRS 32

/* More entries than this in one array means its terminating entry is missing. */
#define MAX_ENTRIES 1024

/* Element sizes of ABI 1.0 and 1.1, which declare none: up to their last field (for actions,
 * render; results came in 1.2). */
#define ACTION_SIZE_1_1  (offsetof(salve_action, render) + sizeof(void (*)(void)))
#define ARG_SIZE_1_1     (offsetof(salve_arg, description) + sizeof(const char *))
#define SETTING_SIZE_1_2 (offsetof(salve_setting, description) + sizeof(const char *))

struct salve_registry {
	pthread_mutex_t mu;
	char *dirs[MAX_DIRS];
	size_t ndirs;
	char search_path[8192];
	json_t *configs;
	char *config_file;
	salve_loaded_plugin **loaded;
	size_t nloaded;
};

const char *salve_kind_name(enum salve_kind kind)
{
	switch (kind) {
	case SALVE_READ:
		return "read";
	case SALVE_MUTATE:
		return "mutate";
	case SALVE_NOTIFY:
		return "notify";
	}
	return "invalid";
}

const char *salve_status_name(int status)
{
	switch (status) {
	case SALVE_OK:
		return "SALVE_OK";
	case SALVE_HOLDS:
		return "SALVE_HOLDS";
	case SALVE_ERR:
		return "SALVE_ERR";
	case SALVE_ERR_RETRY:
		return "SALVE_ERR_RETRY";
	case SALVE_ERR_INVALID:
		return "SALVE_ERR_INVALID";
	case SALVE_ERR_TIMEOUT:
		return "SALVE_ERR_TIMEOUT";
	case SALVE_ERR_CANCELED:
		return "SALVE_ERR_CANCELED";
	case SALVE_ERR_NOTFOUND:
		return "SALVE_ERR_NOTFOUND";
	}
	return "unknown";
}

static void add_dir(salve_registry *r, const char *dir)
{
	if (!dir || !*dir || r->ndirs >= MAX_DIRS)
		return;
	for (size_t i = 0; i < r->ndirs; i++)
		if (strcmp(r->dirs[i], dir) == 0)
			return;
	r->dirs[r->ndirs++] = strdup(dir);
	size_t used = strlen(r->search_path);
	snprintf(r->search_path + used, sizeof r->search_path - used, "%s%s", used ? ":" : "", dir);
}

salve_registry *salve_registry_new(const char *const *dirs, const json_t *configs)
{
	salve_registry *r = calloc(1, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	for (size_t i = 0; dirs && dirs[i]; i++)
		add_dir(r, dirs[i]);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char beside[PATH_MAX + 16];
		snprintf(beside, sizeof beside, "%s/plugins", dirname(exe));
		add_dir(r, beside);
	}
	add_dir(r, SALVE_PLUGIN_INSTALL_DIR);
	r->configs = configs ? json_incref((json_t *)configs) : json_object();
	return r;
}

/* Frees a host copy of a settings array and the copies of the fields it points to. */
static void free_settings_copy(salve_setting *settings)
{
	for (size_t i = 0; settings && settings[i].name; i++)
		free_settings_copy((salve_setting *)settings[i].fields);
	free(settings);
}

static void free_host_copies(salve_loaded_plugin *p)
{
	for (size_t i = 0; p->action_args && i < p->nactions; i++)
		free(p->action_args[i]);
	free(p->action_args);
	for (size_t i = 0; p->action_results && i < p->nactions; i++)
		free(p->action_results[i]);
	free(p->action_results);
	free((void *)p->desc.actions);
	free((void *)p->desc.config);
	free_settings_copy((salve_setting *)p->desc.settings);
}

void salve_registry_free(salve_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nloaded; i++) {
		salve_loaded_plugin *p = r->loaded[i];
		if (p->initialized && p->desc.fini)
			p->desc.fini(p->state);
		/* Plugins may have registered atexit handlers or threads (libcurl, libssh2):
		 * leave the object mapped, as the dynamic loader would at exit. */
		free_host_copies(p);
		free(p->path);
		free(p);
	}
	free(r->loaded);
	free(r->config_file);
	for (size_t i = 0; i < r->ndirs; i++)
		free(r->dirs[i]);
	json_decref(r->configs);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

const char *salve_registry_search_path(const salve_registry *r)
{
	return r->search_path;
}

void salve_registry_set_config_file(salve_registry *r, const char *path)
{
	free(r->config_file);
	r->config_file = path ? strdup(path) : NULL;
}

/* Root-owned or ours, and nobody else can write: otherwise anyone who can write there runs
 * code as us. A directory others may write is accepted only when root owns it and its sticky
 * bit is set (/tmp): there nobody can rename or remove what root or we own. */
static int check_owner(const struct stat *st, const char *path, char *err, size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen, "refusing %s: owned by uid %u, not by root or uid %u", path,
		         (unsigned)st->st_uid, (unsigned)geteuid());
		return -1;
	}
	int sticky_root_dir = S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) && st->st_uid == 0;
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !sticky_root_dir) {
		snprintf(err, errlen, "refusing %s: writable by group or others (mode %04o)", path,
		         (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Opens the directory real (an absolute path without symlinks, from realpath) component by
 * component, never following a link, and checks each one as it is opened. Returns an O_PATH
 * descriptor of real, or -1 with err. */
static int open_checked_dir(const char *real, char *err, size_t errlen)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char walked[PATH_MAX] = "/";
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "/: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (check_owner(&st, "/", err, errlen) < 0) {
		close(fd);
		return -1;
	}
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", real);
	char *save = NULL;
	for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		size_t used = strlen(walked);
		snprintf(walked + used, sizeof walked - used, "%s%s", used > 1 ? "/" : "", name);
		int next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		if (fd < 0 || fstat(fd, &st) < 0) {
			snprintf(err, errlen, "%s: %s", walked, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (check_owner(&st, walked, err, errlen) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Opens the plugin file at path for dlopen: the directory it was found in and every
 * directory of its real path must pass check_owner, and so must the file, checked on the
 * descriptor that is then loaded (so nothing can be swapped in between). Returns the
 * descriptor or -1 with err. */
static int open_checked_plugin(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], real_dir[PATH_MAX], real[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	if (!realpath(dirname(dir), real_dir) || !realpath(path, real)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int dfd = open_checked_dir(real_dir, err, errlen);
	if (dfd < 0)
		return -1;
	close(dfd);
	char parent[PATH_MAX], base[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", real);
	snprintf(base, sizeof base, "%s", real);
	dfd = open_checked_dir(dirname(parent), err, errlen);
	if (dfd < 0)
		return -1;
	int fd = openat(dfd, basename(base), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", real, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "refusing %s: not a regular file", real);
		close(fd);
		return -1;
	}
	if (check_owner(&st, real, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int salve_registry_open_checked(const char *path, char *err, size_t errlen)
{
	return open_checked_plugin(path, err, errlen);
}

static int valid_identifier(const char *s)
{
	if (!s || !*s)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

static int valid_type(enum salve_type t)
{
	return (int)t >= SALVE_T_ANY && t <= SALVE_T_SECRET_REF;
}

static int check_args(const salve_arg *args, const char *path, const char *what, char *err,
                      size_t errlen)
{
	for (size_t i = 0; args && args[i].name; i++) {
		if (!valid_type(args[i].type)) {
			snprintf(err, errlen, "%s: %s argument %s has an invalid type %d", path,
			         what, args[i].name, (int)args[i].type);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(args[i].name, args[j].name) == 0) {
				snprintf(err, errlen, "%s: %s declares argument %s twice", path,
				         what, args[i].name);
				return -1;
			}
	}
	return 0;
}

/* An action's choices name its string arguments, each with at least one value. */
static int check_choices(const salve_action *a, const char *path, char *err, size_t errlen)
{
	for (const salve_arg_choices *c = a->choices; c && c->arg; c++) {
		const salve_arg *arg = NULL;
		for (size_t k = 0; a->args && a->args[k].name; k++)
			if (strcmp(a->args[k].name, c->arg) == 0)
				arg = &a->args[k];
		if (!arg || arg->type != SALVE_T_STRING || !c->values || !c->values[0]) {
			snprintf(
			    err, errlen,
			    "%s: action %s: choices for '%s' need a string argument of that name "
			    "and at least one value",
			    path, a->name, c->arg);
			return -1;
		}
	}
	return 0;
}

int salve_descriptor_check(const salve_plugin *d, const char *path, char *err, size_t errlen)
{
	if (!valid_identifier(d->name)) {
		snprintf(err, errlen, "%s: descriptor has no valid name", path);
		return -1;
	}
	if (!d->actions || !d->actions[0].name) {
		snprintf(err, errlen, "%s: plugin %s declares no actions", path, d->name);
		return -1;
	}
	if (d->config && d->settings) {
		snprintf(
		    err, errlen,
		    "%s: plugin %s declares both config and settings: settings replaces config",
		    path, d->name);
		return -1;
	}
	if (check_args(d->config, path, "config", err, errlen) < 0)
		return -1;
	char why[1024];
	if (salve_settings_check(d->settings, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s: plugin %s: %s", path, d->name, why);
		return -1;
	}
	for (const salve_action *a = d->actions; a->name; a++) {
		if (!valid_identifier(a->name)) {
			snprintf(err, errlen, "%s: plugin %s has an action with an invalid name",
			         path, d->name);
			return -1;
		}
		for (const salve_action *b = d->actions; b < a; b++)
			if (strcmp(a->name, b->name) == 0) {
				snprintf(err, errlen, "%s: action %s is declared twice", path,
				         a->name);
				return -1;
			}
		const char *missing = NULL;
		switch (a->kind) {
		case SALVE_READ:
		case SALVE_NOTIFY:
			if (!a->run)
				missing = "run";
			break;
		case SALVE_MUTATE:
			if (!a->check)
				missing = "check";
			else if (!a->plan)
				missing = "plan";
			else if (!a->apply)
				missing = "apply";
			else if (!a->undo && !(a->flags & SALVE_ACTION_NO_UNDO))
				missing = "undo (or the SALVE_ACTION_NO_UNDO flag)";
			break;
		default:
			snprintf(err, errlen, "%s: action %s has an invalid kind %d", path, a->name,
			         (int)a->kind);
			return -1;
		}
		if (missing) {
			snprintf(err, errlen, "%s: %s action %s.%s has no %s", path,
			         salve_kind_name(a->kind), d->name, a->name, missing);
			return -1;
		}
		char what[160];
		snprintf(what, sizeof what, "action %s", a->name);
		if (check_args(a->args, path, what, err, errlen) < 0)
			return -1;
		snprintf(what, sizeof what, "the results of action %s", a->name);
		if (check_args(a->results, path, what, err, errlen) < 0)
			return -1;
		if (check_choices(a, path, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* glibc knows a loaded object by its name too, so a /proc/self/fd/N name must never stand
 * for two files: each plugin file loaded keeps one descriptor open for the life of the
 * process (and the same file, loaded again, is named by the same descriptor). */
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kept_fd {
	dev_t dev;
	ino_t ino;
	int fd;
} * kept;
static size_t nkept;

/* Takes fd; returns the descriptor to name the file by. */
static int keep_descriptor(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fd;
	pthread_mutex_lock(&kept_mu);
	for (size_t i = 0; i < nkept; i++)
		if (kept[i].dev == st.st_dev && kept[i].ino == st.st_ino) {
			int same = kept[i].fd;
			pthread_mutex_unlock(&kept_mu);
			close(fd);
			return same;
		}
	struct kept_fd *grown = realloc(kept, (nkept + 1) * sizeof *grown);
	if (grown) {
		kept = grown;
		kept[nkept++] = (struct kept_fd){st.st_dev, st.st_ino, fd};
	}
	pthread_mutex_unlock(&kept_mu);
	return fd;
}

/* The element size of one of the descriptor's arrays: what it declares, or when it declares
 * none (0, or a descriptor older than 1.2) the size of 1.2, which is 1.1's for actions and
 * args. Smaller than that cannot hold the fields every plugin has. */
static int element_size(uint32_t declared, size_t base, const char *type, const char *path,
                        size_t *size, char *err, size_t errlen)
{
	*size = declared ? declared : base;
	if (*size < base || *size > 65536) {
		snprintf(err, errlen,
		         "%s: descriptor declares %s elements of %u bytes; ABI %d.2 needs %zu to "
		         "64 KiB: build it with SALVE_PLUGIN_HEADER",
		         path, type, declared, SALVE_PLUGIN_ABI_MAJOR, base);
		return -1;
	}
	return 0;
}

/* Copies the plugin's array at base (entries of stride bytes, ending with a NULL name, which
 * every element type has first) into a zeroed host array of host_size elements, taking
 * min(stride, host_size) bytes of each. *out is NULL for a NULL base. */
static int copy_array(const void *base, size_t stride, size_t host_size, void **out, size_t *count,
                      const char *path, const char *what, char *err, size_t errlen)
{
	*out = NULL;
	*count = 0;
	if (!base)
		return 0;
	size_t n = 0;
	for (;; n++) {
		if (n == MAX_ENTRIES) {
			snprintf(err, errlen,
			         "%s: %s has no terminating entry (a NULL name) in %d entries",
			         path, what, MAX_ENTRIES);
			return -1;
		}
		const char *name;
		memcpy(&name, (const char *)base + n * stride, sizeof name);
		if (!name)
			break;
	}
	char *copy = calloc(n + 1, host_size);
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	size_t take = stride < host_size ? stride : host_size;
	for (size_t i = 0; i < n; i++)
		memcpy(copy + i * host_size, (const char *)base + i * stride, take);
	*out = copy;
	*count = n;
	return 0;
}

_Static_assert(offsetof(salve_action, name) == 0 && offsetof(salve_arg, name) == 0 &&
                   offsetof(salve_setting, name) == 0,
               "copy_array finds an array's end by the name each element starts with");

/* Copies a plugin's settings array and, recursively, the fields arrays its entries point to
 * (each walked with the same declared size). An entry's fields point to the host's copy or
 * NULL at every moment, so free_settings_copy frees a half-made copy. */
static int copy_settings(const void *base, size_t stride, const char *what, int depth,
                         salve_setting **out, const char *path, char *err, size_t errlen)
{
	void *copy;
	size_t n;
	*out = NULL;
	if (depth > 8) {
		snprintf(err, errlen,
		         "%s: %s nest deeper than 8 maps (a table that contains itself?)", path,
		         what);
		return -1;
	}
	if (copy_array(base, stride, sizeof(salve_setting), &copy, &n, path, what, err, errlen) < 0)
		return -1;
	salve_setting *settings = copy;
	for (size_t i = 0; i < n; i++)
		settings[i].fields = NULL;
	*out = settings;
	size_t at = offsetof(salve_setting, fields);
	for (size_t i = 0; i < n && stride >= at + sizeof(void *); i++) {
		const void *fields;
		memcpy(&fields, (const char *)base + i * stride + at, sizeof fields);
		char inner[512];
		snprintf(inner, sizeof inner, "the fields of setting %s", settings[i].name);
		salve_setting *sub;
		int rc = copy_settings(fields, stride, inner, depth + 1, &sub, path, err, errlen);
		settings[i].fields = sub;
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Replaces the descriptor's arrays (actions, their args and results, config, settings) by host
 * copies laid
 * out as this salve's structs, walking the plugin's with the element sizes it declares. On
 * failure the descriptor points to no plugin array; free_host_copies frees what was made. */
static int make_host_copies(salve_loaded_plugin *p, const char *path, char *err, size_t errlen)
{
	salve_plugin *d = &p->desc;
	const void *actions = d->actions, *config = d->config, *settings = d->settings;
	d->actions = NULL;
	d->config = NULL;
	d->settings = NULL;
	size_t action_size, arg_size, setting_size, n;
	if (element_size(d->action_size, ACTION_SIZE_1_1, "salve_action", path, &action_size, err,
	                 errlen) < 0 ||
	    element_size(d->arg_size, ARG_SIZE_1_1, "salve_arg", path, &arg_size, err, errlen) <
	        0 ||
	    element_size(d->setting_size, SETTING_SIZE_1_2, "salve_setting", path, &setting_size,
	                 err, errlen) < 0)
		return -1;
	d->action_size = sizeof(salve_action);
	d->arg_size = sizeof(salve_arg);
	d->setting_size = sizeof(salve_setting);
	void *copy;
	if (copy_array(actions, action_size, sizeof(salve_action), &copy, &p->nactions, path,
	               "the action array", err, errlen) < 0)
		return -1;
	d->actions = copy;
	p->action_args = calloc(p->nactions + 1, sizeof *p->action_args);
	p->action_results = calloc(p->nactions + 1, sizeof *p->action_results);
	if (!p->action_args || !p->action_results) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	for (size_t i = 0; i < p->nactions; i++) {
		salve_action *a = (salve_action *)copy + i;
		char what[160];
		snprintf(what, sizeof what, "the args of action %s", a->name);
		void *args;
		int rc = copy_array(a->args, arg_size, sizeof(salve_arg), &args, &n, path, what,
		                    err, errlen);
		a->args = args;
		p->action_args[i] = args;
		if (rc < 0)
			return -1;
		snprintf(what, sizeof what, "the results of action %s", a->name);
		void *results;
		rc = copy_array(a->results, arg_size, sizeof(salve_arg), &results, &n, path, what,
		                err, errlen);
		a->results = results;
		p->action_results[i] = results;
		if (rc < 0)
			return -1;
	}
	if (copy_array(config, arg_size, sizeof(salve_arg), &copy, &n, path, "config", err,
	               errlen) < 0)
		return -1;
	d->config = copy;
	salve_setting *settings_copy;
	int rc =
	    copy_settings(settings, setting_size, "settings", 0, &settings_copy, path, err, errlen);
	d->settings = settings_copy;
	return rc;
}

/* Opens path and validates it; returns a new salve_loaded_plugin or NULL with err. */
static salve_loaded_plugin *open_plugin(const char *path, const char *want_name, char *err,
                                        size_t errlen)
{
	char why[1024];
	int fd = open_checked_plugin(path, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "plugin %s: %s", path, why);
		return NULL;
	}
	/* The descriptor that was checked is the file that is loaded. */
	char by_fd[64];
	snprintf(by_fd, sizeof by_fd, "/proc/self/fd/%d", keep_descriptor(fd));
	void *dl = dlopen(by_fd, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
		return NULL;
	}
	salve_plugin_entry_fn entry;
	*(void **)&entry = dlsym(dl, SALVE_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		snprintf(err, errlen, "%s: not a salve plugin (no %s symbol)", path,
		         SALVE_PLUGIN_ENTRY_SYMBOL);
		dlclose(dl);
		return NULL;
	}
	const salve_plugin *d = entry();
	if (!d) {
		snprintf(err, errlen, "%s: %s returned no descriptor", path,
		         SALVE_PLUGIN_ENTRY_SYMBOL);
		dlclose(dl);
		return NULL;
	}
	/* The version is read before anything else in the descriptor. */
	if (d->abi_major != SALVE_PLUGIN_ABI_MAJOR || d->abi_minor > SALVE_PLUGIN_ABI_MINOR) {
		snprintf(
		    err, errlen,
		    "%s: plugin ABI %u.%u is not supported by this salve (ABI %d.%d): rebuild the "
		    "plugin against this salve's plugin.h",
		    path, d->abi_major, d->abi_minor, SALVE_PLUGIN_ABI_MAJOR,
		    SALVE_PLUGIN_ABI_MINOR);
		dlclose(dl);
		return NULL;
	}
	if (d->struct_size < offsetof(salve_plugin, fini) + sizeof d->fini) {
		snprintf(err, errlen, "%s: descriptor is %u bytes, smaller than ABI %d.0's %zu",
		         path, d->struct_size, SALVE_PLUGIN_ABI_MAJOR,
		         offsetof(salve_plugin, fini) + sizeof d->fini);
		dlclose(dl);
		return NULL;
	}
	salve_loaded_plugin *p = calloc(1, sizeof *p);
	memcpy(&p->desc, d, d->struct_size < sizeof p->desc ? d->struct_size : sizeof p->desc);
	if (make_host_copies(p, path, err, errlen) < 0 ||
	    salve_descriptor_check(&p->desc, path, err, errlen) < 0) {
		free_host_copies(p);
		free(p);
		dlclose(dl);
		return NULL;
	}
	if (want_name && strcmp(p->desc.name, want_name) != 0) {
		snprintf(err, errlen, "%s: file is named for plugin %s but declares plugin %s",
		         path, want_name, p->desc.name);
		free_host_copies(p);
		free(p);
		dlclose(dl);
		return NULL;
	}
	p->dl = dl;
	p->path = strdup(path);
	return p;
}

/* The configuration init gets: config checked against the plugin's settings (with defaults
 * filled in) or, for a plugin that declares the older config keys, checked for unknown and
 * required keys only. *out: new reference. */
static int effective_config(const salve_registry *r, const salve_loaded_plugin *p,
                            const json_t *config, json_t **out, char *err, size_t errlen)
{
	char where[PATH_MAX + 160];
	if (r->config_file)
		snprintf(where, sizeof where, "%s: plugins.%s", r->config_file, p->desc.name);
	else
		snprintf(where, sizeof where, "plugins.%s", p->desc.name);
	*out = NULL;
	if (p->desc.settings)
		return salve_settings_apply(p->desc.settings, config, where, out, err, errlen);
	if (!p->desc.config) {
		if (json_object_size(config) == 0) {
			*out = json_incref((json_t *)config);
			return 0;
		}
		snprintf(err, errlen, "%s: this plugin takes no settings", where);
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)config, key, v)
	{
		const salve_arg *spec = NULL;
		for (const salve_arg *a = p->desc.config; a->name; a++)
			if (strcmp(a->name, key) == 0)
				spec = a;
		if (!spec) {
			char known[1024] = "";
			for (const salve_arg *a = p->desc.config; a->name; a++) {
				size_t used = strlen(known);
				snprintf(known + used, sizeof known - used, "%s%s",
				         used ? ", " : "", a->name);
			}
			snprintf(err, errlen, "%s.%s: unknown setting (known: %s)", where, key,
			         known);
			return -1;
		}
	}
	for (const salve_arg *a = p->desc.config; a->name; a++)
		if ((a->flags & SALVE_ARG_REQUIRED) && !json_object_get(config, a->name)) {
			snprintf(err, errlen, "%s.%s: required setting is missing", where, a->name);
			return -1;
		}
	*out = json_incref((json_t *)config);
	return 0;
}

salve_loaded_plugin *salve_registry_get(salve_registry *r, const char *name, int init,
                                        enum salve_registry_error *why, char *err, size_t errlen)
{
	*why = SALVE_REG_OK;
	if (!valid_identifier(name)) {
		snprintf(err, errlen, "invalid plugin name \"%s\"", name ? name : "");
		*why = SALVE_REG_INVALID;
		return NULL;
	}
	pthread_mutex_lock(&r->mu);
	salve_loaded_plugin *p = NULL;
	for (size_t i = 0; i < r->nloaded; i++)
		if (strcmp(r->loaded[i]->desc.name, name) == 0)
			p = r->loaded[i];
	if (!p) {
		char path[PATH_MAX];
		int found = 0;
		for (size_t i = 0; i < r->ndirs && !found; i++) {
			snprintf(path, sizeof path, "%s/%s.so", r->dirs[i], name);
			found = access(path, F_OK) == 0;
		}
		if (!found) {
			snprintf(err, errlen, "plugin \"%s\" not found (searched %s)", name,
			         r->search_path);
			*why = SALVE_REG_NOT_FOUND;
			goto out;
		}
		p = open_plugin(path, name, err, errlen);
		if (!p) {
			*why = SALVE_REG_INVALID;
			goto out;
		}
		salve_loaded_plugin **grown = realloc(r->loaded, (r->nloaded + 1) * sizeof *grown);
		grown[r->nloaded++] = p;
		r->loaded = grown;
	}
	if (init && !p->initialized) {
		json_t *config = json_object_get(r->configs, name);
		json_t *empty = json_object();
		if (!json_is_object(config))
			config = empty;
		char inner[1024] = "";
		json_t *effective;
		int rc = effective_config(r, p, config, &effective, err, errlen);
		json_decref(empty);
		if (rc < 0) {
			*why = SALVE_REG_INVALID;
			p = NULL;
			goto out;
		}
		if (p->desc.init && p->desc.init(salve_host_table(), effective, &p->state, inner,
		                                 sizeof inner) < 0) {
			char safe[1024];
			salve_redact_string(inner, safe, sizeof safe);
			snprintf(err, errlen, "plugin %s (%s) failed to initialise: %s", name,
			         p->path, safe[0] ? safe : "no reason given");
			json_decref(effective);
			*why = SALVE_REG_INVALID;
			p = NULL;
			goto out;
		}
		json_decref(effective);
		p->initialized = 1;
	}
out:
	pthread_mutex_unlock(&r->mu);
	return p;
}

const salve_action *salve_plugin_action(const salve_loaded_plugin *p, const char *name)
{
	for (size_t i = 0; i < p->nactions; i++)
		if (strcmp(p->desc.actions[i].name, name) == 0)
			return &p->desc.actions[i];
	return NULL;
}

static json_t *describe_args(const salve_arg *args)
{
	json_t *out = json_array();
	for (size_t i = 0; args && args[i].name; i++)
		json_array_append_new(out,
		                      json_pack("{s:s, s:s, s:b, s:b, s:s?}", "name", args[i].name,
		                                "type", salve_type_name(args[i].type), "required",
		                                (args[i].flags & SALVE_ARG_REQUIRED) != 0, "secret",
		                                (args[i].flags & SALVE_ARG_SECRET) != 0,
		                                "description", args[i].description));
	return out;
}

/* An action's arguments with the values each may take ("choices"). */
static json_t *describe_action_args(const salve_action *a)
{
	json_t *out = describe_args(a->args);
	size_t i;
	json_t *arg;
	json_array_foreach(out, i, arg)
	{
		const char *const *values =
		    salve_choices_for(a->choices, json_string_value(json_object_get(arg, "name")));
		if (!values)
			continue;
		json_t *list = json_array();
		for (const char *const *v = values; *v; v++)
			json_array_append_new(list, json_string(*v));
		json_object_set_new(arg, "choices", list);
	}
	return out;
}

static json_t *describe_results(const salve_arg *results)
{
	json_t *out = json_array();
	for (size_t i = 0; results && results[i].name; i++)
		json_array_append_new(out, json_pack("{s:s, s:s, s:s?}", "name", results[i].name,
		                                     "type", salve_type_name(results[i].type),
		                                     "description", results[i].description));
	return out;
}

/* Settings as `salve plugins --json` lists them: each with what it declares, nested fields
 * as the same list under "fields" ("each": true when they are the shape of every value). */
static json_t *describe_setting_list(const salve_setting *settings)
{
	json_t *out = json_array();
	for (const salve_setting *s = settings; s->name; s++) {
		json_t *one = json_pack("{s:s, s:s, s:b, s:b, s:s*, s:s?}", "name", s->name, "type",
		                        salve_type_name(s->type), "required",
		                        (s->flags & SALVE_ARG_REQUIRED) != 0, "secret",
		                        (s->flags & SALVE_ARG_SECRET) != 0, "default",
		                        s->default_value, "description", s->description);
		if (s->flags & SALVE_SETTING_STRINGS)
			json_object_set_new(one, "string_or_list", json_true());
		if (s->choices) {
			json_t *choices = json_array();
			for (const char *const *c = s->choices; *c; c++)
				json_array_append_new(choices, json_string(*c));
			json_object_set_new(one, "choices", choices);
		}
		if (s->flags & SALVE_SETTING_MIN)
			json_object_set_new(one,
			                    (s->flags & SALVE_SETTING_ABOVE) ? "more_than" : "min",
			                    json_real(s->min));
		if (s->flags & SALVE_SETTING_MAX)
			json_object_set_new(one, "max", json_real(s->max));
		if (s->fields) {
			json_object_set_new(one, "fields", describe_setting_list(s->fields));
			if (s->flags & SALVE_SETTING_EACH)
				json_object_set_new(one, "each", json_true());
		}
		json_array_append_new(out, one);
	}
	return out;
}

static json_t *describe_settings(const salve_plugin *d)
{
	return d->settings ? describe_setting_list(d->settings) : describe_args(d->config);
}

json_t *salve_registry_list(salve_registry *r)
{
	json_t *out = json_array();
	json_t *seen = json_object();
	for (size_t i = 0; i < r->ndirs; i++) {
		DIR *d = opendir(r->dirs[i]);
		if (!d)
			continue;
		struct dirent *e;
		json_t *names = json_array();
		while ((e = readdir(d))) {
			size_t n = strlen(e->d_name);
			if (n > 3 && strcmp(e->d_name + n - 3, ".so") == 0)
				json_array_append_new(names, json_stringn(e->d_name, n - 3));
		}
		closedir(d);
		/* Stable output: sort names. */
		size_t count = json_array_size(names);
		for (size_t a = 1; a < count; a++)
			for (size_t b = a;
			     b > 0 && strcmp(json_string_value(json_array_get(names, b - 1)),
			                     json_string_value(json_array_get(names, b))) > 0;
			     b--) {
				json_t *tmp = json_incref(json_array_get(names, b));
				json_array_set(names, b, json_array_get(names, b - 1));
				json_array_set_new(names, b - 1, tmp);
			}
		size_t k;
		json_t *jn;
		json_array_foreach(names, k, jn)
		{
			const char *name = json_string_value(jn);
			if (json_object_get(seen, name))
				continue;
			json_object_set_new(seen, name, json_true());
			enum salve_registry_error why;
			char err[1024];
			salve_loaded_plugin *p =
			    salve_registry_get(r, name, 0, &why, err, sizeof err);
			char path[PATH_MAX];
			snprintf(path, sizeof path, "%s/%s.so", r->dirs[i], name);
			if (!p) {
				json_array_append_new(out,
				                      json_pack("{s:s, s:s, s:s}", "name", name,
				                                "path", path, "error", err));
				continue;
			}
			json_t *actions = json_array();
			for (size_t ai = 0; ai < p->nactions; ai++) {
				const salve_action *a = &p->desc.actions[ai];
				json_array_append_new(
				    actions,
				    json_pack("{s:s, s:s, s:b, s:s?, s:o, s:o}", "name", a->name,
				              "kind", salve_kind_name(a->kind), "undoable",
				              a->kind == SALVE_MUTATE &&
				                  !(a->flags & SALVE_ACTION_NO_UNDO),
				              "description", a->description, "args",
				              describe_action_args(a), "results",
				              describe_results(a->results)));
			}
			char abi[16];
			snprintf(abi, sizeof abi, "%u.%u", p->desc.abi_major, p->desc.abi_minor);
			json_array_append_new(
			    out,
			    json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:o, s:o}", "name", p->desc.name,
			              "version", p->desc.version, "description",
			              p->desc.description, "path", p->path, "abi", abi, "actions",
			              actions, "settings", describe_settings(&p->desc)));
		}
		json_decref(names);
	}
	json_decref(seen);
	return out;
}

int salve_registry_configured(const salve_registry *r, const char *name)
{
	return json_object_get(r->configs, name) != NULL;
}
