/*
 * twin_common.h - the command line and timing of weft's twins of Lace's
 * benchmark programs (bench/twin_*.c, compared by bench/lace-bench.sh).
 *
 *   fib-weft    -w WORKERS | -s   N              twin of Lace's fib-lace
 *   queens-weft -w WORKERS | -s   N              twin of Lace's queens-lace
 *   uts-weft    -w WORKERS | -s   UTS-OPTIONS    twin of Lace's uts-lace
 *
 * `-w W` runs the kernel on a weft runtime with W workers (as Lace's `-w W`);
 * `-s` runs the sequential twin in the same program: every spawn a plain call,
 * no runtime. Each program prints its result in the words of the Lace program
 * it twins, then `Time: SECONDS` (CLOCK_MONOTONIC around the kernel only, as
 * Lace's programs time it: the runtime is created before, and no warm-up run,
 * as Lace has none). Bad arguments exit 2, a failed run 1.
 */
#ifndef WEFT_BENCH_TWIN_COMMON_H
#define WEFT_BENCH_TWIN_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#define TWIN_MAX_WORKERS 1024

typedef struct twin_opts {
    bool seq;          /* -s: the sequential twin */
    unsigned workers;  /* -w W, 1..TWIN_MAX_WORKERS */
    int next;          /* index in argv of the first argument after the options */
} twin_opts;

static inline double twin_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int twin_usage(const char *prog, const char *args)
{
    fprintf(stderr, "usage: %s -w WORKERS %s\n       %s -s %s\n", prog, args, prog, args);
    return 2;
}

/* Parses a leading `-w W` or `-s`; false on anything else. */
static inline bool twin_parse(int argc, char **argv, twin_opts *o)
{
    o->seq = false;
    o->workers = 0;
    o->next = 1;
    if (argc >= 2 && strcmp(argv[1], "-s") == 0) {
        o->seq = true;
        o->next = 2;
        return true;
    }
    if (argc >= 3 && strcmp(argv[1], "-w") == 0) {
        char *end;
        errno = 0;
        long w = strtol(argv[2], &end, 10);
        if (errno != 0 || *end != '\0' || end == argv[2] || w < 1 || w > TWIN_MAX_WORKERS)
            return false;
        o->workers = (unsigned)w;
        o->next = 3;
        return true;
    }
    return false;
}

/* The one numeric argument N of fib and queens: 1..max. */
static inline bool twin_parse_n(int argc, char **argv, const twin_opts *o, int max, int *n)
{
    if (argc != o->next + 1)
        return false;
    char *end;
    errno = 0;
    long v = strtol(argv[o->next], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[o->next] || v < 1 || v > max)
        return false;
    *n = (int)v;
    return true;
}

/* A runtime with exactly `workers` workers, or NULL after a message. */
static inline weft_runtime *twin_runtime(const char *prog, unsigned workers)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL)
        fprintf(stderr, "%s: cannot start %u workers: %s\n", prog, workers, strerror(errno));
    return rt;
}

/* The runtime (if any) destroyed; the run's status, else destroy's. */
static inline int twin_stop(weft_runtime *rt, int rc)
{
    int drc = rt != NULL ? weft_runtime_destroy(rt) : 0;
    return rc != 0 ? rc : drc;
}

static inline int twin_failed(const char *prog, int rc)
{
    fprintf(stderr, "%s: the run failed: %s\n", prog, strerror(rc));
    return 1;
}

/* The last line of every run, after the result. */
static inline int twin_time(double seconds)
{
    printf("Time: %f\n", seconds);
    return fflush(stdout) == 0 ? 0 : 1;
}

#endif
