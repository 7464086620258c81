/* Blocking jobs seen from their callers: a waiting worker's place is taken
 * by a spare thread; a cancelled caller stops waiting while the job goes
 * on; a job's failure becomes its waiter's cause; nested jobs and
 * weft_job_cancel; thread creation failures lose no job; WEFT_BLOCKING_MAX;
 * and every misuse is refused without a crash. */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "base/thread.h"
#include "runtime/runtime.h"
#include "tests/job/blocking_helpers.h"
#include "tests/suites.h"

/* ---- a worker waiting on a job keeps the pool's parallelism ---- */

struct relay {
    struct gate gate;
    int rc_wait;
    weft_time waited;
};

static int job_waits_gate(weft_task *self, void *p)
{
    (void)self;
    return gate_pass(&((struct relay *)p)->gate) == 0 ? 5 : EIO;
}

static int task_opens_gate(weft_task *self, void *p)
{
    (void)self;
    gate_open(&((struct relay *)p)->gate, 1);
    return 0;
}

/* On one worker: the task that opens the gate sits in this task's deque;
 * only the spare thread that takes this worker's slot during the wait can
 * run it before the wait's deadline. */
static int root_relay(weft_task *self, void *p)
{
    struct relay *r = p;
    weft_job *job;
    if (weft_spawn_blocking(self, job_waits_gate, r, NULL, &job) != 0)
        return EIO;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, task_opens_gate, r);
    weft_time t0 = weft_now();
    r->rc_wait = weft_job_wait(job, weft_after(BUDGET));
    r->waited = weft_now() - t0;
    weft_job_release(job);
    return weft_group_join(&g, NULL);
}

START_TEST(test_a_worker_waiting_on_a_job_lends_its_place_to_a_spare_thread)
{
    weft_runtime *rt = pool_runtime(1, 0, 0, 0, NULL);
    struct relay r = {0};
    gate_init(&r.gate);
    ck_assert_int_eq(weft_run(rt, root_relay, &r, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&r.gate);
    ck_assert_int_eq(r.rc_wait, 5);
    ck_assert_int_lt(r.waited, BUDGET / 2);
}
END_TEST

/* ---- two tasks waiting on one job both get its status ---- */

struct shared_wait {
    struct gate gate;
    weft_job *job;
    int rc[2];
};

static int job_shared(weft_task *self, void *p)
{
    (void)self;
    return gate_pass(&((struct shared_wait *)p)->gate) == 0 ? 9 : EIO;
}

static int task_waits_first(weft_task *self, void *p)
{
    (void)self;
    struct shared_wait *w = p;
    w->rc[0] = weft_job_wait(w->job, weft_after(BUDGET));
    return 0;
}

static int task_waits_second(weft_task *self, void *p)
{
    (void)self;
    struct shared_wait *w = p;
    w->rc[1] = weft_job_wait(w->job, WEFT_NEVER);
    return 0;
}

static int root_shared_wait(weft_task *self, void *p)
{
    struct shared_wait *w = p;
    if (weft_spawn_blocking(self, job_shared, w, NULL, &w->job) != 0)
        return EIO;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, task_waits_first, w);
    weft_spawn(&g, task_waits_second, w);
    weft_sleep(self, weft_after(10 * WEFT_MSEC)); /* both wait meanwhile */
    gate_open(&w->gate, 1);
    int rc = weft_group_join(&g, NULL);
    weft_job_release(w->job);
    return rc;
}

START_TEST(test_two_tasks_waiting_on_one_job_both_get_its_status)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = pool_runtime(workers, 0, 0, 0, NULL);
        struct shared_wait w = {0};
        gate_init(&w.gate);
        ck_assert_int_eq(weft_run(rt, root_shared_wait, &w, NULL), 0);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
        gate_close(&w.gate);
        ck_assert_int_eq(w.rc[0], 9);
        ck_assert_int_eq(w.rc[1], 9);
    }
}
END_TEST

/* ---- a cancelled caller stops waiting (ECANCELED); the job goes on ---- */

struct outlive {
    struct gate gate;
    _Atomic int ended;
    int rc_wait, job_saw_cancel;
};

static int job_ignores_its_cancel(weft_task *self, void *p)
{
    struct outlive *o = p;
    gate_pass(&o->gate);
    o->job_saw_cancel = weft_cancelled(self);
    atomic_store(&o->ended, 1);
    return 0;
}

static int task_waits_forever(weft_task *self, void *p)
{
    struct outlive *o = p;
    weft_job *job;
    if (weft_spawn_blocking(self, job_ignores_its_cancel, o, NULL, &job) != 0)
        return EIO;
    o->rc_wait = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return o->rc_wait;
}

static int root_cancels_waiter(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, task_waits_forever, p);
    weft_sleep(self, weft_after(20 * WEFT_MSEC));
    weft_group_cancel(&g);
    return weft_group_join(&g, NULL);
}

