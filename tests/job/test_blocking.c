/* The blocking pool: jobs run on their own threads, never on a worker; a
 * wait that times out leaves the job running and a later wait gets its
 * status; a released job still runs its cleanup and reports its failure;
 * jobs inherit their parent's cancellation; jobs beyond blocking_max wait
 * FIFO; idle threads exit; destroy cancels jobs and gives up on stuck ones
 * after shutdown_timeout without freeing what they use, and reports the
 * failures of kept handles no wait saw. Jobs block on pipes
 * ("gates") that the test opens. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "job/job.h"
#include "tests/job/blocking_helpers.h"
#include "tests/suites.h"

/* ---- a job runs on a blocking thread and its status comes back ---- */

struct where {
    int worker_id, on_cpu_worker, rc_spawn, rc_wait;
};

static int job_where(weft_task *self, void *p)
{
    struct where *w = p;
    w->worker_id = weft_worker_id(self);
    w->on_cpu_worker = weft__self_thread != NULL;
    return 7;
}

static int root_where(weft_task *self, void *p)
{
    struct where *w = p;
    weft_job *job;
    if ((w->rc_spawn = weft_spawn_blocking(self, job_where, w, NULL, &job)) != 0)
        return 0;
    w->rc_wait = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return 0;
}

START_TEST(test_a_job_runs_off_the_workers_and_its_status_comes_back)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct where w = {.worker_id = 99};
    ck_assert_int_eq(weft_run(rt, root_where, &w, NULL), 0);
    weft_stats s = stats_of(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(w.rc_spawn, 0);
    ck_assert_int_eq(w.rc_wait, 7);
    ck_assert_int_eq(w.worker_id, -1);
    ck_assert_int_eq(w.on_cpu_worker, 0);
    ck_assert_uint_eq(s.blocking_done, 1);
    ck_assert_uint_eq(s.blocking_timed_out, 0);
}
END_TEST

/* ---- timeout, then completion, then the result ---- */

struct later {
    struct gate gate;
    _Atomic int ended;
    int rc_first, rc_second, rc_third, done_after_timeout;
    weft_time deadline, returned;
};

static int job_answers_late(weft_task *self, void *p)
{
    (void)self;
    struct later *l = p;
    int rc = gate_pass(&l->gate);
    atomic_store(&l->ended, 1);
    return rc == 0 ? 42 : rc;
}

static int root_later(weft_task *self, void *p)
{
    struct later *l = p;
    weft_job *job;
    if (weft_spawn_blocking(self, job_answers_late, l, NULL, &job) != 0)
        return EIO;
    l->deadline = weft_after(20 * WEFT_MSEC);
    l->rc_first = weft_job_wait(job, l->deadline);
    l->returned = weft_now();
    l->done_after_timeout = weft_job_done(job);
    gate_open(&l->gate, 1);
    l->rc_second = weft_job_wait(job, weft_after(BUDGET));
    l->rc_third = weft_job_wait(job, 0); /* ended: at once, the same status */
    weft_job_release(job);
    return 0;
}

START_TEST(test_a_wait_times_out_the_job_goes_on_and_a_later_wait_gets_its_status)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = pool_runtime(workers, 0, 0, 0, NULL);
        struct later l = {0};
        gate_init(&l.gate);
        ck_assert_int_eq(weft_run(rt, root_later, &l, NULL), 0);
        weft_stats s = stats_of(rt);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
        gate_close(&l.gate);
        ck_assert_int_eq(l.rc_first, ETIMEDOUT);
        ck_assert_int_ge(l.returned, l.deadline);
        ck_assert_int_lt(l.returned - l.deadline, 2 * WEFT_SEC); /* generous: a loaded machine */
        ck_assert_int_eq(l.done_after_timeout, 0);
        ck_assert_int_eq(l.rc_second, 42);
        ck_assert_int_eq(l.rc_third, 42);
        ck_assert_int_eq(atomic_load(&l.ended), 1);
        ck_assert_uint_eq(s.blocking_timed_out, 1);
        ck_assert_uint_eq(s.blocking_done, 1);
    }
}
END_TEST

