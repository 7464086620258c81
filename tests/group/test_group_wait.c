/* weft_group_wait and weft_group_next: a wait that times out cancels
 * nothing and the tasks go on; completions stream in the order tasks end,
 * with their status, then ENOENT; a cancelled caller stops waiting; misuse
 * is EINVAL; completions nobody took are dropped by the join. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "tests/suites.h"
#include "tests/wait_cancelled.h"

enum { BUDGET = 20 * WEFT_SEC };

/* ---- group_wait: ETIMEDOUT at the deadline, nothing cancelled ---- */

struct gw {
    _Atomic int cancelled_seen, ended;
    int rc_timeout, rc_all, rc_join;
    weft_time waited;
};

static int naps_200ms(weft_task *self, void *p)
{
    struct gw *w = p;
    int rc = weft_sleep(self, weft_after(200 * WEFT_MSEC));
    if (rc != 0 || weft_cancelled(self))
        atomic_fetch_add(&w->cancelled_seen, 1);
    atomic_fetch_add(&w->ended, 1);
    return rc;
}

static int wait_root(weft_task *self, void *p)
{
    struct gw *w = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    for (int i = 0; i < 4; i++)
        weft_spawn(&g, naps_200ms, w);
    weft_time t0 = weft_now();
    w->rc_timeout = weft_group_wait(&g, t0 + 20 * WEFT_MSEC);
    w->waited = weft_now() - t0;
    w->rc_all = weft_group_wait(&g, weft_after(BUDGET));
    w->rc_join = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_group_wait_times_out_without_cancelling_anything)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = weft_test_runtime(workers, 0);
        struct gw w = {0};
        ck_assert_int_eq(weft_run(rt, wait_root, &w, NULL), 0);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
        ck_assert_int_eq(w.rc_timeout, ETIMEDOUT);
        ck_assert_int_ge(w.waited, 20 * WEFT_MSEC);
        ck_assert_int_lt(w.waited, 2 * WEFT_SEC); /* generous: a loaded machine */
        ck_assert_int_eq(w.rc_all, 0);            /* they all ended meanwhile */
        ck_assert_int_eq(atomic_load(&w.ended), 4);
        ck_assert_int_eq(atomic_load(&w.cancelled_seen), 0);
        ck_assert_int_eq(w.rc_join, 0);
    }
}
END_TEST

/* ---- group_wait with no deadline helps, even without a spare thread ---- */

static int count_up(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add((_Atomic int *)p, 1);
    return 0;
}

struct helps {
    _Atomic int ran;
    int rc_wait, rc_timed, rc_join;
};

