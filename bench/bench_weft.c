/*
 * bench_weft.c - the kernels on weft (bench-weft), same command line and
 * output as every other bench-IMPL (see bench_common.h).
 */
#include "config.h"

#include <weft/weft.h>

#include "bench_common.h"
#include "kernels_weft.h"

static weft_runtime *rt;

static int weft_start(unsigned workers)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    rt = weft_runtime_create(&cfg);
    return rt != NULL ? 0 : errno;
}

static void weft_stop(void)
{
    weft_runtime_destroy(rt);
    rt = NULL;
}

static int b_fib(unsigned n, uint64_t *result) { return kw_fib(rt, n, result); }
static int b_nqueens(unsigned n, uint64_t *solutions) { return kw_nqueens(rt, n, solutions); }
static int b_uts(unsigned root_children, uint64_t *nodes) { return kw_uts(rt, root_children, nodes); }
static int b_sort(uint64_t *keys, size_t n, uint64_t *spawns) { return kw_sort(rt, keys, n, spawns); }
static int b_spawn(uint64_t n) { return kw_spawn(rt, n); }

int main(int argc, char **argv)
{
    static const bench_impl impl = {
        .name = "weft",
        .parallel = true,
        .start = weft_start,
        .stop = weft_stop,
        .fib = b_fib,
        .nqueens = b_nqueens,
        .uts = b_uts,
        .sort = b_sort,
        .spawn = b_spawn,
    };
    return bench_main(argc, argv, &impl);
}
