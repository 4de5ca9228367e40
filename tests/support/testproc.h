/*
 * Helpers for plugin tests that run a real server (or the fake API server) on 127.0.0.1:
 * start it, wait until it answers, talk to its control API, stop it. Shared by the
 * kubernetes, scale and prometheus tests. Not thread-safe; one test thread.
 * Strings returned through char ** are malloc'd for the caller.
 */
#ifndef SALVE_TESTPROC_H
#define SALVE_TESTPROC_H

#include <sys/types.h>

/* A fresh temporary directory (malloc'd path); tp_rmrf() removes it. */
char *tp_tempdir(const char *tag);
void tp_rmrf(const char *dir);
/* Write text to path. 0 or -1. */
int tp_write(const char *path, const char *text);
/* Read a whole file (malloc'd), NULL when unreadable. */
char *tp_read(const char *path);

/* A TCP port free on 127.0.0.1 right now. */
int tp_free_port(void);

/* Start argv (argv[0] looked up in PATH) with stdout and stderr appended to log_path, in its
 * own process group so tp_stop() takes its children too; it gets SIGTERM if the test process
 * dies first. Returns the pid, -1 on failure. */
pid_t tp_spawn(const char *const argv[], const char *log_path);
/* SIGTERM the process group, SIGKILL after 5 s; reaps it. */
void tp_stop(pid_t pid);
/* Run argv to completion with output appended to log_path; returns its exit status or -1. */
int tp_run(const char *const argv[], const char *log_path);

/* One HTTP request with libcurl. ca_file NULL: plain http or the system CAs. body may be NULL.
 * Returns the HTTP status (0 when nothing answered); *out (may be NULL) gets the body. */
long tp_http(const char *method, const char *url, const char *ca_file, const char *body,
             char **out);
/* Poll url until it answers with a status below 500 or timeout_s passes. 0 or -1. */
int tp_wait_http(const char *url, const char *ca_file, double timeout_s, pid_t pid);

#endif