/* ---- released before it ended: cleanup once, failure to on_unhandled ---- */

struct abandoned {
    struct gate gate;
    _Atomic int cleanups, ended;
    int rc_wait;
};

static int job_fails_late(weft_task *self, void *p)
{
    struct abandoned *a = p;
    gate_pass(&a->gate);
    atomic_store(&a->ended, 1);
    return weft_fail(self, EIO, "disk %d gone", 3);
}

static void count_cleanup(void *p)
{
    struct abandoned *a = p;
    atomic_fetch_add(&a->cleanups, 1);
}

static int root_abandons(weft_task *self, void *p)
{
    struct abandoned *a = p;
    weft_spawn_opts o = {.name = "reader", .cleanup = count_cleanup};
    weft_job *job;
    if (weft_spawn_blocking(self, job_fails_late, a, &o, &job) != 0)
        return EIO;
    a->rc_wait = weft_job_wait(job, weft_after(5 * WEFT_MSEC));
    weft_job_release(job);
    return 0;
}

START_TEST(test_a_job_released_before_its_end_runs_cleanup_once_and_reports_its_failure)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u);
    struct abandoned a = {0};
    gate_init(&a.gate);
    ck_assert_int_eq(weft_run(rt, root_abandons, &a, NULL), 0);
    ck_assert_int_eq(atomic_load(&a.cleanups), 0); /* still blocked */
    gate_open(&a.gate, 1);
    ck_assert_int_eq(wait_for_count(&u.calls, 1), 1);
    weft_stats s = stats_of(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&a.gate);
    ck_assert_int_eq(a.rc_wait, ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&a.cleanups), 1);
    ck_assert_int_eq(atomic_load(&u.calls), 1);
    ck_assert_int_eq(u.code, EIO);
    ck_assert_str_eq(u.message, "disk 3 gone");
    ck_assert_str_eq(u.task, "reader");
    ck_assert_uint_eq(s.unhandled_errors, 1);
    ck_assert_uint_eq(s.blocking_timed_out, 1); /* a timed-out wait and a release: one job */
}
END_TEST

/* ---- an ended job: reported at release only if no wait saw it ---- */

static int job_fails_now(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EPIPE, "broken");
}

struct ended_jobs {
    int rc_seen;
};

static int root_ended_jobs(weft_task *self, void *p)
{
    struct ended_jobs *e = p;
    weft_job *seen, *unseen;
    if (weft_spawn_blocking(self, job_fails_now, NULL, NULL, &seen) != 0)
        return EIO;
    if (weft_spawn_blocking(self, job_fails_now, NULL, NULL, &unseen) != 0)
        return EIO;
    e->rc_seen = weft_job_wait(seen, WEFT_NEVER);
    while (!weft_job_done(unseen))
        weft_sleep(self, weft_after(WEFT_MSEC));
    weft_job_release(seen);
    weft_job_release(unseen);
    return 0;
}

START_TEST(test_an_ended_failure_no_wait_saw_is_reported_at_release)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u);
    struct ended_jobs e = {0};
    ck_assert_int_eq(weft_run(rt, root_ended_jobs, &e, NULL), 0);
    weft_stats s = stats_of(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(e.rc_seen, EPIPE);
    ck_assert_int_eq(atomic_load(&u.calls), 1);
    ck_assert_int_eq(u.code, EPIPE);
    ck_assert_str_eq(u.message, "broken");
    ck_assert_uint_eq(s.blocking_timed_out, 0); /* both had ended when released */
}
END_TEST

/* ---- the parent's cancel reaches the job, whose callback unblocks it ---- */

struct interrupt {
    struct gate gate; /* the job owns the write end: closing it is EOF */
    _Atomic int ended;
    int saw_cancel, reason, rc_read, rc_wait;
};

