/* weft_retry_run: tries until success, a code not retryable or the attempts
 * are used up; exponential back-off capped by max_delay, jitter within its
 * bounds; never waits past the deadline (ETIMEDOUT with the last failure as
 * cause); stops at cancellation; the back-off lends the worker's place; only
 * the last try's record is kept; works on a blocking job; misuse is EINVAL. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "tests/scope/cancel_record.h"
#include "tests/suites.h"

enum { MAX_TRIES = 16 };

/* One retried function's log: when each try began, and what it returns. */
struct tries {
    _Atomic int calls;
    weft_time at[MAX_TRIES];
    int fail_first;   /* tries 1..fail_first fail with `code`, the rest succeed */
    int code;
    bool with_message; /* weft_fail("try N") rather than a bare code */
    weft_retry policy;
    const weft_retry *pp; /* &policy, or NULL for the defaults */
    int rc;
    weft_time spent;
};

static int flaky(weft_task *self, void *p)
{
    struct tries *t = p;
    int n = atomic_fetch_add(&t->calls, 1);
    if (n < MAX_TRIES)
        t->at[n] = weft_now();
    if (n >= t->fail_first)
        return 0;
    return t->with_message ? weft_fail(self, t->code, "try %d", n + 1) : t->code;
}

static int retry_root(weft_task *self, void *p)
{
    struct tries *t = p;
    weft_time t0 = weft_now();
    t->rc = weft_retry_run(self, t->pp, flaky, t);
    t->spent = weft_now() - t0;
    return t->rc;
}

/* weft_run(retry_root) on a fresh runtime; the error tree goes to *errs. */
static int run_tries(struct tries *t, unsigned workers, weft_errors **errs)
{
    weft_runtime *rt = weft_test_runtime(workers, 0);
    int rc = weft_run(rt, retry_root, t, errs);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    return rc;
}

static weft_time gap(const struct tries *t, int i)
{
    return t->at[i + 1] - t->at[i];
}

START_TEST(test_retry_succeeds_after_transient_failures_with_exponential_back_off)
{
    struct tries t = { .fail_first = 2, .code = EIO, .with_message = true };
    t.policy = (weft_retry){ .attempts = 5, .base_delay = 20 * WEFT_MSEC, .factor = 3 };
    t.pp = &t.policy;
    weft_errors *errs = (weft_errors *)&errs; /* must be overwritten */
    ck_assert_int_eq(run_tries(&t, 2, &errs), 0);
    ck_assert_int_eq(atomic_load(&t.calls), 3);
    ck_assert_ptr_null(errs); /* the retried failures are no failure of the task */
    ck_assert_int_ge(gap(&t, 0), 20 * WEFT_MSEC);
    ck_assert_int_ge(gap(&t, 1), 60 * WEFT_MSEC);
    ck_assert_int_lt(t.spent, 5 * WEFT_SEC); /* generous: a loaded machine */
}
END_TEST

START_TEST(test_retry_defaults_try_three_times_from_10ms_doubling)
{
    struct tries t = { .fail_first = 100, .code = EAGAIN };
    weft_errors *errs = NULL;
    ck_assert_int_eq(run_tries(&t, 1, &errs), EAGAIN);
    ck_assert_int_eq(atomic_load(&t.calls), 3);
    ck_assert_int_ge(gap(&t, 0), 10 * WEFT_MSEC);
    ck_assert_int_ge(gap(&t, 1), 20 * WEFT_MSEC);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    ck_assert_int_eq(weft_error_code(weft_errors_at(errs, 0)), EAGAIN);
    weft_errors_free(errs);
}
END_TEST

START_TEST(test_retry_keeps_only_the_last_tries_record)
{
    struct tries t = { .fail_first = 100, .code = EIO, .with_message = true };
    t.policy = (weft_retry){ .attempts = 4, .base_delay = WEFT_MSEC };
    t.pp = &t.policy;
    weft_errors *errs = NULL;
    ck_assert_int_eq(run_tries(&t, 2, &errs), EIO);
    ck_assert_int_eq(atomic_load(&t.calls), 4);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    const weft_error *e = weft_errors_at(errs, 0);
    ck_assert_int_eq(weft_error_code(e), EIO);
    ck_assert_str_eq(weft_error_message(e), "try 4");
    ck_assert_ptr_null(weft_error_cause(e));
    weft_errors_free(errs);
}
END_TEST

