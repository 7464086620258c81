/*
 * cancel-bench: what cooperative cancellation costs (DESIGN.md, "Targets":
 * weft_cancelled() <= 2 ns; cancel to join returning, tasks checking every
 * ~10 us, p99 <= 1 ms).
 *
 * 1. bench=cancelled_cost: one task runs a loop of N iterations that adds
 *    weft_cancelled(self) to a sum, then the same loop with a constant the
 *    compiler cannot see through in place of the call; ns_per_call =
 *    (T_with - T_without) / N, the median of REPS interleaved pairs, T the
 *    thread's CPU time (CLOCK_THREAD_CPUTIME_ID, so preemption by other
 *    programs on a shared machine is not counted). The
 *    call is a real call: weft_cancelled is in another translation unit of
 *    libweft-core.la, not declared pure, and the build has no LTO; an empty
 *    asm on the sum keeps the compiler from folding either loop. Measured
 *    in a task at group depth 1 and 8 (the check is two loads at any depth).
 *
 * 2. bench=cancel_latency: a root task initialises group `top` and spawns
 *    tasks that each repeat a ~10 us chunk of arithmetic and check
 *    weft_cancelled between chunks (ECANCELED when set). ~2 ms after the
 *    group started, the canceller takes t_cancel = weft_now() and cancels
 *    `top`; the root takes weft_now() when weft_group_join returns;
 *    latency = join return - t_cancel. Cases:
 *      canceller=sibling  the first task of the tree to start calls
 *                         weft_group_cancel(&top), then returns
 *      canceller=outside  a plain pthread (not a worker), woken when the
 *                         group started, sleeps (clock_nanosleep) until the
 *                         warm-up is over, then calls weft_group_cancel
 *      canceller=failure  the first task to start returns EIO; the group is
 *                         fail-fast, so the runtime cancels it (t_cancel is
 *                         taken just before that return)
 *    with tasks = workers (all running) or 64 (most still queued when the
 *    cancel comes), and levels=5: a binary tree of groups, 5 levels deep,
 *    32 spinning leaves, `top` cancelled from a leaf or from outside.
 *    Also reported: exit_* = the last spinning task's return - t_cancel
 *    (how long the tasks took to see the flag), call_* = how long the
 *    weft_group_cancel call itself took (sibling and outside cases),
 *    running_* = how many spinning tasks had started before the cancel.
 *    The machine may be shared: runq_* is the time the workers and the
 *    outside thread spent runnable but waiting for a CPU during an
 *    iteration (Linux schedstat), quiet= counts the iterations with less
 *    than 50 us of it and quiet_lat_* is the latency over those alone.
 *
 *   cancel-bench [workers]      (default 2)
 *
 * Environment: BENCH_QUICK=1 (a ~1 s smoke run: small N, 20 iterations),
 * BENCH_CANCEL_N (loop length of part 1, default 10^8),
 * BENCH_CANCEL_ITERS (cancels per latency case, default 300).
 * Prints one key=value line per measurement; exits 0 unless a run went wrong
 * (a join returning something other than the expected code). Targets are
 * reported, never enforced.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "bench/bench_stats.h"

#define REPS 5
#define WARMUP_NS (2 * WEFT_MSEC)
#define CHUNK_NS (10 * WEFT_USEC)
#define MANY_TASKS 64u
#define TREE_LEVELS 5u
#define TREE_FANOUT 2u
#define MAX_LEVELS 8u
#define QUIET_RUNQ_NS (50 * WEFT_USEC) /* less run-queue wait in an iteration: quiet */

static weft_runtime *rt;
static unsigned workers;
static int failures;

/* ---- 1. the cost of weft_cancelled() -------------------------------------- */

/* CPU time of the calling thread: time spent off the CPU (a shared machine)
 * does not count against either loop. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

static __attribute__((noinline)) uint64_t loop_with(weft_task *self, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        sum += weft_cancelled(self);
        __asm__ volatile("" : "+r"(sum));
    }
    return sum;
}

static __attribute__((noinline)) uint64_t loop_without(weft_task *self, uint64_t n)
{
    uint64_t sum = 0;
    (void)self;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t c = 0;
        __asm__ volatile("" : "+r"(c)); /* an opaque 0 where the call's result was */
        sum += c;
        __asm__ volatile("" : "+r"(sum));
    }
    return sum;
}

struct cost {
    uint64_t n;
    unsigned depth; /* groups to nest before measuring */
    int64_t with_ns[REPS], without_ns[REPS];
    uint64_t sink;
};

