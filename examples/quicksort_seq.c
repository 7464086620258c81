/*
 * quicksort-seq: the sequential twin of quicksort.c, the baseline its
 * speedup is measured against. The same algorithm on the same input, the
 * recursion run by plain calls: see what weft changes with
 *   diff -u examples/quicksort_seq.c examples/quicksort.c
 *
 * Usage: ./examples/quicksort-seq [--pattern P] [N [SEED]]
 * Prints the time the sort took on stderr and one line on stdout,
 *   n=N seed=SEED pattern=P sorted=yes checksum=...
 * which quicksort prints too, byte for byte. Exit status: 0 sorted, 1 not
 * (or out of memory), 2 usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "quicksort_common.h"

/* A range of keys to sort. */
struct span {
    uint64_t *a;
    size_t n;
};

/* Sorts one range: partition, then each half. */
static void sort_span(struct span *s)
{
    if (s->n <= QS_CUTOFF) { /* small: plain sequential quicksort */
        qs_sort_small(s->a, s->n);
        return;
    }
    size_t p = qs_partition(s->a, s->n);
    struct span left = {s->a, p}, right = {s->a + p, s->n - p};
    sort_span(&left);
    sort_span(&right);
}

int main(int argc, char **argv)
{
    struct qs_opts o;
    int rc = qs_parse(argc, argv, "quicksort-seq", false, &o);
    if (rc >= 0)
        return rc;
    uint64_t *a = qs_generate(o.n, o.seed, o.pattern);
    if (a == NULL) {
        fprintf(stderr, "quicksort-seq: cannot allocate %zu keys\n", o.n);
        return 1;
    }
    uint64_t fingerprint = qs_fingerprint(a, o.n);

    struct span all = {a, o.n};
    double t0 = qs_seconds();
    sort_span(&all);
    double elapsed = qs_seconds() - t0;

    fprintf(stderr, "quicksort-seq: %zu keys in %.3f s, sequential\n", o.n, elapsed);
    rc = qs_report(a, &o, fingerprint);
    free(a);
    return rc;
}
