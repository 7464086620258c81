/*
 * errors-bench: what a failure saves a fail-fast group, and what
 * weft_parallel_for costs over a plain loop.
 *
 * 1. bench=failfast_join: a root task initialises one fail-fast group and
 *    spawns TASKS tasks into it (default 10^6), then joins it. Each task
 *    returns at once when weft_cancelled(self) is true at its entry, else
 *    does ~1 us of arithmetic and returns 0. In the failing variant the
 *    FAIL_AT-th task to start (default the 1000th; a shared counter that
 *    stops being written after that) returns EIO instead, which cancels the
 *    group. Both variants are timed from group init to the join's return
 *    (join_ms), with the spawning loop alone (spawn_ms) and, when failing,
 *    from the failure to the join's return (after_fail_ms). worked = tasks
 *    that did their ~1 us of work (the rest saw the cancel at entry).
 *    REPS runs of each, interleaved (ok, fail, ok, fail, ...) so that a
 *    busy spell of the shared machine hits both; medians and the ratio
 *    fail / ok of the medians.
 *
 * 2. bench=parallel_for: sum of a 64-bit mix of every index in [0, N)
 *    (default N = 10^7, ~1-2 ns an index): the body adds the mixes of its
 *    chunk into a local sum, then once into its worker's partial sum (a
 *    relaxed atomic on a line of its own); their total is checked against
 *    the sequential result. Sequential
 *    (impl=seq): the same body called once on [0, N) inside a task on the
 *    1-worker runtime, timed inside the task; seq_main_thread is the same
 *    call on the main thread (the VM's two vCPUs may differ in speed).
 *    weft: weft_run of a task calling weft_parallel_for at grain 1000 and
 *    10000, on a runtime with 1 and with 2 workers (both alive the whole
 *    time; idle workers park), timed around weft_run; weft_run_empty is
 *    that fixed cost with an empty task. Each case runs twice in a row:
 *    start=cold after a 2 ms pause in which every worker parked (a program
 *    that runs a loop now and then), start=warm at once after it (loops
 *    back to back: the workers are still spinning). The cases run
 *    interleaved, once each per round, after an untimed round. Medians of
 *    REPS rounds;
 *    vs_seq = T / Tseq (< 1: faster), speedup = T(1 worker) / T(2
 *    workers) at the same grain and start; spawns and steals are per warm
 *    loop (weft_runtime_stats): they show how little lazy splitting splits.
 *
 *   errors-bench [workers]      (default 2; part 2 always uses 1 and 2)
 *
 * Environment: BENCH_QUICK=1 (a smoke run well under a second: 10^4 tasks
 * failing at the 100th, N = 10^6, 3 runs), BENCH_ERRORS_TASKS,
 * BENCH_ERRORS_FAIL_AT, BENCH_PFOR_N, BENCH_REPS (default 7), BENCH_PIN=1
 * (pin worker N to CPU N: what the runtime does without the VM's habit of
 * stacking a woken worker on its waker's CPU, see pin_workers).
 * Prints one key=value line per measurement; exits 0 unless a run went
 * wrong (a wrong join code or sum). Numbers are reported, never enforced.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft/weft.h>

#include "bench/bench_stats.h"

#define MAX_REPS 101
#define WORK_NS 1000 /* per task of part 1 */

static int failures;

static int64_t median(int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_i64);
    return v[n / 2];
}

static bool pin; /* BENCH_PIN=1 */

/* Pins every thread named weft-wN to CPU N mod online CPUs (Linux: found by
 * name in /proc/self/task). On the development VM a woken worker is queued
 * on its waker's vCPU and waits for a time slice there while the other vCPU
 * idles (the VM exposes no shared cache, so the scheduler looks for no idle
 * CPU beyond the waker's); pinned, it cannot be. See bench/RESULTS.md. */
static void pin_one(const char *tid, const char *name, void *arg)
{
    long ncpu = *(const long *)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)(strtol(name + 6, NULL, 10) % ncpu), &set);
    if (sched_setaffinity((pid_t)strtol(tid, NULL, 10), sizeof set, &set) != 0)
        perror("errors-bench: sched_setaffinity");
}