static int cost_task(weft_task *self, void *p)
{
    struct cost *c = p;
    if (c->depth > 1) {
        c->depth--;
        weft_group g;
        int rc = weft_group_init(&g, self, NULL);
        if (rc == 0)
            rc = weft_spawn(&g, cost_task, c);
        int rc2 = weft_group_join(&g, NULL);
        return rc != 0 ? rc : rc2;
    }
    for (int r = 0; r < REPS; r++) {
        int64_t t0 = thread_cpu_ns();
        c->sink += loop_with(self, c->n);
        int64_t t1 = thread_cpu_ns();
        c->sink += loop_without(self, c->n);
        int64_t t2 = thread_cpu_ns();
        c->with_ns[r] = t1 - t0;
        c->without_ns[r] = t2 - t1;
    }
    return 0;
}

static void bench_cost(uint64_t n, unsigned depth)
{
    struct cost c = {.n = n, .depth = depth};
    if (weft_run(rt, cost_task, &c, NULL) != 0 || c.sink != 0) {
        fprintf(stderr, "cancel-bench: cost run at depth %u failed\n", depth);
        failures++;
        return;
    }
    int64_t diff[REPS];
    for (int r = 0; r < REPS; r++)
        diff[r] = c.with_ns[r] - c.without_ns[r];
    qsort(c.with_ns, REPS, sizeof(int64_t), bench_cmp_i64);
    qsort(c.without_ns, REPS, sizeof(int64_t), bench_cmp_i64);
    qsort(diff, REPS, sizeof(int64_t), bench_cmp_i64);
    printf("bench=cancelled_cost workers=%u depth=%u n=%" PRIu64 " reps=%d with_ns=%.3f "
           "without_ns=%.3f ns_per_call=%.3f min_ns_per_call=%.3f max_ns_per_call=%.3f\n",
           workers, depth, n, REPS, (double)c.with_ns[REPS / 2] / (double)n,
           (double)c.without_ns[REPS / 2] / (double)n, (double)diff[REPS / 2] / (double)n,
           (double)diff[0] / (double)n, (double)diff[REPS - 1] / (double)n);
    fflush(stdout);
}

/* ---- run-queue wait: how much the shared machine got in the way -------- */

static struct bench_runq watched; /* the workers and the outside canceller */

static void watch_threads(void)
{
    static const char *const names[] = {"weft-w", "cancel-outside", NULL};
    bench_runq_watch(&watched, names);
}

static int64_t runq_wait_ns(void)
{
    return bench_runq_wait_ns(&watched);
}

/* ---- the spinning tasks' work ------------------------------------------- */

static uint64_t chunk_iters; /* iterations of bench_work() in ~CHUNK_NS */

/* Iterations per CHUNK_NS. */
static void calibrate(void)
{
    double ns_per_iter;
    chunk_iters = bench_calibrate(CHUNK_NS, &ns_per_iter);
    printf("bench=cancel_chunk iters=%" PRIu64 " target_us=%.1f ns_per_iter=%.3f "
           "runq_threads=%d\n",
           chunk_iters, (double)CHUNK_NS / 1e3, ns_per_iter, watched.n);
}

/* ---- 2. latency from cancel to join --------------------------------------- */

enum canceller { BY_SIBLING, BY_OUTSIDE, BY_FAILURE };
static const char *const canceller_name[] = {"sibling", "outside", "failure"};

struct lat_run;
struct node {
    struct lat_run *r;
    unsigned level; /* 1: a task of `top`; r->levels: a spinning leaf */
};

struct lat_run {
    enum canceller who;
    unsigned tasks;  /* spawned into `top` */
    unsigned levels; /* group levels, `top` included */
    struct node node[MAX_LEVELS + 1];
    weft_group top;           /* here, not on the root's stack: the outside thread uses it */
    weft_time t_start;        /* the group began; published by the post of outside_go */
    _Atomic int claimed;      /* the first task to start takes the canceller's role */
    _Atomic unsigned started; /* spinning tasks that began before the cancel */
    _Atomic int64_t t_cancel, t_cancel_done, t_last_exit;
    weft_time t_join;
    int join_rc;
};

/* The outside canceller: one plain thread for the whole run, blocked in
 * sem_wait between cancels so that it takes no CPU from the workers. */
static sem_t outside_go;
static struct lat_run *_Atomic outside_run; /* NULL: exit */

