/* WEFT_AFFINITY and weft_config.affinity: with the test process's CPU set
 * narrowed by sched_setaffinity, every worker's own mask (read inside a task
 * it runs) is the one CPU that compact or the list gives it, or the spread
 * set; nothing runs outside the allowed set; none leaves the inherited mask;
 * a blocking thread started from a pinned worker runs over the allowed set. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "tests/caught_stderr.h"
#include "tests/suites.h"

enum { MAX_W = 8 };

/* The test thread's mask and WEFT_AFFINITY/WEFT_STATS before the test, put
 * back by the checked teardown even when an assertion fails (Check forks
 * per test by default, not with CK_FORK=no). */
static cpu_set_t saved_mask;
static char *saved_env[2];
static const char *const env_names[2] = {"WEFT_AFFINITY", "WEFT_STATS"};

static void save_all(void)
{
    if (sched_getaffinity(0, sizeof saved_mask, &saved_mask) != 0)
        ck_abort_msg("sched_getaffinity: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(env_names[i]);
        saved_env[i] = v != NULL ? strdup(v) : NULL;
        unsetenv(env_names[i]);
    }
}

static void restore_all(void)
{
    sched_setaffinity(0, sizeof saved_mask, &saved_mask);
    for (int i = 0; i < 2; i++) {
        if (saved_env[i] != NULL)
            setenv(env_names[i], saved_env[i], 1);
        else
            unsetenv(env_names[i]);
        free(saved_env[i]);
        saved_env[i] = NULL;
    }
}

/* The first two CPUs the test may use; false (the test is skipped, saying
 * why) when it has fewer. */
static bool two_cpus(const char *test, unsigned *c0, unsigned *c1)
{
    unsigned n = 0, found[2];
    for (unsigned c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &saved_mask))
            found[n++] = c;
    if (n < 2) {
        printf("affinity: %s skipped: it needs 2 allowed CPUs, this process has %d\n", test,
               CPU_COUNT(&saved_mask));
        return false;
    }
    *c0 = found[0];
    *c1 = found[1];
    return true;
}

static cpu_set_t set_of(int a, int b)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    if (a >= 0)
        CPU_SET((unsigned)a, &s);
    if (b >= 0)
        CPU_SET((unsigned)b, &s);
    return s;
}

static void restrict_to(cpu_set_t s)
{
    ck_assert_int_eq(sched_setaffinity(0, sizeof s, &s), 0);
}

/* What one runtime's threads saw: each worker's mask, once per worker. */
struct probe {
    unsigned workers;
    _Atomic unsigned arrived;
    atomic_bool timed_out, bad_id, bad_read;
    _Atomic unsigned ran[MAX_W];
    cpu_set_t mask[MAX_W];
    bool with_job;
    int job_rc, job_read;
    cpu_set_t job_mask;
};

/* Holds its worker until one task runs on every worker (bounded: 2 s). */
static int barrier_task(weft_task *self, void *arg)
{
    struct probe *p = arg;
    int id = weft_worker_id(self);
    if (id < 0 || (unsigned)id >= p->workers) {
        atomic_store(&p->bad_id, true);
        return 0;
    }
    if (atomic_fetch_add(&p->ran[id], 1) == 0 &&
        pthread_getaffinity_np(pthread_self(), sizeof p->mask[id], &p->mask[id]) != 0)
        atomic_store(&p->bad_read, true);
    atomic_fetch_add(&p->arrived, 1);
    weft_time until = weft_after(2 * WEFT_SEC);
    while (atomic_load(&p->arrived) < p->workers)
        if (weft_now() > until) {
            atomic_store(&p->timed_out, true);
            break;
        }
    return 0;
}

static int job_task(weft_task *self, void *arg)
{
    (void)self;
    struct probe *p = arg;
    p->job_read = pthread_getaffinity_np(pthread_self(), sizeof p->job_mask, &p->job_mask);
    return 0;
}

