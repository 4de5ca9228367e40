/*
 * Inside the fan-out (fanout*.c only). Each command is a small state machine (struct sp_job)
 * over a non-blocking libssh2 session or a local child process:
 *   connect -> handshake -> host key -> auth   (fanout_conn.c)
 *   channel -> exec -> I/O -> close, or local  (fanout_exec.c)
 * and the drivers move the jobs (fanout.c). Each step function advances a job as far as it
 * can without blocking. Nothing here calls host services: the drivers pass wait lines to
 * the caller's hooks on the calling thread.
 *
 * Files depend one way: fanout.c -> fanout_exec.c -> fanout_conn.c.
 */
#ifndef SALVE_SSH_PATCH_FANOUT_INT_H
#define SALVE_SSH_PATCH_FANOUT_INT_H

#include "fanout.h"

#include <netdb.h>
#include <sys/types.h>

#include <libssh2.h>

struct sp_conn {
	struct sp_conn *next;
	char *key; /* user@address:port key=PATH */
	int sock;
	LIBSSH2_SESSION *session;
};

enum job_state {
	J_NEW,
	J_TCP,
	J_HANDSHAKE,
	J_AUTH_KEY,
	J_AUTH_AGENT,
	J_CHAN_OPEN,
	J_EXEC,
	J_IO,
	J_CLOSE,
	J_WAIT_CLOSED,
	J_FREE_CHAN,
	J_LOCAL,
	J_DONE,
};

struct sp_job {
	enum job_state state;
	struct sp_cmd *cmd;
	struct sp_fanout *fo;
	double start;
	double connect_deadline;
	double cmd_deadline;
	double step_deadline; /* the step's deadline (HUGE_VAL when none) */
	double connect_timeout;
	double cmd_timeout;
	/* ssh */
	char *conn_key;
	struct sp_conn *conn;
	int from_cache;
	int reconnected;
	struct addrinfo *ai;
	struct addrinfo *ai_cur;
	LIBSSH2_CHANNEL *chan;
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *identity;
	int agent_identities;
	const char *user;
	char *key_path;
	int key_tried;
	char *cmdline;
	size_t in_off;
	int eof_sent;
	/* local */
	pid_t pid;
	int fd_out;
	int fd_err;
	int fd_in;
	/* wait lines (SP_WAIT_LINE_PREFIX) on stderr: scanned up to notice_off; in the thread
	 * driver a worker leaves the latest in notice for the calling thread to report */
	size_t notice_off;
	char notice[400];
	int notice_ready;
};

/* What a step function did: it would block now, it moved the job on (call again), or it
 * failed (the cause is in the cmd; the caller finishes the job). */
enum sp_step { SP_STEP_BLOCKED = 0, SP_STEP_AGAIN = 1, SP_STEP_FAILED = -1 };

/* ---- fanout_conn.c ----------------------------------------------------------------------- */

/* Record why the job failed (the first cause wins), naming host and port. */
void sp_fanout__fail(struct sp_job *j, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *sp_fanout__ssh_errmsg(LIBSSH2_SESSION *s);
/* Fill user, key_path and conn_key, then take a cached session or start a TCP connect.
 * -1 on failure (the cause is recorded). */
int sp_fanout__conn_begin(struct sp_job *j);
/* Advance J_TCP .. J_AUTH_AGENT; ends in J_CHAN_OPEN once authenticated. */
enum sp_step sp_fanout__conn_step(struct sp_job *j);
/* A cached session failed before its command ran: start over once on a new connection.
 * 1 when restarted, 0 when this does not apply, -1 when reconnecting failed. */
int sp_fanout__conn_retry(struct sp_job *j);
/* Put the session back in the cache (reusable) or close it; drop agent and addresses. */
void sp_fanout__conn_release(struct sp_job *j, int reusable);
void sp_fanout__conn_close_all(struct sp_fanout *fo);

/* ---- fanout_exec.c ----------------------------------------------------------------------- */

void sp_fanout__job_start(struct sp_job *j);
void sp_fanout__job_step(struct sp_job *j);
/* End the job now: kill a local child, close its descriptors and drop its session. */
void sp_fanout__job_finish(struct sp_job *j);
/* The next complete wait line the command wrote to stderr since the last call, without
 * "salve: " (raw bytes). 0 when none. */
int sp_fanout__next_wait_line(struct sp_job *j, char *out, size_t outlen);

#endif
