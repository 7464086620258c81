/* Slot hand-off (timed waits): a sleeping worker's place is taken by a spare
 * thread, its queued children still run, worker ids stay exclusive, cancel
 * scans reach groups on spare threads, and without a spare a sleep still
 * works. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include <weft/weft.h>

#include "base/thread.h"
#include "runtime/runtime.h"
#include "tests/suites.h"

enum { BUDGET = 20 * WEFT_SEC }; /* generous bound on every wait below */

/* weft_sleep in short steps until *flag != 0 (or the budget): a polite poll
 * that itself hands its slot on. */
static bool poll_until(weft_task *self, _Atomic int *flag, int target)
{
    weft_time end = weft_after(BUDGET);
    while (atomic_load(flag) < target) {
        if (weft_now() > end)
            return false;
        weft_sleep(self, weft_after(WEFT_MSEC));
    }
    return true;
}

/* ---- every worker's task asleep: other tasks still run ---- */

enum { SLEEPERS_PER_WORKER = 2 };

struct all_asleep {
    weft_group g;
    _Atomic int asleep;
    _Atomic int sleeper_rc_ok;
    _Atomic int saw_all_asleep;
    int join_rc;
    unsigned sleepers;
};

static int long_sleeper(weft_task *self, void *p)
{
    struct all_asleep *a = p;
    atomic_fetch_add(&a->asleep, 1);
    int rc = weft_sleep(self, weft_after(BUDGET));
    if (rc == ECANCELED)
        atomic_fetch_add(&a->sleeper_rc_ok, 1);
    return rc;
}

/* Spawned first, so a thief takes it while the owner's join pops sleepers:
 * it can see every sleeper asleep only if sleeping workers gave their place
 * to spare threads. */
static int watcher(weft_task *self, void *p)
{
    struct all_asleep *a = p;
    (void)self;
    weft_time end = weft_after(BUDGET);
    while (atomic_load(&a->asleep) < (int)a->sleepers && weft_now() < end)
        sched_yield();
    atomic_store(&a->saw_all_asleep, atomic_load(&a->asleep) == (int)a->sleepers);
    weft_group_cancel(&a->g);
    return 0;
}

static int all_asleep_root(weft_task *self, void *p)
{
    struct all_asleep *a = p;
    weft_group_init(&a->g, self, NULL);
    weft_spawn(&a->g, watcher, a);
    for (unsigned i = 0; i < a->sleepers; i++)
        weft_spawn(&a->g, long_sleeper, a);
    a->join_rc = weft_group_join(&a->g, NULL);
    return 0;
}

START_TEST(test_sleeping_workers_hand_their_place_to_spare_threads)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = weft_test_runtime(workers, 0);
        struct all_asleep a = {.sleepers = SLEEPERS_PER_WORKER * workers};
        weft_time t0 = weft_now();
        ck_assert_int_eq(weft_run(rt, all_asleep_root, &a, NULL), 0);
        ck_assert_int_eq(atomic_load(&a.saw_all_asleep), 1);
        ck_assert_int_eq(atomic_load(&a.sleeper_rc_ok), (int)a.sleepers);
        ck_assert_int_eq(a.join_rc, ECANCELED);
        ck_assert_int_lt(weft_now() - t0, BUDGET);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    }
}
END_TEST

/* ---- a sleeper's queued children run while it sleeps ---- */

enum { CHILDREN = 64 };

struct children {
    weft_group outer;
    _Atomic int ran;
    int ran_after_sleep, sleep_rc, inner_rc, outer_rc;
};

static int child(weft_task *self, void *p)
{
    struct children *c = p;
    (void)self;
    if (atomic_fetch_add(&c->ran, 1) + 1 == CHILDREN)
        weft_group_cancel(&c->outer); /* wakes the parent's sleep */
    return 0;
}

static int parent_sleeps(weft_task *self, void *p)
{
    struct children *c = p;
    weft_group inner;
    weft_group_init(&inner, self, NULL);
    for (int i = 0; i < CHILDREN; i++)
        weft_spawn(&inner, child, c);
    /* on one worker only a spare thread can run the children meanwhile */
    c->sleep_rc = weft_sleep(self, weft_after(BUDGET));
    c->ran_after_sleep = atomic_load(&c->ran);
    c->inner_rc = weft_group_join(&inner, NULL);
    return 0;
}

static int children_root(weft_task *self, void *p)
{
    struct children *c = p;
    weft_group_init(&c->outer, self, NULL);
    weft_spawn(&c->outer, parent_sleeps, c);
    c->outer_rc = weft_group_join(&c->outer, NULL);
    return 0;
}

