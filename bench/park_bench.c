/*
 * park-bench: what each park protocol of sched/park.c costs (issue 21),
 * side by side in one run, medians of several rounds with the protocols
 * interleaved in each round:
 *   recheck     fence, look, a PARK_DRAIN nap, second look (the default)
 *   membarrier  membarrier(PRIVATE_EXPEDITED), look (before issue 21)
 *   fence       fence, look; every spawn's wake check fences too
 *
 *   park-bench [all]     the three workloads below, every protocol
 *   park-bench fib N W   fib(N) on W workers, protocol from $PARK_MODE (for
 *                        bench/fork-cost.sh: PARK_MODE=fence sh
 *                        bench/fork-cost.sh bench/park-bench)
 *
 * Workloads:
 *   bursts   $PARK_BURSTS (200) fork-join bursts of $PARK_BURST_TASKS (32)
 *            tasks of ~2 us each, separated by pauses of $PARK_PAUSE_US (500)
 *            in which the workers park, at 2 and 16 workers: the bursts'
 *            total time (pauses excluded), the median and p90 latency of a
 *            burst (weft_run of the root that forks and joins), the process
 *            CPU time per burst, pauses included, the parks a burst saw and
 *            the function-call interrupts (IPIs) all CPUs took meanwhile;
 *   busy     K = online CPUs plain pthreads doing arithmetic for
 *            $PARK_BUSY_MS (400) ms beside a $PARK_BUSY_WORKERS (2) worker
 *            runtime doing the bursts above: their throughput over that of a
 *            run alone just before, and the IPIs taken per second;
 *   ipi      membarrier back to back beside CPUs - 1 busy pthreads: a
 *            call's time and the busy threads' loss per call (the cost of
 *            an IPI to a CPU running one of the process's threads);
 *   flat     one task spawns 10^6 empty tasks and joins them, 4 times per
 *            runtime, the median of the last 3 (steady state), at 1 and 2
 *            workers: where the fence protocol's spawn-side fence shows.
 * $PARK_ROUNDS (5) rounds of each.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <weft/weft.h>

#include "bench/bench_stats.h"
#include "kernels_weft.h"
#include "sched/sched.h"

enum { NMODES = 3, MAXROUNDS = 64 };
static const char *const mode_name[NMODES] = {"recheck", "membarrier", "fence"};
static const enum weft__park_mode mode_of[NMODES] = {WEFT__PARK_RECHECK, WEFT__PARK_MEMBARRIER,
                                                     WEFT__PARK_FENCE};

static uint64_t work_iters; /* bench_work iterations in ~2 us */

static weft_runtime *make_runtime(int mode, unsigned workers)
{
    weft__park_mode_force(mode_of[mode]);
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    weft_runtime *rt = weft_runtime_create(&cfg);
    weft__park_mode_force(WEFT__PARK_RECHECK);
    if (rt == NULL) {
        perror("park-bench: weft_runtime_create");
        exit(1);
    }
    return rt;
}

static void destroy(weft_runtime *rt)
{
    if (weft_runtime_destroy(rt) != 0) {
        fprintf(stderr, "park-bench: destroy failed\n");
        exit(1);
    }
}

static void pause_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Function-call interrupts (IPIs, the kind membarrier sends) taken by all
 * CPUs so far: /proc/interrupts' CAL row (x86 Linux), or 0. Other processes
 * add to it: compare the protocols, not the absolute figure. */
static uint64_t ipis(void)
{
    FILE *f = fopen("/proc/interrupts", "r");
    if (f == NULL)
        return 0;
    char line[4096];
    uint64_t sum = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line;
        while (*p == ' ')
            p++;
        if (strncmp(p, "CAL:", 4) != 0)
            continue;
        p += 4;
        for (;;) {
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            if (end == p)
                break;
            sum += v;
            p = end;
        }
    }
    fclose(f);
    return sum;
}

/* ---- a burst: the root forks `tasks` small tasks and joins ---- */
static int small_task(weft_task *self, void *arg)
{
    (void)self;
    *(volatile uint64_t *)arg = bench_work(work_iters, (uint64_t)(uintptr_t)arg);
    return 0;
}

struct burst {
    unsigned tasks;
    uint64_t sink[64];
};

