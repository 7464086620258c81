/*
 * twin_fib.c - fib-weft, weft's twin of Lace's benchmarks/fib/fib-lace.c
 * (and, with -s, of fib-seq.c): naive fib(n), spawn fib(n-1), call fib(n-2),
 * join; no cutoff.
 *
 * That is exactly bench-weft's fib kernel, so this program runs it:
 * kw_fib_task of kernels_weft.h (one group per call, as one SPAWN/SYNC
 * pair per call in Lace) and kernel_fib_seq of kernels.h for -s. The only
 * difference from Lace's is the width of the result (64 bits, Lace's int),
 * which changes no instruction count that matters: both add in registers.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <weft/weft.h>

#include "kernels.h"
#include "kernels_weft.h"
#include "twin_common.h"

int main(int argc, char **argv)
{
    twin_opts o;
    int n;
    if (!twin_parse(argc, argv, &o) || !twin_parse_n(argc, argv, &o, (int)KERNEL_FIB_MAX, &n))
        return twin_usage(argv[0], "N");

    weft_runtime *rt = NULL;
    if (!o.seq && (rt = twin_runtime(argv[0], o.workers)) == NULL)
        return 1;

    uint64_t m = 0;
    int rc = 0;
    double t1 = twin_seconds();
    if (o.seq)
        m = kernel_fib_seq((unsigned)n);
    else
        rc = kw_fib(rt, (unsigned)n, &m);
    double t2 = twin_seconds();

    rc = twin_stop(rt, rc);
    if (rc != 0)
        return twin_failed(argv[0], rc);
    printf("fib(%d) = %" PRIu64 "\n", n, m);
    return twin_time(t2 - t1);
}
