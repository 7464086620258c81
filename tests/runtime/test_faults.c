/*
 * Fault injection over a representative workload (SQLite-style): the
 * workload runs once un-injected to count its allocations and thread
 * creations, then once per point with exactly that call failing (and once
 * per point with that call and every later one failing). Each run must give
 * a clean code at every public call, no crash, no hang (alarm), every task
 * whose spawn returned 0 run exactly once, no task whose spawn failed run at
 * all, destroy 0, and nothing leaked (the ASan build checks leaks with
 * CK_FORK=no ASAN_OPTIONS=detect_leaks=1).
 *
 * What each call may return, injected code being ENOMEM for the allocation
 * walk and EAGAIN for the thread walk ("E" below; 0 always allowed):
 *   weft_runtime_create        non-NULL, or NULL with errno E
 *   weft_run                   0 (root ran once), or ENOMEM before the root ran
 *   weft_group_init            ENOMEM (a chunk of group states)
 *   weft_spawn / weft_spawn_ex ENOMEM (a task frame)
 *   weft_group_join            the fail-fast group: 0, or E with one error
 *                              record, of the named task, when its deadline could
 *                              not be armed (its nested joins then ECANCELED);
 *                              the stream group: 0 (no task fails);
 *                              the COLLECT group: EIO iff a failing task was
 *                              spawned, its error list holding each failure
 *                              (counted, or lost when its record could not be
 *                              allocated), else 0 and no list
 *   weft_group_next            0 once per spawned task (its arg, status 0),
 *                              then ENOENT
 *   weft_parallel_for          0 with every index run once, or ENOMEM with none
 *   weft_spawn_blocking        ENOMEM, or EAGAIN when no blocking thread could
 *                              start (E in either walk, as documented)
 *   weft_job_wait (20 ms)      ETIMEDOUT: the job blocks until released
 *   weft_retry_run             0 after exactly 3 tries
 *   weft_spawn_detached        ENOMEM
 *   weft_runtime_destroy       0; and no on_unhandled call
 *
 * Environment: WEFT_FAULT_STRIDE=k walks every k-th point only (for the
 * sanitizer builds, default 1: all); WEFT_FAULT_ONLY=n runs only point n of
 * each walk (to replay one failure); WEFT_FAULT_VERBOSE=1 prints each run's
 * main codes.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft/weft.h>

#include "base/alloc.h"
#include "base/thread.h"
#include "runtime/runtime.h"
#include "tests/suites.h"

enum {
    ID_ROOT = 0,
    ID_MID = 1,    /* 1..3: fail-fast group, each with a nested group of 2 */
    ID_NAMED = 4,  /* named, with a deadline */
    ID_LEAF = 10,  /* 10..15: the nested tasks */
    ID_COLLECT = 20, /* 20..23: odd ones fail with EIO */
    ID_STREAM = 30,  /* 30..32 */
    ID_JOB = 40,
    ID_DETACHED = 50,
    IDS = 64,
    PF_N = 64
};

/* One run's record: tasks write, the test thread asserts after destroy. */
static struct world {
    int injected; /* ENOMEM or EAGAIN */
    atomic_int spawned[IDS], ran[IDS];
    atomic_int pf[PF_N];
    atomic_int retries, release_job, unhandled, mid_cancelled;
    int a_rc, pf_rc, job_rc, detached_rc; /* for WEFT_FAULT_VERBOSE */
    _Atomic(const char *) bad; /* first violation seen by a task */
    atomic_int bad_rc;
} W;

static int ids[IDS];

static void violation(const char *where, int rc)
{
    const char *none = NULL;
    if (atomic_compare_exchange_strong(&W.bad, &none, where))
        atomic_store(&W.bad_rc, rc);
}

static void ran(int id)
{
    atomic_fetch_add(&W.ran[id], 1);
}

static int leaf(weft_task *self, void *arg)
{
    (void)self;
    ran(*(int *)arg);
    return 0;
}