static int job_interruptible(weft_task *self, void *p)
{
    struct interrupt *in = p;
    weft_cancel_cb cb;
    weft_on_cancel(self, &cb, gate_hang_up, &in->gate);
    in->rc_read = gate_pass(&in->gate);
    weft_on_cancel_remove(&cb);
    in->saw_cancel = weft_cancelled(self);
    in->reason = weft_cancel_reason(self);
    atomic_store(&in->ended, 1);
    return in->saw_cancel ? ECANCELED : in->rc_read;
}

static int task_waits_job(weft_task *self, void *p)
{
    struct interrupt *in = p;
    weft_job *job;
    if (weft_spawn_blocking(self, job_interruptible, in, NULL, &job) != 0)
        return EIO;
    in->rc_wait = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return 0;
}

static int root_cancels(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, task_waits_job, p);
    weft_sleep(self, weft_after(20 * WEFT_MSEC));
    weft_group_cancel(&g);
    return weft_group_join(&g, NULL);
}

START_TEST(test_the_parents_cancel_reaches_the_job_and_its_callback_unblocks_it)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct interrupt in = {0};
    gate_init(&in.gate);
    ck_assert_int_eq(weft_run(rt, root_cancels, &in, NULL), ECANCELED);
    ck_assert_int_eq(wait_for_count(&in.ended, 1), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&in.gate);
    ck_assert_int_eq(in.rc_read, EIO); /* end of file: the callback closed the writer */
    ck_assert_int_eq(in.saw_cancel, 1);
    ck_assert_int_eq(in.reason, ECANCELED);
    ck_assert_int_eq(in.rc_wait, ECANCELED);
}
END_TEST

/* ---- beyond blocking_max, jobs wait in FIFO order ---- */

enum { FIFO_JOBS = 6 };

struct fifo {
    struct gate gate;
    _Atomic int next;
    int order[FIFO_JOBS];
    int max_threads_seen, max_running_seen, queued_seen;
};

struct fifo_job {
    struct fifo *f;
    int index;
};

static int job_takes_a_ticket(weft_task *self, void *p)
{
    (void)self;
    struct fifo_job *j = p;
    gate_pass(&j->f->gate);
    j->f->order[atomic_fetch_add(&j->f->next, 1)] = j->index;
    return 0;
}

static int root_fifo(weft_task *self, void *p)
{
    struct fifo *f = p;
    struct fifo_job jobs[FIFO_JOBS];
    weft_job *h[FIFO_JOBS];
    for (int i = 0; i < FIFO_JOBS; i++) {
        jobs[i] = (struct fifo_job){f, i};
        if (weft_spawn_blocking(self, job_takes_a_ticket, &jobs[i], NULL, &h[i]) != 0)
            return EIO;
    }
    weft_sleep(self, weft_after(10 * WEFT_MSEC));
    gate_open(&f->gate, FIFO_JOBS);
    int rc = 0;
    for (int i = 0; i < FIFO_JOBS; i++) {
        rc |= weft_job_wait(h[i], weft_after(BUDGET));
        weft_job_release(h[i]);
    }
    return rc;
}

