/*
 * nqueens: fork-join with many children per task. Counting the N-queens
 * solutions explores a tree: every free square of the next row is a subtree.
 * On the first NQ_SPLIT rows each subtree is a task of one weft group,
 * spawned in a loop and joined once; below, plain recursion counts it.
 * Each child writes its count into its own slot of the parent's array (no
 * sharing, no atomics), and the parent adds them up after the join.
 *
 * The sequential twin is nqueens_seq.c:
 *   diff -u examples/nqueens_seq.c examples/nqueens.c
 *
 * Uses only <weft/weft.h> and POSIX. Built by `make`, tested by `make check`.
 * Usage: ./examples/nqueens [N [WORKERS]]
 * Prints the time on stderr and `n=N solutions=S known=yes` on stdout, as
 * nqueens-seq does. Exit status: 0 right, 1 wrong or failed, 2 usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "nqueens_common.h"

/* Counts the solutions below b: one task per queen placed on the next row. */
static int search(weft_task *self, void *arg)
{
    struct board *b = arg;
    if (b->row >= NQ_SPLIT || b->row == b->n) { /* deep enough: plain recursion */
        b->solutions = nq_count(*b);
        return 0;
    }
    struct board next[NQ_MAX]; /* one per free square; outlives the tasks (join) */
    int k = 0;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (uint32_t free = nq_free(b); free != 0 && rc == 0; free &= free - 1) {
        next[k] = nq_place(b, free & -free);
        rc = weft_spawn(&g, search, &next[k]);
        k++;
    }
    int rc_join = weft_group_join(&g, NULL); /* helps run them until all ended */
    if (rc != 0 || rc_join != 0)
        return rc != 0 ? rc : rc_join;
    b->solutions = 0;
    for (int i = 0; i < k; i++)
        b->solutions += next[i].solutions;
    return 0;
}

int main(int argc, char **argv)
{
    int n;
    unsigned workers;
    int rc = nq_parse(argc, argv, "nqueens", true, &n, &workers);
    if (rc >= 0)
        return rc;
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers; /* 0: $WEFT_WORKERS, else one per CPU */
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        fprintf(stderr, "nqueens: weft_runtime_create: %s\n", strerror(errno));
        return 1;
    }

    struct board root = {.n = n};
    double t0 = nq_seconds();
    rc = weft_run(rt, search, &root, NULL);
    double elapsed = nq_seconds() - t0;
    weft_runtime_destroy(rt);
    if (rc != 0) {
        fprintf(stderr, "nqueens: %s\n", strerror(rc));
        return 1;
    }

    fprintf(stderr, "nqueens: %d queens in %.3f s, ", n, elapsed);
    if (workers > 0)
        fprintf(stderr, "%u worker%s\n", workers, workers == 1 ? "" : "s");
    else
        fprintf(stderr, "default workers\n");
    return nq_report(n, root.solutions);
}
