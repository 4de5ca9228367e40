/*
 * Start and stop the notify tests' servers (Python scripts in this folder) from a test
 * binary: fork/exec with a temporary directory and --port-file, wait until the port file
 * appears, kill at teardown. The child dies with the test process (PR_SET_PDEATHSIG), so a
 * crashed test never leaves a server behind. Not thread-safe; one test thread.
 */
#ifndef NOTIFY_TEST_LAUNCHER_H
#define NOTIFY_TEST_LAUNCHER_H

#include <jansson.h>
#include <sys/types.h>

struct test_server {
	pid_t pid;
	char dir[256]; /* temporary directory: port file, certificates, records */
	json_t *info;  /* what the server wrote to its port file: {"port": N, ...} (owned) */
};

/* Run `python script --port-file DIR/port --dir DIR args...` (args ends with NULL; "--dir" is
 * passed only when pass_dir is set). Returns 0 once the port file exists, -1 (after killing
 * the child) when it does not within 20 s or the child exits. */
int test_server_start(struct test_server *s, const char *python, const char *script, int pass_dir,
                      const char *const *args);
/* SIGTERM, then SIGKILL after 3 s; removes the directory. Safe on a server never started. */
void test_server_stop(struct test_server *s);
int test_server_port(const struct test_server *s);

#endif