static int burst_root(weft_task *self, void *p)
{
    struct burst *b = p;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (unsigned i = 0; i < b->tasks && rc == 0; i++)
        rc = weft_spawn(&g, small_task, &b->sink[i % 64]);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

struct burst_result {
    double total_ms, p50_us, p90_us, cpu_us, parks, ipis;
};

static struct burst_result run_bursts(weft_runtime *rt, unsigned n, unsigned tasks,
                                      uint64_t pause)
{
    int64_t *lat = calloc(n, sizeof *lat);
    if (lat == NULL)
        exit(1);
    struct burst b = {.tasks = tasks};
    weft_stats s0, s1;
    weft_runtime_stats(rt, &s0);
    uint64_t ipi0 = ipis();
    int64_t cpu0 = bench_process_cpu_ns(), total = 0;
    for (unsigned i = 0; i < n; i++) {
        pause_us(pause);
        weft_time t0 = weft_now();
        if (weft_run(rt, burst_root, &b, NULL) != 0) {
            fprintf(stderr, "park-bench: burst failed\n");
            exit(1);
        }
        lat[i] = weft_now() - t0;
        total += lat[i];
    }
    int64_t cpu1 = bench_process_cpu_ns();
    uint64_t ipi1 = ipis();
    weft_runtime_stats(rt, &s1);
    qsort(lat, n, sizeof *lat, bench_cmp_i64);
    struct burst_result r = {(double)total / 1e6, (double)bench_pct(lat, n, 0.5) / 1e3,
                             (double)bench_pct(lat, n, 0.9) / 1e3,
                             (double)(cpu1 - cpu0) / 1e3 / n,
                             (double)(s1.parks - s0.parks) / n, (double)(ipi1 - ipi0) / n};
    free(lat);
    return r;
}

/* ---- busy threads ---- */
struct busy {
    pthread_t tid;
    _Atomic bool *stop;
    _Atomic uint64_t count;
};

static void *busy_main(void *p)
{
    struct busy *b = p;
    uint64_t x = 1, n = 0;
    while (!atomic_load_explicit(b->stop, memory_order_relaxed)) {
        x = bench_work(4096, x);
        n += 4096;
    }
    atomic_store(&b->count, n + (x & 0)); /* after the stop: the main thread joins */
    return NULL;
}

/* Start k busy threads on b[0..k), stopped by *stop. */
static void busy_start(struct busy *b, unsigned k, _Atomic bool *stop)
{
    for (unsigned i = 0; i < k; i++) {
        b[i].stop = stop;
        atomic_init(&b[i].count, 0);
        if (pthread_create(&b[i].tid, NULL, busy_main, &b[i]) != 0) {
            perror("park-bench: pthread_create");
            exit(1);
        }
    }
}

/* Join the k busy threads (stopped): their iterations in all. */
static uint64_t busy_end(struct busy *b, unsigned k)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < k; i++) {
        pthread_join(b[i].tid, NULL);
        sum += atomic_load(&b[i].count);
    }
    return sum;
}

/* Iterations per second of k busy threads over ms, with rt (or none) doing
 * bursts meanwhile; *bursts_out receives how many bursts ran, *ipis_out the
 * IPIs per second. */
static double busy_rate(unsigned k, uint64_t ms, weft_runtime *rt, unsigned tasks, uint64_t pause,
                        unsigned *bursts_out, double *ipis_out)
{
    struct busy b[64];
    _Atomic bool stop = false;
    busy_start(b, k, &stop);
    uint64_t ipi0 = ipis();
    weft_time t0 = weft_now(), until = t0 + (weft_time)ms * WEFT_MSEC;
    unsigned bursts = 0;
    struct burst bu = {.tasks = tasks};
    while (weft_now() < until) {
        pause_us(pause);
        if (rt != NULL) {
            if (weft_run(rt, burst_root, &bu, NULL) != 0)
                exit(1);
            bursts++;
        }
    }
    atomic_store(&stop, true);
    weft_time t1 = weft_now();
    *ipis_out = (double)(ipis() - ipi0) / ((double)(t1 - t0) / 1e9);
    uint64_t sum = busy_end(b, k);
    *bursts_out = bursts;
    return (double)sum / ((double)(t1 - t0) / 1e9);
}

/* The busy threads' throughput while this thread issues membarrier
 * (PRIVATE_EXPEDITED) back to back for ms, over a run while it sleeps;
 * *ns_per_call receives a call's time. What each IPI costs them. */