START_TEST(test_retry_caps_the_delay_at_max_delay)
{
    /* uncapped, the fourth wait alone would be 10 ms * 10^3 = 10 s */
    struct tries t = { .fail_first = 100, .code = EIO };
    t.policy = (weft_retry){ .attempts = 5, .base_delay = 10 * WEFT_MSEC,
                             .max_delay = 30 * WEFT_MSEC, .factor = 10 };
    t.pp = &t.policy;
    ck_assert_int_eq(run_tries(&t, 2, NULL), EIO);
    ck_assert_int_eq(atomic_load(&t.calls), 5);
    ck_assert_int_ge(gap(&t, 0), 10 * WEFT_MSEC);
    for (int i = 1; i < 4; i++)
        ck_assert_int_ge(gap(&t, i), 30 * WEFT_MSEC);
    ck_assert_int_lt(t.spent, 3 * WEFT_SEC);
}
END_TEST

START_TEST(test_retry_jitter_stays_within_its_bounds)
{
    /* factor 1: every wait is 40 ms * (1 +- 0.5), so in [20, 60] ms */
    struct tries t = { .fail_first = 100, .code = EIO };
    t.policy = (weft_retry){ .attempts = 8, .base_delay = 40 * WEFT_MSEC, .factor = 1,
                             .jitter = 0.5 };
    t.pp = &t.policy;
    ck_assert_int_eq(run_tries(&t, 2, NULL), EIO);
    ck_assert_int_eq(atomic_load(&t.calls), 8);
    weft_time shortest = WEFT_NEVER;
    for (int i = 0; i < 7; i++) {
        ck_assert_int_ge(gap(&t, i), 20 * WEFT_MSEC);
        if (gap(&t, i) < shortest)
            shortest = gap(&t, i);
    }
    ck_assert_int_lt(shortest, 2 * WEFT_SEC); /* generous upper bound */
}
END_TEST


/* ---- which codes are retried ---- */

struct picky {
    _Atomic int calls;
    void *arg_seen;
    int rc;
};

static bool only_eio(int code, void *arg)
{
    ((struct picky *)arg)->arg_seen = arg;
    return code == EIO;
}

static int eio_then_enoent(weft_task *self, void *p)
{
    (void)self;
    return atomic_fetch_add(&((struct picky *)p)->calls, 1) == 0 ? EIO : ENOENT;
}

static int returns_etimedout(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add(&((struct picky *)p)->calls, 1);
    return ETIMEDOUT;
}

static int returns_ecanceled(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add(&((struct picky *)p)->calls, 1);
    return ECANCELED;
}

struct picky_all {
    struct picky predicate, timedout, canceled;
};

static int picky_root(weft_task *self, void *p)
{
    struct picky_all *a = p;
    weft_retry r = { .attempts = 5, .base_delay = WEFT_MSEC, .retryable = only_eio };
    a->predicate.rc = weft_retry_run(self, &r, eio_then_enoent, &a->predicate);
    weft_retry d = { .attempts = 5, .base_delay = WEFT_MSEC };
    a->timedout.rc = weft_retry_run(self, &d, returns_etimedout, &a->timedout);
    a->canceled.rc = weft_retry_run(self, &d, returns_ecanceled, &a->canceled);
    return 0;
}

START_TEST(test_retry_stops_at_a_code_that_is_not_retryable)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct picky_all a = { 0 };
    ck_assert_int_eq(weft_run(rt, picky_root, &a, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(a.predicate.rc, ENOENT);
    ck_assert_int_eq(atomic_load(&a.predicate.calls), 2);
    ck_assert_ptr_eq(a.predicate.arg_seen, &a.predicate); /* fn's arg */
    /* the default predicate retries neither ETIMEDOUT nor ECANCELED */
    ck_assert_int_eq(a.timedout.rc, ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&a.timedout.calls), 1);
    ck_assert_int_eq(a.canceled.rc, ECANCELED);
    ck_assert_int_eq(atomic_load(&a.canceled.calls), 1);
}
END_TEST