static void spawn_id(weft_group *g, weft_fn fn, int id, const weft_spawn_opts *o, const char *where)
{
    int rc = o != NULL ? weft_spawn_ex(g, fn, &ids[id], o) : weft_spawn(g, fn, &ids[id]);
    /* only allocation failures can fail a spawn: a thread failure must not */
    if (rc == 0)
        atomic_store(&W.spawned[id], 1);
    else if (rc != ENOMEM || W.injected != ENOMEM)
        violation(where, rc);
}

static bool init_group(weft_group *g, weft_task *self, unsigned flags, const char *where)
{
    weft_group_opts o = {.flags = flags};
    int rc = weft_group_init(g, self, &o);
    if (rc != 0 && (rc != ENOMEM || W.injected != ENOMEM))
        violation(where, rc);
    return rc == 0;
}

static int mid(weft_task *self, void *arg)
{
    int id = *(int *)arg;
    ran(id);
    weft_group g;
    if (!init_group(&g, self, 0, "mid: group_init"))
        return 0;
    for (int k = 0; k < 2; k++)
        spawn_id(&g, leaf, ID_LEAF + 2 * (id - ID_MID) + k, NULL, "mid: spawn");
    int rc = weft_group_join(&g, NULL);
    if (rc == ECANCELED) /* the named task's failure cancelled A: checked there */
        atomic_fetch_add(&W.mid_cancelled, 1);
    else if (rc != 0)
        violation("mid: join", rc);
    return 0;
}

static int collect_task(weft_task *self, void *arg)
{
    int id = *(int *)arg;
    ran(id);
    return (id & 1) ? weft_fail(self, EIO, "task %d", id) : 0;
}

