/*
 * twin_queens.c - queens-weft, weft's twin of Lace's
 * benchmarks/queens/queens-lace.c (and, with -s, of queens-seq.c).
 *
 * The same work as Lace's program, not bench-weft's nqueens kernel (which
 * keeps the board in three bit masks and costs a few instructions per
 * candidate): a partial placement is an array of row positions; for every
 * candidate column of the next row the array is copied, extended and
 * checked against every pair of queens (quadratic in the row), and each
 * placement that passes is spawned as a task for the next row; then all of
 * them are joined and their counts added. No cutoff. Lace takes each
 * candidate's copy from alloca; here it is one row of a board array in the
 * parent's frame, which lives until the join, as Lace's alloca does.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "twin_common.h"

#define QUEENS_MAX 20  /* largest board; the frames below hold this many rows */

/* 1 when no two of the first `count` queens (one per row, at column rows[r])
 * share a column or a diagonal. */
static int placement_ok(int count, const char *rows)
{
    for (int r = 0; r < count; r++) {
        char p = rows[r];
        for (int s = r + 1; s < count; s++) {
            char q = rows[s];
            if (q == p || q == p - (s - r) || q == p + (s - r))
                return 0;
        }
    }
    return 1;
}

/* The sequential twin: queens-seq's recursion. */
static long queens_seq(int n, int j, const char *a)
{
    if (n == j)
        return 1;
    char board[QUEENS_MAX][QUEENS_MAX];
    long count = 0;
    for (int i = 0; i < n; i++) {
        char *b = board[i];
        memcpy(b, a, (size_t)j);
        b[j] = (char)i;
        if (placement_ok(j + 1, b))
            count += queens_seq(n, j + 1, b);
    }
    return count;
}

struct queens_frame {
    int n, j;        /* board size, rows placed in a */
    const char *a;   /* the placement so far, owned by the parent */
    long result;     /* solutions below it */
};

static int queens_task(weft_task *self, void *p)
{
    struct queens_frame *f = (struct queens_frame *)p;
    int n = f->n, j = f->j;
    if (n == j) {
        f->result = 1;
        return 0;
    }
    char board[QUEENS_MAX][QUEENS_MAX];
    struct queens_frame child[QUEENS_MAX];
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    int k = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char *b = board[i];
        memcpy(b, f->a, (size_t)j);
        b[j] = (char)i;
        if (placement_ok(j + 1, b)) {
            child[k] = (struct queens_frame){n, j + 1, b, 0};
            rc = weft_spawn(&g, queens_task, &child[k]);
            k += rc == 0;
        }
    }
    int rc2 = weft_group_join(&g, NULL);
    long res = 0;
    for (int i = 0; i < k; i++)
        res += child[i].result;
    f->result = res;
    return rc != 0 ? rc : rc2;
}

int main(int argc, char **argv)
{
    twin_opts o;
    int n;
    if (!twin_parse(argc, argv, &o) || !twin_parse_n(argc, argv, &o, QUEENS_MAX, &n))
        return twin_usage(argv[0], "N");

    weft_runtime *rt = NULL;
    if (!o.seq && (rt = twin_runtime(argv[0], o.workers)) == NULL)
        return 1;
    if (o.seq)
        printf("running queens %d sequentially...\n", n);
    else
        printf("running queens %d with %u workers...\n", n, o.workers);

    char a[QUEENS_MAX] = {0};
    struct queens_frame root = {n, 0, a, 0};
    int rc = 0;
    double t1 = twin_seconds();
    if (o.seq)
        root.result = queens_seq(n, 0, a);
    else
        rc = weft_run(rt, queens_task, &root, NULL);
    double t2 = twin_seconds();

    rc = twin_stop(rt, rc);
    if (rc != 0)
        return twin_failed(argv[0], rc);
    printf("Result: Q(%d) = %ld\n", n, root.result);
    return twin_time(t2 - t1);
}
