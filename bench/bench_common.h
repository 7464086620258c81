/*
 * bench_common.h - the command line, timing and output of every bench-IMPL.
 *
 *   bench-IMPL KERNEL SIZE WORKERS
 *
 * An implementation fills a bench_impl with its name, a start/stop pair (create
 * and warm the pool outside the timed region) and one function per kernel, then
 * calls bench_main().  bench_main() parses and checks the arguments, builds the
 * input, starts the implementation, runs a small untimed fib to warm it up, times
 * the kernel alone on CLOCK_MONOTONIC, verifies the result and prints one line:
 *
 *   kernel=fib size=30 workers=2 impl=omp-gcc seconds=0.123456 tasks=1346268 result=832040
 *
 * Wrong results and bad arguments go to stderr with a non-zero exit status.
 * Header-only (static inline) so both the C and the C++ implementations use it;
 * the including file must have made clock_gettime visible (_POSIX_C_SOURCE).
 */
#ifndef WEFT_BENCH_COMMON_H
#define WEFT_BENCH_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

enum bench_kernel { BENCH_FIB, BENCH_NQUEENS, BENCH_UTS, BENCH_SORT, BENCH_SPAWN, BENCH_NKERNELS };

/* Each kernel function returns 0 or an error code (then the run fails). */
typedef struct bench_impl {
    const char *name;          /* the impl= label: "seq", "omp-gcc", "tbb", ... */
    bool parallel;             /* false: WORKERS is ignored and printed as 1 */
    int (*start)(unsigned workers);                   /* may be NULL */
    void (*stop)(void);                               /* may be NULL */
    int (*fib)(unsigned n, uint64_t *result);
    int (*nqueens)(unsigned n, uint64_t *solutions);
    int (*uts)(unsigned root_children, uint64_t *nodes);
    int (*sort)(uint64_t *keys, size_t n, uint64_t *spawns);
    int (*spawn)(uint64_t n);
} bench_impl;

#define BENCH_WARMUP_FIB 20u    /* 10945 spawns, untimed, before every timed run */
#define BENCH_MAX_WORKERS 1024u

static inline const char *bench_kernel_name(int k)
{
    static const char *const names[BENCH_NKERNELS] = {"fib", "nqueens", "uts", "sort", "spawn"};
    return k >= 0 && k < BENCH_NKERNELS ? names[k] : "?";
}

/* Largest SIZE accepted per kernel (the smallest is 1). */
static inline uint64_t bench_kernel_max_size(int k)
{
    switch (k) {
    case BENCH_FIB: return KERNEL_FIB_MAX;
    case BENCH_NQUEENS: return KERNEL_NQUEENS_MAX;
    case BENCH_UTS: return KERNEL_UTS_MAX_ROOT;
    case BENCH_SORT: return UINT64_C(1) << 32;
    default: return UINT64_C(1) << 40;
    }
}

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Strict unsigned decimal parse: digits only, no sign, no overflow. */
static inline bool bench_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

static inline int bench_usage(const char *prog, const char *why)
{
    fprintf(stderr, "%s: %s\nusage: %s KERNEL SIZE WORKERS\n"
                    "  KERNEL: fib | nqueens | uts | sort | spawn\n",
            prog, why, prog);
    return 2;
}

static inline int bench_fail(const bench_impl *impl, int k, uint64_t size, const char *what,
                             uint64_t got, uint64_t want)
{
    fprintf(stderr, "bench-%s: %s(%" PRIu64 "): %s: got %" PRIu64 ", expected %" PRIu64 "\n",
            impl->name, bench_kernel_name(k), size, what, got, want);
    return 1;
}

