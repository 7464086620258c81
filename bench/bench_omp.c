/*
 * bench_omp.c - the kernels on OpenMP tasks (#pragma omp task / taskwait).
 *
 * Built twice: gcc -fopenmp (libgomp, impl=omp-gcc) and clang -fopenmp (LLVM
 * libomp, impl=omp-clang); the label comes from the compiler.  Each kernel runs
 * in one parallel region whose single thread is the root task; the other threads
 * take tasks at the single's barrier.  Children report into slots of the
 * parent's frame, which outlives them thanks to the taskwait.
 *
 * Both runtimes may run a new task immediately instead of deferring it (libgomp
 * past 64 queued tasks per thread of the team, libomp when the thread's deque is
 * full): that is their policy, measured as is.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif

#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench_common.h"

#if defined(__clang__)
#define OMP_IMPL_NAME "omp-clang"
#elif defined(__GNUC__)
#define OMP_IMPL_NAME "omp-gcc"
#else
#define OMP_IMPL_NAME "omp"
#endif

static int omp_start(unsigned workers)
{
    int team = 0;
    omp_set_dynamic(0);
    omp_set_num_threads((int)workers);
    /* Create the team's threads now, outside any timed region. */
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }
    return team == (int)workers ? 0 : EAGAIN;
}

/* ---------------------------------------------------------------- fib */

static uint64_t fib(unsigned n)
{
    if (n < 2)
        return n;
    uint64_t a, b;
#pragma omp task shared(a) firstprivate(n)
    a = fib(n - 1);
    b = fib(n - 2);
#pragma omp taskwait
    return a + b;
}

static int omp_fib(unsigned n, uint64_t *result)
{
    uint64_t r = 0;
#pragma omp parallel shared(r)
    {
#pragma omp single
        r = fib(n);
    }
    *result = r;
    return 0;
}

/* ---------------------------------------------------------------- nqueens */

static uint64_t nqueens(uint32_t all, uint32_t cols, uint32_t ld, uint32_t rd)
{
    if (cols == all)
        return 1;
    uint64_t count[KERNEL_NQUEENS_MAX];
    unsigned k = 0;
    uint32_t avail = kernel_nqueens_free(all, cols, ld, rd);
    while (avail) {
        uint32_t bit = avail & (0u - avail);
        avail ^= bit;
#pragma omp task shared(count) firstprivate(k, all, cols, ld, rd, bit)
        count[k] = nqueens(all, cols | bit, kernel_nqueens_ld(all, ld, bit),
                           kernel_nqueens_rd(rd, bit));
        k++;
    }
#pragma omp taskwait
    uint64_t sum = 0;
    for (unsigned i = 0; i < k; i++)
        sum += count[i];
    return sum;
}

static int omp_nqueens(unsigned n, uint64_t *solutions)
{
    uint64_t r = 0;
#pragma omp parallel shared(r)
    {
#pragma omp single
        r = nqueens(kernel_nqueens_all(n), 0, 0, 0);
    }
    *solutions = r;
    return 0;
}

/* ---------------------------------------------------------------- uts */

static uint64_t uts_node(uint64_t s)
{
    unsigned k = kernel_uts_fanout(s);
    if (k == 0)
        return 1;
    uint64_t count[KERNEL_UTS_M];
    for (unsigned i = 0; i < k; i++) {
#pragma omp task shared(count) firstprivate(i, s)
        count[i] = uts_node(kernel_uts_child(s, i));
    }
#pragma omp taskwait
    uint64_t sum = 1;
    for (unsigned i = 0; i < k; i++)
        sum += count[i];
    return sum;
}

static uint64_t uts_root(unsigned root_children, uint64_t *count)
{
    uint64_t root = kernel_uts_root();
    for (unsigned i = 0; i < root_children; i++) {
#pragma omp task shared(count) firstprivate(i, root)
        count[i] = uts_node(kernel_uts_child(root, i));
    }
#pragma omp taskwait
    uint64_t sum = 1;
    for (unsigned i = 0; i < root_children; i++)
        sum += count[i];
    return sum;
}

static int omp_uts(unsigned root_children, uint64_t *nodes)
{
    uint64_t *count = (uint64_t *)malloc(root_children * sizeof *count);
    if (count == NULL)
        return ENOMEM;
    uint64_t r = 0;
#pragma omp parallel shared(r, count)
    {
#pragma omp single
        r = uts_root(root_children, count);
    }
    free(count);
    *nodes = r;
    return 0;
}

/* ---------------------------------------------------------------- sort */

static uint64_t sort(uint64_t *a, size_t n)
{
    if (n <= KERNEL_SORT_CUTOFF) {
        kernel_sort_small(a, n);
        return 0;
    }
    size_t p = kernel_sort_partition(a, n);
    uint64_t left, right;
#pragma omp task shared(left) firstprivate(a, p)
    left = sort(a, p);
#pragma omp task shared(right) firstprivate(a, p, n)
    right = sort(a + p, n - p);
#pragma omp taskwait
    return left + right + 2;
}

static int omp_sort(uint64_t *keys, size_t n, uint64_t *spawns)
{
    uint64_t r = 0;
#pragma omp parallel shared(r)
    {
#pragma omp single
        r = sort(keys, n);
    }
    *spawns = r;
    return 0;
}

/* ---------------------------------------------------------------- spawn */

static int omp_spawn(uint64_t n)
{
#pragma omp parallel
    {
#pragma omp single
        {
            for (uint64_t i = 0; i < n; i++) {
#pragma omp task
                kernel_empty(NULL);
            }
#pragma omp taskwait
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const bench_impl impl = {
        .name = OMP_IMPL_NAME,
        .parallel = true,
        .start = omp_start,
        .fib = omp_fib,
        .nqueens = omp_nqueens,
        .uts = omp_uts,
        .sort = omp_sort,
        .spawn = omp_spawn,
    };
    return bench_main(argc, argv, &impl);
}
