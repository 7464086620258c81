/*
 * nqueens-seq: the sequential twin of nqueens.c, its speedup's baseline:
 *   diff -u examples/nqueens_seq.c examples/nqueens.c
 *
 * Usage: ./examples/nqueens-seq [N]
 * Prints the time on stderr and `n=N solutions=S known=yes` on stdout, as
 * nqueens does. Exit status: 0 right, 1 wrong, 2 usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>

#include "nqueens_common.h"

/* Counts the solutions below b: one call per queen placed on the next row. */
static void search(struct board *b)
{
    if (b->row >= NQ_SPLIT || b->row == b->n) { /* deep enough: plain recursion */
        b->solutions = nq_count(*b);
        return;
    }
    struct board next[NQ_MAX]; /* one per free square of the next row */
    int k = 0;
    for (uint32_t free = nq_free(b); free != 0; free &= free - 1) {
        next[k] = nq_place(b, free & -free);
        search(&next[k]);
        k++;
    }
    b->solutions = 0;
    for (int i = 0; i < k; i++)
        b->solutions += next[i].solutions;
}

int main(int argc, char **argv)
{
    int n;
    unsigned workers;
    int rc = nq_parse(argc, argv, "nqueens-seq", false, &n, &workers);
    if (rc >= 0)
        return rc;

    struct board root = {.n = n};
    double t0 = nq_seconds();
    search(&root);
    double elapsed = nq_seconds() - t0;

    fprintf(stderr, "nqueens-seq: %d queens in %.3f s, sequential\n", n, elapsed);
    return nq_report(n, root.solutions);
}