static double membarrier_rate(unsigned k, uint64_t ms, double *ns_per_call, double *calls_per_s)
{
    struct busy b[64];
    _Atomic bool stop = false;
    busy_start(b, k, &stop);
    weft_time t0 = weft_now(), until = t0 + (weft_time)ms * WEFT_MSEC;
    uint64_t calls = 0;
    while (weft_now() < until) {
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
        calls++;
    }
    atomic_store(&stop, true);
    weft_time t1 = weft_now();
    uint64_t sum = busy_end(b, k);
    *ns_per_call = (double)(t1 - t0) / (double)(calls ? calls : 1);
    *calls_per_s = (double)calls / ((double)(t1 - t0) / 1e9);
    return (double)sum / ((double)(t1 - t0) / 1e9);
}

/* ---- flat spawn ---- */
static double flat_rate(weft_runtime *rt, uint64_t n)
{
    double v[3];
    for (int i = 0; i < 4; i++) {
        struct kw_spawn a = {n};
        weft_time t0 = weft_now();
        if (weft_run(rt, kw_spawn_task, &a, NULL) != 0)
            exit(1);
        if (i > 0)
            v[i - 1] = (double)n / ((double)(weft_now() - t0) / 1e9) / 1e6;
    }
    return bench_median_d(v, 3);
}