static void note_exit(struct lat_run *r)
{
    int64_t now = weft_now();
    int64_t seen = atomic_load_explicit(&r->t_last_exit, memory_order_relaxed);
    while (seen < now && !atomic_compare_exchange_weak_explicit(&r->t_last_exit, &seen, now,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed)) {
    }
}

static void cancel_top(struct lat_run *r)
{
    atomic_store_explicit(&r->t_cancel, weft_now(), memory_order_relaxed);
    weft_group_cancel(&r->top);
    atomic_store_explicit(&r->t_cancel_done, weft_now(), memory_order_relaxed);
}

static int spin_task(weft_task *self, struct lat_run *r)
{
    bool mine = r->who != BY_OUTSIDE &&
                atomic_exchange_explicit(&r->claimed, 1, memory_order_relaxed) == 0;
    if (atomic_load_explicit(&r->t_cancel, memory_order_relaxed) == 0)
        atomic_fetch_add_explicit(&r->started, 1, memory_order_relaxed);
    uint64_t x = (uint64_t)(uintptr_t)self;
    while (!weft_cancelled(self)) {
        x = bench_work(chunk_iters, x);
        if (mine && weft_now() - r->t_start >= WARMUP_NS) {
            if (r->who == BY_FAILURE) {
                atomic_store_explicit(&r->t_cancel, weft_now(), memory_order_relaxed);
                return EIO; /* fail-fast: the runtime cancels the group */
            }
            cancel_top(r);
            break;
        }
    }
    __asm__ volatile("" : : "r"(x));
    note_exit(r);
    return ECANCELED;
}

static int tree_task(weft_task *self, void *p)
{
    const struct node *nd = p;
    struct lat_run *r = nd->r;
    if (nd->level == r->levels)
        return spin_task(self, r);
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (unsigned i = 0; i < TREE_FANOUT && rc == 0; i++)
        rc = weft_spawn(&g, tree_task, &r->node[nd->level + 1]);
    int rc2 = weft_group_join(&g, NULL);
    return rc != 0 ? rc : rc2;
}

static int root_task(weft_task *self, void *p)
{
    struct lat_run *r = p;
    int rc = weft_group_init(&r->top, self, NULL);
    if (rc != 0)
        return rc;
    r->t_start = weft_now();
    for (unsigned i = 0; i < r->tasks && rc == 0; i++)
        rc = weft_spawn(&r->top, tree_task, &r->node[1]);
    if (r->who == BY_OUTSIDE)
        sem_post(&outside_go); /* publishes t_start and a live `top` */
    r->join_rc = weft_group_join(&r->top, NULL);
    r->t_join = weft_now();
    return rc;
}

static void *outside_thread(void *p)
{
    (void)p;
    for (;;) {
        while (sem_wait(&outside_go) != 0) {
        }
        struct lat_run *r = atomic_load(&outside_run);
        if (r == NULL)
            return NULL;
        weft_time at = r->t_start + WARMUP_NS;
        struct timespec ts = {(time_t)(at / WEFT_SEC), (long)(at % WEFT_SEC)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        cancel_top(r);
    }
}

static void print_pcts(const char *key, int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_i64);
    printf(" %s_p50_us=%.1f %s_p99_us=%.1f %s_max_us=%.1f", key, (double)bench_pct(v, n, 0.50) / 1e3,
           key, (double)bench_pct(v, n, 0.99) / 1e3, key, (double)v[n - 1] / 1e3);
}

/* Per-iteration samples, in ns (running: a count). */
enum { S_LAT, S_EXIT, S_CALL, S_RUNQ, S_RUNNING, S_QUIET, NSAMPLES };

