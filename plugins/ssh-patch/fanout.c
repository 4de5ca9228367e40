/*
 * Fan-out drivers: move every job (fanout_int.h) until it is done, at most forks at once.
 *   - poll: the calling thread multiplexes every running job with poll(2) (the default);
 *   - threads: a small pool where each worker drives one job at a time (settings.threads;
 *     kept for the measurements in README.md).
 * The hooks (cancelled, progress) are called only from the calling thread.
 */
#include "fanout_int.h"

#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* On the calling thread: pass the job's new wait lines to the progress hook. */
static void job_report_waits(const struct sp_fanout_run *run, struct sp_job *j)
{
	if (j->notice_ready) {
		run->progress(run->ctx, j->cmd->host->name, j->notice);
		j->notice_ready = 0;
	}
	char line[sizeof j->notice];
	while (sp_fanout__next_wait_line(j, line, sizeof line))
		run->progress(run->ctx, j->cmd->host->name, line);
}

static int job_in_connect(const struct sp_job *j)
{
	return j->state == J_TCP || j->state == J_HANDSHAKE || j->state == J_AUTH_KEY ||
	       j->state == J_AUTH_AGENT || j->state == J_CHAN_OPEN || j->state == J_EXEC;
}

/* Enforce timeouts; returns 1 when the job ended. */
static int job_check_time(struct sp_job *j, double now)
{
	if (j->state == J_DONE)
		return 1;
	if (job_in_connect(j) && now >= j->connect_deadline) {
		if (j->connect_deadline >= j->step_deadline)
			sp_fanout__fail(j, SP_E_TIMEOUT,
			                "the step's deadline passed while connecting");
		else
			sp_fanout__fail(j, SP_E_TIMEOUT, "connect timed out after %.3gs",
			                j->connect_timeout);
		sp_fanout__job_finish(j);
		return 1;
	}
	if (!job_in_connect(j) && now >= j->cmd_deadline) {
		if (j->cmd_deadline >= j->step_deadline)
			sp_fanout__fail(j, SP_E_TIMEOUT,
			                "the step's deadline passed while the command ran");
		else
			sp_fanout__fail(j, SP_E_TIMEOUT, "command timed out after %.3gs",
			                j->cmd_timeout);
		sp_fanout__job_finish(j);
		return 1;
	}
	return 0;
}

static double job_deadline(const struct sp_job *j)
{
	return job_in_connect(j) ? j->connect_deadline : j->cmd_deadline;
}

static int job_pollfds(const struct sp_job *j, struct pollfd *p)
{
	int n = 0;
	if (j->state == J_DONE)
		return 0;
	if (j->state == J_LOCAL) {
		if (j->fd_out >= 0)
			p[n++] = (struct pollfd){.fd = j->fd_out, .events = POLLIN};
		if (j->fd_err >= 0)
			p[n++] = (struct pollfd){.fd = j->fd_err, .events = POLLIN};
		if (j->fd_in >= 0)
			p[n++] = (struct pollfd){.fd = j->fd_in, .events = POLLOUT};
		return n;
	}
	if (!j->conn || j->conn->sock < 0)
		return 0;
	short ev = 0;
	if (j->state == J_TCP) {
		ev = POLLOUT;
	} else if (j->conn->session) {
		int dir = libssh2_session_block_directions(j->conn->session);
		if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
			ev |= POLLIN;
		if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			ev |= POLLOUT;
		if (!ev)
			ev = POLLIN;
	} else {
		ev = POLLIN;
	}
	p[n++] = (struct pollfd){.fd = j->conn->sock, .events = ev};
	return n;
}

static void job_cleanup(struct sp_job *j)
{
	free(j->conn_key);
	free(j->key_path);
	free(j->cmdline);
}

static void fail_unfinished(struct sp_job *jobs, size_t n, int kind, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].state == J_DONE)
			continue;
		if (jobs[i].start == 0)
			jobs[i].start = sp_now();
		sp_fanout__fail(&jobs[i], kind, "%s", why);
		sp_fanout__job_finish(&jobs[i]);
	}
}

