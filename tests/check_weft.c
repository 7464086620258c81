/*
 * The one test runner: every module's suite. Honours Check's environment
 * (CK_RUN_SUITE, CK_RUN_CASE, CK_VERBOSITY, CK_FORK, CK_DEFAULT_TIMEOUT).
 */
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tests/suites.h"

weft_runtime *weft_test_runtime(unsigned workers, size_t stack_size)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    cfg.stack_size = stack_size;
    weft_runtime *rt = weft_runtime_create(&cfg);
    ck_assert_ptr_nonnull(rt);
    return rt;
}

bool weft_test_cpus_below(int n, const char *what)
{
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    ck_assert_int_eq(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    if (CPU_COUNT(&allowed) >= n)
        return false;
    fprintf(stderr, "%s skipped: this process may use %d CPU\n", what, CPU_COUNT(&allowed));
    return true;
}

unsigned long long weft_test_env_u64(const char *name, unsigned long long fallback)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return fallback;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    return (*end == '\0' && v > 0) ? v : fallback;
}

unsigned long long weft_test_seed(void)
{
    static unsigned long long seed;
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = weft_test_env_u64("WEFT_TEST_SEED",
                                 ((unsigned long long)ts.tv_sec * 1000003u) ^ (unsigned long long)ts.tv_nsec);
        printf("randomized tests: WEFT_TEST_SEED=%llu\n", seed);
        fflush(stdout);
    }
    return seed;
}

int main(void)
{
    /* Chosen before the forks so every test child uses and prints the same seed. */
    weft_test_seed();
    SRunner *sr = srunner_create(clock_suite());
    srunner_add_suite(sr, config_suite());
    srunner_add_suite(sr, cpu_list_suite());
    srunner_add_suite(sr, affinity_suite());
    srunner_add_suite(sr, deque_suite());
    srunner_add_suite(sr, deque_stress_suite());
    srunner_add_suite(sr, split_deque_suite());
    srunner_add_suite(sr, split_deque_stress_suite());
    srunner_add_suite(sr, frame_deque_suite());
    srunner_add_suite(sr, frame_deque_stress_suite());
    srunner_add_suite(sr, frame_split_deque_stress_suite());
    srunner_add_suite(sr, scheduler_suite());
    srunner_add_suite(sr, cancel_suite());
    srunner_add_suite(sr, scope_suite());
    srunner_add_suite(sr, timer_suite());
    srunner_add_suite(sr, join_park_suite());
    srunner_add_suite(sr, join_nest_suite());
    srunner_add_suite(sr, slots_suite());
    srunner_add_suite(sr, batch_suite());
    srunner_add_suite(sr, spawn_deadline_suite());
    srunner_add_suite(sr, deadline_flag_suite());
    srunner_add_suite(sr, cancel_records_suite());
    srunner_add_suite(sr, errors_suite());
    srunner_add_suite(sr, detached_suite());
    srunner_add_suite(sr, group_wait_suite());
    srunner_add_suite(sr, inline_suite());
    srunner_add_suite(sr, parallel_for_suite());
    srunner_add_suite(sr, blocking_suite());
    srunner_add_suite(sr, job_wait_suite());
    srunner_add_suite(sr, job_deadline_suite());
    srunner_add_suite(sr, retry_suite());
    srunner_add_suite(sr, trace_suite());
    srunner_add_suite(sr, faults_suite());
    srunner_add_suite(sr, random_trees_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