/* ---- the deadline ---- */

static int retry_child(weft_task *self, void *p)
{
    return retry_root(self, p);
}

struct under_deadline {
    struct tries t;
    weft_time deadline;
    int join_rc;
    weft_errors *errs;
};

static int deadline_root(weft_task *self, void *p)
{
    struct under_deadline *u = p;
    weft_group g;
    weft_group_init(&g, self, &(weft_group_opts){ .flags = WEFT_COLLECT });
    u->deadline = weft_after(500 * WEFT_MSEC);
    weft_spawn_ex(&g, retry_child, &u->t, &(weft_spawn_opts){ .deadline = u->deadline });
    u->join_rc = weft_group_join(&g, &u->errs);
    return 0;
}

START_TEST(test_retry_gives_up_before_a_back_off_that_would_pass_the_deadline)
{
    /* tries at 0 and 300 ms; the third would start at 900 ms, past the
     * 500 ms deadline: ETIMEDOUT right after the second, not at 500 ms */
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct under_deadline u = { .t = { .fail_first = 100, .code = EIO, .with_message = true } };
    u.t.policy = (weft_retry){ .attempts = 10, .base_delay = 300 * WEFT_MSEC };
    u.t.pp = &u.t.policy;
    ck_assert_int_eq(weft_run(rt, deadline_root, &u, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(u.t.rc, ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&u.t.calls), 2);
    ck_assert_int_lt(u.t.at[0] + u.t.spent, u.deadline); /* returned before it */
    ck_assert_int_eq(u.join_rc, ETIMEDOUT);
    ck_assert_uint_eq(weft_errors_count(u.errs), 1);
    const weft_error *e = weft_errors_at(u.errs, 0);
    ck_assert_int_eq(weft_error_code(e), ETIMEDOUT);
    ck_assert_ptr_nonnull(strstr(weft_error_message(e), "deadline"));
    const weft_errors *cause = weft_error_cause(e);
    ck_assert_uint_eq(weft_errors_count(cause), 1);
    ck_assert_int_eq(weft_error_code(weft_errors_at(cause, 0)), EIO);
    ck_assert_str_eq(weft_error_message(weft_errors_at(cause, 0)), "try 2");
    weft_errors_free(u.errs);
}
END_TEST

static int past_deadline_root(weft_task *self, void *p)
{
    struct under_deadline *u = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    u->deadline = weft_now() - WEFT_MSEC; /* passed before the child starts */
    weft_spawn_ex(&g, retry_child, &u->t, &(weft_spawn_opts){ .deadline = u->deadline });
    u->join_rc = weft_group_join(&g, &u->errs);
    return 0;
}

START_TEST(test_retry_with_its_deadline_passed_does_not_try)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct under_deadline u = { .t = { .fail_first = 100, .code = EIO } };
    u.t.policy = (weft_retry){ .attempts = 10 };
    u.t.pp = &u.t.policy;
    ck_assert_int_eq(weft_run(rt, past_deadline_root, &u, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(u.t.rc, ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&u.t.calls), 0);
    /* its own deadline passed: a failure for its group, with no try as cause */
    ck_assert_uint_eq(weft_errors_count(u.errs), 1);
    ck_assert_int_eq(weft_error_code(weft_errors_at(u.errs, 0)), ETIMEDOUT);
    ck_assert_ptr_null(weft_error_cause(weft_errors_at(u.errs, 0)));
    weft_errors_free(u.errs);
}
END_TEST

/* The waits themselves (weft__retry_delay draws what weft_retry_run waits),
 * free of the machine's timing. */
START_TEST(test_retry_delays_follow_the_formula_and_saturate)
{
    weft_retry r = { .base_delay = 40 * WEFT_MSEC, .factor = 1, .jitter = 0.5 };
    weft_time lo = WEFT_NEVER, hi = 0;
    for (int i = 0; i < 2000; i++) {
        weft_time d = weft__retry_delay(&r, (unsigned)i);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_int_ge(lo, 20 * WEFT_MSEC); /* within 40 ms * [0.5, 1.5] */
    ck_assert_int_le(hi, 60 * WEFT_MSEC);
    ck_assert_int_lt(lo, 25 * WEFT_MSEC); /* and spread over it: P(miss) ~ 1e-116 */
    ck_assert_int_gt(hi, 55 * WEFT_MSEC);
    weft_retry e = { .base_delay = 10 * WEFT_MSEC, .max_delay = 75 * WEFT_MSEC, .factor = 2 };
    ck_assert_int_eq(weft__retry_delay(&e, 0), 10 * WEFT_MSEC);
    ck_assert_int_eq(weft__retry_delay(&e, 2), 40 * WEFT_MSEC);
    ck_assert_int_eq(weft__retry_delay(&e, 3), 75 * WEFT_MSEC); /* capped */
    ck_assert_int_eq(weft__retry_delay(&e, 4000000000u), 75 * WEFT_MSEC);
    e.factor = INFINITY;
    ck_assert_int_eq(weft__retry_delay(&e, 1), 75 * WEFT_MSEC);
    /* defaults: 10 ms doubling up to 1 s; a cap alone lowers the default base */
    ck_assert_int_eq(weft__retry_delay(NULL, 0), 10 * WEFT_MSEC);
    ck_assert_int_eq(weft__retry_delay(NULL, 1), 20 * WEFT_MSEC);
    ck_assert_int_eq(weft__retry_delay(NULL, 20), WEFT_SEC);
    ck_assert_int_eq(weft__retry_delay(&(weft_retry){ .max_delay = 5 * WEFT_MSEC }, 0),
                     5 * WEFT_MSEC);
    /* too long to represent: WEFT_NEVER, never a wrapped negative wait */
    ck_assert_int_eq(weft__retry_delay(&(weft_retry){ .base_delay = WEFT_NEVER }, 0), WEFT_NEVER);
    weft_retry big = { .base_delay = WEFT_NEVER / 2 + 1, .max_delay = WEFT_NEVER, .jitter = 1 };
    for (int i = 0; i < 100; i++)
        ck_assert_int_ge(weft__retry_delay(&big, 0), 0);
}
END_TEST

START_TEST(test_retry_an_endless_back_off_under_a_deadline_times_out_at_once)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct under_deadline u = { .t = { .fail_first = 100, .code = EIO } };
    u.t.policy = (weft_retry){ .base_delay = WEFT_NEVER };
    u.t.pp = &u.t.policy;
    ck_assert_int_eq(weft_run(rt, deadline_root, &u, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(u.t.rc, ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&u.t.calls), 1); /* no instant retries */
    ck_assert_int_lt(u.t.at[0] + u.t.spent, u.deadline);
    weft_errors_free(u.errs);
}
END_TEST

/* ---- cancellation ---- */

struct cancelled_retry {
    struct tries t;
    weft_group g;
    int join_rc;
    weft_errors *errs;
};

static int cancels_soon(weft_task *self, void *p)
{
    struct cancelled_retry *c = p;
    while (atomic_load(&c->t.calls) == 0)
        weft_sleep(self, weft_after(WEFT_MSEC));
    weft_sleep(self, weft_after(50 * WEFT_MSEC));
    weft_group_cancel(&c->g);
    return 0;
}

static int cancel_root(weft_task *self, void *p)
{
    struct cancelled_retry *c = p;
    weft_group_init(&c->g, self, NULL);
    weft_spawn(&c->g, retry_child, &c->t);
    weft_spawn(&c->g, cancels_soon, c);
    c->join_rc = weft_group_join(&c->g, &c->errs);
    return 0;
}

START_TEST(test_retry_stops_when_cancelled_during_the_back_off)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = weft_test_runtime(workers, 0);
        struct cancelled_retry c = { .t = { .fail_first = 100, .code = EIO,
                                            .with_message = true } };
        c.t.policy = (weft_retry){ .attempts = 5, .base_delay = 10 * WEFT_SEC };
        c.t.pp = &c.t.policy;
        ck_assert_int_eq(weft_run(rt, cancel_root, &c, NULL), 0);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
        ck_assert_int_eq(c.t.rc, ECANCELED);
        ck_assert_int_eq(atomic_load(&c.t.calls), 1);
        ck_assert_int_lt(c.t.spent, 5 * WEFT_SEC); /* not the 10 s back-off */
        ck_assert_int_eq(c.join_rc, ECANCELED);
        /* a cancelled retry is no failure: the one record says who cancelled */
        ck_assert(weft_test_only_cancel_record(c.errs, ECANCELED));
        ck_assert_str_eq(weft_error_message(weft_errors_at(c.errs, 0)),
                         "cancelled: by weft_group_cancel");
        weft_errors_free(c.errs);
    }
}
END_TEST

