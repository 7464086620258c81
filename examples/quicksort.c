/*
 * quicksort: fork-join with weft groups, a parallel quicksort of 64-bit keys.
 *
 * Each partition step splits a range in two halves that can be sorted
 * independently: the left half is spawned as a task (an idle worker may
 * steal it), the right half is sorted by a plain call on this worker, and
 * weft_group_join waits for the left one, running other tasks meanwhile.
 * Below QS_CUTOFF keys a range is sorted sequentially: a task must carry
 * enough work to pay for itself.
 *
 * Cancellation is cooperative: with --deadline-ms the whole sort runs in a
 * group with a deadline; when it passes, every task below sees
 * weft_cancelled() on entry and returns ECANCELED instead of sorting, and
 * the join reports ETIMEDOUT. Tasks look at the flag once per range, so the
 * program gives up within one partition step (at worst the first one, some
 * 30 ms on 10^7 keys).
 *
 * Its sequential twin is quicksort_seq.c: the algorithm and everything
 * around it live in quicksort_common.h, so
 *   diff -u examples/quicksort_seq.c examples/quicksort.c
 * shows exactly what weft adds.
 *
 * Uses only <weft/weft.h> and POSIX. Built by `make`, tested by `make check`.
 * Usage: ./examples/quicksort [--pattern P] [--deadline-ms MS] [N [SEED [WORKERS]]]
 * Prints the time the sort took on stderr and one line on stdout,
 *   n=N seed=SEED pattern=P sorted=yes checksum=...
 * which quicksort-seq prints too, byte for byte. Exit status: 0 sorted, 1 not
 * (or out of memory), 2 usage error, 3 the deadline passed (ETIMEDOUT).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

#include "quicksort_common.h"

/* A range of keys to sort: a task's argument. */
struct span {
    uint64_t *a;
    size_t n;
};

/* Sorts one range: partition, then both halves in parallel. */
static int sort_span(weft_task *self, void *arg)
{
    struct span *s = arg;
    if (weft_cancelled(self)) /* past the deadline: leave the range as it is */
        return ECANCELED;
    if (s->n <= QS_CUTOFF) { /* small: plain sequential quicksort */
        qs_sort_small(s->a, s->n);
        return 0;
    }
    size_t p = qs_partition(s->a, s->n);
    struct span left = {s->a, p}, right = {s->a + p, s->n - p};
    weft_group g; /* on this task's stack, like left and right */
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, sort_span, &left); /* another worker may steal it */
    if (rc == 0)
        rc = sort_span(self, &right); /* meanwhile: a plain call */
    /* always join, even after a failure: left lives on this stack */
    int rc_join = weft_group_join(&g, NULL);
    return rc != 0 ? rc : rc_join;
}

/* The root task: the whole sort in a group with the deadline, if any. */
struct job {
    struct span all;
    weft_time deadline;
};

static int sort_all(weft_task *self, void *arg)
{
    struct job *job = arg;
    weft_group g;
    weft_group_opts opts = {.deadline = job->deadline, .name = "quicksort"};
    int rc = weft_group_init(&g, self, &opts);
    if (rc != 0)
        return rc;
    rc = weft_spawn(&g, sort_span, &job->all);
    int rc_join = weft_group_join(&g, NULL); /* ETIMEDOUT when the deadline ended it */
    return rc != 0 ? rc : rc_join;
}

int main(int argc, char **argv)
{
    struct qs_opts o;
    int rc = qs_parse(argc, argv, "quicksort", true, &o);
    if (rc >= 0)
        return rc;
    uint64_t *a = qs_generate(o.n, o.seed, o.pattern);
    if (a == NULL) {
        fprintf(stderr, "quicksort: cannot allocate %zu keys\n", o.n);
        return 1;
    }
    uint64_t fingerprint = qs_fingerprint(a, o.n);

    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = o.workers; /* 0: $WEFT_WORKERS, else one per CPU */
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        fprintf(stderr, "quicksort: weft_runtime_create: %s\n", strerror(errno));
        free(a);
        return 1;
    }
    struct job job = {.all = {a, o.n}, .deadline = WEFT_NEVER};
    if (o.deadline_ms >= 0)
        job.deadline = weft_after(o.deadline_ms * WEFT_MSEC);
    double t0 = qs_seconds();
    rc = weft_run(rt, sort_all, &job, NULL);
    double elapsed = qs_seconds() - t0;
    unsigned workers = weft_runtime_workers(rt); /* o.workers, $WEFT_WORKERS or the CPUs */
    weft_runtime_destroy(rt);

    if (rc == ETIMEDOUT) {
        fprintf(stderr, "quicksort: gave up after %.3f s: the %ld ms deadline passed "
                        "(ETIMEDOUT); the keys are left partly sorted\n",
                elapsed, o.deadline_ms);
        free(a);
        return 3;
    }
    if (rc != 0) {
        fprintf(stderr, "quicksort: %s\n", strerror(rc));
        free(a);
        return 1;
    }
    fprintf(stderr, "quicksort: %zu keys in %.3f s, %u worker%s\n", o.n, elapsed, workers,
            workers == 1 ? "" : "s");
    rc = qs_report(a, &o, fingerprint);
    free(a);
    return rc;
}
