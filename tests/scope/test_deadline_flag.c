/*
 * A timed wait that returns ETIMEDOUT because the effective deadline passed
 * leaves the scope cancelled with reason ETIMEDOUT before it returns: a task
 * that then polls weft_cancelled must not run on until the timer thread gets
 * round to the deadline.
 *
 * To make the race certain rather than likely, each test stalls the
 * runtime's timer thread: an entry due just before the deadline holds the
 * thread in its fire for STALL_NS, so the wait's own time-out always comes
 * first. Without the rule, the flag would still be down when the wait
 * returns.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "timer/timer.h"
#include "tests/suites.h"

enum { LEAD_NS = 50 * WEFT_MSEC, STALL_NS = 150 * WEFT_MSEC, TRIALS = 20 };

static struct weft__timer_entry stall_entry;

static void stall_fire(struct weft__timer_entry *e)
{
    (void)e;
    struct timespec ts = {0, STALL_NS};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Hold rt's timer thread from just before `deadline` for STALL_NS. */
static void stall_timer(weft_runtime *rt, weft_time deadline)
{
    struct weft__timer *t;
    ck_assert_int_eq(weft__deadline_timer(weft__runtime_scopes(rt), &t), 0);
    stall_entry.deadline = deadline - 10 * WEFT_MSEC;
    stall_entry.fire = stall_fire;
    ck_assert_int_eq(weft__timer_add(t, &stall_entry), 0);
}

static void unstall_timer(weft_runtime *rt)
{
    weft__timer_remove(atomic_load_explicit(&rt->jobs.scopes.timer, memory_order_acquire), &stall_entry);
}

enum wait_kind { W_SLEEP, W_SLEEP_TIMED_TASK, W_GROUP_WAIT, W_GROUP_NEXT, W_JOB_WAIT,
                 W_JOB_WAIT_IN_JOB };

struct seen {
    enum wait_kind kind;
    weft_time deadline;
    /* the latest start of the waiter or what it waits for: a trial on a
     * machine so loaded that one began after the deadline proves nothing */
    _Atomic weft_time last_begin;
    /* set once the waiter looked: what it waits for ends only then, so a
     * cancel the wait itself made cannot end it first */
    atomic_bool looked;
    int rc;
    bool cancelled;
    int reason;
};

static void began(struct seen *s)
{
    weft_time now = weft_now();
    weft_time seen = atomic_load(&s->last_begin);
    while (seen < now && !atomic_compare_exchange_weak(&s->last_begin, &seen, now))
        ;
}

static void look(weft_task *self, struct seen *s, int rc)
{
    /* the first thing after the wait: nothing else may have raised the flag */
    s->cancelled = weft_cancelled(self);
    s->reason = weft_cancel_reason(self);
    s->rc = rc;
    atomic_store(&s->looked, true);
}

/* Cancelled: wait until the waiter has looked (bounded: it looks at once). */
static int end_after_the_look(weft_task *self, struct seen *s)
{
    while (!atomic_load(&s->looked))
        sched_yield();
    return weft_cancel_reason(self);
}

static int spin_until_cancelled(weft_task *self, void *arg)
{
    began(arg);
    while (!weft_cancelled(self))
        ;
    return end_after_the_look(self, arg);
}

/* A job that only a cancel ends: no timed wait of its own races the
 * waiter's. */
static int never_ends_job(weft_task *self, void *arg)
{
    began(arg);
    while (!weft_cancelled(self))
        ;
    return end_after_the_look(self, arg);
}

static int waiter(weft_task *self, void *arg)
{
    struct seen *s = arg;
    began(s);
    switch (s->kind) {
    case W_SLEEP:
    case W_SLEEP_TIMED_TASK:
        look(self, s, weft_sleep(self, WEFT_NEVER));
        return s->rc;
    case W_GROUP_WAIT:
    case W_GROUP_NEXT: {
        weft_group inner;
        weft_group_opts o = {.flags = s->kind == W_GROUP_NEXT ? WEFT_STREAM : 0};
        if (weft_group_init(&inner, self, &o) != 0 ||
            weft_spawn(&inner, spin_until_cancelled, s) != 0)
            return EIO;
        void *arg_out;
        int status;
        int rc = s->kind == W_GROUP_WAIT ? weft_group_wait(&inner, WEFT_NEVER)
                                         : weft_group_next(&inner, WEFT_NEVER, &arg_out, &status);
        look(self, s, rc);
        weft_group_join(&inner, NULL);
        return rc;
    }
    case W_JOB_WAIT:
    case W_JOB_WAIT_IN_JOB: {
        weft_job *job;
        if (weft_spawn_blocking(self, never_ends_job, s, NULL, &job) != 0)
            return EIO;
        look(self, s, weft_job_wait(job, WEFT_NEVER));
        weft_job_release(job);
        return s->rc;
    }
    }
    return EIO;
}

