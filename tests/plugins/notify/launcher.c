#include "launcher.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int test_server_start(struct test_server *s, const char *python, const char *script, int pass_dir,
                      const char *const *args)
{
	memset(s, 0, sizeof *s);
	snprintf(s->dir, sizeof s->dir, "/tmp/salve-notify-test-XXXXXX");
	if (!mkdtemp(s->dir)) {
		perror("mkdtemp");
		s->dir[0] = '\0';
		return -1;
	}
	char port_file[300];
	snprintf(port_file, sizeof port_file, "%s/port", s->dir);

	const char *argv[32];
	size_t n = 0;
	argv[n++] = python;
	argv[n++] = script;
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	if (pass_dir) {
		argv[n++] = "--dir";
		argv[n++] = s->dir;
	}
	for (size_t i = 0; args && args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execv(python, (char *const *)argv);
		perror("execv");
		_exit(127);
	}
	s->pid = pid;
	for (int waited = 0; waited < 20000; waited += 25) {
		json_t *info = json_load_file(port_file, 0, NULL);
		if (info) {
			s->info = info;
			return 0;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "%s exited before it listened\n", script);
			s->pid = 0;
			test_server_stop(s);
			return -1;
		}
		sleep_ms(25);
	}
	fprintf(stderr, "%s did not write %s within 20 s\n", script, port_file);
	test_server_stop(s);
	return -1;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char path[600];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

void test_server_stop(struct test_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		int status;
		int gone = 0;
		for (int waited = 0; waited < 3000 && !gone; waited += 25) {
			if (waitpid(s->pid, &status, WNOHANG) == s->pid)
				gone = 1;
			else
				sleep_ms(25);
		}
		if (!gone) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
		}
	}
	s->pid = 0;
	json_decref(s->info);
	s->info = NULL;
	if (s->dir[0])
		remove_dir(s->dir);
	s->dir[0] = '\0';
}

int test_server_port(const struct test_server *s)
{
	return (int)json_integer_value(json_object_get(s->info, "port"));
}
