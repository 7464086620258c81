/* A task's own deadline (weft_spawn_opts.deadline): it cancels that task's
 * subtree with ETIMEDOUT, the task fails with ETIMEDOUT, a looser one adds
 * nothing, one in the past is seen at entry, and it works from outside the
 * workers and without memory for the task's scope. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include <weft/weft.h>

#include "base/alloc.h"
#include "runtime/runtime.h"
#include "tests/suites.h"
#include "tests/wait_cancelled.h"

enum { BUDGET = 20 * WEFT_SEC };

static int spin_until_cancelled(weft_task *self)
{
    return test_wait_cancelled(self, BUDGET);
}

/* ---- own deadline: the task, its nested groups; siblings under fail-fast / collect ---- */

struct own {
    weft_time deadline;
    _Atomic int task_reason, nested_reason, sibling_reason, sibling_done;
    _Atomic int64_t task_deadline_seen, nested_deadline_seen;
    weft_time fired_at;
    int join_rc;
    unsigned flags;
};

static int nested_spinner(weft_task *self, void *p)
{
    struct own *o = p;
    atomic_store(&o->nested_deadline_seen, weft_deadline(self));
    atomic_store(&o->nested_reason, spin_until_cancelled(self));
    return ECANCELED;
}

static int timed_task(weft_task *self, void *p)
{
    struct own *o = p;
    atomic_store(&o->task_deadline_seen, weft_deadline(self));
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, nested_spinner, o);
    weft_group_join(&g, NULL);
    atomic_store(&o->task_reason, weft_cancel_reason(self));
    o->fired_at = weft_now();
    return weft_cancel_reason(self);
}

/* Runs past the timed task's deadline; under fail-fast its group cancels it. */
static int sibling(weft_task *self, void *p)
{
    struct own *o = p;
    weft_time end = o->deadline + 100 * WEFT_MSEC;
    while (!weft_cancelled(self) && weft_now() < end)
        sched_yield();
    atomic_store(&o->sibling_reason, weft_cancel_reason(self));
    atomic_store(&o->sibling_done, 1);
    return weft_cancelled(self) ? ECANCELED : 0;
}

static int own_root(weft_task *self, void *p)
{
    struct own *o = p;
    weft_group g;
    weft_group_opts go = {.flags = o->flags};
    weft_group_init(&g, self, &go);
    weft_spawn(&g, sibling, o);
    weft_spawn_opts so = {.name = "timed", .deadline = o->deadline};
    weft_spawn_ex(&g, timed_task, o, &so);
    o->join_rc = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_a_task_deadline_cancels_its_subtree_and_fails_the_task)
{
    unsigned policies[] = {0, WEFT_COLLECT};
    for (int i = 0; i < 2; i++) {
        weft_runtime *rt = weft_test_runtime(2, 0);
        struct own o = {.deadline = weft_after(50 * WEFT_MSEC), .flags = policies[i]};
        ck_assert_int_eq(weft_run(rt, own_root, &o, NULL), 0);
        ck_assert_int_eq(atomic_load(&o.task_deadline_seen), o.deadline);
        ck_assert_int_eq(atomic_load(&o.nested_deadline_seen), o.deadline);
        ck_assert_int_eq(atomic_load(&o.nested_reason), ETIMEDOUT);
        ck_assert_int_eq(atomic_load(&o.task_reason), ETIMEDOUT);
        ck_assert_int_ge(o.fired_at, o.deadline);
        ck_assert_int_eq(o.join_rc, ETIMEDOUT); /* the task's own code */
        ck_assert_int_eq(atomic_load(&o.sibling_done), 1);
        /* fail-fast: the timeout cancels the sibling; collect leaves it be */
        ck_assert_int_eq(atomic_load(&o.sibling_reason), o.flags == 0 ? ECANCELED : 0);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    }
}
END_TEST

/* ---- looser than the group's: nothing; in the past: seen at entry ---- */

struct edges {
    weft_time group_deadline;
    _Atomic int64_t loose_seen;
    _Atomic int loose_cancelled, past_runs, past_reason_at_entry;
    int loose_join, past_join;
};

static int looks_at_deadline(weft_task *self, void *p)
{
    struct edges *e = p;
    atomic_store(&e->loose_seen, weft_deadline(self));
    atomic_store(&e->loose_cancelled, weft_cancelled(self));
    return 0;
}

static int past_task(weft_task *self, void *p)
{
    struct edges *e = p;
    atomic_fetch_add(&e->past_runs, 1);
    atomic_store(&e->past_reason_at_entry, weft_cancel_reason(self));
    return ECANCELED; /* stopped by its own deadline: reported as ETIMEDOUT */
}