/* The poll driver: the calling thread runs every job. */
static int drive_poll(const struct sp_fanout_run *run, struct sp_job *jobs, size_t n, long forks)
{
	size_t next = 0, active = 0, done = 0;
	struct pollfd *pfds = calloc(3 * (size_t)forks + 1, sizeof *pfds);
	size_t *running = calloc((size_t)forks + 1, sizeof *running);
	int status = SALVE_OK;
	if (!pfds || !running) {
		free(pfds);
		free(running);
		fail_unfinished(jobs, n, SP_E_IO, "out of memory");
		return SALVE_ERR;
	}
	while (done < n) {
		while (active < (size_t)forks && next < n) {
			sp_fanout__job_start(&jobs[next]);
			running[active++] = next++;
		}
		double now = sp_now();
		/* Reap finished jobs and enforce timeouts. */
		for (size_t k = 0; k < active;) {
			struct sp_job *j = &jobs[running[k]];
			if (job_check_time(j, now)) {
				running[k] = running[--active];
				done++;
			} else {
				k++;
			}
		}
		if (done == n)
			break;
		if (active < (size_t)forks && next < n)
			continue;
		if (run->cancelled(run->ctx)) {
			fail_unfinished(jobs, n, SP_E_CANCELLED, "the run was cancelled");
			status = SALVE_ERR_CANCELED;
			break;
		}
		double wake = now + 0.25; /* also the cancellation poll interval */
		int np = 0;
		for (size_t k = 0; k < active; k++) {
			struct sp_job *j = &jobs[running[k]];
			np += job_pollfds(j, pfds + np);
			wake = fmin(wake, job_deadline(j));
		}
		int ms = (int)ceil(fmax(0, wake - now) * 1000);
		if (np > 0)
			poll(pfds, (nfds_t)np, ms);
		else if (ms > 0)
			poll(NULL, 0, ms < 5 ? ms : 5);
		for (size_t k = 0; k < active; k++) {
			sp_fanout__job_step(&jobs[running[k]]);
			job_report_waits(run, &jobs[running[k]]);
		}
	}
	free(pfds);
	free(running);
	return status;
}

/* The thread-pool driver: each worker takes the next job and drives it to the end. */
struct pool {
	struct sp_job *jobs;
	size_t n;
	atomic_size_t next;
	atomic_size_t done;
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			break;
		struct sp_job *j = &p->jobs[i];
		if (atomic_load(&p->stop)) {
			j->start = sp_now();
			sp_fanout__fail(j, SP_E_CANCELLED, "the run was cancelled");
			sp_fanout__job_finish(j);
		} else {
			sp_fanout__job_start(j);
		}
		while (!job_check_time(j, sp_now())) {
			if (atomic_load(&p->stop)) {
				sp_fanout__fail(j, SP_E_CANCELLED, "the run was cancelled");
				sp_fanout__job_finish(j);
				break;
			}
			struct pollfd pfds[3];
			int np = job_pollfds(j, pfds);
			double wait = fmin(0.1, fmax(0, job_deadline(j) - sp_now()));
			poll(np ? pfds : NULL, (nfds_t)np, (int)ceil(wait * 1000));
			sp_fanout__job_step(j);
			char line[sizeof j->notice];
			while (sp_fanout__next_wait_line(j, line, sizeof line)) {
				/* Only the calling thread may use the call: hand the line over. */
				pthread_mutex_lock(&p->mu);
				memcpy(j->notice, line, sizeof line);
				j->notice_ready = 1;
				pthread_cond_signal(&p->cv);
				pthread_mutex_unlock(&p->mu);
			}
		}
		pthread_mutex_lock(&p->mu);
		atomic_fetch_add(&p->done, 1);
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

static int drive_threads(const struct sp_fanout_run *run, struct sp_job *jobs, size_t n, long forks)
{
	struct pool p = {.jobs = jobs, .n = n};
	atomic_init(&p.next, 0);
	atomic_init(&p.done, 0);
	atomic_init(&p.stop, 0);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	size_t nthreads = (size_t)forks < n ? (size_t)forks : n;
	pthread_t *tids = calloc(nthreads + 1, sizeof *tids);
	size_t started = 0;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (size_t i = 0; tids && i < nthreads; i++)
		if (pthread_create(&tids[i], &attr, pool_worker, &p) == 0)
			started++;
	pthread_attr_destroy(&attr);
	if (started == 0)
		pool_worker(&p); /* no threads: do the work here rather than fail */
	int status = SALVE_OK;
	pthread_mutex_lock(&p.mu);
	while (atomic_load(&p.done) < n && started > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p.cv, &p.mu, &ts);
		for (size_t i = 0; i < n; i++)
			if (jobs[i].notice_ready) {
				run->progress(run->ctx, jobs[i].cmd->host->name, jobs[i].notice);
				jobs[i].notice_ready = 0;
			}
		if (run->cancelled(run->ctx)) {
			atomic_store(&p.stop, 1);
			status = SALVE_ERR_CANCELED;
		}
	}
	pthread_mutex_unlock(&p.mu);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return status;
}