static int helps_root(weft_task *self, void *p)
{
    struct helps *h = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    for (int i = 0; i < 100; i++)
        weft_spawn(&g, count_up, &h->ran);
    h->rc_wait = weft_group_wait(&g, WEFT_NEVER);
    for (int i = 0; i < 100; i++)
        weft_spawn(&g, count_up, &h->ran);
    h->rc_timed = weft_group_wait(&g, weft_after(BUDGET)); /* a spare runs them */
    h->rc_join = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_group_wait_runs_the_groups_tasks_on_one_worker)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct helps h = {0};
    ck_assert_int_eq(weft_run(rt, helps_root, &h, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(h.rc_wait, 0);
    ck_assert_int_eq(h.rc_timed, 0);
    ck_assert_int_eq(h.rc_join, 0);
    ck_assert_int_eq(atomic_load(&h.ran), 200);
}
END_TEST

/* ---- group_next: completion order, statuses, then ENOENT ---- */

enum { STREAMED = 5 };

/* Task i ends at 100 ms x i after the spawns began: an absolute time, so a
 * task that a loaded machine starts late still ends in its turn. */
static _Atomic weft_time stream_start;

static int sleeps_by_arg(weft_task *self, void *p)
{
    intptr_t i = (intptr_t)p;
    weft_sleep(self, atomic_load(&stream_start) + (weft_time)i * 100 * WEFT_MSEC);
    return i == 3 ? EIO : 0;
}

struct st {
    intptr_t order[STREAMED];
    int status[STREAMED];
    int got, rc_end, rc_after;
    int rc_join;
};

static int stream_root(weft_task *self, void *p)
{
    struct st *s = p;
    weft_group g;
    weft_group_opts o = {.flags = WEFT_STREAM | WEFT_COLLECT};
    weft_group_init(&g, self, &o);
    static const intptr_t spawn_order[STREAMED] = {4, 1, 5, 2, 3}; /* ends at 100 ms x i */
    atomic_store(&stream_start, weft_now());
    for (int k = 0; k < STREAMED; k++)
        weft_spawn(&g, sleeps_by_arg, (void *)spawn_order[k]);
    void *arg;
    int status;
    int rc;
    while ((rc = weft_group_next(&g, weft_after(BUDGET), &arg, &status)) == 0 &&
           s->got < STREAMED) {
        s->order[s->got] = (intptr_t)arg;
        s->status[s->got] = status;
        s->got++;
    }
    s->rc_end = rc;
    s->rc_after = weft_group_next(&g, weft_after(BUDGET), NULL, NULL);
    s->rc_join = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_group_next_streams_completions_in_the_order_they_end)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct st s = {0};
    ck_assert_int_eq(weft_run(rt, stream_root, &s, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(s.got, STREAMED);
    for (int k = 0; k < STREAMED; k++) {
        ck_assert_int_eq(s.order[k], k + 1);
        ck_assert_int_eq(s.status[k], k + 1 == 3 ? EIO : 0);
    }
    ck_assert_int_eq(s.rc_end, ENOENT);
    ck_assert_int_eq(s.rc_after, ENOENT);
    ck_assert_int_eq(s.rc_join, EIO);
}
END_TEST

/* ---- group_next as FIRST_EXCEPTION: fail-fast, statuses of the rest ---- */

static int spins_until_cancelled(weft_task *self, void *p)
{
    (void)p;
    return test_wait_cancelled(self, BUDGET) != 0 ? ECANCELED : 0;
}

static int fails_at_once(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EPIPE, "broken");
}

struct fe {
    int first_status, eio, cancelled, other, rc_join;
    intptr_t first_arg;
};

static int first_exception_root(weft_task *self, void *p)
{
    struct fe *f = p;
    weft_group g;
    weft_group_opts o = {.flags = WEFT_STREAM};
    weft_group_init(&g, self, &o);
    for (intptr_t i = 0; i < 6; i++)
        weft_spawn(&g, spins_until_cancelled, (void *)i);
    weft_spawn(&g, fails_at_once, (void *)(intptr_t)99);
    void *arg;
    int status;
    bool first = true;
    while (weft_group_next(&g, weft_after(BUDGET), &arg, &status) == 0) {
        if (first) {
            f->first_status = status;
            f->first_arg = (intptr_t)arg;
            first = false;
        }
        if (status == EPIPE)
            f->eio++;
        else if (status == ECANCELED)
            f->cancelled++;
        else
            f->other++;
    }
    f->rc_join = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_group_next_reports_the_first_failure_first)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct fe f = {0};
    ck_assert_int_eq(weft_run(rt, first_exception_root, &f, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(f.first_status, EPIPE);
    ck_assert_int_eq(f.first_arg, 99);
    ck_assert_int_eq(f.eio, 1);
    ck_assert_int_eq(f.cancelled, 6);
    ck_assert_int_eq(f.other, 0);
    ck_assert_int_eq(f.rc_join, EPIPE);
}
END_TEST

/* ---- misuse, empty groups, deadlines, leftovers ---- */

struct misuse {
    int next_plain, next_null, wait_null, next_empty, next_timeout, wait_joined;
    weft_time next_waited;
    int rc_join;
};

static int misuse_root(weft_task *self, void *p)
{
    struct misuse *m = p;
    weft_group plain;
    weft_group_init(&plain, self, NULL);
    m->next_plain = weft_group_next(&plain, WEFT_NEVER, NULL, NULL);
    weft_group_join(&plain, NULL);
    m->wait_joined = weft_group_wait(&plain, WEFT_NEVER);
    m->next_null = weft_group_next(NULL, WEFT_NEVER, NULL, NULL);
    m->wait_null = weft_group_wait(NULL, WEFT_NEVER);

    weft_group s;
    weft_group_opts o = {.flags = WEFT_STREAM};
    weft_group_init(&s, self, &o);
    m->next_empty = weft_group_next(&s, WEFT_NEVER, NULL, NULL);
    struct gw napper = {0};
    _Atomic int counted = 0;
    weft_spawn(&s, naps_200ms, &napper);
    weft_time t0 = weft_now();
    m->next_timeout = weft_group_next(&s, t0 + 10 * WEFT_MSEC, NULL, NULL);
    m->next_waited = weft_now() - t0;
    for (int i = 0; i < 100; i++) /* never taken: the join drops them */
        weft_spawn(&s, count_up, &counted);
    m->rc_join = weft_group_join(&s, NULL);
    return 0;
}

START_TEST(test_group_wait_and_next_refuse_misuse)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct misuse m = {0};
    ck_assert_int_eq(weft_run(rt, misuse_root, &m, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(m.next_plain, EINVAL);
    ck_assert_int_eq(m.wait_joined, EINVAL);
    ck_assert_int_eq(m.next_null, EINVAL);
    ck_assert_int_eq(m.wait_null, EINVAL);
    ck_assert_int_eq(m.next_empty, ENOENT);
    ck_assert_int_eq(m.next_timeout, ETIMEDOUT);
    ck_assert_int_ge(m.next_waited, 10 * WEFT_MSEC);
    ck_assert_int_lt(m.next_waited, 2 * WEFT_SEC);
    ck_assert_int_eq(m.rc_join, 0);
}
END_TEST

/* ---- a cancelled caller stops waiting ---- */

struct cw {
    bool never; /* wait with WEFT_NEVER rather than a far deadline */
    bool deaf;  /* a plain group whose task ignores the cancel, not a shielded one */
    weft_group *outer;
    int rc_wait, rc_join;
    weft_time waited;
};

static int cancels_outer_later(weft_task *self, void *p)
{
    struct cw *c = p;
    weft_sleep(self, weft_after(20 * WEFT_MSEC));
    weft_group_cancel(c->outer);
    return 0;
}

static int sleeps_long(weft_task *self, void *p)
{
    (void)p;
    return weft_sleep(self, weft_after(BUDGET));
}

enum { DEAF_SPIN = 1500 * WEFT_MSEC };

static int spins_deaf(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    weft_time end = weft_after(DEAF_SPIN);
    while (weft_now() < end) /* never looks at weft_cancelled */
        ;
    return 0;
}

static int waits_on_shielded(weft_task *self, void *p)
{
    struct cw *c = p;
    weft_group g;
    weft_group_opts o = {.flags = WEFT_SHIELD}; /* the outer cancel does not reach it */
    weft_group_init(&g, self, c->deaf ? NULL : &o);
    weft_spawn(&g, c->deaf ? spins_deaf : sleeps_long, NULL);
    weft_time t0 = weft_now();
    c->rc_wait = weft_group_wait(&g, c->never ? WEFT_NEVER : weft_after(BUDGET));
    c->waited = weft_now() - t0;
    weft_group_cancel(&g);
    c->rc_join = weft_group_join(&g, NULL);
    return 0;
}

static int cancel_root(weft_task *self, void *p)
{
    struct cw *c = p;
    weft_group outer;
    weft_group_init(&outer, self, NULL);
    c->outer = &outer;
    weft_spawn(&outer, waits_on_shielded, c);
    weft_spawn(&outer, cancels_outer_later, c);
    weft_group_join(&outer, NULL);
    return 0;
}

START_TEST(test_a_cancelled_caller_stops_waiting)
{
    for (int i = 0; i < 4; i++) { /* WEFT_NEVER too; a shielded or a deaf group */
        weft_runtime *rt = weft_test_runtime(2, 0);
        struct cw c = {.never = i & 1, .deaf = i >> 1};
        ck_assert_int_eq(weft_run(rt, cancel_root, &c, NULL), 0);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
        ck_assert_int_eq(c.rc_wait, ECANCELED);
        /* not the 20 s sleep; not the deaf task's 1.5 s either */
        ck_assert_int_lt(c.waited, c.deaf ? DEAF_SPIN - 500 * WEFT_MSEC : 5 * WEFT_SEC);
        ck_assert_int_eq(c.rc_join, ECANCELED); /* cancelled, even if its task succeeded */
    }
}
END_TEST

Suite *group_wait_suite(void)
{
    Suite *s = suite_create("group_wait");
    TCase *tc = tcase_create("group_wait");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_group_wait_times_out_without_cancelling_anything);
    tcase_add_test(tc, test_group_wait_runs_the_groups_tasks_on_one_worker);
    tcase_add_test(tc, test_group_next_streams_completions_in_the_order_they_end);
    tcase_add_test(tc, test_group_next_reports_the_first_failure_first);
    tcase_add_test(tc, test_group_wait_and_next_refuse_misuse);
    tcase_add_test(tc, test_a_cancelled_caller_stops_waiting);
    suite_add_tcase(s, tc);
    return s;
}