static int edges_root(weft_task *self, void *p)
{
    struct edges *e = p;
    weft_group g;
    weft_group_opts go = {.deadline = e->group_deadline};
    weft_group_init(&g, self, &go);
    weft_spawn_opts loose = {.deadline = e->group_deadline + WEFT_SEC};
    weft_spawn_ex(&g, looks_at_deadline, e, &loose);
    e->loose_join = weft_group_join(&g, NULL);

    weft_group_init(&g, self, NULL);
    weft_spawn_opts past = {.deadline = weft_now() - WEFT_SEC};
    weft_spawn_ex(&g, past_task, e, &past);
    e->past_join = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_task_deadlines_looser_than_the_group_or_in_the_past)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct edges e = {.group_deadline = weft_after(10 * WEFT_SEC)};
    ck_assert_int_eq(weft_run(rt, edges_root, &e, NULL), 0);
    ck_assert_int_eq(atomic_load(&e.loose_seen), e.group_deadline);
    ck_assert_int_eq(atomic_load(&e.loose_cancelled), 0);
    ck_assert_int_eq(e.loose_join, 0);
    ck_assert_int_eq(atomic_load(&e.past_runs), 1);
    ck_assert_int_eq(atomic_load(&e.past_reason_at_entry), ETIMEDOUT);
    ck_assert_int_eq(e.past_join, ETIMEDOUT);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a cancel of the group reaches timed tasks; theirs is no failure ---- */

struct group_cancel {
    weft_group g;
    _Atomic int started, reasons_ecanceled;
    int join_rc;
};

enum { TIMED_TASKS = 8 };

static int timed_waiter(weft_task *self, void *p)
{
    struct group_cancel *c = p;
    atomic_fetch_add(&c->started, 1);
    if (spin_until_cancelled(self) == ECANCELED)
        atomic_fetch_add(&c->reasons_ecanceled, 1);
    return ECANCELED;
}

static int canceller(weft_task *self, void *p)
{
    struct group_cancel *c = p;
    weft_time end = weft_after(BUDGET);
    while (atomic_load(&c->started) == 0 && weft_now() < end)
        weft_sleep(self, weft_after(WEFT_MSEC));
    weft_group_cancel(&c->g);
    return 0;
}

static int group_cancel_root(weft_task *self, void *p)
{
    struct group_cancel *c = p;
    weft_group_init(&c->g, self, NULL);
    weft_spawn_opts so = {.deadline = weft_after(BUDGET)};
    for (int i = 0; i < TIMED_TASKS; i++)
        weft_spawn_ex(&c->g, timed_waiter, c, &so);
    weft_spawn(&c->g, canceller, c);
    c->join_rc = weft_group_join(&c->g, NULL);
    return 0;
}

START_TEST(test_a_group_cancel_reaches_tasks_with_their_own_deadline)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct group_cancel c = {0};
    ck_assert_int_eq(weft_run(rt, group_cancel_root, &c, NULL), 0);
    ck_assert_int_eq(atomic_load(&c.started), TIMED_TASKS);
    ck_assert_int_eq(atomic_load(&c.reasons_ecanceled), TIMED_TASKS);
    ck_assert_int_eq(c.join_rc, ECANCELED);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- many timed tasks: each runs once, every timer entry is let go ---- */

enum { MANY = 5000 };

struct many {
    _Atomic int runs, timed_out, sleeps_timed_out;
    int join_rc;
};

static int maybe_times_out(weft_task *self, void *p)
{
    struct many *m = p;
    atomic_fetch_add(&m->runs, 1);
    if (weft_cancel_reason(self) == ETIMEDOUT)
        atomic_fetch_add(&m->timed_out, 1);
    return 0;
}

static int sleeps_past_deadline(weft_task *self, void *p)
{
    struct many *m = p;
    if (weft_sleep(self, weft_after(BUDGET)) == ETIMEDOUT)
        atomic_fetch_add(&m->sleeps_timed_out, 1);
    return 0;
}

static int many_root(weft_task *self, void *p)
{
    struct many *m = p;
    weft_group g;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    weft_group_init(&g, self, &go);
    weft_time now = weft_now();
    for (int i = 0; i < MANY; i++) {
        /* every third one already past; the rest far ahead (disarmed at the end) */
        weft_spawn_opts so = {.deadline = i % 3 == 0 ? now - 1 : now + (weft_time)BUDGET};
        weft_spawn_ex(&g, maybe_times_out, m, &so);
    }
    for (int i = 0; i < 4; i++) {
        weft_spawn_opts so = {.deadline = weft_after(30 * WEFT_MSEC)};
        weft_spawn_ex(&g, sleeps_past_deadline, m, &so);
    }
    m->join_rc = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_many_timed_tasks_run_once_each)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct many m = {0};
    ck_assert_int_eq(weft_run(rt, many_root, &m, NULL), 0);
    ck_assert_int_eq(atomic_load(&m.runs), MANY);
    ck_assert_int_eq(atomic_load(&m.timed_out), (MANY + 2) / 3);
    ck_assert_int_eq(atomic_load(&m.sleeps_timed_out), 4);
    ck_assert_int_eq(m.join_rc, 0); /* returned 0: no failure */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- spawned from a thread outside the workers (the injection queue) ---- */