START_TEST(test_a_cancelled_caller_stops_waiting_and_the_job_goes_on)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u);
    struct outlive o = {0};
    gate_init(&o.gate);
    ck_assert_int_eq(weft_run(rt, root_cancels_waiter, &o, NULL), ECANCELED);
    ck_assert_int_eq(atomic_load(&o.ended), 0); /* still blocked */
    gate_open(&o.gate, 1);
    ck_assert_int_eq(wait_for_count(&o.ended, 1), 1);
    weft_stats s = stats_of(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&o.gate);
    ck_assert_int_eq(o.rc_wait, ECANCELED);
    ck_assert_int_eq(o.job_saw_cancel, 1); /* it inherited its parent's cancel */
    ck_assert_uint_eq(s.blocking_timed_out, 1);
    ck_assert_int_eq(atomic_load(&u.calls), 0); /* it returned 0: nothing to report */
}
END_TEST

/* ---- a job's failure becomes the cause of its waiter's ---- */

static int job_cannot_read(weft_task *self, void *p)
{
    return weft_fail(self, EIO, "read %s failed", (const char *)p);
}

static int task_fetches(weft_task *self, void *p)
{
    (void)p;
    weft_spawn_opts o = {.name = "fetch"};
    weft_job *job;
    if (weft_spawn_blocking(self, job_cannot_read, "a.txt", &o, &job) != 0)
        return EINVAL;
    int rc = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return rc == 0 ? 0 : weft_fail(self, EPIPE, "upstream failed");
}

struct tree {
    weft_errors *errs;
    int rc;
};

static int root_tree(weft_task *self, void *p)
{
    struct tree *t = p;
    weft_group g;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    weft_group_init(&g, self, &go);
    weft_spawn_ex(&g, task_fetches, NULL, &(weft_spawn_opts){.name = "pipeline"});
    t->rc = weft_group_join(&g, &t->errs);
    return 0;
}