static inline int bench_main(int argc, char **argv, const bench_impl *impl)
{
    const char *prog = argc > 0 ? argv[0] : "bench";
    if (argc != 4 && !(argc == 3 && !impl->parallel))
        return bench_usage(prog, "wrong number of arguments");

    int k = -1;
    for (int i = 0; i < BENCH_NKERNELS; i++)
        if (strcmp(argv[1], bench_kernel_name(i)) == 0)
            k = i;
    if (k < 0)
        return bench_usage(prog, "unknown kernel");

    uint64_t size, workers = 1;
    if (!bench_parse_u64(argv[2], &size) || size < 1 || size > bench_kernel_max_size(k))
        return bench_usage(prog, "SIZE out of range for this kernel");
    if (argc == 4 && (!bench_parse_u64(argv[3], &workers) || workers < 1 ||
                      workers > BENCH_MAX_WORKERS))
        return bench_usage(prog, "WORKERS must be 1..1024");
    if (!impl->parallel)
        workers = 1;

    /* Input and expected values, outside the timed region. */
    uint64_t *keys = NULL, want_sum = 0;
    if (k == BENCH_SORT) {
        keys = (uint64_t *)malloc((size_t)size * sizeof *keys);
        if (keys == NULL) {
            fprintf(stderr, "bench-%s: out of memory for %" PRIu64 " keys\n", impl->name, size);
            return 1;
        }
        kernel_sort_fill(keys, (size_t)size);
        want_sum = kernel_sort_checksum(keys, (size_t)size);
    }

    int err = impl->start ? impl->start((unsigned)workers) : 0;
    if (err != 0) {
        fprintf(stderr, "bench-%s: cannot start %u workers: %s\n", impl->name,
                (unsigned)workers, strerror(err));
        free(keys);
        return 1;
    }
    uint64_t warm = 0;
    err = impl->fib(BENCH_WARMUP_FIB, &warm);
    if (err == 0 && warm != kernel_fib_expected(BENCH_WARMUP_FIB))
        err = EIO;

    uint64_t result = 0, tasks = 0;
    int64_t t0 = bench_now_ns();
    if (err == 0) {
        switch (k) {
        case BENCH_FIB: err = impl->fib((unsigned)size, &result); break;
        case BENCH_NQUEENS: err = impl->nqueens((unsigned)size, &result); break;
        case BENCH_UTS: err = impl->uts((unsigned)size, &result); break;
        case BENCH_SORT: err = impl->sort(keys, (size_t)size, &tasks); break;
        default: err = impl->spawn(size); break;
        }
    }
    int64_t t1 = bench_now_ns();
    if (impl->stop)
        impl->stop();
    if (err != 0) {
        fprintf(stderr, "bench-%s: %s(%" PRIu64 ") failed: %s\n", impl->name,
                bench_kernel_name(k), size, strerror(err));
        free(keys);
        return 1;
    }

    /* Verify, and derive the task count. */
    int rc = 0;
    uint64_t want;
    switch (k) {
    case BENCH_FIB:
        tasks = kernel_fib_tasks((unsigned)size);
        if (result != (want = kernel_fib_expected((unsigned)size)))
            rc = bench_fail(impl, k, size, "wrong result", result, want);
        break;
    case BENCH_NQUEENS:
        tasks = kernel_nqueens_tasks((unsigned)size);
        if (result != (want = kernel_nqueens_expected((unsigned)size)))
            rc = bench_fail(impl, k, size, "wrong solution count", result, want);
        break;
    case BENCH_UTS:
        tasks = result - 1;
        want = kernel_uts_expected((unsigned)size);
        if (want != 0 && result != want)
            rc = bench_fail(impl, k, size, "wrong node count", result, want);
        break;
    case BENCH_SORT:
        result = kernel_sort_checksum(keys, (size_t)size);
        if (!kernel_sort_is_sorted(keys, (size_t)size)) {
            fprintf(stderr, "bench-%s: sort(%" PRIu64 "): keys not sorted\n", impl->name, size);
            rc = 1;
        } else if (result != want_sum) {
            rc = bench_fail(impl, k, size, "keys lost or duplicated (checksum)", result, want_sum);
        }
        break;
    default:
        tasks = result = size;
        break;
    }
    free(keys);
    if (rc != 0)
        return rc;

    printf("kernel=%s size=%" PRIu64 " workers=%u impl=%s seconds=%.6f tasks=%" PRIu64
           " result=%" PRIu64 "\n",
           bench_kernel_name(k), size, (unsigned)workers, impl->name, (double)(t1 - t0) * 1e-9,
           tasks, result);
    return fflush(stdout) == 0 ? 0 : 1;
}

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BENCH_COMMON_H */
