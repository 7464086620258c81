/*
 * Helpers shared by the weft-only benchmark programs (cancel-bench,
 * sleep-bench, errors-bench, blocking-bench, idle-bench): settings from the environment,
 * percentiles and medians, the process's CPU time and thread count, and a
 * calibrated busy loop standing in for a task's work.
 */
#ifndef WEFT_BENCH_STATS_H
#define WEFT_BENCH_STATS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

/* $name as a positive integer, else dflt. */
static inline uint64_t bench_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    return *end == '\0' && v > 0 ? (uint64_t)v : dflt;
}

/* qsort comparator for int64_t. */
static inline int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, p in (0, 1]. */
static inline int64_t bench_pct(const int64_t *v, size_t n, double p)
{
    size_t k = (size_t)((double)n * p + 0.999999);
    return v[k == 0 ? 0 : k > n ? n - 1 : k - 1];
}

/* `iters` steps of an LCG the compiler cannot fold: work of known length. */
static __attribute__((noinline, unused)) uint64_t bench_work(uint64_t iters, uint64_t x)
{
    for (uint64_t i = 0; i < iters; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

/* Iterations of bench_work in about target_ns: the fastest of several
 * timings (noise only slows); *ns_per_iter receives the rate. */
static inline uint64_t bench_calibrate(int64_t target_ns, double *ns_per_iter)
{
    const uint64_t probe = 200000;
    int64_t best = INT64_MAX;
    uint64_t x = 1;
    for (int i = 0; i < 9; i++) {
        weft_time t0 = weft_now();
        x = bench_work(probe, x);
        int64_t d = weft_now() - t0;
        if (d < best)
            best = d;
    }
    uint64_t iters = (uint64_t)((double)probe * (double)target_ns / (double)(best > 0 ? best : 1));
    *ns_per_iter = (double)best / (double)probe;
    return iters != 0 ? iters : 1;
}

/* The median of n (> 0) values, sorted in place (insertion sort: a handful of rounds). */
static inline double bench_median_d(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* CPU time of the whole process, every thread's, in ns. */
static inline int64_t bench_process_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

/* The number after `field` ("Threads:", "VmRSS:") in /proc/self/status, or -1. */
static inline long bench_proc_status(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    size_t len = strlen(field);
    long n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, len) == 0)
            n = strtol(line + len, NULL, 10);
    fclose(f);
    return n;
}

/* Threads of the process now, or -1. */
static inline long bench_process_threads(void)
{
    return bench_proc_status("Threads:");
}

/* The machine may be shared: the schedstat files of the threads a run
 * depends on, whose field 2 is the ns a thread spent runnable but waiting
 * for a CPU (Linux; 0 where the kernel does not keep it). */
#define BENCH_RUNQ_MAX 64
struct bench_runq {
    char path[BENCH_RUNQ_MAX][64];
    int n;
};

/* Calls fn(tid, name, arg) for each thread of this process now whose name
 * begins with one of `prefixes` (NULL-terminated); tid is its entry in
 * /proc/self/task (Linux). */
static inline void bench_each_thread(const char *const *prefixes,
                                     void (*fn)(const char *tid, const char *name, void *arg),
                                     void *arg)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        bool mine = false;
        if (fgets(comm, sizeof comm, f) != NULL)
            for (const char *const *p = prefixes; *p != NULL; p++)
                mine |= strncmp(comm, *p, strlen(*p)) == 0;
        fclose(f);
        if (mine)
            fn(e->d_name, comm, arg);
    }
    closedir(d);
}

static inline void bench_runq_add(const char *tid, const char *name, void *arg)
{
    (void)name;
    struct bench_runq *w = arg;
    if (w->n < BENCH_RUNQ_MAX)
        snprintf(w->path[w->n++], sizeof w->path[0], "/proc/self/task/%.20s/schedstat", tid);
}

/* Watch this process's threads whose name begins with one of `prefixes`
 * (NULL-terminated); threads started later are not seen. */
static inline void bench_runq_watch(struct bench_runq *w, const char *const *prefixes)
{
    w->n = 0;
    bench_each_thread(prefixes, bench_runq_add, w);
}

/* The watched threads' total run-queue wait so far, ns. */
static inline int64_t bench_runq_wait_ns(const struct bench_runq *w)
{
    int64_t sum = 0;
    for (int i = 0; i < w->n; i++) {
        FILE *f = fopen(w->path[i], "r");
        unsigned long long run, wait;
        if (f == NULL)
            continue;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2)
            sum += (int64_t)wait;
        fclose(f);
    }
    return sum;
}

#endif
