/*
 * kernels_weft.h - the five benchmark kernels (bench/kernels.h) on weft
 * groups, shared by bench-weft and the test suite (which checks them against
 * the sequential twins). Uses only <weft/weft.h>. Every task propagates
 * spawn and join failures as its own return code.
 */
#ifndef WEFT_BENCH_KERNELS_WEFT_H
#define WEFT_BENCH_KERNELS_WEFT_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <weft/weft.h>

#include "kernels.h"

/* ---- fib: spawn fib(n-1), call fib(n-2), join ---- */
struct kw_fib {
    unsigned n;
    uint64_t result;
};

static int kw_fib_task(weft_task *self, void *p)
{
    struct kw_fib *a = (struct kw_fib *)p;
    if (a->n < 2) {
        a->result = a->n;
        return 0;
    }
    struct kw_fib x = {a->n - 1, 0}, y = {a->n - 2, 0};
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, kw_fib_task, &x);
    int rc2 = rc == 0 ? kw_fib_task(self, &y) : 0;
    int rc3 = weft_group_join(&g, NULL);
    a->result = x.result + y.result;
    return rc != 0 ? rc : rc2 != 0 ? rc2 : rc3;
}

/* ---- nqueens: a task per valid placement ---- */
struct kw_nq {
    uint32_t all, cols, ld, rd;
    uint64_t result;
};

static int kw_nq_task(weft_task *self, void *p)
{
    struct kw_nq *a = (struct kw_nq *)p;
    if (a->cols == a->all) {
        a->result = 1;
        return 0;
    }
    struct kw_nq child[KERNEL_NQUEENS_MAX];
    unsigned k = 0;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    uint32_t avail = kernel_nqueens_free(a->all, a->cols, a->ld, a->rd);
    while (avail != 0 && rc == 0) {
        uint32_t bit = avail & (0u - avail);
        avail ^= bit;
        child[k].all = a->all;
        child[k].cols = a->cols | bit;
        child[k].ld = kernel_nqueens_ld(a->all, a->ld, bit);
        child[k].rd = kernel_nqueens_rd(a->rd, bit);
        child[k].result = 0;
        rc = weft_spawn(&g, kw_nq_task, &child[k]);
        k += rc == 0;
    }
    int rc2 = weft_group_join(&g, NULL);
    uint64_t sum = 0;
    for (unsigned i = 0; i < k; i++)
        sum += child[i].result;
    a->result = sum;
    return rc != 0 ? rc : rc2;
}

/* ---- uts: a task per node ---- */
struct kw_uts {
    uint64_t state;
    uint64_t result;
};

static int kw_uts_task(weft_task *self, void *p)
{
    struct kw_uts *a = (struct kw_uts *)p;
    unsigned k = kernel_uts_fanout(a->state);
    a->result = 1;
    if (k == 0)
        return 0;
    struct kw_uts child[KERNEL_UTS_M];
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    unsigned spawned = 0;
    for (unsigned i = 0; i < k && rc == 0; i++) {
        child[i].state = kernel_uts_child(a->state, i);
        child[i].result = 0;
        rc = weft_spawn(&g, kw_uts_task, &child[i]);
        spawned += rc == 0;
    }
    int rc2 = weft_group_join(&g, NULL);
    for (unsigned i = 0; i < spawned; i++)
        a->result += child[i].result;
    return rc != 0 ? rc : rc2;
}

struct kw_uts_root {
    unsigned root_children;
    struct kw_uts *child; /* root_children entries */
    uint64_t result;
};

static int kw_uts_root_task(weft_task *self, void *p)
{
    struct kw_uts_root *a = (struct kw_uts_root *)p;
    uint64_t root = kernel_uts_root();
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    unsigned spawned = 0;
    for (unsigned i = 0; i < a->root_children && rc == 0; i++) {
        a->child[i].state = kernel_uts_child(root, i);
        a->child[i].result = 0;
        rc = weft_spawn(&g, kw_uts_task, &a->child[i]);
        spawned += rc == 0;
    }
    int rc2 = weft_group_join(&g, NULL);
    a->result = 1;
    for (unsigned i = 0; i < spawned; i++)
        a->result += a->child[i].result;
    return rc != 0 ? rc : rc2;
}

/* ---- sort: quicksort, both halves spawned above the cutoff ---- */
struct kw_sort {
    uint64_t *a;
    size_t n;
    uint64_t spawns;
};

static int kw_sort_task(weft_task *self, void *p)
{
    struct kw_sort *s = (struct kw_sort *)p;
    if (s->n <= KERNEL_SORT_CUTOFF) {
        kernel_sort_small(s->a, s->n);
        s->spawns = 0;
        return 0;
    }
    size_t m = kernel_sort_partition(s->a, s->n);
    struct kw_sort left = {s->a, m, 0}, right = {s->a + m, s->n - m, 0};
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, kw_sort_task, &left);
    if (rc == 0)
        rc = weft_spawn(&g, kw_sort_task, &right);
    int rc2 = weft_group_join(&g, NULL);
    s->spawns = left.spawns + right.spawns + 2;
    return rc != 0 ? rc : rc2;
}

/* ---- spawn: one task spawns n empty tasks, then joins them ---- */
static int kw_empty_task(weft_task *self, void *arg)
{
    (void)self;
    kernel_empty(arg);
    return 0;
}

struct kw_spawn {
    uint64_t n;
};

static int kw_spawn_task(weft_task *self, void *p)
{
    struct kw_spawn *s = (struct kw_spawn *)p;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (uint64_t i = 0; i < s->n && rc == 0; i++)
        rc = weft_spawn(&g, kw_empty_task, NULL);
    int rc2 = weft_group_join(&g, NULL);
    return rc != 0 ? rc : rc2;
}

/* ---- entry points: run a kernel as a root task of rt ---- */
static inline int kw_fib(weft_runtime *rt, unsigned n, uint64_t *result)
{
    struct kw_fib a = {n, 0};
    int rc = weft_run(rt, kw_fib_task, &a, NULL);
    *result = a.result;
    return rc;
}

static inline int kw_nqueens(weft_runtime *rt, unsigned n, uint64_t *solutions)
{
    struct kw_nq a = {kernel_nqueens_all(n), 0, 0, 0, 0};
    int rc = weft_run(rt, kw_nq_task, &a, NULL);
    *solutions = a.result;
    return rc;
}

static inline int kw_uts(weft_runtime *rt, unsigned root_children, uint64_t *nodes)
{
    struct kw_uts_root a = {root_children, NULL, 0};
    a.child = (struct kw_uts *)calloc(root_children ? root_children : 1, sizeof *a.child);
    if (a.child == NULL)
        return ENOMEM;
    int rc = weft_run(rt, kw_uts_root_task, &a, NULL);
    free(a.child);
    *nodes = a.result;
    return rc;
}

static inline int kw_sort(weft_runtime *rt, uint64_t *keys, size_t n, uint64_t *spawns)
{
    struct kw_sort a = {keys, n, 0};
    int rc = weft_run(rt, kw_sort_task, &a, NULL);
    *spawns = a.spawns;
    return rc;
}

static inline int kw_spawn(weft_runtime *rt, uint64_t n)
{
    struct kw_spawn a = {n};
    return weft_run(rt, kw_spawn_task, &a, NULL);
}

#endif