/* ---- the back-off is a timed wait: the worker's place is lent ---- */

struct lend {
    _Atomic int sibling_ran, calls;
    int rc;
};

static int sibling(weft_task *self, void *p)
{
    (void)self;
    atomic_store(&((struct lend *)p)->sibling_ran, 1);
    return 0;
}

static int needs_sibling(weft_task *self, void *p)
{
    (void)self;
    struct lend *l = p;
    atomic_fetch_add(&l->calls, 1);
    return atomic_load(&l->sibling_ran) ? 0 : EAGAIN;
}

static int lend_root(weft_task *self, void *p)
{
    struct lend *l = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, sibling, l); /* queued under this task, on the only worker */
    weft_retry r = { .attempts = 4, .base_delay = 100 * WEFT_MSEC, .factor = 1 };
    l->rc = weft_retry_run(self, &r, needs_sibling, l);
    return weft_group_join(&g, NULL);
}

START_TEST(test_retry_back_off_lends_the_only_worker_to_a_spare_thread)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct lend l = { 0 };
    ck_assert_int_eq(weft_run(rt, lend_root, &l, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(l.rc, 0); /* the sibling ran during a back-off */
    ck_assert_int_ge(atomic_load(&l.calls), 2);
}
END_TEST

/* ---- records from before, blocking jobs ---- */

static int fails_then_retries(weft_task *self, void *p)
{
    struct tries *t = p;
    weft_fail(self, EPIPE, "earlier");
    t->rc = weft_retry_run(self, t->pp, flaky, t); /* succeeds on its second try */
    return EPIPE; /* the earlier failure, as if there had been no retry */
}

START_TEST(test_retry_leaves_a_record_pending_from_before_in_place)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct tries t = { .fail_first = 1, .code = EIO, .with_message = true };
    t.policy = (weft_retry){ .base_delay = WEFT_MSEC };
    t.pp = &t.policy;
    weft_errors *errs = NULL;
    ck_assert_int_eq(weft_run(rt, fails_then_retries, &t, &errs), EPIPE);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(t.rc, 0);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    ck_assert_str_eq(weft_error_message(weft_errors_at(errs, 0)), "earlier");
    weft_errors_free(errs);
}
END_TEST