START_TEST(test_a_sleepers_queued_children_run_while_it_sleeps)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    for (int round = 0; round < 5; round++) {
        struct children c = {0};
        ck_assert_int_eq(weft_run(rt, children_root, &c, NULL), 0);
        ck_assert_int_eq(c.sleep_rc, ECANCELED);
        ck_assert_int_eq(c.ran_after_sleep, CHILDREN);
        ck_assert_int_eq(c.inner_rc, ECANCELED); /* under the cancelled outer group */
        ck_assert_int_eq(c.outer_rc, ECANCELED);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- worker ids: in range and never shared by two running tasks ---- */

enum { ID_TASKS = 3000, ID_WORKERS = 2 };

struct ids {
    _Atomic int busy[ID_WORKERS];
    _Atomic int out_of_range, shared, on_extra, checked;
};

static void hold_id(weft_task *self, struct ids *s)
{
    int id = weft_worker_id(self);
    if (id < -1 || id >= ID_WORKERS) {
        atomic_fetch_add(&s->out_of_range, 1);
        return;
    }
    if (id == -1) {
        atomic_fetch_add(&s->on_extra, 1);
        return;
    }
    if (atomic_exchange(&s->busy[id], 1) != 0)
        atomic_fetch_add(&s->shared, 1);
    for (volatile int spin = 0; spin < 2000; spin++) {
    }
    if (weft_worker_id(self) != id) /* no wait nor join since the read: unchanged */
        atomic_fetch_add(&s->shared, 1);
    atomic_store(&s->busy[id], 0);
    atomic_fetch_add(&s->checked, 1);
}

static int id_task(weft_task *self, void *p)
{
    struct ids *s = p;
    hold_id(self, s);
    if (((uintptr_t)self >> 6) % 3 == 0) /* some tasks sleep, and come back */
        weft_sleep(self, weft_after(200 * WEFT_USEC));
    hold_id(self, s);
    return 0;
}

static int ids_root(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    for (int i = 0; i < ID_TASKS; i++)
        weft_spawn(&g, id_task, p);
    return weft_group_join(&g, NULL);
}

START_TEST(test_worker_ids_stay_exclusive_while_sleepers_come_and_go)
{
    weft_runtime *rt = weft_test_runtime(ID_WORKERS, 0);
    struct ids s = {0};
    ck_assert_int_eq(weft_run(rt, ids_root, &s, NULL), 0);
    ck_assert_int_eq(atomic_load(&s.out_of_range), 0);
    ck_assert_int_eq(atomic_load(&s.shared), 0);
    ck_assert_int_eq(atomic_load(&s.checked) + atomic_load(&s.on_extra), 2 * ID_TASKS);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a cancel reaches groups initialised on a spare thread ---- */

struct spare_cancel {
    weft_group outer;
    _Atomic int deep_started;
    _Atomic int deep_saw_cancel;
    int sleeper_rc;
};

static int deep_waiter(weft_task *self, void *p)
{
    struct spare_cancel *s = p;
    atomic_store(&s->deep_started, 1);
    weft_time end = weft_after(BUDGET);
    while (!weft_cancelled(self) && weft_now() < end)
        sched_yield();
    atomic_store(&s->deep_saw_cancel, weft_cancelled(self));
    return 0;
}

/* Runs on the spare that took the sleeper's slot: its nested group's state
 * lives in that spare thread's pool. */
static int nests_a_group(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, deep_waiter, p);
    weft_group_join(&g, NULL);
    return 0;
}

static int cancels_after_sleeping(weft_task *self, void *p)
{
    struct spare_cancel *s = p;
    s->sleeper_rc = poll_until(self, &s->deep_started, 1) ? 0 : ETIMEDOUT;
    weft_group_cancel(&s->outer);
    return 0;
}

static int spare_cancel_root(weft_task *self, void *p)
{
    struct spare_cancel *s = p;
    weft_group_init(&s->outer, self, NULL);
    weft_spawn(&s->outer, nests_a_group, s);          /* popped second */
    weft_spawn(&s->outer, cancels_after_sleeping, s); /* popped first */
    weft_group_join(&s->outer, NULL);
    return 0;
}

START_TEST(test_cancel_reaches_groups_on_spare_threads)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct spare_cancel s = {0};
    ck_assert_int_eq(weft_run(rt, spare_cancel_root, &s, NULL), 0);
    ck_assert_int_eq(s.sleeper_rc, 0);
    ck_assert_int_eq(atomic_load(&s.deep_saw_cancel), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- no spare to be had: the sleeper keeps its slot ---- */

struct no_spare {
    _Atomic int done;
    int sleep_rc;
    weft_time slept;
};

static int short_task(weft_task *self, void *p)
{
    struct no_spare *n = p;
    (void)self;
    atomic_fetch_add(&n->done, 1);
    return 0;
}

static int sleeps_without_spare(weft_task *self, void *p)
{
    struct no_spare *n = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    for (int i = 0; i < 100; i++)
        weft_spawn(&g, short_task, n);
    weft_time t0 = weft_now();
    n->sleep_rc = weft_sleep(self, weft_after(20 * WEFT_MSEC));
    n->slept = weft_now() - t0;
    return weft_group_join(&g, NULL);
}

START_TEST(test_a_sleep_without_a_spare_thread_keeps_its_slot)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    weft__thread_fail_from(1); /* every spare thread fails to start */
    struct no_spare n = {0};
    int rc = weft_run(rt, sleeps_without_spare, &n, NULL);
    weft__thread_fail_from(0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n.sleep_rc, 0);
    ck_assert_int_ge(n.slept, 20 * WEFT_MSEC);
    ck_assert_int_eq(atomic_load(&n.done), 100);
    /* it can start spares again afterwards */
    struct children c = {0};
    ck_assert_int_eq(weft_run(rt, children_root, &c, NULL), 0);
    ck_assert_int_eq(c.ran_after_sleep, CHILDREN);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a woken thread that retires as a spare stops searching ---- */

static int nop(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return 0;
}

/* One worker: the root sleeps (its slot goes to spare S) and wakes on an
 * extra slot, so two threads hold slots and the next one between tasks
 * retires. It waits for S to park idle, then spawns: the spawn's wake-up
 * picks S, which comes back counted as searching and retires. Were it still
 * counted, every later spawn would think someone searches and wake nobody. */
static int wakes_a_thread_that_retires(weft_task *self, void *p)
{
    (void)p;
    weft_runtime *rt = weft__runtime_of_sched(weft__self_thread->sched);
    int rc = weft_sleep(self, weft_after(20 * WEFT_MSEC));
    if (rc != 0)
        return rc;
    weft_time end = weft_after(BUDGET);
    while (atomic_load(&rt->jobs.scopes.sched.n_idle) == 0 && weft_now() < end)
        sched_yield();
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, nop, NULL);
    for (weft_time t = weft_after(5 * WEFT_MSEC); weft_now() < t;)
        ; /* hold the extra slot while the woken thread looks */
    return weft_group_join(&g, NULL);
}

struct outside_run {
    weft_runtime *rt;
    _Atomic int done;
    int rc;
};

static void *run_from_outside(void *p)
{
    struct outside_run *o = p;
    o->rc = weft_run(o->rt, nop, NULL, NULL);
    atomic_store(&o->done, 1);
    return NULL;
}

START_TEST(test_a_woken_thread_that_retires_stops_searching)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(weft_run(rt, wakes_a_thread_that_retires, NULL, NULL), 0);
        /* let the threads settle: one holds the slot, parked; one is a spare */
        weft_time end = weft_after(BUDGET);
        while ((atomic_load(&rt->jobs.scopes.sched.n_idle) == 0 || atomic_load(&rt->jobs.scopes.sched.n_searching) != 0) &&
               weft_now() < end)
            sched_yield();
        unsigned searching = atomic_load(&rt->jobs.scopes.sched.n_searching);
        ck_assert_msg(searching == 0, "n_searching %u with every thread parked", searching);
        /* a task injected from outside must wake the parked slot holder */
        struct outside_run o = {.rt = rt};
        pthread_t tid;
        ck_assert_int_eq(pthread_create(&tid, NULL, run_from_outside, &o), 0);
        end = weft_after(BUDGET);
        while (!atomic_load(&o.done) && weft_now() < end)
            sched_yield();
        int finished = atomic_load(&o.done);
        if (!finished)
            weft__wake_all(weft__runtime_sched(rt)); /* unstick it, so the test can report */
        pthread_join(tid, NULL);
        ck_assert_msg(finished, "a task run from outside waited %d s for a worker",
                      (int)(BUDGET / WEFT_SEC));
        ck_assert_int_eq(o.rc, 0);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- more sleepers than spare threads allowed ---- */

enum { MANY_SLEEPERS = WEFT__SPARE_MAX + 40 };

struct many {
    _Atomic int woke_ok;
};

static int naps(weft_task *self, void *p)
{
    struct many *m = p;
    if (weft_sleep(self, weft_after(30 * WEFT_MSEC)) == 0)
        atomic_fetch_add(&m->woke_ok, 1);
    return 0;
}

static int many_root(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    for (int i = 0; i < MANY_SLEEPERS; i++)
        weft_spawn(&g, naps, p);
    return weft_group_join(&g, NULL);
}

START_TEST(test_more_sleepers_than_the_spare_limit_all_finish)
{
    weft_runtime *rt = weft_test_runtime(2, 256 * 1024);
    for (int round = 0; round < 2; round++) {
        struct many m = {0};
        ck_assert_int_eq(weft_run(rt, many_root, &m, NULL), 0);
        ck_assert_int_eq(atomic_load(&m.woke_ok), MANY_SLEEPERS);
        /* the spare threads stop at their limit: the rest slept holding a slot */
        ck_assert_uint_le(weft__nthreads(weft__runtime_sched(rt)), 2 + WEFT__SPARE_MAX);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* A task queued just before its spawner naps (weft_sleep too short to
 * hand the slot over) runs on the other worker meanwhile. On the split
 * deque it is private when queued (the other worker is busy, so nobody
 * asks for it to be shared): the nap must share it, or the thief can only
 * ask, and the task waits for the spawner's next push or pop. */
struct nap {
    _Atomic int busy_worker, busy_started, late_worker, late_ran;
    int root_worker, setup_failed, ran_during_naps;
};

static int nap_busy(weft_task *self, void *p)
{
    struct nap *n = p;
    atomic_store(&n->busy_worker, weft_worker_id(self));
    atomic_store(&n->busy_started, 1);
    weft_time until = weft_after(5 * WEFT_MSEC);
    while (weft_now() < until)
        ;
    return 0;
}

static int nap_late(weft_task *self, void *p)
{
    struct nap *n = p;
    atomic_store(&n->late_worker, weft_worker_id(self));
    atomic_store(&n->late_ran, 1);
    return 0;
}

static int nap_root(weft_task *self, void *p)
{
    struct nap *n = p;
    n->root_worker = weft_worker_id(self);
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, nap_busy, n);
    /* the other worker takes the busy task (it is parked or searching: the
     * spawn shares it), so the next spawn finds nobody looking */
    weft_time end = weft_after(WEFT_SEC);
    while (rc == 0 && !atomic_load(&n->busy_started) && weft_now() < end)
        ;
    n->setup_failed = !atomic_load(&n->busy_started) ||
                      atomic_load(&n->busy_worker) == n->root_worker;
    if (rc == 0)
        rc = weft_spawn(&g, nap_late, n);
    end = weft_after(2 * WEFT_SEC);
    while (rc == 0 && !atomic_load(&n->late_ran) && weft_now() < end)
        weft_sleep(self, weft_after(50 * WEFT_USEC)); /* below WEFT__HANDOFF_MIN */
    n->ran_during_naps = atomic_load(&n->late_ran);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

START_TEST(test_a_task_queued_before_short_sleeps_runs_on_another_worker)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    for (int round = 0; round < 5; round++) {
        struct nap n = {.root_worker = -1};
        atomic_init(&n.busy_worker, -1);
        atomic_init(&n.late_worker, -1);
        ck_assert_int_eq(weft_run(rt, nap_root, &n, NULL), 0);
        ck_assert_msg(!n.setup_failed, "round %d: the busy task did not start elsewhere", round);
        ck_assert_msg(n.ran_during_naps, "round %d: the queued task waited out the naps", round);
        ck_assert_int_ne(atomic_load(&n.late_worker), n.root_worker);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

Suite *slots_suite(void)
{
    Suite *s = suite_create("slots");
    TCase *tc = tcase_create("slots");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sleeping_workers_hand_their_place_to_spare_threads);
    tcase_add_test(tc, test_a_sleepers_queued_children_run_while_it_sleeps);
    tcase_add_test(tc, test_worker_ids_stay_exclusive_while_sleepers_come_and_go);
    tcase_add_test(tc, test_cancel_reaches_groups_on_spare_threads);
    tcase_add_test(tc, test_a_sleep_without_a_spare_thread_keeps_its_slot);
    tcase_add_test(tc, test_a_woken_thread_that_retires_stops_searching);
    tcase_add_test(tc, test_more_sleepers_than_the_spare_limit_all_finish);
    tcase_add_test(tc, test_a_task_queued_before_short_sleeps_runs_on_another_worker);
    suite_add_tcase(s, tc);
    return s;
}
