/*
 * Randomized task trees (tree.h): thousands of seeded trees with random
 * fan-out, depth, failures, cancels, deadlines, shields and blocking jobs,
 * detached chains and cancels from a second thread, each described by
 * tree_check.c to the oracle of the contract (tests/oracle/). Trees run in
 * batches, one runtime per batch (1, 2 or 3 workers in turn; every other
 * batch has two program threads calling weft_run at once); after a
 * batch's destroy, its jobs, detached chains and their unhandled failures
 * are checked, and in ASan builds LeakSanitizer is asked for leaks at once
 * (with CK_FORK=no, a leak left by an earlier suite of the same process
 * shows up here too).
 *
 * Environment: WEFT_TEST_SEED replays a run (the seed is printed);
 * WEFT_TREES sets how many trees (default 2000, 500 in sanitizer builds);
 * WEFT_TREE_ONLY=k runs tree k alone (printed with any failure).
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/weft.h>

#include "tests/suites.h"
#include "tests/trees/tree.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#include <sanitizer/lsan_interface.h>
#elif defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#endif

#define BATCH 50

static unsigned long long tree_count(void)
{
#ifdef SANITIZED
    return weft_test_env_u64("WEFT_TREES", 500);
#else
    return weft_test_env_u64("WEFT_TREES", 2000);
#endif
}

/* WEFT_TREE_ONLY=k is k + 1 here, so that tree 0 can be asked for; 0: all. */
static unsigned long long only_tree(void)
{
    const char *s = getenv("WEFT_TREE_ONLY");
    if (s == NULL || *s == '\0')
        return 0;
    char *end;
    unsigned long long k = strtoull(s, &end, 10);
    return *end == '\0' ? k + 1 : 0;
}

static uint64_t tree_seed(unsigned long long k)
{
    return (weft_test_seed() ^ ((k + 1) * 0x9E3779B97F4A7C15ull)) | 1;
}

struct batch {
    struct tree_plan plans[BATCH];
    struct tree_run runs[BATCH];
    struct tree_unhandled unhandled;
    unsigned long long first; /* the number of the batch's first tree */
    unsigned workers;
};

static void report(struct batch *b, size_t k, size_t roots, const char *why)
{
    unsigned long long tree = b->first + k;
    fprintf(stderr,
            "random tree %llu broke a promise: %s\n"
            "replay: WEFT_TEST_SEED=%llu WEFT_TREE_ONLY=%llu CK_RUN_SUITE=random_trees "
            "./tests/check_weft%s\nworkers %u, plan:\n",
            tree, why, weft_test_seed(), tree,
            roots > 1 ? " (alone, though it ran beside other trees)" : "", b->workers);
    tree_print(&b->plans[k], stderr);
    if (b->runs[k].errs != NULL) {
        fprintf(stderr, "error tree:\n");
        weft_errors_print(b->runs[k].errs, stderr);
    }
    ck_abort_msg("random tree %llu (seed %llu): %s", tree, weft_test_seed(), why);
}

/* Runs every `step`-th tree of the batch from `from`: one or two program
 * threads call weft_run at once, as several may. */
struct runner {
    weft_runtime *rt;
    struct batch *b;
    size_t from, n, step;
};

static void *run_trees(void *p)
{
    struct runner *w = p;
    for (size_t k = w->from; k < w->n; k += w->step)
        tree_run(w->rt, &w->b->plans[k], (unsigned)(w->b->first + k), &w->b->runs[k]);
    return NULL;
}

START_TEST(test_random_trees_keep_every_promise)
{
    struct batch *b = calloc(1, sizeof *b);
    ck_assert_ptr_nonnull(b);
    unsigned long long only = only_tree(), total = tree_count();
    unsigned long long batch = only ? (only - 1) / BATCH : (unsigned long long)_i;
    b->first = only ? only - 1 : batch * BATCH;
    size_t n = only ? 1 : (size_t)(total - b->first < BATCH ? total - b->first : BATCH);
    b->workers = 1 + (unsigned)(batch % 3);
    size_t roots = batch % 2 == 0 ? 1 : 2; /* program threads calling weft_run */
    for (size_t k = 0; k < n; k++) {
        uint64_t rng = tree_seed(b->first + k);
        tree_generate(&b->plans[k], &rng);
    }

    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = b->workers;
    cfg.on_unhandled = tree_on_unhandled;
    cfg.on_unhandled_arg = &b->unhandled;
    weft_runtime *rt = weft_runtime_create(&cfg);
    ck_assert_ptr_nonnull(rt);
    struct runner second = {rt, b, 1, n, roots};
    pthread_t tid;
    if (roots == 2)
        ck_assert_int_eq(pthread_create(&tid, NULL, run_trees, &second), 0);
    run_trees(&(struct runner){rt, b, 0, n, roots});
    if (roots == 2)
        pthread_join(tid, NULL);
    char why[256];
    for (size_t k = 0; k < n; k++)
        if (tree_check(&b->runs[k], b->workers, why, sizeof why))
            report(b, k, roots, why);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    if (tree_check_jobs(b->runs, n, b->workers, &b->unhandled, why, sizeof why))
        ck_abort_msg("random trees %llu..%llu (seed %llu), after destroy: %s", b->first,
                     b->first + n - 1, weft_test_seed(), why);
    for (size_t k = 0; k < n; k++)
        weft_errors_free(b->runs[k].errs);
    free(b);
#ifdef __SANITIZE_ADDRESS__
    ck_assert_msg(__lsan_do_recoverable_leak_check() == 0, "random trees leaked (report above)");
#endif
}
END_TEST

Suite *random_trees_suite(void)
{
    Suite *s = suite_create("random_trees");
    TCase *tc = tcase_create("trees");
    unsigned long long total = tree_count();
    int batches = only_tree() ? 1 : (int)((total + BATCH - 1) / BATCH);
    tcase_add_loop_test(tc, test_random_trees_keep_every_promise, 0, batches);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
