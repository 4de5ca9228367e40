/*
 * Group commit of the hooks (see commit.h). An HTTP thread only decides (in memory) and
 * suspends its connection, so a flood of alerts waits for the disk here, never in front of
 * /healthz.
 */
#include "commit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dedupfile.h"
#include "ingest.h"
#include "log.h"
#include "spool.h"
#include "srv.h"

struct srv_commit_job {
	struct srv_ingest *in;
	srv_commit_done_fn done;
	void *ctx;
	struct srv_commit_job *next;
};

static void *committer_main(void *arg)
{
	struct srv_server *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->commit_mu);
		while (!s->commit_head && !s->commit_stop)
			pthread_cond_wait(&s->commit_cv, &s->commit_mu);
		struct srv_commit_job *batch = s->commit_head;
		s->commit_head = s->commit_tail = NULL;
		int stop = s->commit_stop;
		pthread_mutex_unlock(&s->commit_mu);
		if (!batch && stop)
			return NULL;
		int spooled = 0, failed = 0;
		size_t n = 0;
		struct srv_spool_batch spool = {-1};
		if (s->durable && srv_spool_batch_begin(s, &spool) < 0)
			srv_log(SALVE_LOG_ERROR, "serve: spool %s: %s", s->spool_dir,
			        strerror(errno));
		for (struct srv_commit_job *j = batch; j; j = j->next, n++) {
			srv_ingest_write(s, j->in, s->batch_audit);
			spooled |= srv_ingest_spooled(j->in);
		}
		/* The batch's records wait in the handle until here: one write for them all. */
		char err[1024];
		if ((s->durable ? salve_audit_sync : salve_audit_flush)(s->batch_audit, err,
		                                                        sizeof err) < 0) {
			srv_log(SALVE_LOG_ERROR, "serve: %s", err);
			failed = 1;
		}
		if (s->durable) {
			/* Not answered 2xx unless the batch's runs survive a power cut: the 500
			 * makes Alertmanager retry, and the retry is deduplicated. */
			if (srv_spool_batch_sync(&spool, spooled) < 0 && spooled) {
				srv_log(SALVE_LOG_ERROR, "serve: spool %s: syncfs: %s",
				        s->spool_dir, strerror(errno));
				failed = 1;
			}
		}
		/* The dedup keys the batch's runs took, one append (and fdatasync) for them all,
		 * after their spool entries are durable: a power cut between the two must not leave
		 * a key durable for a run that is not (Alertmanager's retry, never answered 2xx,
		 * would be deduplicated against nothing). The other way round, a restart requeues
		 * the run and its keys with it. */
		if (srv_dedupfile_flush(s) < 0)
			failed = 1;
		while (batch) {
			struct srv_commit_job *next = batch->next;
			json_t *result = NULL;
			int status = srv_ingest_finish(s, batch->in, failed, &result);
			batch->done(batch->ctx, status, result);
			free(batch);
			batch = next;
		}
		pthread_mutex_lock(&s->commit_mu);
		s->commit_outstanding -= n;
		pthread_cond_broadcast(&s->commit_cv);
		pthread_mutex_unlock(&s->commit_mu);
	}
}

int srv_commit_start(struct srv_server *s, char *err, size_t errlen)
{
	pthread_mutex_init(&s->commit_mu, NULL);
	pthread_cond_init(&s->commit_cv, NULL);
	s->commit_ready = 1;
	s->batch_audit =
	    salve_audit_open(salve_audit_path(s->audit), SALVE_AUDIT_SYNC_GROUP, err, errlen);
	if (!s->batch_audit)
		return -1;
	if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
		snprintf(err, errlen, "cannot start the audit writer: %s", strerror(errno));
		salve_audit_close(s->batch_audit);
		s->batch_audit = NULL;
		return -1;
	}
	s->committer_running = 1;
	return 0;
}

int srv_commit_submit(struct srv_server *s, struct srv_ingest *in, srv_commit_done_fn done,
                      void (*queued)(void *ctx), void *ctx)
{
	struct srv_commit_job *j = calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->in = in;
	j->done = done;
	j->ctx = ctx;
	pthread_mutex_lock(&s->commit_mu);
	if (!s->committer_running || s->commit_stop) {
		pthread_mutex_unlock(&s->commit_mu);
		free(j);
		return -1;
	}
	/* Under the lock, so the writer cannot answer before the caller has suspended. */
	queued(ctx);
	if (s->commit_tail)
		s->commit_tail->next = j;
	else
		s->commit_head = j;
	s->commit_tail = j;
	s->commit_outstanding++;
	pthread_cond_signal(&s->commit_cv);
	pthread_mutex_unlock(&s->commit_mu);
	return 0;
}

void srv_commit_drain(struct srv_server *s)
{
	if (!s->commit_ready)
		return;
	pthread_mutex_lock(&s->commit_mu);
	s->commit_stop = 1;
	pthread_cond_broadcast(&s->commit_cv);
	while (s->commit_outstanding > 0)
		pthread_cond_wait(&s->commit_cv, &s->commit_mu);
	pthread_mutex_unlock(&s->commit_mu);
}

void srv_commit_stop(struct srv_server *s)
{
	if (!s->commit_ready)
		return;
	srv_commit_drain(s);
	if (s->committer_running) {
		pthread_join(s->committer, NULL);
		s->committer_running = 0;
	}
	salve_audit_close(s->batch_audit);
	s->batch_audit = NULL;
	pthread_cond_destroy(&s->commit_cv);
	pthread_mutex_destroy(&s->commit_mu);
	s->commit_ready = 0;
}