START_TEST(test_retry_that_fails_replaces_a_record_pending_from_before)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct tries t = { .fail_first = 100, .code = EIO, .with_message = true };
    t.policy = (weft_retry){ .attempts = 2, .base_delay = WEFT_MSEC };
    t.pp = &t.policy;
    weft_errors *errs = NULL;
    /* fails_then_retries returns EPIPE: the task fails with the pending record */
    ck_assert_int_eq(weft_run(rt, fails_then_retries, &t, &errs), EPIPE);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(t.rc, EIO);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    ck_assert_str_eq(weft_error_message(weft_errors_at(errs, 0)), "try 2");
    weft_errors_free(errs);
}
END_TEST

static int job_retries(weft_task *self, void *p)
{
    struct tries *t = p;
    t->rc = weft_retry_run(self, t->pp, flaky, t);
    return t->rc;
}

static int job_root(weft_task *self, void *p)
{
    weft_job *job;
    int rc = weft_spawn_blocking(self, job_retries, p, NULL, &job);
    if (rc != 0)
        return rc;
    rc = weft_job_wait(job, weft_after(20 * WEFT_SEC));
    weft_job_release(job);
    return rc;
}

START_TEST(test_retry_runs_on_a_blocking_job)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct tries t = { .fail_first = 2, .code = EIO };
    t.policy = (weft_retry){ .base_delay = 5 * WEFT_MSEC };
    t.pp = &t.policy;
    ck_assert_int_eq(weft_run(rt, job_root, &t, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(t.rc, 0);
    ck_assert_int_eq(atomic_load(&t.calls), 3);
    ck_assert_int_ge(gap(&t, 1), 10 * WEFT_MSEC);
}
END_TEST

/* ---- misuse ---- */

struct misuse {
    _Atomic int calls;
    int rc_null_fn, rc_not_running, rc_bad[6];
    weft_task *parent;
};

static int counts(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add(&((struct misuse *)p)->calls, 1);
    return 0;
}

static int uses_parents_self(weft_task *self, void *p)
{
    (void)self;
    struct misuse *m = p;
    m->rc_not_running = weft_retry_run(m->parent, NULL, counts, m);
    return 0;
}

static int misuse_root(weft_task *self, void *p)
{
    struct misuse *m = p;
    m->rc_null_fn = weft_retry_run(self, NULL, NULL, m);
    const weft_retry bad[6] = {
        { .base_delay = -1 },
        { .max_delay = -1 },
        { .base_delay = 20 * WEFT_MSEC, .max_delay = 10 * WEFT_MSEC },
        { .factor = 0.5 },
        { .jitter = 1.5 },
        { .jitter = NAN },
    };
    for (int i = 0; i < 6; i++)
        m->rc_bad[i] = weft_retry_run(self, &bad[i], counts, m);
    m->parent = self;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, uses_parents_self, m);
    return weft_group_join(&g, NULL);
}