START_TEST(test_a_jobs_failure_is_the_cause_of_its_waiters_failure)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct tree t = {0};
    ck_assert_int_eq(weft_run(rt, root_tree, &t, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(t.rc, EPIPE);
    ck_assert_uint_eq(weft_errors_count(t.errs), 1);
    const weft_error *top = weft_errors_at(t.errs, 0);
    ck_assert_str_eq(weft_error_task(top), "pipeline");
    ck_assert_str_eq(weft_error_message(top), "upstream failed");
    const weft_errors *cause = weft_error_cause(top);
    ck_assert_uint_eq(weft_errors_count(cause), 1);
    const weft_error *inner = weft_errors_at(cause, 0);
    ck_assert_int_eq(weft_error_code(inner), EIO);
    ck_assert_str_eq(weft_error_task(inner), "fetch");
    ck_assert_str_eq(weft_error_message(inner), "read a.txt failed");
    weft_errors_free(t.errs);
}
END_TEST

/* ---- nested jobs: weft_job_cancel reaches the inner one ---- */

struct nested {
    struct gate gate; /* the inner job owns the write end */
    _Atomic int inner_started, inner_ended;
    int inner_reason, rc_outer_wait, rc_inner_wait, outer_worker_id;
};

static int inner_job(weft_task *self, void *p)
{
    struct nested *n = p;
    weft_cancel_cb cb;
    weft_on_cancel(self, &cb, gate_hang_up, &n->gate);
    atomic_store(&n->inner_started, 1);
    gate_pass(&n->gate);
    weft_on_cancel_remove(&cb);
    n->inner_reason = weft_cancel_reason(self);
    atomic_store(&n->inner_ended, 1);
    return weft_cancelled(self) ? ECANCELED : 0;
}

static int outer_job(weft_task *self, void *p)
{
    struct nested *n = p;
    n->outer_worker_id = weft_worker_id(self);
    weft_job *inner;
    int rc = weft_spawn_blocking(self, inner_job, n, NULL, &inner);
    if (rc != 0)
        return rc;
    n->rc_inner_wait = weft_job_wait(inner, WEFT_NEVER); /* ends when cancelled */
    /* the caller is cancelled: wait for the inner job's end by polling */
    while (!weft_job_done(inner))
        usleep(1000);
    weft_job_release(inner);
    return ECANCELED;
}

static int root_nested(weft_task *self, void *p)
{
    struct nested *n = p;
    weft_job *outer;
    if (weft_spawn_blocking(self, outer_job, n, NULL, &outer) != 0)
        return EIO;
    while (atomic_load(&n->inner_started) == 0)
        weft_sleep(self, weft_after(WEFT_MSEC));
    weft_job_cancel(outer);
    n->rc_outer_wait = weft_job_wait(outer, WEFT_NEVER);
    weft_job_cancel(outer); /* ended: no effect */
    weft_job_release(outer);
    return 0;
}

START_TEST(test_cancelling_a_job_cancels_the_jobs_it_spawned)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct nested n = {0};
    gate_init(&n.gate);
    ck_assert_int_eq(weft_run(rt, root_nested, &n, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&n.gate);
    ck_assert_int_eq(n.outer_worker_id, -1);
    ck_assert_int_eq(atomic_load(&n.inner_ended), 1);
    ck_assert_int_eq(n.inner_reason, ECANCELED);
    ck_assert_int_eq(n.rc_inner_wait, ECANCELED);
    ck_assert_int_eq(n.rc_outer_wait, ECANCELED);
}
END_TEST

/* ---- thread creation failure: queued, or EAGAIN with no thread at all ---- */

struct no_threads {
    struct gate gate;
    _Atomic int ran_first, ran_second, ran_refused;
    int rc_refused, rc_queued, rc_first, rc_second;
};

static int job_counts(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add((_Atomic int *)p, 1);
    return 0;
}

static int job_first_blocks(weft_task *self, void *p)
{
    (void)self;
    struct no_threads *nt = p;
    atomic_store(&nt->ran_first, 1);
    return gate_pass(&nt->gate);
}

static int root_no_threads(weft_task *self, void *p)
{
    struct no_threads *nt = p;
    weft_job *refused = NULL, *first, *second;
    weft__thread_fail_from(1); /* the next thread creation fails */
    nt->rc_refused = weft_spawn_blocking(self, job_counts, &nt->ran_refused, NULL, &refused);
    weft__thread_fail_from(0);
    if (weft_spawn_blocking(self, job_first_blocks, nt, NULL, &first) != 0)
        return EIO;
    weft__thread_fail_from(1); /* a thread exists: the next job queues for it */
    nt->rc_queued = weft_spawn_blocking(self, job_counts, &nt->ran_second, NULL, &second);
    weft__thread_fail_from(0);
    if (nt->rc_queued != 0)
        return EIO;
    gate_open(&nt->gate, 1);
    nt->rc_first = weft_job_wait(first, weft_after(BUDGET));
    nt->rc_second = weft_job_wait(second, weft_after(BUDGET));
    weft_job_release(first);
    weft_job_release(second);
    return refused == NULL ? 0 : EINVAL;
}

START_TEST(test_a_failed_thread_start_queues_the_job_or_refuses_it_with_eagain)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct no_threads nt = {0};
    gate_init(&nt.gate);
    ck_assert_int_eq(weft_run(rt, root_no_threads, &nt, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&nt.gate);
    ck_assert_int_eq(nt.rc_refused, EAGAIN);
    ck_assert_int_eq(atomic_load(&nt.ran_refused), 0);
    ck_assert_int_eq(nt.rc_queued, 0);
    ck_assert_int_eq(nt.rc_first, 0);
    ck_assert_int_eq(nt.rc_second, 0);
    ck_assert_int_eq(atomic_load(&nt.ran_second), 1);
}
END_TEST

/* ---- WEFT_BLOCKING_MAX bounds the threads when the config leaves it 0 ---- */

struct env_max {
    struct gate gate;
    weft_runtime *rt;
    weft_stats busy;
    int rc;
};

static int job_blocks(weft_task *self, void *p)
{
    (void)self;
    return gate_pass(&((struct env_max *)p)->gate);
}

static int root_env_max(weft_task *self, void *p)
{
    struct env_max *e = p;
    weft_job *h[6];
    for (int i = 0; i < 6; i++)
        if (weft_spawn_blocking(self, job_blocks, e, NULL, &h[i]) != 0)
            return EIO;
    weft_time end = weft_after(BUDGET);
    do {
        weft_sleep(self, weft_after(WEFT_MSEC));
        weft_runtime_stats(e->rt, &e->busy);
    } while (e->busy.blocking_running < 3 && weft_now() < end);
    weft_sleep(self, weft_after(10 * WEFT_MSEC)); /* a 4th thread would start meanwhile */
    weft_runtime_stats(e->rt, &e->busy);
    gate_open(&e->gate, 6);
    for (int i = 0; i < 6; i++) {
        e->rc |= weft_job_wait(h[i], weft_after(BUDGET));
        weft_job_release(h[i]);
    }
    return 0;
}

START_TEST(test_weft_blocking_max_bounds_the_pool_when_the_config_does_not)
{
    setenv("WEFT_BLOCKING_MAX", "3", 1);
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    unsetenv("WEFT_BLOCKING_MAX");
    struct env_max e = {.rt = rt};
    gate_init(&e.gate);
    ck_assert_int_eq(weft_run(rt, root_env_max, &e, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&e.gate);
    ck_assert_int_eq(e.rc, 0);
    ck_assert_uint_eq(e.busy.blocking_threads, 3);
    ck_assert_uint_eq(e.busy.blocking_running, 3);
    ck_assert_uint_eq(e.busy.blocking_queued, 3);
}
END_TEST

/* ---- misuse is refused, never a crash ---- */

struct misuse {
    weft_runtime *rt;
    int rc_null_parent, rc_null_fn, rc_null_out, rc_foreign_parent;
    int rc_wait_null, rc_job_status, rc_wait_released;
    bool done_null, done_released;
    int rc_destroy, rc_fail_foreign;
    _Atomic int ran;
};

static int job_tries_destroy(weft_task *self, void *p)
{
    (void)self;
    struct misuse *m = p;
    atomic_fetch_add(&m->ran, 1);
    m->rc_destroy = weft_runtime_destroy(m->rt);
    return m->rc_destroy;
}

static int job_fails_for_another(weft_task *self, void *p)
{
    (void)self;
    struct misuse *m = p;
    m->rc_fail_foreign = weft_fail((weft_task *)p, EIO, "not me"); /* not its self */
    return 0;
}

static int root_misuse(weft_task *self, void *p)
{
    struct misuse *m = p;
    weft_job *job = NULL, *other;
    m->rc_null_parent = weft_spawn_blocking(NULL, job_tries_destroy, m, NULL, &job);
    m->rc_null_fn = weft_spawn_blocking(self, NULL, m, NULL, &job);
    m->rc_null_out = weft_spawn_blocking(self, job_tries_destroy, m, NULL, NULL);
    m->rc_foreign_parent = weft_spawn_blocking((weft_task *)p, job_tries_destroy, m, NULL, &job);
    if (job != NULL)
        return EINVAL; /* a refused spawn leaves *job alone */
    m->rc_wait_null = weft_job_wait(NULL, 0);
    m->done_null = weft_job_done(NULL);
    weft_job_cancel(NULL);
    weft_job_release(NULL);
    if (weft_spawn_blocking(self, job_tries_destroy, m, NULL, &job) != 0)
        return EIO;
    m->rc_job_status = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    weft_job_release(job); /* twice: refused */
    m->rc_wait_released = weft_job_wait(job, 0);
    m->done_released = weft_job_done(job);
    weft_job_cancel(job);
    if (weft_spawn_blocking(self, job_fails_for_another, m, NULL, &other) != 0)
        return EIO;
    int rc = weft_job_wait(other, WEFT_NEVER);
    weft_job_release(other);
    return rc;
}

START_TEST(test_misuse_of_jobs_is_refused_without_a_crash)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct misuse m = {.rt = rt};
    ck_assert_int_eq(weft_run(rt, root_misuse, &m, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(m.rc_null_parent, EINVAL);
    ck_assert_int_eq(m.rc_null_fn, EINVAL);
    ck_assert_int_eq(m.rc_null_out, EINVAL);
    ck_assert_int_eq(m.rc_foreign_parent, EINVAL);
    ck_assert_int_eq(m.rc_wait_null, EINVAL);
    ck_assert(!m.done_null);
    ck_assert_int_eq(atomic_load(&m.ran), 1);
    ck_assert_int_eq(m.rc_destroy, EINVAL); /* destroy from a job */
    ck_assert_int_eq(m.rc_job_status, EINVAL);
    ck_assert_int_eq(m.rc_wait_released, EINVAL);
    ck_assert(!m.done_released);
    ck_assert_int_eq(m.rc_fail_foreign, EINVAL);

    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.blocking_idle = -1;
    errno = 0;
    ck_assert_ptr_null(weft_runtime_create(&cfg));
    ck_assert_int_eq(errno, EINVAL);
    cfg.blocking_idle = 0;
    cfg.shutdown_timeout = -WEFT_SEC;
    ck_assert_ptr_null(weft_runtime_create(&cfg));
}
END_TEST

Suite *job_wait_suite(void)
{
    Suite *s = suite_create("job_wait");
    TCase *tc = tcase_create("job_wait");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_a_worker_waiting_on_a_job_lends_its_place_to_a_spare_thread);
    tcase_add_test(tc, test_two_tasks_waiting_on_one_job_both_get_its_status);
    tcase_add_test(tc, test_a_cancelled_caller_stops_waiting_and_the_job_goes_on);
    tcase_add_test(tc, test_a_jobs_failure_is_the_cause_of_its_waiters_failure);
    tcase_add_test(tc, test_cancelling_a_job_cancels_the_jobs_it_spawned);
    tcase_add_test(tc, test_a_failed_thread_start_queues_the_job_or_refuses_it_with_eagain);
    tcase_add_test(tc, test_weft_blocking_max_bounds_the_pool_when_the_config_does_not);
    tcase_add_test(tc, test_misuse_of_jobs_is_refused_without_a_crash);
    suite_add_tcase(s, tc);
    return s;
}
