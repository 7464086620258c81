/* Joiners that park: new work wakes idle workers, not joiners that cannot take it. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <weft/weft.h>

#include "bench/kernels_weft.h"
#include "runtime/runtime.h"
#include "tests/suites.h"

/* Bounded waits inside tasks: a stuck runtime shows up as a recorded
 * failure, asserted by the test's thread, rather than as a Check timeout. */
#define SETUP_WAIT (2 * WEFT_SEC)
#define WORK_WAIT (10 * WEFT_SEC)

/* Yield until *flag is nonzero or `limit` passes; false on timeout. */
static bool wait_flag(_Atomic int *flag, weft_time limit)
{
    weft_time until = weft_after(limit);
    while (atomic_load(flag) == 0) {
        if (weft_now() > until)
            return false;
        sched_yield();
    }
    return true;
}

static bool wait_n_idle(weft_runtime *rt, unsigned n, weft_time limit)
{
    weft_time until = weft_after(limit);
    while (atomic_load(&rt->jobs.scopes.sched.n_idle) != n) {
        if (weft_now() > until)
            return false;
        sched_yield();
    }
    return true;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/*
 * Joining deep: a root whose join may not steal because more than half of
 * its worker's stack is used (weft__thread.stack_lo). 1 MiB stacks, as in
 * the review; the root descends in 16 KiB frames until it is past that line
 * (just over 512 KiB on a plain build) rather than by a fixed amount, since
 * ThreadSanitizer keeps its per-thread state (about 750 KiB with gcc 12) at
 * the top of each thread's stack: there the stacks are 4 MiB.
 */
#ifdef WEFT__TSAN
enum { DEEP_STACK = 4 << 20 };
#else
enum { DEEP_STACK = 1 << 20 };
#endif
enum { DEEP_FRAME = 16 << 10, DEEP_ROOM = 128 << 10 };

/* The stack below this thread's steal line has room for a join and a park. */
static bool room_below_steal_line(void)
{
    pthread_attr_t attr;
    void *lo;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return false;
    int rc = pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    return rc == 0 && weft__self_thread->stack_lo > (uintptr_t)lo + DEEP_ROOM;
}

/* Recurses until its frame is below the steal line, then runs fn there. */
static __attribute__((noinline)) int descend(weft_task *self, weft_fn fn, void *arg)
{
    volatile char pad[DEEP_FRAME];
    for (size_t i = 0; i < sizeof pad; i += 4096)
        pad[i] = (char)i;
    int rc = (uintptr_t)&pad[0] < weft__self_thread->stack_lo ? fn(self, arg)
                                                              : descend(self, fn, arg);
    pad[0]++; /* used after the call: no sibling call, a new frame per level */
    return rc;
}

/* A task's stack is below its thread's steal line here. */
static bool below_steal_line(void)
{
    char here;
    return (uintptr_t)&here < weft__self_thread->stack_lo;
}

/* ---- the review's repro: a joiner that may not steal takes no wake-up ---- */

/*
 * The root uses more than half of a 1 MiB worker stack, so its join may
 * not steal, then joins a child that another worker took. The child spawns a
 * detached task and waits for it to run. Before the fix the joiner sat in
 * the idle list, the spawn's wake-up could pick it, it could not take the
 * task and no idle worker was woken: the child waited forever.
 */
struct repro {
    weft_runtime *rt;
    long delay_us; /* child's pause before the detached spawn: joiner and idle worker park */
    _Atomic int deep; /* the root's join could not steal */
    _Atomic int root_worker, child_worker;
    _Atomic int child_started;
    _Atomic int detached_ran;
    _Atomic int timed_out; /* the child gave up waiting for the detached task */
    _Atomic int spawn_rc;
};

static int repro_detached(weft_task *self, void *p)
{
    (void)self;
    struct repro *r = p;
    atomic_store(&r->detached_ran, 1);
    return 0;
}

static int repro_child(weft_task *self, void *p)
{
    struct repro *r = p;
    atomic_store(&r->child_worker, weft_worker_id(self));
    atomic_store(&r->child_started, 1);
    sleep_us(r->delay_us);
    int rc = weft_spawn_detached(r->rt, repro_detached, r);
    if (rc != 0) {
        atomic_store(&r->spawn_rc, rc);
        return 0;
    }
    if (!wait_flag(&r->detached_ran, WORK_WAIT))
        atomic_store(&r->timed_out, 1);
    return 0;
}

static int repro_join(weft_task *self, void *p)
{
    struct repro *r = p;
    atomic_store(&r->deep, below_steal_line());
    atomic_store(&r->root_worker, weft_worker_id(self));
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, repro_child, r);
    /* let a thief take the child (else the join pops it back and runs it here) */
    if (rc == 0)
        wait_flag(&r->child_started, SETUP_WAIT);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

static int repro_root(weft_task *self, void *p)
{
    return room_below_steal_line() ? descend(self, repro_join, p) : 0;
}

START_TEST(test_deep_joiner_does_not_swallow_the_wakeup_for_new_work)
{
    weft_runtime *rt = weft_test_runtime(3, DEEP_STACK);
    uint64_t rng = weft_test_seed() | 1;
    weft_time budget = weft_after(5 * WEFT_SEC);
    int iterations = 0, elsewhere = 0;
    for (; iterations < 200 && weft_now() < budget; iterations++) {
        rng = kernel_mix64(rng);
        struct repro r = {.rt = rt, .delay_us = 100 + (long)(rng % 900)};
        atomic_init(&r.deep, 0);
        atomic_init(&r.root_worker, -1);
        atomic_init(&r.child_worker, -1);
        atomic_init(&r.child_started, 0);
        atomic_init(&r.detached_ran, 0);
        atomic_init(&r.timed_out, 0);
        atomic_init(&r.spawn_rc, 0);
        ck_assert_int_eq(weft_run(rt, repro_root, &r, NULL), 0);
        int spawn_rc = atomic_load(&r.spawn_rc);
        ck_assert_int_eq(spawn_rc, 0);
        ck_assert_msg(atomic_load(&r.deep), "setup: no room to join below the steal line");
        ck_assert_msg(!atomic_load(&r.timed_out),
                      "iteration %d: the detached task did not run within 10 s", iterations);
        elsewhere += atomic_load(&r.child_worker) != atomic_load(&r.root_worker);
    }
    /* the interesting case (the child stolen, the root's join parked) happened */
    ck_assert_int_gt(elsewhere, iterations / 2);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a joiner that may not steal is not counted idle ---- */

struct unlisted {
    weft_runtime *rt;
    _Atomic int deep; /* the root's join could not steal */
    _Atomic int root_worker;
    _Atomic int child_started;
    _Atomic int saw_parked; /* the child saw the root's thread parked */
    _Atomic unsigned n_idle; /* what the child read meanwhile */
};

static int unlisted_child(weft_task *self, void *p)
{
    (void)self;
    struct unlisted *u = p;
    atomic_store(&u->child_started, 1);
    struct weft__thread *root = &u->rt->jobs.scopes.sched.threads[atomic_load(&u->root_worker)];
    weft_time until = weft_after(SETUP_WAIT);
    while (!atomic_load(&root->parked) && weft_now() < until)
        sched_yield();
    if (!atomic_load(&root->parked))
        return 0;
    sleep_us(2000); /* it is asleep in the futex by now */
    atomic_store(&u->saw_parked, 1);
    atomic_store(&u->n_idle, atomic_load(&u->rt->jobs.scopes.sched.n_idle));
    return 0;
}

static int unlisted_join(weft_task *self, void *p)
{
    struct unlisted *u = p;
    atomic_store(&u->deep, below_steal_line());
    atomic_store(&u->root_worker, weft_worker_id(self));
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, unlisted_child, u);
    if (rc == 0)
        wait_flag(&u->child_started, SETUP_WAIT);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

static int unlisted_root(weft_task *self, void *p)
{
    return room_below_steal_line() ? descend(self, unlisted_join, p) : 0;
}

START_TEST(test_joiner_that_may_not_steal_is_not_in_the_idle_list)
{
    /* two workers: the root's (parked in its join) and the child's (running):
     * nobody is idle, so no spawn's wake-up may be spent on the joiner */
    weft_runtime *rt = weft_test_runtime(2, DEEP_STACK);
    int seen = 0;
    for (int i = 0; i < 10; i++) {
        struct unlisted u = {.rt = rt};
        atomic_init(&u.deep, 0);
        atomic_init(&u.root_worker, -1);
        atomic_init(&u.child_started, 0);
        atomic_init(&u.saw_parked, 0);
        atomic_init(&u.n_idle, ~0u);
        ck_assert_int_eq(weft_run(rt, unlisted_root, &u, NULL), 0);
        ck_assert_msg(atomic_load(&u.deep), "setup: no room to join below the steal line");
        if (atomic_load(&u.saw_parked)) {
            unsigned n_idle = atomic_load(&u.n_idle);
            seen++;
            ck_assert_uint_eq(n_idle, 0);
        }
    }
    ck_assert_int_gt(seen, 0); /* the joiner parked at least once */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- wake-ups go to idle workers before joiners ---- */

/*
 * Three workers: the root joins a long task with nothing to do (it may
 * steal: its stack is shallow) and parks after the third worker did, so it
 * heads the idle list. The long task then spawns one probe: the wake-up must
 * go to the idle worker, not to the joiner. Then a burst, which must
 * complete, with the idle worker taking part.
 */
enum { PREF_ROUNDS = 20, BURST = 32 };

struct pref {
    weft_runtime *rt;
    _Atomic int root_worker, long_worker, probe_worker;
    _Atomic int long_started, probe_started;
    _Atomic int setup_failed; /* a bounded wait of the setup gave up */
    _Atomic int burst_done, burst_on_idle;
};

static int pref_probe(weft_task *self, void *p)
{
    struct pref *s = p;
    atomic_store(&s->probe_worker, weft_worker_id(self));
    atomic_store(&s->probe_started, 1);
    return 0;
}

static int pref_burst(weft_task *self, void *p)
{
    struct pref *s = p;
    int w = weft_worker_id(self);
    weft_time until = weft_after(WEFT_MSEC / 2);
    while (weft_now() < until)
        ;
    if (w != atomic_load(&s->root_worker) && w != atomic_load(&s->long_worker))
        atomic_fetch_add(&s->burst_on_idle, 1);
    atomic_fetch_add(&s->burst_done, 1);
    return 0;
}

static int pref_long(weft_task *self, void *p)
{
    struct pref *s = p;
    atomic_store(&s->long_worker, weft_worker_id(self));
    atomic_store(&s->long_started, 1);
    /* the root's join listed too: both other workers are parked */
    if (!wait_n_idle(s->rt, 2, SETUP_WAIT))
        atomic_store(&s->setup_failed, 1);
    sleep_us(5000); /* and asleep in the futex, not between list and sleep */
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    if ((rc = weft_spawn(&g, pref_probe, s)) == 0 && !wait_flag(&s->probe_started, WORK_WAIT))
        atomic_store(&s->setup_failed, 1);
    for (int i = 0; i < BURST && rc == 0; i++)
        rc = weft_spawn(&g, pref_burst, s);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

static int pref_root(weft_task *self, void *p)
{
    struct pref *s = p;
    atomic_store(&s->root_worker, weft_worker_id(self));
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, pref_long, s);
    /* a thief took the long task and the third worker parked: now park after it */
    if (rc == 0 && (!wait_flag(&s->long_started, SETUP_WAIT) || !wait_n_idle(s->rt, 1, SETUP_WAIT)))
        atomic_store(&s->setup_failed, 1);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

START_TEST(test_new_work_wakes_an_idle_worker_before_a_joiner)
{
    weft_runtime *rt = weft_test_runtime(3, 0);
    int probe_on_joiner = 0, burst_on_idle = 0;
    for (int i = 0; i < PREF_ROUNDS; i++) {
        struct pref s = {.rt = rt};
        atomic_init(&s.root_worker, -1);
        atomic_init(&s.long_worker, -1);
        atomic_init(&s.probe_worker, -1);
        atomic_init(&s.long_started, 0);
        atomic_init(&s.probe_started, 0);
        atomic_init(&s.setup_failed, 0);
        atomic_init(&s.burst_done, 0);
        atomic_init(&s.burst_on_idle, 0);
        ck_assert_int_eq(weft_run(rt, pref_root, &s, NULL), 0);
        ck_assert_msg(!atomic_load(&s.setup_failed), "round %d: setup wait timed out", i);
        int done = atomic_load(&s.burst_done);
        int root = atomic_load(&s.root_worker), lng = atomic_load(&s.long_worker);
        int probe = atomic_load(&s.probe_worker);
        ck_assert_int_eq(done, BURST);
        ck_assert_int_ne(root, lng);
        ck_assert_int_ne(probe, lng);
        probe_on_joiner += probe == root;
        burst_on_idle += atomic_load(&s.burst_on_idle);
    }
    ck_assert_msg(probe_on_joiner == 0, "the joiner took the probe in %d of %d rounds",
                  probe_on_joiner, PREF_ROUNDS);
    ck_assert_int_gt(burst_on_idle, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/*
 * membarrier failing after it was registered (a seccomp filter installed
 * later): the first failure must turn it off for good, for rt and every
 * thread's copy, threads started afterwards included, so that the heavy
 * sides' fence pairs with a fence on the light sides (park.c). Before the
 * fix the heavy side fenced alone while rt and the threads kept
 * use_membarrier set. Spawns, parks, timed waits and a cancel afterwards
 * must work and make no expedited call again.
 */
static int mb_nap(weft_task *self, void *arg)
{
    (void)arg;
    /* a timed wait longer than WEFT__HANDOFF_MIN: a spare thread starts and
     * takes the slot */
    return weft_sleep(self, weft_after(2 * WEFT_MSEC));
}

static int mb_wait_cancel(weft_task *self, void *arg)
{
    _Atomic int *saw = arg;
    weft_time until = weft_after(WORK_WAIT);
    while (!weft_cancelled(self) && weft_now() < until)
        sched_yield();
    atomic_store(saw, weft_cancelled(self));
    return 0;
}

static int mb_nested(weft_task *self, void *arg)
{
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc == 0)
        rc = weft_spawn(&g, mb_wait_cancel, arg);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

struct mb_round {
    struct kw_fib fib;
    _Atomic int saw_cancel;
};

static int mb_round(weft_task *self, void *arg)
{
    struct mb_round *r = arg;
    weft_group g, c;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    int rc1 = weft_spawn(&g, mb_nap, NULL);
    int rc2 = weft_spawn(&g, mb_nap, NULL);
    int rc3 = kw_fib_task(self, &r->fib);
    int jrc = weft_group_join(&g, NULL);
    /* a cancel pushed down below a group: the cancel's heavy side */
    if ((rc = weft_group_init(&c, self, NULL)) != 0)
        return rc;
    int rc4 = weft_spawn(&c, mb_nested, &r->saw_cancel);
    sleep_us(1000);
    weft_group_cancel(&c);
    int crc = weft_group_join(&c, NULL);
    if (rc1 != 0 || rc2 != 0 || rc3 != 0 || rc4 != 0 || jrc != 0)
        return EPROTO;
    return crc == ECANCELED ? 0 : EPROTO;
}

START_TEST(test_failed_membarrier_turns_it_off_for_every_thread)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    bool had = atomic_load(&rt->jobs.scopes.sched.use_membarrier);
    weft__membarrier_fail_nth(1); /* the next expedited call fails */
    /* a cancel's push-down is the heavy side (parks fence and nap instead,
     * unless the runtime was made with WEFT__PARK_MEMBARRIER) */
    struct mb_round first = {.fib = {15, 0}};
    atomic_init(&first.saw_cancel, 0);
    ck_assert_int_eq(weft_run(rt, mb_round, &first, NULL), 0);
    ck_assert_int_eq(atomic_load(&first.saw_cancel), 1);
    weft_time until = weft_after(WORK_WAIT);
    while (had && atomic_load(&rt->jobs.scopes.sched.membarrier_off_at) <= 0 && weft_now() < until)
        sleep_us(1000);
    ck_assert_msg(!had || atomic_load(&rt->jobs.scopes.sched.membarrier_off_at) > 0,
                  "no switch after a failed membarrier (%lu calls)", weft__membarrier_calls());
    ck_assert(!atomic_load(&rt->jobs.scopes.sched.use_membarrier));
    /* heavy sides that read the flag set before the switch are done */
    sleep_us(50 * 1000);
    unsigned long calls = weft__membarrier_calls();
    for (int i = 0; i < 8; i++) {
        struct mb_round r = {.fib = {18, 0}};
        atomic_init(&r.saw_cancel, 0);
        ck_assert_int_eq(weft_run(rt, mb_round, &r, NULL), 0);
        ck_assert_uint_eq(r.fib.result, kernel_fib_expected(18));
        ck_assert_int_eq(atomic_load(&r.saw_cancel), 1);
        sleep_us(2000); /* the workers park */
    }
    ck_assert_uint_eq(weft__membarrier_calls(), calls); /* off for good */
    unsigned n = weft__nthreads(weft__runtime_sched(rt));
    ck_assert_uint_gt(n, 2); /* spare threads started after the switch */
    for (unsigned i = 0; i < n; i++)
        ck_assert_msg(!atomic_load(&rt->jobs.scopes.sched.threads[i].use_membarrier), "thread %u still skips its fence",
                      i);
    weft__membarrier_fail_nth(0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/*
 * Two tasks forked after an idle pause run in parallel: every worker parked
 * (the parks counter moved, every worker in the idle list, 2 ms more:
 * asleep past PARK_DRAIN's nap), the root, injected from this thread,
 * forks A and B and joins; its join runs B, A must be taken by the other,
 * parked worker, which the spawn has to wake. Each waits up to OVERLAP_WAIT
 * for the two to be inside at once. A lost wake-up shows as a round where
 * they ran one after the other; a loaded machine may delay the woken
 * worker past the wait now and then, hence 30 of 40.
 */
enum { PAR_ROUNDS = 40, PAR_NEEDED = 30 };
#define OVERLAP_WAIT (100 * WEFT_MSEC)

struct pair {
    _Atomic int inside; /* tasks of the pair running now */
    _Atomic int met;    /* both were inside at once */
};

static int pair_task(weft_task *self, void *arg)
{
    (void)self;
    struct pair *p = arg;
    atomic_fetch_add(&p->inside, 1);
    weft_time until = weft_after(OVERLAP_WAIT);
    while (!atomic_load(&p->met) && weft_now() < until) {
        if (atomic_load(&p->inside) == 2)
            atomic_store(&p->met, 1);
        sched_yield();
    }
    atomic_fetch_sub(&p->inside, 1);
    return 0;
}

static int pair_root(weft_task *self, void *arg)
{
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    int rc1 = weft_spawn(&g, pair_task, arg);
    int rc2 = weft_spawn(&g, pair_task, arg);
    int jrc = weft_group_join(&g, NULL);
    return rc1 != 0 ? rc1 : rc2 != 0 ? rc2 : jrc;
}

static uint64_t parks_of(weft_runtime *rt)
{
    weft_stats st;
    weft_runtime_stats(rt, &st);
    return st.parks;
}

START_TEST(test_two_tasks_forked_after_idle_pause_run_in_parallel)
{
    if (weft_test_cpus_below(2, "join_park: parallel after idle"))
        return;
    enum { WORKERS = 2 };
    weft_runtime *rt = weft_test_runtime(WORKERS, 0);
    int parallel = 0, not_parked = 0, failed = 0;
    /* parks wanted since parks_at_run: each worker's first, then one after
     * each run (a worker that ran in it went to sleep again) */
    uint64_t parks_at_run = 0, parks_wanted = WORKERS;
    for (int round = 0; round < PAR_ROUNDS; round++) {
        /* the idle pause: those parks counted and every worker in the idle
         * list, then past the nap before the deep sleep */
        weft_time until = weft_after(SETUP_WAIT);
        bool idle;
        while (!(idle = parks_of(rt) - parks_at_run >= parks_wanted &&
                        atomic_load(&rt->jobs.scopes.sched.n_idle) == WORKERS) &&
               weft_now() < until)
            sleep_us(1000);
        not_parked += !idle;
        sleep_us(2000);
        struct pair p;
        atomic_init(&p.inside, 0);
        atomic_init(&p.met, 0);
        parks_at_run = parks_of(rt);
        parks_wanted = 1;
        failed += weft_run(rt, pair_root, &p, NULL) != 0;
        parallel += atomic_load(&p.met);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(failed, 0);
    ck_assert_msg(parallel >= PAR_NEEDED, "parallel in %d of %d rounds (want >= %d)", parallel,
                  PAR_ROUNDS, PAR_NEEDED);
    ck_assert_msg(not_parked == 0, "%d rounds began before every worker parked", not_parked);
}
END_TEST

Suite *join_park_suite(void)
{
    Suite *s = suite_create("join_park");
    TCase *tc = tcase_create("wakeups");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deep_joiner_does_not_swallow_the_wakeup_for_new_work);
    tcase_add_test(tc, test_joiner_that_may_not_steal_is_not_in_the_idle_list);
    tcase_add_test(tc, test_new_work_wakes_an_idle_worker_before_a_joiner);
    tcase_add_test(tc, test_failed_membarrier_turns_it_off_for_every_thread);
    suite_add_tcase(s, tc);
    tc = tcase_create("after_idle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_two_tasks_forked_after_idle_pause_run_in_parallel);
    suite_add_tcase(s, tc);
    return s;
}