static void bench_latency(enum canceller who, unsigned tasks, unsigned levels, size_t iters)
{
    int64_t *s[NSAMPLES];
    for (int k = 0; k < NSAMPLES; k++)
        if ((s[k] = calloc(iters, sizeof(int64_t))) == NULL) {
            fprintf(stderr, "cancel-bench: out of memory\n");
            exit(1);
        }
    struct lat_run *r = malloc(sizeof *r);
    if (r == NULL) {
        fprintf(stderr, "cancel-bench: out of memory\n");
        exit(1);
    }
    int expect = who == BY_FAILURE ? EIO : ECANCELED;
    unsigned spinners = levels > 1 ? tasks << (levels - 1) : tasks;
    size_t ok = 0, nquiet = 0;
    for (size_t it = 0; it < iters; it++) {
        memset(r, 0, sizeof *r);
        r->who = who;
        r->tasks = tasks;
        r->levels = levels;
        for (unsigned l = 1; l <= levels; l++)
            r->node[l] = (struct node){r, l};
        atomic_init(&r->t_last_exit, INT64_MIN);
        atomic_store(&outside_run, r);
        int64_t w0 = runq_wait_ns();
        int rc = weft_run(rt, root_task, r, NULL);
        int64_t w1 = runq_wait_ns();
        int64_t tc = atomic_load(&r->t_cancel);
        if (rc != 0 || r->join_rc != expect || tc == 0) {
            fprintf(stderr,
                    "cancel-bench: canceller=%s tasks=%u levels=%u: run %d, join %d "
                    "(expected %d)\n",
                    canceller_name[who], spinners, levels, rc, r->join_rc, expect);
            failures++;
            continue;
        }
        int64_t last = atomic_load(&r->t_last_exit);
        s[S_LAT][ok] = r->t_join - tc;
        s[S_EXIT][ok] = last == INT64_MIN ? 0 : last - tc; /* 0: only the failing task ran */
        s[S_CALL][ok] = atomic_load(&r->t_cancel_done) - tc;
        s[S_RUNQ][ok] = w1 - w0;
        s[S_RUNNING][ok] = atomic_load(&r->started);
        if (w1 - w0 < QUIET_RUNQ_NS)
            s[S_QUIET][nquiet++] = s[S_LAT][ok];
        ok++;
    }
    if (ok > 0) {
        printf("bench=cancel_latency canceller=%s tasks=%u levels=%u workers=%u iters=%zu "
               "chunk_us=%.0f warmup_us=%.0f",
               canceller_name[who], spinners, levels, workers, ok, (double)CHUNK_NS / 1e3,
               (double)WARMUP_NS / 1e3);
        print_pcts("lat", s[S_LAT], ok);
        print_pcts("exit", s[S_EXIT], ok);
        if (who != BY_FAILURE)
            print_pcts("call", s[S_CALL], ok);
        print_pcts("runq", s[S_RUNQ], ok);
        printf(" quiet=%zu", nquiet);
        if (nquiet > 0)
            print_pcts("quiet_lat", s[S_QUIET], nquiet);
        qsort(s[S_RUNNING], ok, sizeof(int64_t), bench_cmp_i64);
        printf(" running_min=%" PRId64 " running_p50=%" PRId64 "\n", s[S_RUNNING][0],
               bench_pct(s[S_RUNNING], ok, 0.5));
        fflush(stdout);
    }
    for (int k = 0; k < NSAMPLES; k++)
        free(s[k]);
    free(r);
}

int main(int argc, char **argv)
{
    workers = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
    if (workers == 0 || workers > 1024) {
        fprintf(stderr, "usage: cancel-bench [workers]\n");
        return 2;
    }
    bool quick = getenv("BENCH_QUICK") != NULL && strcmp(getenv("BENCH_QUICK"), "0") != 0;
    uint64_t n = bench_env_u64("BENCH_CANCEL_N", quick ? 1000000 : 100000000);
    size_t iters = (size_t)bench_env_u64("BENCH_CANCEL_ITERS", quick ? 20 : 300);

    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("cancel-bench: weft_runtime_create");
        return 1;
    }

    pthread_t outside;
    if (sem_init(&outside_go, 0, 0) != 0 ||
        pthread_create(&outside, NULL, outside_thread, NULL) != 0) {
        fprintf(stderr, "cancel-bench: cannot start the outside thread\n");
        return 1;
    }
    pthread_setname_np(outside, "cancel-outside");
    watch_threads();

    bench_cost(n, 1);
    bench_cost(n, 8);

    calibrate();
    static const enum canceller whos[] = {BY_SIBLING, BY_OUTSIDE, BY_FAILURE};
    for (size_t w = 0; w < sizeof whos / sizeof whos[0]; w++) {
        bench_latency(whos[w], workers, 1, iters);
        bench_latency(whos[w], MANY_TASKS, 1, iters);
    }
    /* 5 levels of groups: `top` holds 2 tasks, each level below doubles */
    bench_latency(BY_SIBLING, TREE_FANOUT, TREE_LEVELS, iters);
    bench_latency(BY_OUTSIDE, TREE_FANOUT, TREE_LEVELS, iters);

    atomic_store(&outside_run, NULL);
    sem_post(&outside_go);
    pthread_join(outside, NULL);
    if (weft_runtime_destroy(rt) != 0)
        failures++;
    return failures == 0 ? 0 : 1;
}
