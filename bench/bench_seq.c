/*
 * bench_seq.c - the sequential twin: the same algorithms as every parallel
 * implementation, with each spawn replaced by a plain call and no runtime at all.
 * Its median is the Tseq of the overhead column (T - Tseq) / tasks.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif

#include <stdint.h>

#include "bench_common.h"

static int seq_fib(unsigned n, uint64_t *result)
{
    *result = kernel_fib_seq(n);
    return 0;
}

static int seq_nqueens(unsigned n, uint64_t *solutions)
{
    *solutions = kernel_nqueens_seq(n);
    return 0;
}

static int seq_uts(unsigned root_children, uint64_t *nodes)
{
    *nodes = kernel_uts_seq(root_children);
    return 0;
}

static int seq_sort(uint64_t *keys, size_t n, uint64_t *spawns)
{
    *spawns = kernel_sort_seq(keys, n);
    return 0;
}

static int seq_spawn(uint64_t n)
{
    kernel_spawn_seq(n);
    return 0;
}

int main(int argc, char **argv)
{
    static const bench_impl impl = {
        .name = "seq",
        .parallel = false,
        .fib = seq_fib,
        .nqueens = seq_nqueens,
        .uts = seq_uts,
        .sort = seq_sort,
        .spawn = seq_spawn,
    };
    return bench_main(argc, argv, &impl);
}
