/* salve serve's run table: eviction of finished runs past server.history, in finish order,
 * never of a queued or running run, never of one whose request is not answered yet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "run.h"
#include "srv.h"

#define NRUNS 10

struct table {
	struct srv_server s;
	srv_route route;
	struct srv_route_state rs;
	struct srv_run *runs[NRUNS + 4];
	char ids[NRUNS + 4][33];
};

static struct table *table_new(int history)
{
	struct table *t = calloc(1, sizeof *t);
	assert_non_null(t);
	static char name[] = "r", runbook[] = "builtin:noop";
	t->route.name = name;
	t->route.runbook = runbook;
	t->route.cooldown = 60;
	t->rs.route = &t->route;
	t->s.conf.history = history;
	t->s.by_id = srv_strmap_new();
	t->s.dedup = srv_dedup_new(1000);
	t->s.metrics = srv_metrics_new();
	assert_non_null(t->s.by_id);
	assert_non_null(t->s.dedup);
	assert_non_null(t->s.metrics);
	snprintf(t->s.spool_dir, sizeof t->s.spool_dir, "/nonexistent-salve-spool");
	return t;
}

static void table_free(struct table *t)
{
	srv_run_free_all(&t->s);
	srv_strmap_free(t->s.by_id);
	srv_dedup_free(t->s.dedup);
	srv_metrics_free(t->s.metrics);
	free(t);
}

/* Accepts run i (answered: ready) and remembers its id. */
static void accept_run(struct table *t, int i)
{
	char occ[32], target[32];
	snprintf(occ, sizeof occ, "occ-%d", i);
	snprintf(target, sizeof target, "target-%d", i);
	struct srv_run *r =
	    srv_run_new(&t->s, &t->rs, "test", NULL, 0, json_object(), strdup(target), occ, target);
	assert_non_null(r);
	r->ready = 1;
	srv_run_enqueue(&t->s, r);
	t->runs[i] = r;
	snprintf(t->ids[i], sizeof t->ids[i], "%s", r->id);
}

/* A worker takes run i and finishes it. */
static void finish_run(struct table *t, int i)
{
	srv_run_dequeue(&t->s, t->runs[i]);
	srv_run_set_finished(&t->s, t->runs[i]);
}

/* The table, oldest first, as indexes into t->runs; -1 ends it. */
static void expect_table(struct table *t, const int *want)
{
	size_t n = 0;
	for (struct srv_run *r = t->s.oldest; r; r = r->newer, n++) {
		assert_int_not_equal(want[n], -1);
		assert_string_equal(r->id, t->ids[want[n]]);
		assert_ptr_equal(srv_run_find(&t->s, r->id), r);
	}
	assert_int_equal(want[n], -1);
	assert_int_equal(t->s.nruns, n);
}

static void expect_evicted(struct table *t, int i)
{
	assert_null(srv_run_find(&t->s, t->ids[i]));
	t->runs[i] = NULL;
}

static void test_queued_runs_stay(void **state)
{
	(void)state;
	struct table *t = table_new(3);
	for (int i = 0; i < NRUNS; i++)
		accept_run(t, i);
	/* Ten queued runs past a history of 3: none is finished, none leaves. */
	expect_table(t, (const int[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1});
	assert_int_equal(t->s.queued, NRUNS);
	assert_null(t->s.finished_oldest);
	table_free(t);
}

static void test_evicted_in_finish_order(void **state)
{
	(void)state;
	struct table *t = table_new(8);
	for (int i = 0; i < NRUNS; i++)
		accept_run(t, i);
	/* Finished out of creation order: 5, then 2, then 8. */
	finish_run(t, 5);
	finish_run(t, 2);
	finish_run(t, 8);
	/* The next run makes 11 of history 8: the three finished ones go, first finished
	 * first, and the queue keeps its order. */
	accept_run(t, 10);
	expect_evicted(t, 5);
	expect_evicted(t, 2);
	expect_evicted(t, 8);
	expect_table(t, (const int[]){0, 1, 3, 4, 6, 7, 9, 10, -1});
	assert_null(t->s.finished_oldest);
	assert_int_equal(t->s.queued, 8);
	assert_ptr_equal(t->s.qhead, t->runs[0]);
	assert_ptr_equal(t->s.qtail, t->runs[10]);
	/* Two finished, one over history: only the first finished (7) goes; 3 stays listed. */
	finish_run(t, 7);
	finish_run(t, 3);
	accept_run(t, 11);
	expect_evicted(t, 7);
	expect_table(t, (const int[]){0, 1, 3, 4, 6, 9, 10, 11, -1});
	assert_ptr_equal(t->s.finished_oldest, t->runs[3]);
	assert_ptr_equal(t->s.finished_newest, t->runs[3]);
	table_free(t);
}

static void test_unanswered_run_stays(void **state)
{
	(void)state;
	struct table *t = table_new(2);
	accept_run(t, 0);
	accept_run(t, 1);
	/* Run 0 is cancelled while its request's batch is still written (not ready), then run
	 * 1 finishes. */
	t->runs[0]->ready = 0;
	json_decref(srv_run_cancel_queued(&t->s, t->runs[0], "resolved"));
	assert_int_equal(t->runs[0]->state, SRV_RUN_FINISHED);
	finish_run(t, 1);
	accept_run(t, 2);
	/* Over history by one: run 0 finished first but its request holds it; run 1 goes. */
	expect_evicted(t, 1);
	expect_table(t, (const int[]){0, 2, -1});
	/* Answered, it goes with the next run accepted. */
	t->runs[0]->ready = 1;
	accept_run(t, 3);
	expect_evicted(t, 0);
	expect_table(t, (const int[]){2, 3, -1});
	assert_null(t->s.finished_oldest);
	assert_null(t->s.finished_newest);
	table_free(t);
}

static void test_finished_once(void **state)
{
	(void)state;
	struct table *t = table_new(1);
	accept_run(t, 0);
	accept_run(t, 1);
	finish_run(t, 0);
	/* Marking it again (a cancel racing the worker's end) does not thread it twice. */
	srv_run_set_finished(&t->s, t->runs[0]);
	assert_ptr_equal(t->s.finished_oldest, t->runs[0]);
	assert_ptr_equal(t->s.finished_newest, t->runs[0]);
	assert_null(t->runs[0]->fnext);
	accept_run(t, 2);
	expect_evicted(t, 0);
	expect_table(t, (const int[]){1, 2, -1});
	table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queued_runs_stay),
	    cmocka_unit_test(test_evicted_in_finish_order),
	    cmocka_unit_test(test_unanswered_run_stays),
	    cmocka_unit_test(test_finished_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