START_TEST(test_jobs_beyond_blocking_max_wait_in_fifo_order)
{
    weft_runtime *rt = pool_runtime(2, 1, 0, 0, NULL);
    struct fifo f = {0};
    gate_init(&f.gate);
    ck_assert_int_eq(weft_run(rt, root_fifo, &f, NULL), 0);
    weft_stats s = stats_of(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    gate_close(&f.gate);
    ck_assert_int_eq(atomic_load(&f.next), FIFO_JOBS);
    for (int i = 0; i < FIFO_JOBS; i++)
        ck_assert_int_eq(f.order[i], i);
    ck_assert_uint_le(s.blocking_threads, 1);
    ck_assert_uint_eq(s.blocking_done, FIFO_JOBS);
}
END_TEST

/* ---- 1,000 jobs through 8 threads: each runs exactly once ---- */

enum { MANY_JOBS = 1000, MANY_THREADS = 8 };

struct many {
    _Atomic int hits[MANY_JOBS];
    _Atomic int running, max_running;
    int rc;
};

struct many_job {
    struct many *m;
    int index;
};

static int job_hits(weft_task *self, void *p)
{
    (void)self;
    struct many_job *j = p;
    struct many *m = j->m;
    int now = atomic_fetch_add(&m->running, 1) + 1;
    int seen = atomic_load(&m->max_running);
    while (now > seen && !atomic_compare_exchange_weak(&m->max_running, &seen, now))
        ;
    usleep(100);
    atomic_fetch_add(&m->hits[j->index], 1);
    atomic_fetch_sub(&m->running, 1);
    return 0;
}

static int root_many(weft_task *self, void *p)
{
    struct many *m = p;
    static struct many_job jobs[MANY_JOBS];
    static weft_job *h[MANY_JOBS];
    for (int i = 0; i < MANY_JOBS; i++) {
        jobs[i] = (struct many_job){m, i};
        if (weft_spawn_blocking(self, job_hits, &jobs[i], NULL, &h[i]) != 0)
            return EIO;
    }
    for (int i = 0; i < MANY_JOBS; i++) {
        m->rc |= weft_job_wait(h[i], weft_after(BUDGET));
        weft_job_release(h[i]);
    }
    return 0;
}

START_TEST(test_a_thousand_jobs_through_eight_threads_each_run_exactly_once)
{
    weft_runtime *rt = pool_runtime(2, MANY_THREADS, 0, 0, NULL);
    static struct many m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(weft_run(rt, root_many, &m, NULL), 0);
    weft_stats s = stats_of(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(m.rc, 0);
    for (int i = 0; i < MANY_JOBS; i++)
        ck_assert_int_eq(atomic_load(&m.hits[i]), 1);
    ck_assert_int_le(atomic_load(&m.max_running), MANY_THREADS);
    ck_assert_uint_le(s.blocking_threads, MANY_THREADS);
    ck_assert_uint_eq(s.blocking_done, MANY_JOBS);
    ck_assert_uint_eq(s.blocking_running, 0);
    ck_assert_uint_eq(s.blocking_queued, 0);
}
END_TEST

/* ---- idle threads exit after blocking_idle ---- */

static int job_naps(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    usleep(2000);
    return 0;
}

static int root_four_naps(weft_task *self, void *p)
{
    (void)p;
    weft_job *h[4];
    for (int i = 0; i < 4; i++)
        if (weft_spawn_blocking(self, job_naps, NULL, NULL, &h[i]) != 0)
            return EIO;
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        rc |= weft_job_wait(h[i], WEFT_NEVER);
        weft_job_release(h[i]);
    }
    return rc;
}

START_TEST(test_idle_blocking_threads_exit_after_blocking_idle)
{
    weft_runtime *rt = pool_runtime(2, 0, 20 * WEFT_MSEC, 0, NULL);
    ck_assert_int_eq(weft_run(rt, root_four_naps, NULL, NULL), 0);
    uint64_t after_run = stats_of(rt).blocking_threads;
    weft_time end = weft_after(BUDGET);
    while (stats_of(rt).blocking_threads != 0 && weft_now() < end)
        usleep(1000);
    uint64_t later = stats_of(rt).blocking_threads;
    /* and the pool starts threads again afterwards */
    ck_assert_int_eq(weft_run(rt, root_four_naps, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_uint_ge(after_run, 1);
    ck_assert_uint_eq(later, 0);
}
END_TEST

/* ---- destroy: cancels jobs; gives up on stuck ones after shutdown_timeout ---- */

struct stuck {
    struct gate gate;
    _Atomic int cleanups, ended;
    int saw_cancel;
};

static int job_ignores_cancel(weft_task *self, void *p)
{
    struct stuck *st = p;
    gate_pass(&st->gate); /* no callback: only the gate ends it */
    st->saw_cancel = weft_cancelled(self);
    atomic_store(&st->ended, 1);
    return ECANCELED;
}

static void stuck_cleanup(void *p)
{
    atomic_fetch_add(&((struct stuck *)p)->cleanups, 1);
}

struct stuck_root {
    struct stuck *st;
    bool release;
    weft_job *job;
};

static int task_leaves_stuck_job(weft_task *self, void *p)
{
    struct stuck_root *r = p;
    weft_spawn_opts o = {.cleanup = stuck_cleanup};
    if (weft_spawn_blocking(self, job_ignores_cancel, r->st, &o, &r->job) != 0)
        return EIO;
    if (r->release)
        weft_job_release(r->job);
    return 0;
}

/* The job's parent is a task of a group: its link to that group's scope
 * outlives the group, and destroy frees every group state before the job
 * ends. */
static int root_leaves_stuck_job(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, task_leaves_stuck_job, p);
    return weft_group_join(&g, NULL);
}

START_TEST(test_destroy_gives_up_on_a_stuck_job_which_still_cleans_up_later)
{
    for (int keep_handle = 0; keep_handle <= 1; keep_handle++) {
        struct unhandled u = {0};
        weft_runtime *rt = pool_runtime(2, 0, 0, 100 * WEFT_MSEC, &u);
        struct stuck st = {0};
        gate_init(&st.gate);
        struct stuck_root r = {.st = &st, .release = !keep_handle};
        ck_assert_int_eq(weft_run(rt, root_leaves_stuck_job, &r, NULL), 0);
        unsigned long freed = atomic_load(&weft__runtimes_freed);
        weft_time t0 = weft_now();
        int rc = weft_runtime_destroy(rt);
        weft_time took = weft_now() - t0;
        ck_assert_int_eq(rc, ETIMEDOUT);
        ck_assert_int_ge(took, 100 * WEFT_MSEC);
        ck_assert_int_lt(took, 200 * WEFT_MSEC); /* shutdown_timeout + 100 ms */
        ck_assert_int_eq(atomic_load(&st.cleanups), 0);
        gate_open(&st.gate, 1); /* the job ends after destroy returned */
        ck_assert_int_eq(wait_for_count(&st.cleanups, 1), 1);
        if (keep_handle) {
            /* the handle outlives destroy: it still gets the status */
            ck_assert_int_eq(weft_job_wait(r.job, weft_after(BUDGET)), ECANCELED);
            weft_job_release(r.job);
        }
        /* the last user (its thread, or the handle) frees the runtime */
        weft_time end = weft_after(BUDGET);
        while (atomic_load(&weft__runtimes_freed) == freed && weft_now() < end)
            usleep(1000);
        ck_assert_uint_eq(atomic_load(&weft__runtimes_freed), freed + 1);
        gate_close(&st.gate);
        ck_assert_int_eq(st.saw_cancel, 1);
        ck_assert_int_eq(atomic_load(&st.cleanups), 1);
        ck_assert_int_eq(atomic_load(&u.calls), 0); /* ECANCELED after a cancel: no failure */
    }
}
END_TEST

static int root_releases_interruptible(weft_task *self, void *p)
{
    weft_job *job;
    if (weft_spawn_blocking(self, job_interruptible, p, NULL, &job) != 0)
        return EIO;
    weft_sleep(self, weft_after(10 * WEFT_MSEC)); /* it blocks meanwhile */
    weft_job_release(job);
    return 0;
}

START_TEST(test_destroy_cancels_running_jobs_whose_callbacks_end_them)
{
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, NULL);
    struct interrupt in = {0};
    gate_init(&in.gate);
    ck_assert_int_eq(weft_run(rt, root_releases_interruptible, &in, NULL), 0);
    weft_time t0 = weft_now();
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    weft_time took = weft_now() - t0;
    gate_close(&in.gate);
    ck_assert_int_lt(took, 2 * WEFT_SEC); /* not shutdown_timeout's 5 s */
    ck_assert_int_eq(atomic_load(&in.ended), 1);
    ck_assert_int_eq(in.saw_cancel, 1);
    ck_assert_int_eq(in.reason, ECANCELED);
}
END_TEST

/* ---- destroy reports a failure whose handle is kept and never waited for ---- */

static int job_fails_named(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EIO, "disk gone");
}

