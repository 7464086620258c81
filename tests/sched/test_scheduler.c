/* Scheduler: runtime life, weft_run, groups, exactly-once, misuse. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

#include "bench/kernels_weft.h"
#include "base/alloc.h"
#include "base/thread.h"
#include "runtime/runtime.h"
#include "tests/suites.h"

/* ---- kernels through weft equal the sequential twins, 1, 2 and 4 workers ---- */

static const unsigned worker_counts[] = {1, 2, 4};

START_TEST(test_kernels_match_sequential_results)
{
    unsigned workers = worker_counts[_i];
    weft_runtime *rt = weft_test_runtime(workers, 0);
    uint64_t r, spawns;

    ck_assert_int_eq(kw_fib(rt, 22, &r), 0);
    ck_assert_uint_eq(r, kernel_fib_seq(22));

    ck_assert_int_eq(kw_nqueens(rt, 8, &r), 0);
    ck_assert_uint_eq(r, 92);
    ck_assert_int_eq(kw_nqueens(rt, 9, &r), 0);
    ck_assert_uint_eq(r, kernel_nqueens_seq(9));

    ck_assert_int_eq(kw_uts(rt, 1000, &r), 0);
    ck_assert_uint_eq(r, kernel_uts_seq(1000));

    size_t n = 200000;
    uint64_t *keys = malloc(n * sizeof *keys), *twin = malloc(n * sizeof *twin);
    ck_assert(keys != NULL && twin != NULL);
    kernel_sort_fill(keys, n);
    memcpy(twin, keys, n * sizeof *keys);
    ck_assert_int_eq(kw_sort(rt, keys, n, &spawns), 0);
    uint64_t seq_spawns = kernel_sort_seq(twin, n);
    ck_assert(kernel_sort_is_sorted(keys, n));
    ck_assert_int_eq(memcmp(keys, twin, n * sizeof *keys), 0);
    ck_assert_uint_eq(spawns, seq_spawns);
    free(keys);
    free(twin);

    ck_assert_int_eq(kw_spawn(rt, 100000), 0);
    weft_stats st;
    weft_runtime_stats(rt, &st);
    ck_assert_uint_ge(st.spawns, 100000);
    ck_assert_uint_ge(st.tasks_run, st.spawns);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- exactly once under random fan-out trees ---- */

struct tree {
    _Atomic uint32_t *ran; /* per node id */
    _Atomic uint64_t next_id;
    uint64_t max_nodes;
    _Atomic int bad_worker_id;
    unsigned workers;
};

struct node {
    struct tree *tree;
    uint64_t id;
    uint64_t seed;
    unsigned depth;
};

static uint64_t mix(uint64_t x)
{
    return kernel_mix64(x);
}

static int tree_task(weft_task *self, void *p)
{
    struct node *nd = p;
    struct tree *tr = nd->tree;
    atomic_fetch_add_explicit(&tr->ran[nd->id], 1, memory_order_relaxed);
    int wid = weft_worker_id(self);
    if (wid < 0 || (unsigned)wid >= tr->workers)
        atomic_store(&tr->bad_worker_id, 1);
    if (nd->depth == 0)
        return 0;
    unsigned fan = (unsigned)(mix(nd->seed) % 6); /* 0..5 children */
    struct node kids[5];
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (unsigned i = 0; i < fan; i++) {
        uint64_t id = atomic_fetch_add(&tr->next_id, 1);
        if (id >= tr->max_nodes)
            break;
        kids[i] = (struct node){tr, id, mix(nd->seed + i + 1), nd->depth - 1};
        rc = weft_spawn(&g, tree_task, &kids[i]);
        if (rc != 0)
            break;
    }
    int rc2 = weft_group_join(&g, NULL);
    return rc != 0 ? rc : rc2;
}

START_TEST(test_every_spawned_task_runs_exactly_once)
{
    unsigned workers = worker_counts[_i];
    weft_runtime *rt = weft_test_runtime(workers, 0);
    uint64_t seed = weft_test_seed();
    for (int round = 0; round < 20; round++) {
        struct tree tr = {.max_nodes = 200000, .workers = workers};
        tr.ran = calloc(tr.max_nodes, sizeof *tr.ran);
        ck_assert_ptr_nonnull(tr.ran);
        atomic_init(&tr.next_id, 1);
        struct node root = {&tr, 0, mix(seed + (uint64_t)round), 9};
        ck_assert_int_eq(weft_run(rt, tree_task, &root, NULL), 0);
        uint64_t created = atomic_load(&tr.next_id);
        if (created > tr.max_nodes)
            created = tr.max_nodes;
        for (uint64_t i = 0; i < tr.max_nodes; i++) {
            uint32_t n = atomic_load(&tr.ran[i]);
            if (i < created)
                ck_assert_msg(n == 1, "seed %llu round %d: node %llu ran %u times",
                              (unsigned long long)seed, round, (unsigned long long)i, n);
            else
                ck_assert_uint_eq(n, 0);
        }
        ck_assert_int_eq(atomic_load(&tr.bad_worker_id), 0);
        free(tr.ran);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- deep nesting: a 10^4-deep chain of nested groups on the default stack ---- */

static int chain_task(weft_task *self, void *p)
{
    unsigned *depth = p;
    if (*depth == 0)
        return 0;
    unsigned next = *depth - 1;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc == 0)
        rc = weft_spawn(&g, chain_task, &next);
    int rc2 = weft_group_join(&g, NULL);
    return rc != 0 ? rc : rc2;
}

START_TEST(test_ten_thousand_nested_groups_fit_the_default_stack)
{
    weft_runtime *rt = weft_runtime_create(NULL);
    ck_assert_ptr_nonnull(rt);
    unsigned depth = 10000;
    ck_assert_int_eq(weft_run(rt, chain_task, &depth, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- join returns the earliest failure ---- */

static int fail_with(weft_task *self, void *p)
{
    (void)self;
    return (int)(intptr_t)p;
}

static int ok_task(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return 0;
}

static int failing_group(weft_task *self, void *p)
{
    (void)p;
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    weft_spawn(&g, ok_task, NULL);
    weft_spawn(&g, fail_with, (void *)(intptr_t)EIO);
    weft_spawn(&g, ok_task, NULL);
    return weft_group_join(&g, NULL);
}

START_TEST(test_join_returns_a_tasks_failure_code)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    ck_assert_int_eq(weft_run(rt, failing_group, NULL, NULL), EIO);
    ck_assert_int_eq(weft_run(rt, fail_with, (void *)(intptr_t)ERANGE, NULL), ERANGE);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a task that returns without joining its groups ---- */

struct leak {
    _Atomic unsigned ran;
    unsigned children;
};

static void spin_us(unsigned us)
{
    weft_time end = weft_after((int64_t)us * WEFT_USEC);
    while (weft_now() < end)
        ;
}

static int slow_child(weft_task *self, void *p)
{
    (void)self;
    struct leak *l = p;
    spin_us(200);
    atomic_fetch_add(&l->ran, 1);
    return 0;
}

/* Initialises two groups, fills them, joins neither. */
static int leave_groups_open(weft_task *self, void *p)
{
    struct leak *l = p;
    weft_group a, b;
    if (weft_group_init(&a, self, NULL) != 0 || weft_group_init(&b, self, NULL) != 0)
        return EFAULT;
    for (unsigned i = 0; i < l->children; i++)
        if (weft_spawn(i % 2 ? &a : &b, slow_child, l) != 0)
            return EFAULT;
    return 0;
}

/* Something on the stack where the open groups' frame was. */
static int overwrite_stack(void)
{
    volatile char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)0xa5;
    return junk[17];
}

static int parent_of_leaker(weft_task *self, void *p)
{
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    weft_spawn(&g, leave_groups_open, p);
    overwrite_stack();
    return weft_group_join(&g, NULL);
}

START_TEST(test_unjoined_groups_are_joined_when_their_task_returns)
{
    weft_runtime *rt = weft_test_runtime(worker_counts[_i], 0);
    for (int round = 0; round < 20; round++) {
        struct leak l = {.children = 64};
        /* a nested task leaves them open: its parent's join reports EINVAL */
        ck_assert_int_eq(weft_run(rt, parent_of_leaker, &l, NULL), EINVAL);
        ck_assert_uint_eq(atomic_load(&l.ran), l.children);
        /* the root leaves them open: weft_run reports EINVAL, after every child ran */
        atomic_store(&l.ran, 0);
        ck_assert_int_eq(weft_run(rt, leave_groups_open, &l, NULL), EINVAL);
        ck_assert_uint_eq(atomic_load(&l.ran), l.children);
    }
    /* the pools are sound afterwards */
    uint64_t r;
    ck_assert_int_eq(kw_fib(rt, 20, &r), 0);
    ck_assert_uint_eq(r, kernel_fib_seq(20));
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- several external threads call weft_run at once ---- */

struct caller {
    weft_runtime *rt;
    int rc;
    uint64_t result;
};

static void *call_run(void *p)
{
    struct caller *c = p;
    for (int i = 0; i < 20 && c->rc == 0; i++)
        c->rc = kw_fib(c->rt, 18, &c->result);
    return NULL;
}

START_TEST(test_concurrent_weft_run_from_many_threads)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    enum { CALLERS = 6 };
    pthread_t tid[CALLERS];
    struct caller c[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        c[i] = (struct caller){rt, 0, 0};
        ck_assert_int_eq(pthread_create(&tid[i], NULL, call_run, &c[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(tid[i], NULL);
        ck_assert_int_eq(c[i].rc, 0);
        ck_assert_uint_eq(c[i].result, 2584);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- detached tasks all run before destroy returns ---- */

static int count_detached(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add((_Atomic int *)p, 1);
    return 0;
}

static int spawn_detached_from_task(weft_task *self, void *p)
{
    (void)self;
    void **args = p;
    for (int i = 0; i < 100; i++)
        if (weft_spawn_detached(args[0], count_detached, args[1]) != 0)
            return EIO;
    return 0;
}

START_TEST(test_destroy_waits_for_detached_tasks)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    _Atomic int ran = 0;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(weft_spawn_detached(rt, count_detached, &ran), 0);
    void *args[2] = {rt, &ran};
    ck_assert_int_eq(weft_run(rt, spawn_detached_from_task, args, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(atomic_load(&ran), 200);
}
END_TEST

/* ---- misuse returns the documented codes ---- */

struct misuse {
    weft_runtime *rt;
    int setup, run_inside, destroy_inside, join_twice, spawn_joined, spawn_null, join_foreign,
        init_foreign_parent, spawn_ex_null;
};

static int join_foreign_group(weft_task *self, void *p)
{
    (void)self;
    return weft_group_join(p, NULL);
}

static int misuse_task(weft_task *self, void *p)
{
    struct misuse *m = p;
    m->run_inside = weft_run(m->rt, ok_task, NULL, NULL);
    m->destroy_inside = weft_runtime_destroy(m->rt);
    weft_group g, inner;
    /* workers record, the test thread asserts */
    m->setup |= weft_group_init(&g, self, NULL);
    m->spawn_null = weft_spawn(&g, NULL, NULL);
    m->spawn_ex_null = weft_spawn_ex(NULL, ok_task, NULL, NULL);
    /* another task joins our group: refused; it reports through its status */
    m->setup |= weft_group_init(&inner, self, NULL);
    m->setup |= weft_spawn(&inner, join_foreign_group, &g);
    m->join_foreign = weft_group_join(&inner, NULL);
    m->setup |= weft_group_join(&g, NULL);
    m->join_twice = weft_group_join(&g, NULL);
    m->spawn_joined = weft_spawn(&g, ok_task, NULL);
    weft_group other;
    m->init_foreign_parent = weft_group_init(&other, (weft_task *)&other, NULL);
    return 0;
}

START_TEST(test_misuse_returns_einval)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct misuse m = {.rt = rt};
    ck_assert_int_eq(weft_run(rt, misuse_task, &m, NULL), 0);
    ck_assert_int_eq(m.setup, 0);
    ck_assert_int_eq(m.run_inside, EINVAL);
    ck_assert_int_eq(m.destroy_inside, EINVAL);
    ck_assert_int_eq(m.spawn_null, EINVAL);
    ck_assert_int_eq(m.spawn_ex_null, EINVAL);
    ck_assert_int_eq(m.join_foreign, EINVAL);
    ck_assert_int_eq(m.join_twice, EINVAL);
    ck_assert_int_eq(m.spawn_joined, EINVAL);
    ck_assert_int_eq(m.init_foreign_parent, EINVAL);

    weft_group g;
    ck_assert_int_eq(weft_group_init(&g, NULL, NULL), EINVAL);
    ck_assert_int_eq(weft_group_init(NULL, NULL, NULL), EINVAL);
    ck_assert_int_eq(weft_spawn(NULL, ok_task, NULL), EINVAL);
    ck_assert_int_eq(weft_group_join(NULL, NULL), EINVAL);
    ck_assert_int_eq(weft_run(NULL, ok_task, NULL, NULL), EINVAL);
    ck_assert_int_eq(weft_run(rt, NULL, NULL, NULL), EINVAL);
    ck_assert_int_eq(weft_spawn_detached(NULL, ok_task, NULL), EINVAL);
    ck_assert_int_eq(weft_spawn_detached(rt, NULL, NULL), EINVAL);
    ck_assert_int_eq(weft_runtime_destroy(NULL), EINVAL);
    ck_assert_int_eq(weft_worker_id(NULL), -1);
    weft_runtime_stats(NULL, NULL); /* harmless */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* A copy of an initialised weft_group is no group: every call through it is
 * refused, and the original is untouched by them. */
struct copies {
    int spawn, spawn_ex, join, wait, cancel_then_join, next, stream_spawn, stream_join;
    _Atomic int ran, ran_through_copy;
};

static int count_run(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add((_Atomic int *)p, 1);
    return 0;
}

static int copies_task(weft_task *self, void *p)
{
    struct copies *c = p;
    weft_group g, copy;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    copy = g;
    c->spawn = weft_spawn(&copy, count_run, &c->ran_through_copy);
    c->spawn_ex = weft_spawn_ex(&copy, count_run, &c->ran_through_copy, NULL);
    c->wait = weft_group_wait(&copy, WEFT_NEVER);
    weft_group_cancel(&copy); /* no effect */
    c->join = weft_group_join(&copy, NULL);
    if (weft_spawn(&g, count_run, &c->ran) != 0)
        return EFAULT;
    c->cancel_then_join = weft_group_join(&g, NULL);

    weft_group s, scopy;
    weft_group_opts so = {.flags = WEFT_STREAM};
    if (weft_group_init(&s, self, &so) != 0)
        return EFAULT;
    scopy = s;
    c->stream_spawn = weft_spawn(&scopy, count_run, &c->ran_through_copy);
    if (weft_spawn(&s, count_run, &c->ran) != 0)
        return EFAULT;
    c->next = weft_group_next(&scopy, WEFT_NEVER, NULL, NULL);
    c->stream_join = weft_group_join(&s, NULL);
    return 0;
}

START_TEST(test_a_copy_of_a_group_is_refused_with_einval)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct copies c = {0};
    ck_assert_int_eq(weft_run(rt, copies_task, &c, NULL), 0);
    ck_assert_int_eq(c.spawn, EINVAL);
    ck_assert_int_eq(c.spawn_ex, EINVAL);
    ck_assert_int_eq(c.wait, EINVAL);
    ck_assert_int_eq(c.join, EINVAL);
    ck_assert_int_eq(c.cancel_then_join, 0); /* the copy's cancel reached nothing */
    ck_assert_int_eq(c.stream_spawn, EINVAL);
    ck_assert_int_eq(c.next, EINVAL);
    ck_assert_int_eq(c.stream_join, 0);
    ck_assert_int_eq(atomic_load(&c.ran), 2);
    ck_assert_int_eq(atomic_load(&c.ran_through_copy), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_bad_config_is_rejected)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.size = 4; /* not initialised with WEFT_CONFIG_INIT */
    errno = 0;
    ck_assert_ptr_null(weft_runtime_create(&cfg));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- destroy while weft_run is in progress: EBUSY; spawns after destroy began: ESHUTDOWN ---- */

struct gate {
    _Atomic int entered, release;
};

static int wait_for_gate(weft_task *self, void *p)
{
    (void)self;
    struct gate *g = p;
    atomic_store(&g->entered, 1);
    while (!atomic_load(&g->release))
        ;
    return 0;
}

struct runner {
    weft_runtime *rt;
    struct gate *gate;
    int rc;
};

static void *run_gate(void *p)
{
    struct runner *r = p;
    r->rc = weft_run(r->rt, wait_for_gate, r->gate, NULL);
    return NULL;
}

START_TEST(test_destroy_during_run_is_ebusy)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct gate gate = {0, 0};
    struct runner r = {rt, &gate, -1};
    pthread_t tid;
    ck_assert_int_eq(pthread_create(&tid, NULL, run_gate, &r), 0);
    while (!atomic_load(&gate.entered))
        ;
    ck_assert_int_eq(weft_runtime_destroy(rt), EBUSY);
    atomic_store(&gate.release, 1);
    pthread_join(tid, NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

struct late {
    weft_runtime *rt;
    struct gate gate;
    _Atomic int late_rc;
};

static int spawn_late(weft_task *self, void *p)
{
    (void)self;
    struct late *l = p;
    atomic_store(&l->gate.entered, 1);
    /* wait until destroy has begun (it waits for this detached task) */
    while (!atomic_load_explicit(&l->rt->shutting_down, memory_order_relaxed))
        ;
    atomic_store(&l->late_rc, weft_spawn_detached(l->rt, ok_task, NULL));
    return 0;
}

START_TEST(test_spawn_after_destroy_began_is_eshutdown)
{
    struct late l = {.rt = weft_test_runtime(2, 0)};
    atomic_init(&l.late_rc, -1);
    ck_assert_int_eq(weft_spawn_detached(l.rt, spawn_late, &l), 0);
    while (!atomic_load(&l.gate.entered))
        ;
    ck_assert_int_eq(weft_runtime_destroy(l.rt), 0);
    ck_assert_int_eq(atomic_load(&l.late_rc), ESHUTDOWN);
}
END_TEST

struct destroyer {
    weft_runtime *rt;
    int rc;
};

static void *destroy_rt(void *p)
{
    struct destroyer *d = p;
    d->rc = weft_runtime_destroy(d->rt);
    return NULL;
}

START_TEST(test_second_concurrent_destroy_is_einval)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct gate gate = {0, 0};
    ck_assert_int_eq(weft_spawn_detached(rt, wait_for_gate, &gate), 0);
    while (!atomic_load(&gate.entered))
        ;
    struct destroyer d = {rt, -1};
    pthread_t tid;
    ck_assert_int_eq(pthread_create(&tid, NULL, destroy_rt, &d), 0);
    while (!atomic_load_explicit(&rt->shutting_down, memory_order_relaxed))
        ;
    ck_assert_int_eq(weft_runtime_destroy(rt), EINVAL); /* the first one is waiting */
    atomic_store(&gate.release, 1);
    pthread_join(tid, NULL);
    ck_assert_int_eq(d.rc, 0);
}
END_TEST

/* ---- creation failures: NULL + errno, nothing leaked (ASan build checks leaks) ---- */

START_TEST(test_create_reports_thread_and_allocation_failures)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 3;
    for (unsigned long nth = 1; nth <= 3; nth++) {
        weft__thread_fail_from(nth);
        errno = 0;
        weft_runtime *rt = weft_runtime_create(&cfg);
        weft__thread_fail_from(0);
        ck_assert_ptr_null(rt);
        ck_assert_int_eq(errno, EAGAIN);
    }
    for (unsigned long nth = 1;; nth++) {
        weft__alloc_fail_from(nth);
        errno = 0;
        weft_runtime *rt = weft_runtime_create(&cfg);
        weft__alloc_fail_from(0);
        if (rt != NULL) {
            ck_assert_uint_gt(nth, 3); /* at least runtime, slots, threads */
            ck_assert_int_eq(weft_runtime_destroy(rt), 0);
            break;
        }
        ck_assert_int_eq(errno, ENOMEM);
    }
}
END_TEST

/* ---- parked workers wake up for new work, and an idle runtime sleeps ---- */

START_TEST(test_workers_park_when_idle_and_wake_for_work)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct timespec pause = {0, 50 * 1000 * 1000};
    uint64_t r;
    for (int i = 0; i < 5; i++) {
        nanosleep(&pause, NULL); /* both workers park */
        ck_assert_int_eq(kw_fib(rt, 15, &r), 0);
        ck_assert_uint_eq(r, 610);
    }
    weft_stats st;
    weft_runtime_stats(rt, &st);
    ck_assert_uint_ge(st.parks, 5);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- wake-ups: work pushed while workers park is never stranded ---- */

static int noop_root(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return 0;
}

START_TEST(test_no_lost_wakeup_when_work_arrives_during_parking)
{
    /* roots go through the injection queue: a lost wake-up with every
     * worker parked would hang weft_run (the test's timeout catches it).
     * The gaps sweep the phases of a worker's spin-then-park. */
    weft_runtime *rt = weft_test_runtime(2, 0);
    uint64_t rng = weft_test_seed() | 1;
    for (int i = 0; i < 3000; i++) {
        rng = mix(rng);
        struct timespec gap = {0, (long)(rng % 200000)}; /* 0..200 us */
        nanosleep(&gap, NULL);
        ck_assert_int_eq(weft_run(rt, noop_root, NULL, NULL), 0);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

struct pair {
    _Atomic int worker[2];
};

static int busy_20ms(weft_task *self, void *p)
{
    _Atomic int *slot = p;
    atomic_store(slot, weft_worker_id(self));
    weft_time until = weft_after(20 * WEFT_MSEC);
    while (weft_now() < until)
        ;
    return 0;
}

static int spawn_pair(weft_task *self, void *p)
{
    struct pair *pr = p;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    weft_spawn(&g, busy_20ms, &pr->worker[0]);
    weft_spawn(&g, busy_20ms, &pr->worker[1]);
    return weft_group_join(&g, NULL);
}

START_TEST(test_parked_worker_is_woken_to_share_work)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    int parallel = 0;
    for (int i = 0; i < 10; i++) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL); /* the other worker parks */
        struct pair pr;
        atomic_init(&pr.worker[0], -1);
        atomic_init(&pr.worker[1], -1);
        ck_assert_int_eq(weft_run(rt, spawn_pair, &pr, NULL), 0);
        parallel += atomic_load(&pr.worker[0]) != atomic_load(&pr.worker[1]);
    }
    /* a woken worker steals one of two 20 ms tasks; allow a few misses on a
     * machine whose other core is busy */
    ck_assert_int_ge(parallel, 3);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_runtime_workers_is_the_resolved_count)
{
    weft_runtime *rt = weft_test_runtime(3, 0);
    ck_assert_uint_eq(weft_runtime_workers(rt), 3);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    setenv("WEFT_WORKERS", "5", 1); /* config 0: the environment decides */
    rt = weft_test_runtime(0, 0);
    unsetenv("WEFT_WORKERS");
    ck_assert_uint_eq(weft_runtime_workers(rt), 5);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_uint_eq(weft_runtime_workers(NULL), 0);
}
END_TEST

Suite *scheduler_suite(void)
{
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("results");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_kernels_match_sequential_results, 0, 3);
    tcase_add_loop_test(tc, test_every_spawned_task_runs_exactly_once, 0, 3);
    tcase_add_test(tc, test_ten_thousand_nested_groups_fit_the_default_stack);
    tcase_add_test(tc, test_join_returns_a_tasks_failure_code);
    tcase_add_test(tc, test_runtime_workers_is_the_resolved_count);
    tcase_add_loop_test(tc, test_unjoined_groups_are_joined_when_their_task_returns, 0, 3);
    tcase_add_test(tc, test_concurrent_weft_run_from_many_threads);
    tcase_add_test(tc, test_destroy_waits_for_detached_tasks);
    tcase_add_test(tc, test_workers_park_when_idle_and_wake_for_work);
    tcase_add_test(tc, test_no_lost_wakeup_when_work_arrives_during_parking);
    tcase_add_test(tc, test_parked_worker_is_woken_to_share_work);
    suite_add_tcase(s, tc);
    TCase *misuse = tcase_create("misuse");
    tcase_set_timeout(misuse, 60);
    tcase_add_test(misuse, test_misuse_returns_einval);
    tcase_add_test(misuse, test_a_copy_of_a_group_is_refused_with_einval);
    tcase_add_test(misuse, test_bad_config_is_rejected);
    tcase_add_test(misuse, test_destroy_during_run_is_ebusy);
    tcase_add_test(misuse, test_spawn_after_destroy_began_is_eshutdown);
    tcase_add_test(misuse, test_second_concurrent_destroy_is_einval);
    tcase_add_test(misuse, test_create_reports_thread_and_allocation_failures);
    suite_add_tcase(s, misuse);
    return s;
}
