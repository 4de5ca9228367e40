/* Finds and loads salve-http.so, the HTTP transport, the first time a plugin sends a request
 * (see httpsvc/httpsvc.h): so `salve run` from cron maps libcurl and its TLS stack only when
 * a runbook talks HTTP. The module is looked for beside the binary (a build tree), then in
 * the install location, and checked as plugins are: root's or ours, nobody else can write. */
#include "httpmod.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

#ifndef SALVE_HTTP_MODULE_INSTALL_PATH
#define SALVE_HTTP_MODULE_INSTALL_PATH "/usr/lib/salve/salve-http.so"
#endif
#define MODULE_NAME "salve-http.so"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const salve_httpsvc_ops *loaded;
static char load_error[1024];

static const salve_httpsvc_ops *open_module(const char *path, char *err, size_t errlen)
{
	int fd = salve_registry_open_checked(path, err, errlen);
	if (fd < 0)
		return NULL;
	/* The descriptor that was checked is the file that is loaded. */
	char by_fd[64];
	snprintf(by_fd, sizeof by_fd, "/proc/self/fd/%d", fd);
	void *dl = dlopen(by_fd, RTLD_NOW | RTLD_LOCAL);
	close(fd);
	if (!dl) {
		snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
		return NULL;
	}
	const salve_httpsvc_ops *(*entry)(void);
	*(void **)&entry = dlsym(dl, SALVE_HTTPSVC_ENTRY_SYMBOL);
	const salve_httpsvc_ops *ops = entry ? entry() : NULL;
	if (!ops || ops->struct_size < sizeof(salve_httpsvc_ops)) {
		snprintf(err, errlen,
		         "%s: not this salve's HTTP module, or libcurl failed to start", path);
		dlclose(dl);
		return NULL;
	}
	return ops; /* stays loaded for the life of the process */
}

static void load(void)
{
	char candidates[2][PATH_MAX + 32];
	size_t n = 0;
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = '\0';
		snprintf(candidates[n++], sizeof candidates[0], "%s/" MODULE_NAME, dirname(exe));
	}
	snprintf(candidates[n++], sizeof candidates[0], "%s", SALVE_HTTP_MODULE_INSTALL_PATH);
	snprintf(load_error, sizeof load_error,
	         "the HTTP module %s is not installed (looked in %s%s%s)", MODULE_NAME,
	         candidates[0], n > 1 ? " and " : "", n > 1 ? candidates[1] : "");
	for (size_t i = 0; i < n && !loaded; i++)
		if (access(candidates[i], F_OK) == 0)
			loaded = open_module(candidates[i], load_error, sizeof load_error);
}

const salve_httpsvc_ops *salve_httpmod_load(char *err, size_t errlen)
{
	pthread_once(&load_once, load);
	if (!loaded)
		snprintf(err, errlen, "%s", load_error);
	return loaded;
}