static int root_task(weft_task *self, void *arg)
{
    struct probe *p = arg;
    weft_job *job = NULL;
    /* from a worker: a pinned one when the runtime pins (its done flag is
     * polled below: a wait would lend this worker's slot to a spare) */
    if (p->with_job)
        p->job_rc = weft_spawn_blocking(self, job_task, p, NULL, &job);
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (unsigned i = 0; i < p->workers && rc == 0; i++)
        rc = weft_spawn(&g, barrier_task, p);
    int joined = weft_group_join(&g, NULL);
    if (job != NULL) {
        weft_time until = weft_after(2 * WEFT_SEC);
        while (!weft_job_done(job) && weft_now() < until)
            sched_yield();
        if (!weft_job_done(job))
            p->job_rc = ETIMEDOUT;
        weft_job_release(job);
    }
    return rc != 0 ? rc : joined;
}

/* A runtime of `workers` with `affinity` (NULL: the field unset) runs one
 * task on every worker; p holds what each saw. */
static void probe_workers(unsigned workers, const char *affinity, bool with_job, struct probe *p)
{
    ck_assert_uint_le(workers, MAX_W);
    memset(p, 0, sizeof *p);
    p->workers = workers;
    p->with_job = with_job;
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    cfg.affinity = affinity;
    weft_runtime *rt = weft_runtime_create(&cfg);
    ck_assert_msg(rt != NULL, "create: %s", strerror(errno));
    ck_assert_int_eq(weft_run(rt, root_task, p, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert(!atomic_load(&p->bad_id));
    ck_assert(!atomic_load(&p->bad_read));
    ck_assert_msg(!atomic_load(&p->timed_out), "not every worker ran a task within 2 s");
    for (unsigned i = 0; i < workers; i++)
        ck_assert_uint_eq(atomic_load(&p->ran[i]), 1);
    if (with_job) {
        ck_assert_int_eq(p->job_rc, 0);
        ck_assert_int_eq(p->job_read, 0);
    }
}

static void assert_mask(const cpu_set_t *got, cpu_set_t want, const char *who, unsigned i)
{
    char g[64] = "", w[64] = "";
    size_t ng = 0, nw = 0;
    for (unsigned c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, got) && ng < sizeof g - 8)
            ng += (size_t)sprintf(g + ng, " %u", c);
        if (CPU_ISSET(c, &want) && nw < sizeof w - 8)
            nw += (size_t)sprintf(w + nw, " %u", c);
    }
    ck_assert_msg(CPU_EQUAL(got, &want), "%s %u runs on {%s } instead of {%s }", who, i, g, w);
}

START_TEST(test_compact_pins_each_worker_to_its_own_cpu_and_spreads_the_rest)
{
    unsigned c0, c1;
    if (!two_cpus("compact", &c0, &c1))
        return;
    restrict_to(set_of((int)c0, (int)c1));
    struct probe p;
    probe_workers(3, "compact", true, &p);
    assert_mask(&p.mask[0], set_of((int)c0, -1), "worker", 0);
    assert_mask(&p.mask[1], set_of((int)c1, -1), "worker", 1);
    assert_mask(&p.mask[2], set_of((int)c0, (int)c1), "worker", 2); /* past the set: not doubled up */
    /* a blocking thread started from a pinned worker is not pinned */
    assert_mask(&p.job_mask, set_of((int)c0, (int)c1), "blocking thread", 0);
}
END_TEST

START_TEST(test_compact_stays_inside_a_narrowed_cpu_set)
{
    unsigned c0, c1;
    if (!two_cpus("compact in a narrowed set", &c0, &c1))
        return;
    restrict_to(set_of((int)c1, -1)); /* as taskset -c c1 would */
    struct probe p;
    probe_workers(2, "compact", true, &p);
    assert_mask(&p.mask[0], set_of((int)c1, -1), "worker", 0);
    assert_mask(&p.mask[1], set_of((int)c1, -1), "worker", 1);
    assert_mask(&p.job_mask, set_of((int)c1, -1), "blocking thread", 0);
}
END_TEST