static void pin_workers(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu >= 1)
        bench_each_thread((const char *const[]){"weft-w", NULL}, pin_one, &ncpu);
}

static weft_runtime *make_runtime(unsigned workers)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("errors-bench: weft_runtime_create");
        exit(1);
    }
    if (pin)
        pin_workers();
    return rt;
}

/* ---- 1. a fail-fast group of many small tasks ------------------------------ */

static uint64_t work_iters; /* iterations of bench_work() in ~WORK_NS */

/* Iterations per WORK_NS. */
static void calibrate(void)
{
    double ns_per_iter;
    work_iters = bench_calibrate(WORK_NS, &ns_per_iter);
    printf("bench=failfast_task iters=%" PRIu64 " target_ns=%d ns_per_iter=%.3f\n", work_iters,
           WORK_NS, ns_per_iter);
}

struct ff_run {
    uint64_t tasks, fail_at; /* fail_at 0: nobody fails */
    _Atomic uint64_t started; /* written until it reaches fail_at, then only read */
    _Atomic uint64_t worked;
    _Atomic int64_t t_fail;
    weft_time t_spawned, t_join;
    int join_rc, spawn_rc;
};

static int ff_task(weft_task *self, void *p)
{
    struct ff_run *r = p;
    if (weft_cancelled(self))
        return ECANCELED;
    if (r->fail_at != 0 &&
        atomic_load_explicit(&r->started, memory_order_relaxed) < r->fail_at &&
        atomic_fetch_add_explicit(&r->started, 1, memory_order_relaxed) + 1 == r->fail_at) {
        atomic_store_explicit(&r->t_fail, weft_now(), memory_order_relaxed);
        return EIO;
    }
    uint64_t x = bench_work(work_iters, (uint64_t)(uintptr_t)self);
    __asm__ volatile("" : : "r"(x));
    atomic_fetch_add_explicit(&r->worked, 1, memory_order_relaxed);
    return 0;
}

static int ff_root(weft_task *self, void *p)
{
    struct ff_run *r = p;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (uint64_t i = 0; i < r->tasks && rc == 0; i++)
        rc = weft_spawn(&g, ff_task, r);
    r->spawn_rc = rc;
    r->t_spawned = weft_now();
    r->join_rc = weft_group_join(&g, NULL);
    r->t_join = weft_now();
    return 0;
}

enum { F_JOIN, F_SPAWN, F_AFTER, F_WORKED, NF };

static bool ff_once(weft_runtime *rt, struct ff_run *r, uint64_t tasks, uint64_t fail_at,
                    int64_t *out)
{
    memset(r, 0, sizeof *r);
    r->tasks = tasks;
    r->fail_at = fail_at;
    weft_time t0 = weft_now();
    int rc = weft_run(rt, ff_root, r, NULL);
    int expect = fail_at != 0 ? EIO : 0;
    if (rc != 0 || r->spawn_rc != 0 || r->join_rc != expect) {
        fprintf(stderr, "errors-bench: fail_at=%" PRIu64 ": run %d, spawn %d, join %d (expected %d)\n",
                fail_at, rc, r->spawn_rc, r->join_rc, expect);
        failures++;
        return false;
    }
    out[F_JOIN] = r->t_join - t0;
    out[F_SPAWN] = r->t_spawned - t0;
    out[F_AFTER] = fail_at != 0 ? r->t_join - atomic_load(&r->t_fail) : 0;
    out[F_WORKED] = (int64_t)atomic_load(&r->worked);
    return true;
}