/* The job whose self waits for another job (a wait off the CPU workers). */
static int waiting_job(weft_task *self, void *arg)
{
    return waiter(self, arg);
}

static int root(weft_task *self, void *arg)
{
    struct seen *s = arg;
    weft_group g;
    bool group_deadline = s->kind != W_SLEEP_TIMED_TASK && s->kind != W_JOB_WAIT_IN_JOB;
    weft_group_opts go = {.deadline = s->deadline};
    if (weft_group_init(&g, self, group_deadline ? &go : NULL) != 0)
        return EIO;
    weft_spawn_opts so = {.deadline = s->deadline};
    weft_job *job = NULL;
    int rc;
    if (s->kind == W_SLEEP_TIMED_TASK)
        rc = weft_spawn_ex(&g, waiter, s, &so);
    else if (s->kind == W_JOB_WAIT_IN_JOB)
        rc = weft_spawn_blocking(self, waiting_job, s, &so, &job);
    else
        rc = weft_spawn(&g, waiter, s);
    weft_group_join(&g, NULL);
    if (job != NULL) {
        weft_job_wait(job, WEFT_NEVER);
        weft_job_release(job);
    }
    return rc;
}

static void check_wait(enum wait_kind kind)
{
    for (int trial = 0; trial < TRIALS; trial++) {
        weft_config cfg = WEFT_CONFIG_INIT;
        cfg.workers = 2;
        weft_runtime *rt = weft_runtime_create(&cfg);
        ck_assert_ptr_nonnull(rt);
        struct seen s = {.kind = kind, .deadline = weft_after(LEAD_NS), .rc = -1};
        stall_timer(rt, s.deadline);
        ck_assert_int_eq(weft_run(rt, root, &s, NULL), 0);
        unstall_timer(rt);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
        if (atomic_load(&s.last_begin) >= s.deadline)
            continue; /* too late to wait for the deadline: again */
        ck_assert_int_eq(s.rc, ETIMEDOUT);
        ck_assert_msg(s.cancelled, "the wait returned ETIMEDOUT with the flag still down");
        ck_assert_int_eq(s.reason, ETIMEDOUT);
        return;
    }
    ck_abort_msg("in %d trials the waiter or what it waits for always began after the deadline",
                 TRIALS);
}

START_TEST(test_a_sleep_to_the_deadline_returns_with_the_scope_cancelled)
{
    check_wait(W_SLEEP);
}
END_TEST

START_TEST(test_a_sleep_to_a_spawn_deadline_returns_with_the_scope_cancelled)
{
    check_wait(W_SLEEP_TIMED_TASK);
}
END_TEST

START_TEST(test_a_group_wait_ended_by_the_deadline_returns_with_the_scope_cancelled)
{
    check_wait(W_GROUP_WAIT);
}
END_TEST

START_TEST(test_a_group_next_ended_by_the_deadline_returns_with_the_scope_cancelled)
{
    check_wait(W_GROUP_NEXT);
}
END_TEST

START_TEST(test_a_job_wait_ended_by_the_deadline_returns_with_the_scope_cancelled)
{
    check_wait(W_JOB_WAIT);
}
END_TEST

START_TEST(test_a_job_wait_in_a_job_ended_by_the_deadline_returns_with_the_scope_cancelled)
{
    check_wait(W_JOB_WAIT_IN_JOB);
}
END_TEST

Suite *deadline_flag_suite(void)
{
    Suite *s = suite_create("deadline_flag");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_a_sleep_to_the_deadline_returns_with_the_scope_cancelled);
    tcase_add_test(tc, test_a_sleep_to_a_spawn_deadline_returns_with_the_scope_cancelled);
    tcase_add_test(tc, test_a_group_wait_ended_by_the_deadline_returns_with_the_scope_cancelled);
    tcase_add_test(tc, test_a_group_next_ended_by_the_deadline_returns_with_the_scope_cancelled);
    tcase_add_test(tc, test_a_job_wait_ended_by_the_deadline_returns_with_the_scope_cancelled);
    tcase_add_test(tc,
                   test_a_job_wait_in_a_job_ended_by_the_deadline_returns_with_the_scope_cancelled);
    suite_add_tcase(s, tc);
    return s;
}