/* No workers asked for: one per CPU the process may use, not per CPU online. */
START_TEST(test_default_workers_are_the_cpus_of_the_allowed_set)
{
    unsigned c0, c1;
    if (!two_cpus("default workers", &c0, &c1))
        return;
    unsetenv("WEFT_WORKERS");
    restrict_to(set_of((int)c1, -1)); /* as taskset -c c1 would */
    weft_runtime *rt = weft_runtime_create(NULL);
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(weft_runtime_workers(rt), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    restrict_to(set_of((int)c0, (int)c1));
    rt = weft_runtime_create(NULL);
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(weft_runtime_workers(rt), 2);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_a_cpu_list_pins_worker_i_to_its_ith_cpu_repeats_included)
{
    unsigned c0, c1;
    if (!two_cpus("a CPU list", &c0, &c1))
        return;
    restrict_to(set_of((int)c0, (int)c1));
    char list[64];
    snprintf(list, sizeof list, "%u,%u,%u", c1, c0, c1);
    struct probe p;
    probe_workers(4, list, false, &p);
    assert_mask(&p.mask[0], set_of((int)c1, -1), "worker", 0);
    assert_mask(&p.mask[1], set_of((int)c0, -1), "worker", 1);
    assert_mask(&p.mask[2], set_of((int)c1, -1), "worker", 2);
    assert_mask(&p.mask[3], set_of((int)c0, (int)c1), "worker", 3);
    /* a range, and the list from the environment when the field is NULL */
    snprintf(list, sizeof list, "%u-%u", c1, c1);
    setenv("WEFT_AFFINITY", list, 1);
    probe_workers(2, NULL, false, &p);
    assert_mask(&p.mask[0], set_of((int)c1, -1), "worker", 0);
    assert_mask(&p.mask[1], set_of((int)c1, -1), "worker", 1); /* the list's CPUs only */
}
END_TEST

START_TEST(test_a_cpu_list_drops_cpus_outside_the_allowed_set)
{
    unsigned c0, c1;
    if (!two_cpus("a list partly outside the set", &c0, &c1))
        return;
    restrict_to(set_of((int)c1, -1));
    char list[64];
    snprintf(list, sizeof list, "%u,%u", c0, c1);
    struct probe p;
    probe_workers(2, list, false, &p);
    assert_mask(&p.mask[0], set_of((int)c1, -1), "worker", 0);
    assert_mask(&p.mask[1], set_of((int)c1, -1), "worker", 1);
    /* nothing left of it: the field is a mistake */
    snprintf(list, sizeof list, "%u", c0);
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 2;
    cfg.affinity = list;
    errno = 0;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt != NULL)
        weft_runtime_destroy(rt);
    ck_assert_ptr_null(rt);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_none_leaves_each_worker_the_inherited_mask)
{
    unsigned c0, c1;
    if (!two_cpus("none", &c0, &c1))
        return;
    restrict_to(set_of((int)c1, -1));
    struct probe p;
    probe_workers(2, NULL, true, &p); /* the default */
    for (unsigned i = 0; i < 2; i++)
        assert_mask(&p.mask[i], set_of((int)c1, -1), "worker", i);
    assert_mask(&p.job_mask, set_of((int)c1, -1), "blocking thread", 0);
    /* the field wins over the environment */
    restrict_to(set_of((int)c0, (int)c1));
    setenv("WEFT_AFFINITY", "compact", 1);
    probe_workers(2, "none", false, &p);
    for (unsigned i = 0; i < 2; i++)
        assert_mask(&p.mask[i], set_of((int)c0, (int)c1), "worker", i);
}
END_TEST

START_TEST(test_a_bad_affinity_field_fails_create_with_einval)
{
    static const char *const bad[] = {"", "bogus", "close", "compact,0", "0-", "3-1", "0,,1",
                                      " 0", "1024", "0-1024", "none "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_config cfg = WEFT_CONFIG_INIT;
        cfg.workers = 1;
        cfg.affinity = bad[i];
        errno = 0;
        weft_runtime *rt = weft_runtime_create(&cfg);
        if (rt != NULL) {
            weft_runtime_destroy(rt);
            ck_abort_msg("\"%s\": created", bad[i]);
        }
        ck_assert_int_eq(errno, EINVAL);
    }
}
END_TEST

