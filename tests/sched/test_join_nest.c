/*
 * Bounded nesting in join (issue 17, hole 1): a join runs tasks that its
 * group does not need nested on its stack only while the stack has room;
 * the rest is set aside, stays visible and runs exactly once elsewhere.
 */
#include "config.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "tests/suites.h"

/* A link's frame may lie this far below its thread's steal line: the frames
 * between a join that still had room and the link it ran (sanitizers make
 * them larger). Without the bound the chain goes megabytes below it. */
enum { NEST_SLACK = 64 << 10 };

/*
 * The chain: link k initialises a group, spawns one child into it,
 * spawns link k + 1 (detached, or into an outer group the root joins) and
 * joins its group. The join pops link k + 1 first (LIFO): a task of no
 * group it waits for. Run nested every time, the chain nests as deep as it
 * is long, which overflows any stack.
 */
struct chain;
struct link {
    struct chain *c;
    _Atomic uint8_t ran, child_ran;
};

struct chain {
    weft_runtime *rt;
    size_t n;
    struct link *links;
    weft_group *outer; /* NULL: links are detached */
    /* the lowest (frame - its thread's steal line) any link ran at */
    _Atomic intptr_t lowest;
    _Atomic unsigned failures; /* calls inside links that returned non-zero */
    _Atomic size_t ended;      /* links that returned */
};

static int chain_child(weft_task *self, void *p)
{
    (void)self;
    struct link *l = p;
    atomic_fetch_add_explicit(&l->child_ran, 1, memory_order_relaxed);
    return 0;
}