struct outside {
    weft_group g;
    _Atomic int group_ready, spawned, reason;
    int spawn_rc, join_rc;
};

static int outside_timed(weft_task *self, void *p)
{
    struct outside *o = p;
    atomic_store(&o->reason, spin_until_cancelled(self));
    return 0;
}

static void *outside_thread(void *p)
{
    struct outside *o = p;
    while (atomic_load(&o->group_ready) == 0)
        sched_yield();
    weft_spawn_opts so = {.deadline = weft_after(30 * WEFT_MSEC)};
    o->spawn_rc = weft_spawn_ex(&o->g, outside_timed, o, &so);
    atomic_store(&o->spawned, 1);
    return NULL;
}

static int outside_root(weft_task *self, void *p)
{
    struct outside *o = p;
    weft_group_init(&o->g, self, NULL);
    atomic_store(&o->group_ready, 1);
    weft_time end = weft_after(BUDGET);
    while (atomic_load(&o->spawned) == 0 && weft_now() < end)
        weft_sleep(self, weft_after(WEFT_MSEC));
    o->join_rc = weft_group_join(&o->g, NULL);
    return 0;
}

START_TEST(test_a_task_deadline_works_for_spawns_from_outside)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct outside o = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, outside_thread, &o), 0);
    ck_assert_int_eq(weft_run(rt, outside_root, &o, NULL), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(o.spawn_rc, 0);
    ck_assert_int_eq(atomic_load(&o.reason), ETIMEDOUT);
    ck_assert_int_eq(o.join_rc, 0); /* it returned 0 */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- no memory for the task's scope: it runs, and fails with ENOMEM ---- */

enum { MAX_GROUPS = 256 };

struct no_scope {
    _Atomic int runs;
    int join_rc, opened;
};

static int counts_a_run(weft_task *self, void *p)
{
    struct no_scope *n = p;
    (void)self;
    atomic_fetch_add(&n->runs, 1);
    return 0;
}

static int no_scope_root(weft_task *self, void *p)
{
    struct no_scope *n = p;
    static weft_group groups[MAX_GROUPS];
    /* a spawn with a descriptor first (a plain one has none), so the slot
     * has free descriptors for the one below */
    weft_group warm;
    weft_spawn_opts named = {.name = "warm"};
    weft_group_init(&warm, self, NULL);
    weft_spawn_ex(&warm, counts_a_run, n, &named);
    weft_group_join(&warm, NULL);
    atomic_store(&n->runs, 0);
    /* use up this thread's free group states, so the scope needs memory */
    int k = 0;
    while (k < MAX_GROUPS && weft__self_thread->group_free != NULL)
        weft_group_init(&groups[k++], self, NULL);
    n->opened = k;
    weft_spawn_opts so = {.deadline = weft_after(BUDGET)};
    weft__alloc_fail_from(1);
    int rc = weft_spawn_ex(&groups[k - 1], counts_a_run, n, &so);
    n->join_rc = rc == 0 ? weft_group_join(&groups[k - 1], NULL) : -rc; /* runs it here */
    weft__alloc_fail_from(0);
    for (int i = k - 2; i >= 0; i--)
        weft_group_join(&groups[i], NULL);
    return 0;
}

START_TEST(test_a_task_whose_scope_cannot_be_made_runs_and_fails_enomem)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct no_scope n = {0};
    ck_assert_int_eq(weft_run(rt, no_scope_root, &n, NULL), 0);
    ck_assert_int_lt(n.opened, MAX_GROUPS);
    ck_assert_int_eq(atomic_load(&n.runs), 1);
    ck_assert_int_eq(n.join_rc, ENOMEM);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

Suite *spawn_deadline_suite(void)
{
    Suite *s = suite_create("spawn_deadline");
    TCase *tc = tcase_create("spawn_deadline");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_a_task_deadline_cancels_its_subtree_and_fails_the_task);
    tcase_add_test(tc, test_task_deadlines_looser_than_the_group_or_in_the_past);
    tcase_add_test(tc, test_a_group_cancel_reaches_tasks_with_their_own_deadline);
    tcase_add_test(tc, test_many_timed_tasks_run_once_each);
    tcase_add_test(tc, test_a_task_deadline_works_for_spawns_from_outside);
    tcase_add_test(tc, test_a_task_whose_scope_cannot_be_made_runs_and_fails_enomem);
    suite_add_tcase(s, tc);
    return s;
}