static int fib_main(int argc, char **argv)
{
    unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 30;
    unsigned w = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1;
    const char *m = getenv("PARK_MODE");
    int mode = 0;
    for (int i = 0; m != NULL && i < NMODES; i++)
        if (strcmp(m, mode_name[i]) == 0)
            mode = i;
    weft_runtime *rt = make_runtime(mode, w);
    uint64_t r = 0;
    kw_fib(rt, 10, &r); /* warm-up, out of callgrind's collection only by size */
    weft_time t0 = weft_now();
    int rc = kw_fib(rt, n, &r);
    weft_time t1 = weft_now();
    printf("park-bench fib(%u) %s, %u workers: %.6f s, result %llu\n", n, mode_name[mode], w,
           (double)(t1 - t0) / 1e9, (unsigned long long)r);
    destroy(rt);
    return rc == 0 && r == kernel_fib_expected(n) ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "fib") == 0)
        return fib_main(argc, argv);
    unsigned rounds = (unsigned)bench_env_u64("PARK_ROUNDS", 5);
    unsigned nbursts = (unsigned)bench_env_u64("PARK_BURSTS", 200);
    unsigned tasks = (unsigned)bench_env_u64("PARK_BURST_TASKS", 32);
    uint64_t pause = bench_env_u64("PARK_PAUSE_US", 500);
    uint64_t busy_ms = bench_env_u64("PARK_BUSY_MS", 400);
    uint64_t flat_n = bench_env_u64("PARK_FLAT_TASKS", 1000000);
    unsigned busy_workers = (unsigned)bench_env_u64("PARK_BUSY_WORKERS", 2);
    if (rounds > MAXROUNDS)
        rounds = MAXROUNDS;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned k = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus;
    double ns_per_iter;
    work_iters = bench_calibrate(2000, &ns_per_iter);
    printf("park-bench: %u rounds, medians; %ld CPUs; bursts of %u tasks of ~2 us, "
           "%llu us pauses\n",
           rounds, cpus, tasks, (unsigned long long)pause);

    static const unsigned burst_workers[] = {2, 16};
    for (unsigned wi = 0; wi < 2; wi++) {
        unsigned w = burst_workers[wi];
        double tot[NMODES][MAXROUNDS], p50[NMODES][MAXROUNDS], p90[NMODES][MAXROUNDS],
            cpu[NMODES][MAXROUNDS], parks[NMODES][MAXROUNDS], ipi[NMODES][MAXROUNDS];
        for (unsigned r = 0; r < rounds; r++)
            for (int j = 0; j < NMODES; j++) {
                int m = (int)((r + (unsigned)j) % NMODES);
                weft_runtime *rt = make_runtime(m, w);
                run_bursts(rt, 10, tasks, pause); /* warm-up */
                struct burst_result br = run_bursts(rt, nbursts, tasks, pause);
                destroy(rt);
                tot[m][r] = br.total_ms;
                p50[m][r] = br.p50_us;
                p90[m][r] = br.p90_us;
                cpu[m][r] = br.cpu_us;
                parks[m][r] = br.parks;
                ipi[m][r] = br.ipis;
            }
        printf("\nbursts, %u workers, %u bursts: total ms (pauses excluded), latency p50/p90 us, "
               "CPU us per burst+pause, parks and IPIs (all CPUs) per burst\n",
               w, nbursts);
        for (int m = 0; m < NMODES; m++)
            printf("  %-10s  total %8.2f ms  p50 %7.1f us  p90 %7.1f us  cpu %7.1f us  parks %5.1f"
                   "  IPIs %5.1f\n",
                   mode_name[m], bench_median_d(tot[m], rounds), bench_median_d(p50[m], rounds),
                   bench_median_d(p90[m], rounds), bench_median_d(cpu[m], rounds),
                   bench_median_d(parks[m], rounds), bench_median_d(ipi[m], rounds));
    }

    {
        /* each run beside the runtime is compared with a run alone just
         * before it: the machine may be shared, its load drifts */
        double ratio[NMODES][MAXROUNDS], nb[NMODES][MAXROUNDS], ipw[NMODES][MAXROUNDS];
        double ipa[NMODES][MAXROUNDS];
        for (unsigned r = 0; r < rounds; r++)
            for (int j = 0; j < NMODES; j++) {
                int m = (int)((r + (unsigned)j) % NMODES);
                unsigned b;
                double alone = busy_rate(k, busy_ms, NULL, tasks, pause, &b, &ipa[m][r]);
                weft_runtime *rt = make_runtime(m, busy_workers);
                run_bursts(rt, 10, tasks, pause);
                ratio[m][r] = busy_rate(k, busy_ms, rt, tasks, pause, &b, &ipw[m][r]) / alone;
                nb[m][r] = b;
                destroy(rt);
            }
        printf("\nbusy: %u pthreads doing arithmetic for %llu ms beside a %u-worker runtime doing "
               "bursts: their throughput over that of a run alone just before\n",
               k, (unsigned long long)busy_ms, busy_workers);
        for (int m = 0; m < NMODES; m++)
            printf("  %-10s  %.3f  %5.0f bursts  %7.0f IPIs/s (%.0f alone)\n", mode_name[m],
                   bench_median_d(ratio[m], rounds), bench_median_d(nb[m], rounds),
                   bench_median_d(ipw[m], rounds), bench_median_d(ipa[m], rounds));
    }

    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
        unsigned kb = k > 1 ? k - 1 : 1; /* one CPU left for the caller */
        double ratio[MAXROUNDS], ns[MAXROUNDS], cps[MAXROUNDS];
        for (unsigned r = 0; r < rounds; r++) {
            unsigned b;
            double ip;
            double alone = busy_rate(kb, busy_ms, NULL, tasks, pause, &b, &ip);
            ratio[r] = membarrier_rate(kb, busy_ms, &ns[r], &cps[r]) / alone;
        }
        double x = bench_median_d(ratio, rounds), c = bench_median_d(cps, rounds);
        printf("\nmembarrier back to back beside %u busy pthread%s: %.0f ns a call, %.0f calls/s; "
               "their throughput %.3f of alone: %.2f us lost per call\n",
               kb, kb == 1 ? "" : "s", bench_median_d(ns, rounds), c, x,
               (1.0 - x) * kb * 1e6 / c);
    }

    static const unsigned flat_workers[] = {1, 2};
    for (unsigned wi = 0; wi < 2; wi++) {
        unsigned w = flat_workers[wi];
        double v[NMODES][MAXROUNDS];
        for (unsigned r = 0; r < rounds; r++)
            for (int j = 0; j < NMODES; j++) {
                int m = (int)((r + (unsigned)j) % NMODES);
                weft_runtime *rt = make_runtime(m, w);
                v[m][r] = flat_rate(rt, flat_n);
                destroy(rt);
            }
        printf("\nflat spawn of %llu empty tasks, %u worker%s, steady state: M tasks/s\n",
               (unsigned long long)flat_n, w, w == 1 ? "" : "s");
        for (int m = 0; m < NMODES; m++)
            printf("  %-10s  %7.1f\n", mode_name[m], bench_median_d(v[m], rounds));
    }
    return 0;
}