static void note_depth(struct chain *c)
{
    intptr_t d = (intptr_t)__builtin_frame_address(0) - (intptr_t)weft__self_thread->stack_lo;
    intptr_t low = atomic_load_explicit(&c->lowest, memory_order_relaxed);
    while (d < low && !atomic_compare_exchange_weak_explicit(&c->lowest, &low, d,
                                                             memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

static int chain_link(weft_task *self, void *p)
{
    struct link *l = p;
    struct chain *c = l->c;
    atomic_fetch_add_explicit(&l->ran, 1, memory_order_relaxed);
    note_depth(c);
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0) {
        atomic_fetch_add(&c->failures, 1);
        return rc;
    }
    rc = weft_spawn(&g, chain_child, l);
    struct link *next = l + 1;
    if (rc == 0 && next < c->links + c->n)
        rc = c->outer != NULL ? weft_spawn(c->outer, chain_link, next)
                              : weft_spawn_detached(c->rt, chain_link, next);
    int jrc = weft_group_join(&g, NULL);
    if (rc != 0 || jrc != 0)
        atomic_fetch_add(&c->failures, 1);
    atomic_fetch_add_explicit(&c->ended, 1, memory_order_release);
    return rc != 0 ? rc : jrc;
}

/* The root: link 0 itself, or the owner of the outer group that link 0 and
 * every later link are spawned into. */
static int chain_root(weft_task *self, void *p)
{
    struct chain *c = p;
    if (c->outer == NULL)
        return chain_link(self, &c->links[0]);
    int rc = weft_group_init(c->outer, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(c->outer, chain_link, &c->links[0]);
    int jrc = weft_group_join(c->outer, NULL);
    return rc != 0 ? rc : jrc;
}

/* A bound on a chain's run, for the detached links the test thread waits for. */
#define CHAIN_WAIT (60 * WEFT_SEC)

static void sleep_ns(weft_time ns)
{
    struct timespec ts = {ns / WEFT_SEC, ns % WEFT_SEC};
    nanosleep(&ts, NULL);
}

/* Runs a chain of n links on a fresh runtime and checks it: the run and
 * destroy return 0, every link and child ran exactly once, and no link ran
 * far below its thread's steal line. */
static void run_chain(unsigned workers, size_t stack_size, size_t n, bool outer)
{
    weft_runtime *rt = weft_test_runtime(workers, stack_size);
    struct chain c = {.rt = rt, .n = n};
    c.links = calloc(n, sizeof *c.links);
    ck_assert_ptr_nonnull(c.links);
    for (size_t i = 0; i < n; i++)
        c.links[i].c = &c;
    atomic_init(&c.lowest, INTPTR_MAX);
    atomic_init(&c.failures, 0);
    atomic_init(&c.ended, 0);
    weft_group og;
    c.outer = outer ? &og : NULL;

    ck_assert_int_eq(weft_run(rt, chain_root, &c, NULL), 0);
    /* detached links outlive the run; destroy would refuse their spawns */
    weft_time until = weft_after(CHAIN_WAIT);
    while (atomic_load_explicit(&c.ended, memory_order_acquire) < n && weft_now() < until)
        sleep_ns(WEFT_MSEC);
    size_t ended = atomic_load_explicit(&c.ended, memory_order_acquire);
    ck_assert_uint_eq(ended, n);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);

    unsigned failures = atomic_load(&c.failures);
    ck_assert_uint_eq(failures, 0);
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++)
        if (atomic_load(&c.links[i].ran) != 1 || atomic_load(&c.links[i].child_ran) != 1)
            bad = i;
    ck_assert_msg(bad == n, "link %zu ran %u times, its child %u times", bad,
                  bad < n ? (unsigned)atomic_load(&c.links[bad].ran) : 0,
                  bad < n ? (unsigned)atomic_load(&c.links[bad].child_ran) : 0);
    intptr_t lowest = atomic_load(&c.lowest);
    ck_assert_msg(lowest > -(intptr_t)NEST_SLACK,
                  "a link ran %td bytes below its thread's steal line", -lowest);
    free(c.links);
}

static const unsigned chain_workers[] = {1, 2};

/* ThreadSanitizer copies the whole call stack into its stack depot at
 * synchronisation events (perf: memcpy and StackDepot::Put dominate): a
 * chain nesting ~10^4 deep on the default stack costs ~1 ms a link there.
 * So there the stack is 2 MiB and the chain shorter. */
#ifdef WEFT__TSAN
enum { LONG_CHAIN = 100000, LONG_STACK = 2 << 20 };
#else
enum { LONG_CHAIN = 1000000, LONG_STACK = 0 /* the default, 8 MiB */ };
#endif

/* $WEFT_CHAIN_LINKS overrides the length (e.g. 10^6 in a sanitizer build). */
static size_t long_chain(void)
{
    return (size_t)weft_test_env_u64("WEFT_CHAIN_LINKS", LONG_CHAIN);
}

START_TEST(test_detached_chain_does_run_each_link_once_on_a_bounded_stack)
{
    run_chain(chain_workers[_i], LONG_STACK, long_chain(), false);
}
END_TEST

START_TEST(test_chain_in_an_outer_group_does_run_each_link_once_on_a_bounded_stack)
{
    run_chain(chain_workers[_i], LONG_STACK, long_chain(), true);
}
END_TEST

/* 256 KiB stacks; ThreadSanitizer keeps ~750 KiB of per-thread state at
 * the top of each stack, so there they are 2 MiB. */
#ifdef WEFT__TSAN
enum { SMALL_STACK = 2 << 20 };
#else
enum { SMALL_STACK = 256 << 10 };
#endif
enum { SMALL_CHAIN = 100000 };

START_TEST(test_chain_does_fit_a_small_stack)
{
    run_chain(1 + _i % 2, SMALL_STACK, SMALL_CHAIN, _i >= 2);
}
END_TEST

/* ---- progress: a deep join takes its task back from the aside list ---- */

/*
 * A lone worker, its stack past the steal line. The root task T
 * initialises M and P, spawns d into P and joins P, which runs d. d
 * initialises Q, spawns q into Q, then spawns m into M (a spawn into a group
 * d does not own: it lands on this thread's deque above q), and joins Q.
 * That join pops m: not Q's, and no room to run it nested, so it is set
 * aside. q runs, d returns, and T's join of M finds its deque empty: m is
 * only in the aside list, and no other thread exists to run it. The join
 * must take it from there (else it parks forever).
 */
enum { DEEP_FRAME = 16 << 10 };

struct aside {
    weft_group m;
    _Atomic int below;      /* T ran below the steal line */
    _Atomic int d_running;  /* d is on the stack */
    _Atomic int m_ran, q_ran;
    _Atomic int m_nested;   /* m ran while d was on the stack */
    _Atomic int d_rc;
};

static int aside_m(weft_task *self, void *p)
{
    (void)self;
    struct aside *a = p;
    atomic_fetch_add(&a->m_ran, 1);
    if (atomic_load(&a->d_running))
        atomic_store(&a->m_nested, 1);
    return 0;
}

static int aside_q(weft_task *self, void *p)
{
    (void)self;
    struct aside *a = p;
    atomic_fetch_add(&a->q_ran, 1);
    return 0;
}

static int aside_d(weft_task *self, void *p)
{
    struct aside *a = p;
    atomic_store(&a->d_running, 1);
    weft_group q;
    int rc = weft_group_init(&q, self, NULL);
    if (rc == 0) {
        rc = weft_spawn(&q, aside_q, a);
        if (rc == 0)
            rc = weft_spawn(&a->m, aside_m, a);
        int jrc = weft_group_join(&q, NULL);
        rc = rc != 0 ? rc : jrc;
    }
    atomic_store(&a->d_running, 0);
    atomic_store(&a->d_rc, rc);
    return rc;
}

/* Its frame is below its thread's steal line. */
static bool below_steal_line(void)
{
    return (uintptr_t)__builtin_frame_address(0) < weft__self_thread->stack_lo;
}

/* Recurses until its frame is below the steal line, then runs fn there. */
static __attribute__((noinline)) int descend(weft_task *self, weft_fn fn, void *arg)
{
    volatile char pad[DEEP_FRAME];
    for (size_t i = 0; i < sizeof pad; i += 4096)
        pad[i] = (char)i;
    int rc = (uintptr_t)&pad[0] < weft__self_thread->stack_lo ? fn(self, arg)
                                                              : descend(self, fn, arg);
    pad[0]++; /* used after the call: a new frame per level */
    return rc;
}

static int aside_deep(weft_task *self, void *p)
{
    struct aside *a = p;
    atomic_store(&a->below, below_steal_line());
    int rc = weft_group_init(&a->m, self, NULL);
    if (rc != 0)
        return rc;
    weft_group g;
    rc = weft_group_init(&g, self, NULL);
    if (rc == 0) {
        rc = weft_spawn(&g, aside_d, a);
        int jrc = weft_group_join(&g, NULL);
        rc = rc != 0 ? rc : jrc;
    }
    int mrc = weft_group_join(&a->m, NULL);
    return rc != 0 ? rc : mrc;
}

static int aside_root(weft_task *self, void *p)
{
    return descend(self, aside_deep, p);
}

/* 1 MiB stacks: room below the line to descend (TSan: 4 MiB, see SMALL_STACK). */
#ifdef WEFT__TSAN
enum { DEEP_STACK = 4 << 20 };
#else
enum { DEEP_STACK = 1 << 20 };
#endif

START_TEST(test_deep_join_does_take_its_task_set_aside_by_a_deeper_join)
{
    weft_runtime *rt = weft_test_runtime(1, DEEP_STACK);
    struct aside a;
    atomic_init(&a.below, 0);
    atomic_init(&a.d_running, 0);
    atomic_init(&a.m_ran, 0);
    atomic_init(&a.q_ran, 0);
    atomic_init(&a.m_nested, 0);
    atomic_init(&a.d_rc, -1);
    ck_assert_int_eq(weft_run(rt, aside_root, &a, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_msg(atomic_load(&a.below), "setup: the joins were not below the steal line");
    int d_rc = atomic_load(&a.d_rc), m_ran = atomic_load(&a.m_ran), q_ran = atomic_load(&a.q_ran);
    ck_assert_int_eq(d_rc, 0);
    ck_assert_int_eq(q_ran, 1);
    ck_assert_int_eq(m_ran, 1);
    /* m was set aside, not run nested in d's join past the line */
    int m_nested = atomic_load(&a.m_nested);
    ck_assert_int_eq(m_nested, 0);
}
END_TEST

/* ---- progress: a put wakes the deep joiner it belongs to ---- */

/*
 * Two workers, both past their steal lines. The root R (worker A)
 * initialises M and P and spawns b into P, which worker B steals. b
 * initialises Q and spawns q into it, then m into M (R's group, so on B's
 * deque above q). R joins M meanwhile and, with nothing it may take, parks
 * (unlisted: it may not steal). Then b joins Q, which pops m, may not run
 * it and sets it aside on B's slot, then runs q. b then waits until m ran,
 * so B cannot run m itself: R must be woken by the put and take m from
 * B's list. (b's wait is bounded: a failure shows as m running on B after
 * b gave up, not as a hang.)
 */
#define WAKE_WAIT (2 * WEFT_SEC)

struct wake {
    weft_runtime *rt;
    weft_group m;
    _Atomic int r_below, b_below;
    _Atomic int r_worker, b_worker, m_worker;
    _Atomic int b_started, m_spawned, saw_r_parked;
    _Atomic int m_ran, q_ran;
    _Atomic int b_rc;
};

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

static int wake_m(weft_task *self, void *p)
{
    struct wake *w = p;
    atomic_store(&w->m_worker, weft_worker_id(self));
    atomic_fetch_add(&w->m_ran, 1);
    return 0;
}

static int wake_q(weft_task *self, void *p)
{
    (void)self;
    struct wake *w = p;
    atomic_fetch_add(&w->q_ran, 1);
    return 0;
}

static int wake_b_deep(weft_task *self, void *p)
{
    struct wake *w = p;
    atomic_store(&w->b_below, below_steal_line());
    weft_group q;
    int rc = weft_group_init(&q, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&q, wake_q, w);
    if (rc == 0)
        rc = weft_spawn(&w->m, wake_m, w); /* into R's group, on B's deque */
    atomic_store(&w->m_spawned, 1);
    /* R's join parks: it may not steal, and nothing of M is in reach */
    struct weft__thread *r = &w->rt->jobs.scopes.sched.threads[atomic_load(&w->r_worker)];
    weft_time until = weft_after(WAKE_WAIT);
    while (!atomic_load(&r->parked) && weft_now() < until)
        sched_yield();
    atomic_store(&w->saw_r_parked, atomic_load(&r->parked));
    int jrc = weft_group_join(&q, NULL); /* pops m: set aside */
    wait_flag(&w->m_ran, WAKE_WAIT);
    return rc != 0 ? rc : jrc;
}

static int wake_b(weft_task *self, void *p)
{
    struct wake *w = p;
    atomic_store(&w->b_worker, weft_worker_id(self));
    atomic_store(&w->b_started, 1);
    int rc = descend(self, wake_b_deep, w);
    atomic_store(&w->b_rc, rc);
    return rc;
}

static int wake_r_deep(weft_task *self, void *p)
{
    struct wake *w = p;
    atomic_store(&w->r_below, below_steal_line());
    atomic_store(&w->r_worker, weft_worker_id(self));
    int rc = weft_group_init(&w->m, self, NULL);
    if (rc != 0)
        return rc;
    weft_group g;
    if ((rc = weft_group_init(&g, self, NULL)) != 0) {
        (void)weft_group_join(&w->m, NULL);
        return rc;
    }
    rc = weft_spawn(&g, wake_b, w);
    /* a thief takes b (else P's join would run it here), and m is counted */
    if (rc == 0)
        wait_flag(&w->b_started, WAKE_WAIT);
    if (rc == 0)
        wait_flag(&w->m_spawned, WAKE_WAIT);
    int mrc = weft_group_join(&w->m, NULL);
    int grc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : mrc != 0 ? mrc : grc;
}

static int wake_root(weft_task *self, void *p)
{
    return descend(self, wake_r_deep, p);
}

START_TEST(test_deep_join_is_woken_for_its_task_set_aside_on_another_worker)
{
    weft_runtime *rt = weft_test_runtime(2, DEEP_STACK);
    int rounds = 0, parked = 0;
    for (; rounds < 10; rounds++) {
        struct wake w = {.rt = rt};
        atomic_init(&w.r_below, 0);
        atomic_init(&w.b_below, 0);
        atomic_init(&w.r_worker, -1);
        atomic_init(&w.b_worker, -1);
        atomic_init(&w.m_worker, -1);
        atomic_init(&w.b_started, 0);
        atomic_init(&w.m_spawned, 0);
        atomic_init(&w.saw_r_parked, 0);
        atomic_init(&w.m_ran, 0);
        atomic_init(&w.q_ran, 0);
        atomic_init(&w.b_rc, -1);
        ck_assert_int_eq(weft_run(rt, wake_root, &w, NULL), 0);
        int r_worker = atomic_load(&w.r_worker), b_worker = atomic_load(&w.b_worker);
        int m_worker = atomic_load(&w.m_worker), b_rc = atomic_load(&w.b_rc);
        int m_ran = atomic_load(&w.m_ran), q_ran = atomic_load(&w.q_ran);
        ck_assert_msg(atomic_load(&w.r_below) && atomic_load(&w.b_below),
                      "setup: the joins were not below the steal line");
        ck_assert_int_ne(r_worker, b_worker); /* b was stolen */
        ck_assert_int_eq(b_rc, 0);
        ck_assert_int_eq(m_ran, 1);
        ck_assert_int_eq(q_ran, 1);
        /* R took m from B's list, while b still ran: not B after b gave up */
        ck_assert_msg(m_worker == r_worker, "round %d: m ran on worker %d, not the joiner's %d",
                      rounds, m_worker, r_worker);
        parked += atomic_load(&w.saw_r_parked);
    }
    ck_assert_int_gt(parked, 0); /* the put woke a parked joiner at least once */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

Suite *join_nest_suite(void)
{
    Suite *s = suite_create("join_nest");
    TCase *tc = tcase_create("chains");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_detached_chain_does_run_each_link_once_on_a_bounded_stack, 0,
                        2);
    tcase_add_loop_test(tc, test_chain_in_an_outer_group_does_run_each_link_once_on_a_bounded_stack,
                        0, 2);
    tcase_add_loop_test(tc, test_chain_does_fit_a_small_stack, 0, 4);
    suite_add_tcase(s, tc);
    TCase *progress = tcase_create("progress");
    tcase_set_timeout(progress, 30);
    tcase_add_test(progress, test_deep_join_does_take_its_task_set_aside_by_a_deeper_join);
    tcase_add_test(progress, test_deep_join_is_woken_for_its_task_set_aside_on_another_worker);
    suite_add_tcase(s, progress);
    return s;
}