static void bench_failfast(unsigned workers, uint64_t tasks, uint64_t fail_at, unsigned reps)
{
    weft_runtime *rt = make_runtime(workers);
    struct ff_run *r = malloc(sizeof *r);
    if (r == NULL) {
        fprintf(stderr, "errors-bench: out of memory\n");
        exit(1);
    }
    int64_t s[2][NF][MAX_REPS];
    size_t n[2] = {0, 0};
    int64_t warm[NF];
    ff_once(rt, r, tasks / 10 + 1, 0, warm); /* warm-up: descriptor pools, deque growth */
    for (unsigned i = 0; i < reps; i++)
        for (int v = 0; v < 2; v++) {
            int64_t out[NF];
            if (ff_once(rt, r, tasks, v ? fail_at : 0, out)) {
                for (int k = 0; k < NF; k++)
                    s[v][k][n[v]] = out[k];
                n[v]++;
            }
        }
    double med[2][NF];
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < NF; k++)
            med[v][k] = n[v] > 0 ? (double)median(s[v][k], n[v]) : 0;
    for (int v = 0; v < 2; v++) {
        if (n[v] == 0)
            continue;
        printf("bench=failfast_join variant=%s workers=%u tasks=%" PRIu64 " fail_at=%" PRIu64
               " reps=%zu join_ms=%.2f min_join_ms=%.2f max_join_ms=%.2f spawn_ms=%.2f",
               v ? "fail" : "ok", workers, tasks, v ? fail_at : 0, n[v], med[v][F_JOIN] / 1e6,
               (double)s[v][F_JOIN][0] / 1e6, (double)s[v][F_JOIN][n[v] - 1] / 1e6,
               med[v][F_SPAWN] / 1e6);
        if (v)
            printf(" after_fail_ms=%.2f", med[v][F_AFTER] / 1e6);
        printf(" worked=%.0f\n", med[v][F_WORKED]);
    }
    if (n[0] > 0 && n[1] > 0)
        printf("bench=failfast_ratio workers=%u tasks=%" PRIu64 " fail_over_ok=%.4f "
               "ok_over_fail=%.1f\n",
               workers, tasks, med[1][F_JOIN] / med[0][F_JOIN], med[0][F_JOIN] / med[1][F_JOIN]);
    fflush(stdout);
    free(r);
    if (weft_runtime_destroy(rt) != 0)
        failures++;
}

/* ---- 2. parallel_for against a plain loop ---------------------------------- */

static inline uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Per-worker partial sums, a cache line each: a shared total would bounce
 * between the cores at every chunk and measure that instead of the loop.
 * Index: weft_worker_id + 1 (0 for -1, an extra slot, or off the workers). */
#define SUM_SLOTS 65
static struct {
    alignas(64) _Atomic uint64_t v;
} sums[SUM_SLOTS];

static void sums_reset(void)
{
    for (int i = 0; i < SUM_SLOTS; i++)
        atomic_store_explicit(&sums[i].v, 0, memory_order_relaxed);
}

static uint64_t sums_total(void)
{
    uint64_t t = 0;
    for (int i = 0; i < SUM_SLOTS; i++)
        t += atomic_load_explicit(&sums[i].v, memory_order_relaxed);
    return t;
}

/* noinline: the sequential twin calls the very code the loop calls */
static __attribute__((noinline)) int sum_body(weft_task *self, size_t lo, size_t hi, void *arg)
{
    (void)arg;
    uint64_t sum = 0;
    for (size_t i = lo; i < hi; i++)
        sum += mix(i);
    int slot = weft_worker_id(self) + 1;
    if (slot < 0 || slot >= SUM_SLOTS)
        slot = 0;
    atomic_fetch_add_explicit(&sums[slot].v, sum, memory_order_relaxed);
    return 0;
}

struct pf_run {
    size_t n, grain;
    int rc;
};

static int pf_root(weft_task *self, void *p)
{
    struct pf_run *r = p;
    r->rc = weft_parallel_for(self, 0, r->n, r->grain, sum_body, NULL);
    return 0;
}

/* The sequential twin on a worker: the body called once on the whole range
 * inside a task, timed inside it (no weft_run around it). */
struct seq_run {
    size_t n;
    int64_t ns;
};

static int seq_root(weft_task *self, void *p)
{
    struct seq_run *r = p;
    weft_time t0 = weft_now();
    sum_body(self, 0, r->n, NULL);
    r->ns = weft_now() - t0;
    return 0;
}