static int job_stops_when_cancelled(weft_task *self, void *p)
{
    (void)p;
    while (!weft_cancelled(self))
        usleep(100);
    return ECANCELED;
}

struct kept {
    weft_job *unseen, *seen, *cancelled;
    int rc_seen, rc_cancelled;
};

/* Three jobs end before destroy, their handles kept: one failed and nobody
 * waited for it, one failed and a wait saw it, one was cancelled. */
static int root_keeps_handles(weft_task *self, void *p)
{
    struct kept *k = p;
    weft_spawn_opts named = {.name = "fetch"};
    if (weft_spawn_blocking(self, job_fails_named, NULL, &named, &k->unseen) != 0 ||
        weft_spawn_blocking(self, job_fails_now, NULL, NULL, &k->seen) != 0 ||
        weft_spawn_blocking(self, job_stops_when_cancelled, NULL, NULL, &k->cancelled) != 0)
        return EIO;
    k->rc_seen = weft_job_wait(k->seen, WEFT_NEVER);
    weft_job_cancel(k->cancelled);
    k->rc_cancelled = weft_job_wait(k->cancelled, WEFT_NEVER);
    while (!weft_job_done(k->unseen)) /* ended, yet not waited for */
        weft_sleep(self, weft_after(WEFT_MSEC));
    return 0;
}

