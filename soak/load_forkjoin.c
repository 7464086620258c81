/*
 * Fork-join load: a recursive fib tree (deep, narrow), a wide fan-out with
 * cleanups, and weft_parallel_for over a range whose every index is counted
 * (sometimes with a failing chunk). Each node's exactly-once flag lives in
 * its parent's frame or in an array the scenario owns. Nothing here can be
 * cancelled and no task fails: every join returns 0 (the oracle's rule
 * with nothing possible).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench/kernels.h"
#include "soak/soak.h"

/* A join of tasks that all return 0, in a scope nothing cancels. */
static void check_plain_join(const char *what, int rc)
{
    struct oracle_join join = {.what = what, .rc = rc};
    struct oracle_verdict v;
    soak_check(oracle_check_join(&join, &v), &v);
}

/* ---- fib ---- */

struct fib_node {
    unsigned n;
    uint64_t result;
    atomic_int runs;
};

static int fib_task(weft_task *self, void *arg)
{
    struct fib_node *f = arg;
    soak_count_ran();
    soak_ran_once(&f->runs, "fib node");
    if (f->n < 2) {
        f->result = f->n;
        return 0;
    }
    struct fib_node kids[2] = {{.n = f->n - 1}, {.n = f->n - 2}};
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0) {
        soak_violation("fib: weft_group_init: %d", rc);
        return rc;
    }
    for (int i = 0; i < 2; i++) {
        if ((rc = weft_spawn(&g, fib_task, &kids[i])) != 0)
            soak_violation("fib: weft_spawn: %d", rc);
        else
            soak_count_spawn(false);
    }
    rc = weft_group_join(&g, NULL);
    check_plain_join("a fib node's join", rc);
    soak_check_once(&kids[0].runs, "fib node");
    soak_check_once(&kids[1].runs, "fib node");
    f->result = kids[0].result + kids[1].result;
    return rc;
}

int soak_fib(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    struct fib_node root = {.n = soak_between(&seed, 8, 17)};
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc == 0 && (rc = weft_spawn(&g, fib_task, &root)) == 0)
        soak_count_spawn(false);
    if (rc != 0)
        soak_violation("fib(%u): weft_group_init or weft_spawn returned %d", root.n, rc);
    else
        check_plain_join("fib's join", weft_group_join(&g, NULL));
    soak_check_once(&root.runs, "fib root");
    if (root.result != kernel_fib_expected(root.n))
        soak_violation("fib(%u) = %llu, expected %llu", root.n, (unsigned long long)root.result,
                       (unsigned long long)kernel_fib_expected(root.n));
    return 0;
}

/* ---- wide fan-out with cleanups ---- */

struct leaf {
    uint64_t in, out;
    atomic_int runs, cleanups;
};

static int leaf_task(weft_task *self, void *arg)
{
    (void)self;
    struct leaf *l = arg;
    soak_count_ran();
    soak_ran_once(&l->runs, "fan-out leaf");
    uint64_t x = l->in;
    for (int i = 0; i < 64; i++)
        x = soak_mix(x);
    l->out = x;
    return 0;
}

static void leaf_cleanup(void *arg)
{
    struct leaf *l = arg;
    atomic_fetch_add_explicit(&soak_totals.cleanups, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->cleanups, 1, memory_order_relaxed);
}

int soak_fanout(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    unsigned n = soak_between(&seed, 100, 2000);
    struct leaf *leaves = calloc(n, sizeof *leaves);
    if (leaves == NULL)
        return ENOMEM;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0) {
        free(leaves);
        soak_violation("fan-out: weft_group_init: %d", rc);
        return rc;
    }
    weft_spawn_opts o = {.name = "leaf", .cleanup = leaf_cleanup};
    unsigned spawned = 0;
    for (unsigned i = 0; i < n; i++) {
        leaves[i].in = seed + i;
        if ((rc = weft_spawn_ex(&g, leaf_task, &leaves[i], &o)) != 0) {
            soak_violation("fan-out: weft_spawn_ex: %d", rc);
            break;
        }
        soak_count_spawn(true);
        spawned++;
    }
    check_plain_join("the fan-out's join", weft_group_join(&g, NULL));
    for (unsigned i = 0; i < spawned; i++) {
        char what[32];
        snprintf(what, sizeof what, "fan-out leaf %u", i);
        struct oracle_runs runs = {.what = what,
                                   .spawned = 1,
                                   .runs = atomic_load(&leaves[i].runs),
                                   .returns = -1,
                                   .cleanups = atomic_load(&leaves[i].cleanups),
                                   .cleanups_due = 1,
                                   .cleanups_early = -1};
        struct oracle_verdict v;
        soak_check(oracle_check_runs(&runs, &v), &v);
        uint64_t x = leaves[i].in;
        for (int k = 0; k < 64; k++)
            x = soak_mix(x);
        if (leaves[i].out != x)
            soak_violation("fan-out leaf %u: wrong result", i);
    }
    free(leaves);
    return 0;
}

/* ---- weft_parallel_for: every index once; a failing chunk stops the rest ---- */

struct pfor {
    atomic_uchar *hits;
    size_t fail_at; /* SIZE_MAX: none */
};

static int pfor_body(weft_task *self, size_t lo, size_t hi, void *arg)
{
    struct pfor *p = arg;
    for (size_t i = lo; i < hi; i++)
        atomic_fetch_add_explicit(&p->hits[i], 1, memory_order_relaxed);
    if (p->fail_at >= lo && p->fail_at < hi)
        return weft_fail(self, EIO, "index %zu", p->fail_at);
    return 0;
}

int soak_parallel_for(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    size_t n = soak_between(&seed, 1000, 100000);
    size_t grain = soak_between(&seed, 1, 512);
    bool fail = soak_between(&seed, 0, 3) == 0;
    struct pfor p = {.hits = calloc(n, sizeof *p.hits), .fail_at = SIZE_MAX};
    if (p.hits == NULL)
        return ENOMEM;
    if (fail)
        p.fail_at = soak_rand(&seed) % n;
    int rc = weft_parallel_for(self, 0, n, grain, pfor_body, &p);
    char what[64];
    snprintf(what, sizeof what, "parallel_for over %zu (grain %zu)", n, grain);
    /* nothing stops the loop before its failing chunk ran; after it,
     * chunks not begun are skipped */
    struct oracle_parallel_for pf = {.what = what,
                                     .rc = rc,
                                     .n = n,
                                     .hits = p.hits,
                                     .fail_at = p.fail_at,
                                     .fail_code = EIO,
                                     .fail_must_run = fail};
    struct oracle_verdict v;
    soak_check(oracle_check_parallel_for(&pf, &v), &v);
    free(p.hits);
    return 0;
}