static int empty_root(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return 0;
}

/* One timed loop on rt (grain 0: an empty weft_run, the fixed cost around
 * every loop). False when it went wrong. */
static bool pfor_once(weft_runtime *rt, size_t n, size_t grain, uint64_t expect, int64_t *ns,
                      int64_t *spawns, int64_t *steals)
{
    struct pf_run r = {.n = n, .grain = grain};
    weft_stats s0, s1;
    sums_reset();
    weft_runtime_stats(rt, &s0);
    weft_time t0 = weft_now();
    int rc = weft_run(rt, grain != 0 ? pf_root : empty_root, &r, NULL);
    *ns = weft_now() - t0;
    weft_runtime_stats(rt, &s1);
    *spawns = (int64_t)(s1.spawns - s0.spawns);
    *steals = (int64_t)(s1.steals - s0.steals);
    uint64_t got = sums_total();
    if (rc != 0 || r.rc != 0 || (grain != 0 && got != expect)) {
        fprintf(stderr, "errors-bench: parallel_for grain %zu: run %d, loop %d, sum %s\n", grain,
                rc, r.rc, got == expect ? "right" : "WRONG");
        failures++;
        return false;
    }
    return true;
}

/* Runs interleaved: each round runs the sequential twin, then every
 * (workers, grain) case once, so a busy spell of the machine hits all. */
#define PF_CASES 6
static const struct {
    unsigned workers;
    size_t grain; /* 0: an empty weft_run */
} pf_cases[PF_CASES] = {{1, 0}, {1, 1000}, {1, 10000}, {2, 0}, {2, 1000}, {2, 10000}};