static int job_fn(weft_task *self, void *arg)
{
    ran(*(int *)arg);
    /* blocks until released (bounded: 10 s), or until cancelled by destroy */
    for (int i = 0; i < 10000 && !atomic_load(&W.release_job) && !weft_cancelled(self); i++) {
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    return 0;
}

static int retry_fn(weft_task *self, void *arg)
{
    (void)self;
    (void)arg;
    return atomic_fetch_add(&W.retries, 1) + 1 < 3 ? EAGAIN : 0;
}

static int pf_body(weft_task *self, size_t lo, size_t hi, void *arg)
{
    (void)self;
    (void)arg;
    for (size_t i = lo; i < hi; i++)
        atomic_fetch_add(&W.pf[i], 1);
    return 0;
}

static int root(weft_task *self, void *arg)
{
    weft_runtime *rt = arg;
    ran(ID_ROOT);

    /* fail-fast group: nested groups and a named task with a deadline */
    weft_group a;
    if (init_group(&a, self, 0, "A: group_init")) {
        for (int id = ID_MID; id < ID_MID + 3; id++)
            spawn_id(&a, mid, id, NULL, "A: spawn");
        weft_spawn_opts named = {.name = "named", .deadline = weft_after(10 * WEFT_SEC)};
        spawn_id(&a, leaf, ID_NAMED, &named, "A: spawn_ex");
        weft_errors *errs = NULL;
        int rc = W.a_rc = weft_group_join(&a, &errs);
        /* the named task's deadline needs the timer (an allocation, a thread):
         * when its scope cannot be made it runs without it and fails with
         * the injected code (scheduler.c, WEFT__TASK_GROUP_UNSCOPED);
         * fail-fast, that cancels A and the nested joins return ECANCELED */
        if (rc == W.injected && atomic_load(&W.spawned[ID_NAMED])) {
            if (errs != NULL && weft_errors_count(errs) + weft_errors_lost(errs) != 1)
                violation("A: join list", (int)weft_errors_count(errs));
            if (weft_errors_count(errs) == 1 &&
                (weft_error_code(weft_errors_at(errs, 0)) != W.injected ||
                 strcmp(weft_error_task(weft_errors_at(errs, 0)), "named") != 0))
                violation("A: join list names another failure",
                          weft_error_code(weft_errors_at(errs, 0)));
        } else if (rc != 0 || errs != NULL || atomic_load(&W.mid_cancelled) != 0) {
            violation("A: join", rc);
        }
        weft_errors_free(errs);
    }

    /* WEFT_COLLECT with failures */
    weft_group b;
    if (init_group(&b, self, WEFT_COLLECT, "B: group_init")) {
        for (int id = ID_COLLECT; id < ID_COLLECT + 4; id++)
            spawn_id(&b, collect_task, id, NULL, "B: spawn");
        size_t failing = (size_t)atomic_load(&W.spawned[ID_COLLECT + 1]) +
                         (size_t)atomic_load(&W.spawned[ID_COLLECT + 3]);
        weft_errors *errs = NULL;
        int rc = weft_group_join(&b, &errs);
        if (rc != (failing > 0 ? EIO : 0))
            violation("B: join code", rc);
        if (failing == 0 && errs != NULL)
            violation("B: join list without failures", 0);
        if (failing > 0 && (errs == NULL ? W.injected != ENOMEM
                                         : weft_errors_count(errs) + weft_errors_lost(errs) != failing))
            violation("B: join list does not account for every failure", (int)failing);
        for (size_t i = 0; i < weft_errors_count(errs); i++)
            if (weft_error_code(weft_errors_at(errs, i)) != EIO)
                violation("B: error code", weft_error_code(weft_errors_at(errs, i)));
        weft_errors_free(errs);
    }

    /* WEFT_STREAM: every completion once, then ENOENT */
    weft_group c;
    if (init_group(&c, self, WEFT_STREAM, "C: group_init")) {
        for (int id = ID_STREAM; id < ID_STREAM + 3; id++)
            spawn_id(&c, leaf, id, NULL, "C: spawn");
        int seen[3] = {0, 0, 0}, rc;
        void *got;
        int status;
        while ((rc = weft_group_next(&c, weft_after(5 * WEFT_SEC), &got, &status)) == 0) {
            int id = *(int *)got;
            if (id < ID_STREAM || id >= ID_STREAM + 3 || !atomic_load(&W.spawned[id]) ||
                seen[id - ID_STREAM]++ != 0 || status != 0)
                violation("C: next handed out a wrong completion", id);
        }
        if (rc != ENOENT)
            violation("C: next", rc);
        for (int k = 0; k < 3; k++)
            if (seen[k] != atomic_load(&W.spawned[ID_STREAM + k]))
                violation("C: next missed a completion", ID_STREAM + k);
        if ((rc = weft_group_join(&c, NULL)) != 0)
            violation("C: join", rc);
    }

    /* parallel_for: all indices once, or ENOMEM and none */
    int rc = W.pf_rc = weft_parallel_for(self, 0, PF_N, 8, pf_body, NULL);
    if (rc != 0 && (rc != ENOMEM || W.injected != ENOMEM))
        violation("parallel_for", rc);
    for (size_t i = 0; i < PF_N; i++)
        if (atomic_load(&W.pf[i]) != (rc == 0 ? 1 : 0))
            violation("parallel_for: an index ran a wrong number of times", (int)i);

    /* a blocking job, waited for with a timeout, then released */
    weft_job *job = NULL;
    rc = W.job_rc = weft_spawn_blocking(self, job_fn, &ids[ID_JOB], NULL, &job);
    if (rc == 0) {
        atomic_store(&W.spawned[ID_JOB], 1);
        if ((rc = weft_job_wait(job, weft_after(20 * WEFT_MSEC))) != ETIMEDOUT)
            violation("job_wait", rc);
        weft_job_release(job);
        atomic_store(&W.release_job, 1);
    } else if (rc != W.injected && !(rc == EAGAIN && W.injected == ENOMEM)) {
        violation("spawn_blocking", rc);
    }

    /* retry: two EAGAIN then success */
    weft_retry policy = {.attempts = 3, .base_delay = WEFT_MSEC};
    if ((rc = weft_retry_run(self, &policy, retry_fn, NULL)) != 0)
        violation("retry_run", rc);
    if (atomic_load(&W.retries) != 3)
        violation("retry_run: tries", atomic_load(&W.retries));

    rc = W.detached_rc = weft_spawn_detached(rt, leaf, &ids[ID_DETACHED]);
    if (rc == 0)
        atomic_store(&W.spawned[ID_DETACHED], 1);
    else if (rc != ENOMEM || W.injected != ENOMEM)
        violation("spawn_detached", rc);
    return 0;
}

static void on_unhandled(const weft_error *err, void *arg)
{
    (void)err;
    (void)arg;
    atomic_fetch_add(&W.unhandled, 1);
}

enum mode { COUNT, ALLOC_NTH, ALLOC_FROM, THREAD_NTH, THREAD_FROM };
static const char *const mode_name[] = {"count", "alloc nth", "alloc from", "thread nth",
                                        "thread from"};

static void arm(enum mode m, unsigned long n)
{
    weft__alloc_fail_nth(m == ALLOC_NTH ? n : 0);
    weft__thread_fail_nth(m == THREAD_NTH ? n : 0);
    if (m == ALLOC_FROM)
        weft__alloc_fail_from(n);
    if (m == THREAD_FROM)
        weft__thread_fail_from(n);
}

/* One run of the workload with point n of mode m failing; asserts. */
static void workload(enum mode m, unsigned long n)
{
    memset(&W, 0, sizeof W);
    for (int i = 0; i < IDS; i++)
        ids[i] = i;
    W.injected = (m == THREAD_NTH || m == THREAD_FROM) ? EAGAIN : ENOMEM;
    const char *what = mode_name[m];

    alarm(20); /* a hang ends the run (and the test) with SIGALRM */
    arm(m, n);
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 2;
    cfg.shutdown_timeout = 5 * WEFT_SEC;
    cfg.on_unhandled = on_unhandled;
    errno = 0;
    weft_runtime *rt = weft_runtime_create(&cfg);
    int create_errno = errno;
    int run_rc = -1, destroy_rc = -1;
    weft_errors *errs = NULL;
    if (rt != NULL) {
        run_rc = weft_run(rt, root, rt, &errs);
        destroy_rc = weft_runtime_destroy(rt);
    }
    if (m != COUNT)
        arm(COUNT, 0);
    alarm(0);

    if (weft_test_env_u64("WEFT_FAULT_VERBOSE", 0))
        printf("faults: %s %lu: create %d, run %d, A %d, parallel_for %d, blocking %d, "
               "detached %d, destroy %d\n", what, n, rt != NULL ? 0 : create_errno, run_rc,
               W.a_rc, W.pf_rc, W.job_rc, W.detached_rc, destroy_rc);
    ck_assert_msg(rt != NULL || create_errno == W.injected,
                  "%s %lu: create failed with errno %d", what, n, create_errno);
    if (rt == NULL) {
        for (int i = 0; i < IDS; i++)
            ck_assert_int_eq(atomic_load(&W.ran[i]), 0);
        return;
    }
    ck_assert_msg(run_rc == 0 || (run_rc == ENOMEM && W.injected == ENOMEM),
                  "%s %lu: weft_run returned %d", what, n, run_rc);
    ck_assert_msg(errs == NULL, "%s %lu: weft_run gave an error list", what, n);
    atomic_store(&W.spawned[ID_ROOT], run_rc == 0);
    ck_assert_msg(atomic_load(&W.bad) == NULL, "%s %lu: %s (%d)", what, n,
                  atomic_load(&W.bad), atomic_load(&W.bad_rc));
    ck_assert_msg(destroy_rc == 0, "%s %lu: destroy returned %d", what, n, destroy_rc);
    for (int i = 0; i < IDS; i++)
        ck_assert_msg(atomic_load(&W.ran[i]) == atomic_load(&W.spawned[i]),
                      "%s %lu: task %d spawned %d, ran %d times", what, n, i,
                      atomic_load(&W.spawned[i]), atomic_load(&W.ran[i]));
    ck_assert_msg(atomic_load(&W.unhandled) == 0, "%s %lu: %d unhandled errors", what, n,
                  atomic_load(&W.unhandled));
}

/* The workload's allocations and thread creations, un-injected: the most
 * of a few runs (timing can add a spare thread or a pool chunk). */
static void count_points(unsigned long *allocs, unsigned long *threads)
{
    *allocs = *threads = 0;
    for (int i = 0; i < 3; i++) {
        arm(COUNT, 0);
        workload(COUNT, 0);
        unsigned long a = weft__alloc_calls(), t = weft__thread_calls();
        *allocs = a > *allocs ? a : *allocs;
        *threads = t > *threads ? t : *threads;
    }
    ck_assert_uint_gt(*allocs, 0);
    ck_assert_uint_gt(*threads, 0);
}

static void walk(enum mode m, unsigned long points)
{
    unsigned long stride = weft_test_env_u64("WEFT_FAULT_STRIDE", 1);
    unsigned long only = weft_test_env_u64("WEFT_FAULT_ONLY", 0);
    /* a margin past the count: a run that allocates more than the counted
     * ones still has its extra points walked */
    for (unsigned long n = 1; n <= points + 2; n += (n == 1 ? 1 : stride)) {
        if (only != 0 && n != only)
            continue;
        workload(m, n);
    }
}

START_TEST(test_every_single_allocation_failure_is_clean)
{
    unsigned long allocs, threads;
    count_points(&allocs, &threads);
    printf("faults: the workload makes %lu allocations and %lu thread creations\n", allocs,
           threads);
    fflush(stdout);
    walk(ALLOC_NTH, allocs);
}
END_TEST

START_TEST(test_every_allocation_failing_from_n_on_is_clean)
{
    unsigned long allocs, threads;
    count_points(&allocs, &threads);
    walk(ALLOC_FROM, allocs);
}
END_TEST

START_TEST(test_every_single_thread_creation_failure_is_clean)
{
    unsigned long allocs, threads;
    count_points(&allocs, &threads);
    walk(THREAD_NTH, threads);
}
END_TEST

START_TEST(test_every_thread_creation_failing_from_n_on_is_clean)
{
    unsigned long allocs, threads;
    count_points(&allocs, &threads);
    walk(THREAD_FROM, threads);
}
END_TEST

/* The hooks themselves: exactly the Nth fails, counted, thread-safe. */
START_TEST(test_fail_nth_fails_exactly_one_allocation)
{
    void *p[6];
    weft__alloc_fail_nth(3);
    for (int i = 0; i < 6; i++)
        p[i] = weft__alloc(16);
    unsigned long calls = weft__alloc_calls();
    weft__alloc_fail_nth(0);
    ck_assert_uint_eq(calls, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert(i == 2 ? p[i] == NULL : p[i] != NULL);
        weft__free(p[i]);
    }
    weft__alloc_fail_from(2);
    p[0] = weft__alloc(16);
    p[1] = weft__alloc_zeroed(16);
    p[2] = weft__alloc_aligned(64, 64);
    weft__alloc_fail_from(0);
    ck_assert_ptr_nonnull(p[0]);
    ck_assert_ptr_null(p[1]);
    ck_assert_ptr_null(p[2]);
    weft__free(p[0]);
}
END_TEST

Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fail_nth_fails_exactly_one_allocation);
    tcase_add_test(tc, test_every_single_allocation_failure_is_clean);
    tcase_add_test(tc, test_every_allocation_failing_from_n_on_is_clean);
    tcase_add_test(tc, test_every_single_thread_creation_failure_is_clean);
    tcase_add_test(tc, test_every_thread_creation_failing_from_n_on_is_clean);
    suite_add_tcase(s, tc);
    return s;
}
