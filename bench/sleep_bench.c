/*
 * sleep-bench: do sleeping tasks cost the pool its parallelism? The man pages
 * ("Timed waits"): a worker in weft_sleep hands its place in the pool to a
 * spare thread, so `workers` threads keep running tasks. This measures the
 * throughput of fib (bench/kernels_weft.h, one spawn per call, no cutoff)
 * beside tasks that sleep, against fib alone.
 *
 * Every case is one weft_run of the same root task on a fresh runtime of W
 * workers (created, warmed up with fib(20), destroyed after the run), so no
 * case inherits another's spare threads or idle state. The root spawns
 * the case's 8 sleepers into group `sleepers`, waits until they are asleep
 * (below), then times fib(N): weft_now() before a nested group is
 * initialised with kw_fib_task(N) spawned in it, and again after that
 * group's join returned; then it cancels `sleepers` and joins it. fib_s is
 * that interval (thread start-up for the spares happens before it). Cases:
 *
 *   alone     no sleepers: fib(N) alone.
 *   sleeping  8 tasks each call weft_sleep(self, now + 600 s) once and
 *             return ECANCELED when `sleepers` is cancelled after fib.
 *             With W = 2, 8 sleepers hold 8 threads: only spare threads,
 *             holding the sleepers' slots, can run fib.
 *   churn     8 tasks each loop weft_sleep(self, now + 1 ms) until it
 *             returns ECANCELED: a hand-off and a reclaim on every sleep
 *             (sleeps over 50 us hand off, runtime/sleep.c). lateness = the
 *             weft_now() after a sleep returned 0 minus its deadline,
 *             collected over the sleeps that began while fib ran.
 *   blocking  the baseline without hand-off: 8 tasks each block their
 *             thread in clock_nanosleep (the runtime cannot see it), until
 *             an absolute end = the run's start + 2 x the calibration's
 *             fib time, so a run ends after ~2 x fib at worst (unbounded
 *             sleepers would hold the workers forever: no thread is ever
 *             added for them). A sleeper that starts after the end returns
 *             at once; the root joins them, nothing is cancelled.
 *
 * "Asleep before fib starts": a sleeper adds 1 to `asleep` just before its
 * first sleep call. The root waits by polling: weft_sleep(200 us) in the
 * weft cases (itself a timed wait, so the root's slot and the sleepers
 * queued in its deque go to a spare, which starts the next sleeper), until
 * all 8 counted, then one more 1 ms weft_sleep so the last one is past its
 * hand-off. In `blocking` the root polls with clock_nanosleep (weft_sleep
 * would hand off its slot and add threads, which is what is being left
 * out), and only min(8, W - 1) sleepers can ever be asleep at once: the
 * root holds one worker, each sleeper another. It waits for those, then the
 * same 1 ms. So `blocking` runs fib with W - 1 workers blocked for up to
 * ~2 x fib(alone), the sleepers still queued taking further ones as they
 * are reached.
 *
 * Rounds interleave the cases in an order that rotates each round (an
 * untimed warm-up round of the sleeper cases at fib(N - 4) first); each
 * case reports the median fib_s over the rounds, its ratio to alone's
 * median (ratio) and the median of the per-round ratios (round_ratio).
 * cpu_s is the process CPU time over the fib interval (all threads): W x
 * fib_s when W threads run fib the whole time, fib_s when only one does.
 * threads = the most threads the process had when fib started (main, the
 * watchdog, the workers and the spares).
 *
 * N: the smallest fib(N), from 30 up, that takes >= 0.3 s alone
 * (calibrated: 0.3-0.5 s), unless given.
 *
 *   sleep-bench [workers [N]]      (default 2, calibrated N)
 *
 * Environment: BENCH_QUICK=1 (a smoke run well under 1 s: fib(27), 3
 * rounds), BENCH_SLEEP_FIB (N), BENCH_SLEEP_ROUNDS (default 7),
 * BENCH_SLEEP_ONE_RUNTIME=1 (every run, calibration included, on one
 * runtime, as a long-lived program would: spares and idle state carry over
 * from case to case).
 * Prints one key=value line per case; exits 0 unless a run went wrong (a
 * wrong fib result, an unexpected status from a run, a join or a sleep, or
 * a run that has not returned after 60 s, 20 s with BENCH_QUICK: a
 * watchdog thread then reports the case and exits 1, so a hung runtime
 * fails a CI job instead of stalling it).
 * Targets (reported, not enforced): ratio ~1 for sleeping and churn (W
 * threads keep running fib), lateness p99 <= 1 ms ("return within about a
 * millisecond of their deadline").
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "bench/bench_stats.h"
#include "bench/bench_watchdog.h"

#include "kernels_weft.h"

#define SLEEPERS 8u
#define FAR_NS (600 * WEFT_SEC)       /* `sleeping`: never reached, cancelled instead */
#define CHURN_NS (1 * WEFT_MSEC)      /* `churn`: each sleep */
#define POLL_NS (200 * WEFT_USEC)     /* the root's polls for "all asleep" */
#define SETTLE_NS (1 * WEFT_MSEC)     /* one more wait once they all counted */
#define WAIT_MAX_NS (10 * WEFT_SEC)    /* give up on "all asleep" (a run gone wrong) */
#define LATE_CAP 8192u                /* lateness samples per sleeper per run */
#define CAL_FIRST 30u
#define CAL_MAX 42u
#define CAL_MIN_NS (300 * WEFT_MSEC)
#define QUICK_FIB 27u
#define MAX_ROUNDS 1000u
#define WARMUP_FIB 20u                /* each fresh runtime runs it before its case */
#define WATCH_NS (60 * WEFT_SEC)      /* a run longer than this has hung */
#define WATCH_QUICK_NS (20 * WEFT_SEC)