void sp_fanout_init(struct sp_fanout *fo, const struct sp_fanout_settings *set)
{
	memset(fo, 0, sizeof *fo);
	fo->set = *set;
	pthread_mutex_init(&fo->lock, NULL);
}

void sp_fanout_destroy(struct sp_fanout *fo)
{
	sp_fanout__conn_close_all(fo);
	pthread_mutex_destroy(&fo->lock);
}

static struct sp_job *jobs_new(struct sp_fanout *fo, struct sp_cmd *cmds, size_t n,
                               double connect_timeout, double step_deadline)
{
	struct sp_job *jobs = calloc(n, sizeof *jobs);
	if (!jobs)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct sp_cmd *c = &cmds[i];
		c->ran = 0;
		c->rc = -1;
		c->error_kind = SP_E_NONE;
		c->error[0] = '\0';
		sp_buf_free(&c->out);
		sp_buf_free(&c->err);
		c->out.limit = c->err.limit = fo->set.max_output;
		jobs[i].cmd = c;
		jobs[i].fo = fo;
		jobs[i].fd_out = jobs[i].fd_err = jobs[i].fd_in = -1;
		jobs[i].step_deadline = step_deadline;
		jobs[i].connect_timeout = connect_timeout;
		jobs[i].cmd_timeout = c->timeout > 0 ? c->timeout : fo->set.command_timeout;
		c->job = &jobs[i];
	}
	return jobs;
}

int sp_fanout_run(struct sp_fanout *fo, const struct sp_fanout_run *run, struct sp_cmd *cmds,
                  size_t n)
{
	if (n == 0)
		return SALVE_OK;
	long forks = run->forks > 0 ? run->forks : fo->set.forks;
	double connect_timeout =
	    run->connect_timeout > 0 ? run->connect_timeout : fo->set.connect_timeout;
	double step_deadline = isfinite(run->remaining) ? sp_now() + run->remaining : HUGE_VAL;
	struct sp_job *jobs = jobs_new(fo, cmds, n, connect_timeout, step_deadline);
	if (!jobs)
		return SALVE_ERR;
	int status;
	if (run->remaining <= 0) {
		fail_unfinished(jobs, n, SP_E_TIMEOUT,
		                "the step's deadline passed before starting");
		status = SALVE_ERR_TIMEOUT;
	} else if (fo->set.threads) {
		status = drive_threads(run, jobs, n, forks);
	} else {
		status = drive_poll(run, jobs, n, forks);
	}
	/* A host that timed out because the step's deadline passed makes the whole call a
	 * timeout: the engine must not be asked for more. */
	for (size_t i = 0; i < n && status == SALVE_OK; i++)
		if (cmds[i].error_kind == SP_E_TIMEOUT && isfinite(step_deadline) &&
		    sp_now() >= step_deadline)
			status = SALVE_ERR_TIMEOUT;
	for (size_t i = 0; i < n; i++) {
		job_report_waits(run, &jobs[i]); /* lines that came with the command's end */
		job_cleanup(&jobs[i]);
		cmds[i].job = NULL;
	}
	free(jobs);
	return status;
}

void sp_cmds_free(struct sp_cmd *cmds, size_t n)
{
	if (!cmds)
		return;
	for (size_t i = 0; i < n; i++) {
		json_decref(cmds[i].argv);
		json_decref(cmds[i].env);
		free(cmds[i].shell);
		free(cmds[i].input);
		sp_buf_free(&cmds[i].out);
		sp_buf_free(&cmds[i].err);
		json_decref(cmds[i].key_added);
	}
	free(cmds);
}