START_TEST(test_retry_misuse_is_einval_and_calls_nothing)
{
    ck_assert_int_eq(weft_retry_run(NULL, NULL, counts, NULL), EINVAL);
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct misuse m = { 0 };
    ck_assert_int_eq(weft_run(rt, misuse_root, &m, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(m.rc_null_fn, EINVAL);
    ck_assert_int_eq(m.rc_not_running, EINVAL);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(m.rc_bad[i], EINVAL);
    ck_assert_int_eq(atomic_load(&m.calls), 0);
}
END_TEST

Suite *retry_suite(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("retry");
    tcase_add_test(tc, test_retry_succeeds_after_transient_failures_with_exponential_back_off);
    tcase_add_test(tc, test_retry_defaults_try_three_times_from_10ms_doubling);
    tcase_add_test(tc, test_retry_keeps_only_the_last_tries_record);
    tcase_add_test(tc, test_retry_caps_the_delay_at_max_delay);
    tcase_add_test(tc, test_retry_jitter_stays_within_its_bounds);
    tcase_add_test(tc, test_retry_delays_follow_the_formula_and_saturate);
    tcase_add_test(tc, test_retry_an_endless_back_off_under_a_deadline_times_out_at_once);
    tcase_add_test(tc, test_retry_stops_at_a_code_that_is_not_retryable);
    tcase_add_test(tc, test_retry_gives_up_before_a_back_off_that_would_pass_the_deadline);
    tcase_add_test(tc, test_retry_with_its_deadline_passed_does_not_try);
    tcase_add_test(tc, test_retry_stops_when_cancelled_during_the_back_off);
    tcase_add_test(tc, test_retry_back_off_lends_the_only_worker_to_a_spare_thread);
    tcase_add_test(tc, test_retry_leaves_a_record_pending_from_before_in_place);
    tcase_add_test(tc, test_retry_that_fails_replaces_a_record_pending_from_before);
    tcase_add_test(tc, test_retry_runs_on_a_blocking_job);
    tcase_add_test(tc, test_retry_misuse_is_einval_and_calls_nothing);
    suite_add_tcase(s, tc);
    return s;
}