START_TEST(test_destroy_reports_once_a_failure_no_wait_saw_whose_handle_is_kept)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u);
    struct kept k = {0};
    ck_assert_int_eq(weft_run(rt, root_keeps_handles, &k, NULL), 0);
    unsigned long freed = atomic_load(&weft__runtimes_freed);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    int calls_at_destroy = atomic_load(&u.calls);
    /* the handles outlive destroy; releasing them reports nothing more */
    ck_assert_int_eq(weft_job_wait(k.unseen, 0), EIO);
    weft_job_release(k.unseen);
    weft_job_release(k.seen);
    weft_job_release(k.cancelled);
    ck_assert_int_eq(k.rc_seen, EPIPE);
    ck_assert_int_eq(k.rc_cancelled, ECANCELED);
    ck_assert_int_eq(calls_at_destroy, 1);
    ck_assert_int_eq(u.code, EIO);
    ck_assert_str_eq(u.message, "disk gone");
    ck_assert_str_eq(u.task, "fetch");
    ck_assert_int_eq(atomic_load(&u.calls), 1);
    ck_assert_uint_eq(atomic_load(&weft__runtimes_freed), freed + 1); /* by the last release */
}
END_TEST

Suite *blocking_suite(void)
{
    Suite *s = suite_create("blocking");
    TCase *tc = tcase_create("blocking");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_a_job_runs_off_the_workers_and_its_status_comes_back);
    tcase_add_test(tc, test_a_wait_times_out_the_job_goes_on_and_a_later_wait_gets_its_status);
    tcase_add_test(tc, test_a_job_released_before_its_end_runs_cleanup_once_and_reports_its_failure);
    tcase_add_test(tc, test_an_ended_failure_no_wait_saw_is_reported_at_release);
    tcase_add_test(tc, test_the_parents_cancel_reaches_the_job_and_its_callback_unblocks_it);
    tcase_add_test(tc, test_jobs_beyond_blocking_max_wait_in_fifo_order);
    tcase_add_test(tc, test_a_thousand_jobs_through_eight_threads_each_run_exactly_once);
    tcase_add_test(tc, test_idle_blocking_threads_exit_after_blocking_idle);
    tcase_add_test(tc, test_destroy_gives_up_on_a_stuck_job_which_still_cleans_up_later);
    tcase_add_test(tc, test_destroy_cancels_running_jobs_whose_callbacks_end_them);
    tcase_add_test(tc, test_destroy_reports_once_a_failure_no_wait_saw_whose_handle_is_kept);
    suite_add_tcase(s, tc);
    return s;
}