/* Sleeps ~2 ms: long enough for idle workers to stop spinning and park. */
static void let_workers_park(void)
{
    struct timespec ts = {0, 2 * WEFT_MSEC};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

enum { COLD, WARM, NTEMP };
static const char *const temp_name[NTEMP] = {"cold", "warm"};

static void bench_pfor(size_t n, unsigned reps)
{
    weft_runtime *rts[3] = {NULL, make_runtime(1), make_runtime(2)};
    int64_t seq[MAX_REPS], seqw[MAX_REPS];
    int64_t t[NTEMP][PF_CASES][MAX_REPS], sp[PF_CASES][MAX_REPS], st[PF_CASES][MAX_REPS];
    unsigned ok[PF_CASES] = {0};
    uint64_t expect = 0;
    for (unsigned i = 0; i <= reps; i++) { /* round 0: warm-up, untimed */
        sums_reset();
        weft_time t0 = weft_now();
        sum_body(NULL, 0, n, NULL); /* the sequential twin: the whole range at once */
        int64_t d = weft_now() - t0;
        expect = sums_total();
        struct seq_run sr = {.n = n};
        sums_reset();
        if (weft_run(rts[1], seq_root, &sr, NULL) != 0 || sums_total() != expect) {
            fprintf(stderr, "errors-bench: the sequential twin on a worker went wrong\n");
            failures++;
        }
        if (i > 0) {
            seq[i - 1] = d;
            seqw[i - 1] = sr.ns;
        }
        for (int c = 0; c < PF_CASES; c++) {
            int64_t ns[NTEMP], spawns, steals;
            weft_runtime *rt = rts[pf_cases[c].workers];
            size_t grain = pf_cases[c].grain;
            let_workers_park();
            if (!pfor_once(rt, n, grain, expect, &ns[COLD], &spawns, &steals) ||
                !pfor_once(rt, n, grain, expect, &ns[WARM], &spawns, &steals) || i == 0)
                continue;
            for (int k = 0; k < NTEMP; k++)
                t[k][c][ok[c]] = ns[k];
            sp[c][ok[c]] = spawns; /* of the warm run */
            st[c][ok[c]] = steals;
            ok[c]++;
        }
    }
    /* the baseline is the twin on a worker: the two vCPUs of the development
     * VM can differ by 20 % for minutes, and the 1-worker loop runs there */
    double tmain = (double)median(seq, reps), tseq = (double)median(seqw, reps);
    printf("bench=parallel_for impl=seq_main_thread n=%zu reps=%u median_ms=%.3f min_ms=%.3f "
           "max_ms=%.3f ns_per_index=%.3f\n",
           n, reps, tmain / 1e6, (double)seq[0] / 1e6, (double)seq[reps - 1] / 1e6,
           tmain / (double)n);
    printf("bench=parallel_for impl=seq n=%zu reps=%u median_ms=%.3f min_ms=%.3f max_ms=%.3f "
           "ns_per_index=%.3f\n",
           n, reps, tseq / 1e6, (double)seqw[0] / 1e6, (double)seqw[reps - 1] / 1e6,
           tseq / (double)n);
    double t1[NTEMP][PF_CASES] = {{0}};
    for (int k = 0; k < NTEMP; k++)
        for (int c = 0; c < PF_CASES; c++) {
            unsigned m = ok[c];
            if (m == 0)
                continue;
            double tm = (double)median(t[k][c], m);
            const char *temp = temp_name[k];
            if (pf_cases[c].grain == 0) {
                printf("bench=parallel_for impl=weft_run_empty start=%s workers=%u reps=%u "
                       "median_ms=%.3f min_ms=%.3f max_ms=%.3f\n",
                       temp, pf_cases[c].workers, m, tm / 1e6, (double)t[k][c][0] / 1e6,
                       (double)t[k][c][m - 1] / 1e6);
                continue;
            }
            printf("bench=parallel_for impl=weft start=%s workers=%u grain=%zu n=%zu reps=%u "
                   "median_ms=%.3f min_ms=%.3f max_ms=%.3f vs_seq=%.3f M_index_per_s=%.0f",
                   temp, pf_cases[c].workers, pf_cases[c].grain, n, m, tm / 1e6,
                   (double)t[k][c][0] / 1e6, (double)t[k][c][m - 1] / 1e6, tm / tseq,
                   (double)n / tm * 1e3);
            if (k == WARM)
                printf(" spawns=%" PRId64 " steals=%" PRId64, median(sp[c], m), median(st[c], m));
            t1[k][c] = tm;
            for (int o = 0; o < c; o++) /* the same grain at 1 worker */
                if (pf_cases[o].grain == pf_cases[c].grain && pf_cases[o].workers == 1 &&
                    t1[k][o] > 0 && pf_cases[c].workers == 2)
                    printf(" speedup=%.2f", t1[k][o] / tm);
            printf("\n");
        }
    fflush(stdout);
    for (int w = 1; w <= 2; w++)
        if (weft_runtime_destroy(rts[w]) != 0)
            failures++;
}

int main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
    if (workers == 0 || workers > 1024) {
        fprintf(stderr, "usage: errors-bench [workers]\n");
        return 2;
    }
    bool quick = getenv("BENCH_QUICK") != NULL && strcmp(getenv("BENCH_QUICK"), "0") != 0;
    pin = getenv("BENCH_PIN") != NULL && strcmp(getenv("BENCH_PIN"), "0") != 0;
    printf("bench=errors_setup workers=%u pinned=%d\n", workers, pin);
    uint64_t tasks = bench_env_u64("BENCH_ERRORS_TASKS", quick ? 10000 : 1000000);
    uint64_t fail_at = bench_env_u64("BENCH_ERRORS_FAIL_AT", quick ? 100 : 1000);
    size_t n = (size_t)bench_env_u64("BENCH_PFOR_N", quick ? 1000000 : 10000000);
    unsigned reps = (unsigned)bench_env_u64("BENCH_REPS", quick ? 3 : 7);
    if (reps > MAX_REPS)
        reps = MAX_REPS;
    if (fail_at > tasks)
        fail_at = tasks;

    calibrate();
    bench_failfast(workers, tasks, fail_at, reps);
    bench_pfor(n, reps);
    return failures == 0 ? 0 : 1;
}