enum kind { ALONE, SLEEPING, CHURN, BLOCKING, NKINDS };
static const char *const kind_name[NKINDS] = {"alone", "sleeping", "churn", "blocking"};

static weft_runtime *rt;
static bool one_runtime; /* BENCH_SLEEP_ONE_RUNTIME: every run on the same runtime */
static unsigned workers;
static int failures;

struct run;
struct sleeper {
    struct run *r;
    int rc;       /* what the sleep returned that ended it (0 in `blocking`) */
    size_t nlate; /* samples in late[] */
    size_t dropped;
    int64_t late[LATE_CAP];
};

struct run {
    enum kind kind;
    unsigned n;
    weft_time block_until;     /* `blocking`: every sleeper's absolute end */
    _Atomic unsigned asleep;   /* sleepers that reached their first sleep */
    _Atomic bool recording;    /* `churn`: fib is running, keep lateness */
    struct sleeper sl[SLEEPERS];
    unsigned spawned;
    int64_t fib_ns, cpu_ns, settle_ns;
    long threads;
    uint64_t result;
    int fib_rc, sleepers_rc, wait_rc;
};

/* clock_nanosleep to an absolute CLOCK_MONOTONIC time (weft_time's clock),
 * blocking the calling thread whatever it is. */
static void block_until(weft_time at)
{
    struct timespec ts = {(time_t)(at / WEFT_SEC), (long)(at % WEFT_SEC)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* ---- the sleepers ------------------------------------------------------ */

static int sleeper_task(weft_task *self, void *p)
{
    struct sleeper *s = p;
    struct run *r = s->r;
    atomic_fetch_add_explicit(&r->asleep, 1, memory_order_relaxed);
    switch (r->kind) {
    case SLEEPING:
        s->rc = weft_sleep(self, weft_after(FAR_NS));
        break;
    case CHURN:
        for (;;) {
            weft_time until = weft_after(CHURN_NS);
            bool keep = atomic_load_explicit(&r->recording, memory_order_relaxed);
            s->rc = weft_sleep(self, until);
            weft_time now = weft_now();
            if (s->rc != 0)
                break;
            if (keep && s->nlate < LATE_CAP)
                s->late[s->nlate++] = now - until;
            else if (keep)
                s->dropped++;
        }
        break;
    default:
        block_until(r->block_until);
        s->rc = 0;
        break;
    }
    return s->rc;
}

/* Until `want` sleepers counted themselves, then SETTLE_NS more: polls that
 * are timed waits (weft_sleep), or that block the thread (`blocking`). */
static int wait_asleep(weft_task *self, struct run *r, unsigned want)
{
    weft_time t0 = weft_now();
    for (;;) {
        bool all = atomic_load_explicit(&r->asleep, memory_order_relaxed) >= want;
        if (!all && weft_now() - t0 > WAIT_MAX_NS)
            return ETIMEDOUT;
        weft_time until = weft_after(all ? SETTLE_NS : POLL_NS);
        if (r->kind == BLOCKING)
            block_until(until);
        else if (weft_sleep(self, until) != 0)
            return EIO; /* nothing cancels or bounds the root */
        if (all)
            break;
    }
    r->settle_ns = weft_now() - t0;
    return 0;
}

/* ---- the root task ------------------------------------------------------ */

static int root_task(weft_task *self, void *p)
{
    struct run *r = p;
    weft_group sleepers;
    bool have = r->kind != ALONE;
    int rc = 0;
    if (have) {
        if ((rc = weft_group_init(&sleepers, self, NULL)) != 0)
            return rc;
        for (unsigned i = 0; i < SLEEPERS && rc == 0; i++) {
            rc = weft_spawn(&sleepers, sleeper_task, &r->sl[i]);
            r->spawned += rc == 0;
        }
        unsigned want = r->spawned;
        if (r->kind == BLOCKING && want > workers - 1)
            want = workers - 1;
        if (rc == 0)
            rc = r->wait_rc = wait_asleep(self, r, want);
    }
    r->threads = bench_process_threads();

    struct kw_fib f = {r->n, 0};
    weft_group fg;
    atomic_store_explicit(&r->recording, true, memory_order_relaxed);
    int64_t c0 = bench_process_cpu_ns();
    weft_time t0 = weft_now();
    if (rc == 0 && (r->fib_rc = weft_group_init(&fg, self, NULL)) == 0) {
        int rs = weft_spawn(&fg, kw_fib_task, &f);
        int rj = weft_group_join(&fg, NULL);
        r->fib_rc = rs != 0 ? rs : rj;
    }
    weft_time t1 = weft_now();
    int64_t c1 = bench_process_cpu_ns();
    atomic_store_explicit(&r->recording, false, memory_order_relaxed);
    r->fib_ns = t1 - t0;
    r->cpu_ns = c1 - c0;
    r->result = f.result;

    if (have) {
        if (r->kind != BLOCKING)
            weft_group_cancel(&sleepers);
        r->sleepers_rc = weft_group_join(&sleepers, NULL);
    }
    return rc != 0 ? rc : r->fib_rc;
}

/* One run of `kind`; false (and counted as a failure) when it went wrong. */
static bool run_once(struct run *r, enum kind kind, unsigned n, int64_t block_ns)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->n = n;
    for (unsigned i = 0; i < SLEEPERS; i++)
        r->sl[i].r = r;
    atomic_init(&r->asleep, 0);
    atomic_init(&r->recording, false);
    if (!one_runtime) {
        weft_config cfg = WEFT_CONFIG_INIT;
        cfg.workers = workers;
        uint64_t warm;
        if ((rt = weft_runtime_create(&cfg)) == NULL) {
            perror("sleep-bench: weft_runtime_create");
            exit(1);
        }
        bench_watch_begin(kind_name[kind]);
        if (kw_fib(rt, WARMUP_FIB, &warm) != 0 || warm != kernel_fib_expected(WARMUP_FIB)) {
            fprintf(stderr, "sleep-bench: warm-up fib failed\n");
            failures++;
        }
    }
    bench_watch_begin(kind_name[kind]);
    r->block_until = weft_after(block_ns);
    int rc = weft_run(rt, root_task, r, NULL);
    bench_watch_end();
    if (!one_runtime && weft_runtime_destroy(rt) != 0) {
        fprintf(stderr, "sleep-bench: weft_runtime_destroy failed\n");
        failures++;
    }
    int want_join = kind == ALONE || kind == BLOCKING ? 0 : ECANCELED;
    int want_sleep = kind == BLOCKING ? 0 : ECANCELED;
    bool ok = rc == 0 && r->fib_rc == 0 && r->result == kernel_fib_expected(n) &&
              r->sleepers_rc == want_join && (kind == ALONE || r->spawned == SLEEPERS);
    for (unsigned i = 0; kind != ALONE && i < r->spawned; i++)
        ok = ok && r->sl[i].rc == want_sleep;
    if (!ok) {
        fprintf(stderr,
                "sleep-bench: case=%s fib(%u): run %d, fib %d result %" PRIu64
                " (expected %" PRIu64 "), wait %d, sleepers' join %d (expected %d), "
                "spawned %u\n",
                kind_name[kind], n, rc, r->fib_rc, r->result, kernel_fib_expected(n), r->wait_rc,
                r->sleepers_rc, want_join, r->spawned);
        for (unsigned i = 0; kind != ALONE && i < r->spawned; i++)
            if (r->sl[i].rc != want_sleep)
                fprintf(stderr, "sleep-bench: case=%s sleeper %u: sleep returned %d\n",
                        kind_name[kind], i, r->sl[i].rc);
        failures++;
    }
    return ok;
}

/* ---- calibration and the rounds --------------------------------------- */

/* The smallest n >= CAL_FIRST whose fib alone takes CAL_MIN_NS; *t its time. */
static unsigned calibrate(struct run *r, int64_t *t)
{
    unsigned n = CAL_FIRST;
    for (;; n++) {
        if (!run_once(r, ALONE, n, 0))
            return 0;
        *t = r->fib_ns;
        if (r->fib_ns >= CAL_MIN_NS || n == CAL_MAX)
            return n;
    }
}

/* Lateness samples of every churn run, appended after each. */
static int64_t *late_all;
static size_t nlate_all, late_cap_all, late_dropped;

static void collect_lateness(const struct run *r)
{
    for (unsigned i = 0; i < SLEEPERS; i++) {
        const struct sleeper *s = &r->sl[i];
        if (nlate_all + s->nlate > late_cap_all) {
            size_t cap = (late_cap_all + s->nlate) * 2;
            int64_t *v = realloc(late_all, cap * sizeof *v);
            if (v == NULL) {
                fprintf(stderr, "sleep-bench: out of memory\n");
                exit(1);
            }
            late_all = v;
            late_cap_all = cap;
        }
        memcpy(late_all + nlate_all, s->late, s->nlate * sizeof *s->late);
        nlate_all += s->nlate;
        late_dropped += s->dropped;
    }
}

int main(int argc, char **argv)
{
    workers = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
    bool quick = getenv("BENCH_QUICK") != NULL && strcmp(getenv("BENCH_QUICK"), "0") != 0;
    unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10)
                          : (unsigned)bench_env_u64("BENCH_SLEEP_FIB", quick ? QUICK_FIB : 0);
    unsigned rounds = (unsigned)bench_env_u64("BENCH_SLEEP_ROUNDS", quick ? 3 : 7);
    if (workers == 0 || workers > 1024 || (argc > 2 && (n < 2 || n > CAL_MAX)) ||
        n > CAL_MAX || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: sleep-bench [workers [N]]   (N: fib size, 2..%u)\n", CAL_MAX);
        return 2;
    }

    one_runtime = bench_env_u64("BENCH_SLEEP_ONE_RUNTIME", 0) != 0;
    struct run *r = malloc(sizeof *r);
    if (r == NULL || !bench_watchdog_start("sleep-bench", quick ? WATCH_QUICK_NS : WATCH_NS)) {
        fprintf(stderr, "sleep-bench: setup failed\n");
        return 1;
    }
    if (one_runtime) {
        weft_config cfg = WEFT_CONFIG_INIT;
        cfg.workers = workers;
        if ((rt = weft_runtime_create(&cfg)) == NULL) {
            perror("sleep-bench: weft_runtime_create");
            return 1;
        }
    }

    /* the blocking sleepers' bound is 2 x fib alone, measured here */
    int64_t t_alone = 0;
    bool calibrated = n == 0;
    if (calibrated && (n = calibrate(r, &t_alone)) == 0)
        return 1;
    if (!calibrated) {
        run_once(r, ALONE, n, 0); /* also the warm-up for fib alone */
        t_alone = r->fib_ns;
    }
    int64_t block_ns = 2 * t_alone;
    printf("bench=sleep_setup workers=%u fib=%u calibrated=%d fib_alone_s=%.4f "
           "block_s=%.4f rounds=%u sleepers=%u churn_ms=%.1f one_runtime=%d\n",
           workers, n, calibrated, (double)t_alone / 1e9, (double)block_ns / 1e9, rounds,
           SLEEPERS, (double)CHURN_NS / 1e6, one_runtime);
    fflush(stdout);

    /* warm-up: every case once, untimed (starts the spares, grows deques) */
    for (int k = SLEEPING; k < NKINDS; k++)
        run_once(r, (enum kind)k, n > 4 ? n - 4 : n, block_ns / 8);

    double *fib_s[NKINDS], *cpu_s[NKINDS], *settle_ms[NKINDS], *rratio[NKINDS];
    long threads_max[NKINDS] = {0};
    for (int k = 0; k < NKINDS; k++) {
        fib_s[k] = calloc(rounds, sizeof(double));
        cpu_s[k] = calloc(rounds, sizeof(double));
        settle_ms[k] = calloc(rounds, sizeof(double));
        rratio[k] = calloc(rounds, sizeof(double));
        if (!fib_s[k] || !cpu_s[k] || !settle_ms[k] || !rratio[k]) {
            fprintf(stderr, "sleep-bench: out of memory\n");
            return 1;
        }
    }
    unsigned good = 0; /* rounds in which every case ran right */
    for (unsigned round = 0; round < rounds; round++) {
        bool ok = true;
        double f[NKINDS], c[NKINDS], s[NKINDS];
        for (int j = 0; j < NKINDS; j++) {
            enum kind k = (enum kind)((round + (unsigned)j) % NKINDS);
            ok = run_once(r, k, n, block_ns) && ok;
            f[k] = (double)r->fib_ns / 1e9;
            c[k] = (double)r->cpu_ns / 1e9;
            s[k] = (double)r->settle_ns / 1e6;
            if (r->threads > threads_max[k])
                threads_max[k] = r->threads;
            if (k == CHURN)
                collect_lateness(r);
        }
        if (!ok)
            continue;
        for (int k = 0; k < NKINDS; k++) {
            fib_s[k][good] = f[k];
            cpu_s[k][good] = c[k];
            settle_ms[k][good] = s[k];
            rratio[k][good] = f[k] / f[ALONE];
        }
        good++;
    }

    if (good > 0) {
        double alone_med = 0;
        for (int k = 0; k < NKINDS; k++) {
            double lo = fib_s[k][0], hi = fib_s[k][0];
            for (unsigned i = 1; i < good; i++) {
                lo = fib_s[k][i] < lo ? fib_s[k][i] : lo;
                hi = fib_s[k][i] > hi ? fib_s[k][i] : hi;
            }
            double med = bench_median_d(fib_s[k], good);
            if (k == ALONE)
                alone_med = med;
            printf("bench=sleep_fib case=%s workers=%u fib=%u sleepers=%u rounds=%u "
                   "fib_s=%.4f min_s=%.4f max_s=%.4f ratio=%.3f round_ratio=%.3f cpu_s=%.4f "
                   "threads=%ld",
                   kind_name[k], workers, n, k == ALONE ? 0 : SLEEPERS, good, med, lo, hi,
                   med / alone_med, bench_median_d(rratio[k], good), bench_median_d(cpu_s[k], good),
                   threads_max[k]);
            if (k != ALONE)
                printf(" settle_ms=%.2f", bench_median_d(settle_ms[k], good));
            if (k == BLOCKING)
                printf(" block_s=%.4f", (double)block_ns / 1e9);
            if (k == CHURN && nlate_all > 0) {
                qsort(late_all, nlate_all, sizeof *late_all, bench_cmp_i64);
                printf(" sleeps=%zu dropped=%zu late_p50_us=%.1f late_p99_us=%.1f "
                       "late_max_us=%.1f",
                       nlate_all, late_dropped, (double)bench_pct(late_all, nlate_all, 0.50) / 1e3,
                       (double)bench_pct(late_all, nlate_all, 0.99) / 1e3,
                       (double)late_all[nlate_all - 1] / 1e3);
            }
            printf("\n");
        }
    }

    for (int k = 0; k < NKINDS; k++) {
        free(fib_s[k]);
        free(cpu_s[k]);
        free(settle_ms[k]);
        free(rratio[k]);
    }
    free(late_all);
    free(r);
    if (one_runtime && weft_runtime_destroy(rt) != 0)
        failures++;
    return failures == 0 ? 0 : 1;
}
