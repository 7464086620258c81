/* A blocking job's deadline: inherited from its parent, narrowed by its
 * spawn options, kept after its parent's group ended, and seen at once by a
 * job that waited past it in the queue. */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include <weft/weft.h>

#include "tests/job/blocking_helpers.h"
#include "tests/suites.h"

/* ---- deadlines: inherited, narrowed, and kept after the parent ended ---- */

struct deadlines {
    weft_time task_deadline, job_deadline, woke;
    int rc_sleep, rc_wait;
    _Atomic int ended;
};

static int job_sleeps_forever(weft_task *self, void *p)
{
    struct deadlines *d = p;
    d->job_deadline = weft_deadline(self);
    d->rc_sleep = weft_sleep(self, WEFT_NEVER);
    d->woke = weft_now();
    atomic_store(&d->ended, 1);
    return d->rc_sleep;
}

static int task_spawns_sleeper(weft_task *self, void *p)
{
    struct deadlines *d = p;
    d->task_deadline = weft_deadline(self);
    weft_job *job;
    if (weft_spawn_blocking(self, job_sleeps_forever, d, NULL, &job) != 0)
        return EIO;
    d->rc_wait = weft_job_wait(job, weft_after(2 * WEFT_MSEC)); /* gives up early */
    weft_job_release(job);
    return 0; /* the group ends long before its deadline */
}

static int root_deadline(weft_task *self, void *p)
{
    weft_group g;
    /* far enough that even under TSan the task ends well before it */
    weft_group_opts go = {.deadline = weft_after(500 * WEFT_MSEC)};
    weft_group_init(&g, self, &go);
    weft_spawn(&g, task_spawns_sleeper, p);
    return weft_group_join(&g, NULL);
}

START_TEST(test_a_job_keeps_its_inherited_deadline_after_its_parent_ended)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct deadlines d = {0};
    ck_assert_int_eq(weft_run(rt, root_deadline, &d, NULL), 0);
    ck_assert_int_eq(wait_for_count(&d.ended, 1), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(d.rc_wait, ETIMEDOUT);
    ck_assert_int_ne(d.task_deadline, WEFT_NEVER);
    ck_assert_int_eq(d.job_deadline, d.task_deadline);
    ck_assert_int_eq(d.rc_sleep, ETIMEDOUT);
    ck_assert_int_ge(d.woke, d.job_deadline);
}
END_TEST

struct narrowed {
    weft_time own, seen;
    int rc_wait;
};

static int job_sleeps_to_deadline(weft_task *self, void *p)
{
    struct narrowed *n = p;
    n->seen = weft_deadline(self);
    weft_sleep(self, WEFT_NEVER); /* returns at the deadline, maybe before the timer fires */
    weft_time end = weft_after(BUDGET);
    while (!weft_cancelled(self) && weft_now() < end)
        usleep(100);
    return weft_cancelled(self) ? ECANCELED : 0; /* ECANCELED by a deadline: ETIMEDOUT */
}

static int root_narrows(weft_task *self, void *p)
{
    struct narrowed *n = p;
    n->own = weft_after(10 * WEFT_MSEC);
    weft_spawn_opts o = {.deadline = n->own};
    weft_job *job;
    if (weft_spawn_blocking(self, job_sleeps_to_deadline, n, &o, &job) != 0)
        return EIO;
    n->rc_wait = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return 0;
}

START_TEST(test_a_spawn_deadline_narrows_the_jobs_and_ends_it_with_etimedout)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct narrowed n = {0};
    ck_assert_int_eq(weft_run(rt, root_narrows, &n, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(n.seen, n.own);
    ck_assert_int_eq(n.rc_wait, ETIMEDOUT);
}
END_TEST

/* ---- a job whose deadline passed in the queue runs once, cancelled ---- */

struct late_start {
    struct gate gate;
    _Atomic int runs;
    int cancelled_at_start, rc_first, rc_late;
};

static int job_holds_the_thread(weft_task *self, void *p)
{
    (void)self;
    return gate_pass(&((struct late_start *)p)->gate);
}

static int job_records_start(weft_task *self, void *p)
{
    struct late_start *l = p;
    l->cancelled_at_start = weft_cancelled(self);
    atomic_fetch_add(&l->runs, 1);
    return weft_cancel_reason(self);
}

static int root_late_start(weft_task *self, void *p)
{
    struct late_start *l = p;
    weft_job *first, *late;
    weft_spawn_opts o = {.deadline = weft_after(5 * WEFT_MSEC)};
    if (weft_spawn_blocking(self, job_holds_the_thread, l, NULL, &first) != 0)
        return EIO;
    if (weft_spawn_blocking(self, job_records_start, l, &o, &late) != 0)
        return EIO;
    weft_sleep(self, weft_after(30 * WEFT_MSEC)); /* its deadline passes in the queue */
    gate_open(&l->gate, 1);
    l->rc_first = weft_job_wait(first, WEFT_NEVER);
    l->rc_late = weft_job_wait(late, WEFT_NEVER);
    weft_job_release(first);
    weft_job_release(late);
    return 0;
}

START_TEST(test_a_job_whose_deadline_passed_in_the_queue_runs_once_seeing_it)
{
    weft_runtime *rt = pool_runtime(2, 1, 0, 0, NULL);
    struct late_start l = {0};
    gate_init(&l.gate);
    ck_assert_int_eq(weft_run(rt, root_late_start, &l, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&l.gate);
    ck_assert_int_eq(l.rc_first, 0);
    ck_assert_int_eq(atomic_load(&l.runs), 1);
    ck_assert_int_eq(l.cancelled_at_start, 1);
    ck_assert_int_eq(l.rc_late, ETIMEDOUT);
}
END_TEST

Suite *job_deadline_suite(void)
{
    Suite *s = suite_create("job_deadline");
    TCase *tc = tcase_create("job_deadline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_a_job_keeps_its_inherited_deadline_after_its_parent_ended);
    tcase_add_test(tc, test_a_spawn_deadline_narrows_the_jobs_and_ends_it_with_etimedout);
    tcase_add_test(tc, test_a_job_whose_deadline_passed_in_the_queue_runs_once_seeing_it);
    suite_add_tcase(s, tc);
    return s;
}