START_TEST(test_a_list_of_cpus_all_outside_the_set_in_the_environment_is_ignored_with_a_warning)
{
    unsigned c0, c1;
    if (!two_cpus("a list outside the set", &c0, &c1))
        return;
    restrict_to(set_of((int)c1, -1));
    char list[64], want[160];
    snprintf(list, sizeof list, "%u", c0);
    setenv("WEFT_AFFINITY", list, 1);
    struct caught c;
    struct probe p;
    catch_begin(&c);
    probe_workers(1, NULL, false, &p);
    const char *text = catch_end(&c);
    snprintf(want, sizeof want,
             "weft: ignoring WEFT_AFFINITY=\"%u\": no CPU of the list is in the process's allowed set\n", c0);
    ck_assert_str_eq(text, want);
    assert_mask(&p.mask[0], set_of((int)c1, -1), "worker", 0); /* none, the default */
}
END_TEST

START_TEST(test_weft_stats_says_where_each_worker_runs)
{
    unsigned c0, c1;
    if (!two_cpus("WEFT_STATS", &c0, &c1))
        return;
    restrict_to(set_of((int)c0, (int)c1));
    setenv("WEFT_STATS", "1", 1);
    static const struct {
        const char *affinity, *want; /* %1$u: c0, %2$u: c1 */
    } cases[] = {
        {NULL, "weft stats: affinity none, workers on cpus any any any\n"},
        {"compact", "weft stats: affinity compact, workers on cpus %1$u %2$u any\n"},
        {"LIST", "weft stats: affinity list, workers on cpus %2$u %2$u %1$u\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char list[64], want[160];
        snprintf(list, sizeof list, "%u,%u,%u", c1, c1, c0);
        weft_config cfg = WEFT_CONFIG_INIT;
        cfg.workers = 3;
        cfg.affinity = cases[i].affinity != NULL && strcmp(cases[i].affinity, "LIST") == 0
                           ? list
                           : cases[i].affinity;
        struct caught c;
        catch_begin(&c);
        weft_runtime *rt = weft_runtime_create(&cfg);
        int rc = rt != NULL ? weft_runtime_destroy(rt) : errno;
        const char *text = catch_end(&c);
        ck_assert_int_eq(rc, 0);
        const char *line = strstr(text, "weft stats: affinity");
        ck_assert_msg(line != NULL, "no affinity line in: %s", text);
        snprintf(want, sizeof want, cases[i].want, c0, c1);
        ck_assert_str_eq(line, want);
    }
}
END_TEST

Suite *affinity_suite(void)
{
    Suite *s = suite_create("affinity");
    TCase *tc = tcase_create("affinity");
    tcase_add_checked_fixture(tc, save_all, restore_all);
    tcase_add_test(tc, test_compact_pins_each_worker_to_its_own_cpu_and_spreads_the_rest);
    tcase_add_test(tc, test_compact_stays_inside_a_narrowed_cpu_set);
    tcase_add_test(tc, test_default_workers_are_the_cpus_of_the_allowed_set);
    tcase_add_test(tc, test_a_cpu_list_pins_worker_i_to_its_ith_cpu_repeats_included);
    tcase_add_test(tc, test_a_cpu_list_drops_cpus_outside_the_allowed_set);
    tcase_add_test(tc, test_none_leaves_each_worker_the_inherited_mask);
    tcase_add_test(tc, test_a_bad_affinity_field_fails_create_with_einval);
    tcase_add_test(tc, test_a_list_of_cpus_all_outside_the_set_in_the_environment_is_ignored_with_a_warning);
    tcase_add_test(tc, test_weft_stats_says_where_each_worker_runs);
    suite_add_tcase(s, tc);
    return s;
}
