/* The Check suites of the one test runner, one per module. */
#ifndef WEFT_TESTS_SUITES_H
#define WEFT_TESTS_SUITES_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include <weft/weft.h>

Suite *cancel_suite(void);
Suite *clock_suite(void);
Suite *config_suite(void);
Suite *cpu_list_suite(void);
Suite *affinity_suite(void);
Suite *deque_suite(void);
Suite *deque_stress_suite(void);
Suite *split_deque_suite(void);
Suite *split_deque_stress_suite(void);
Suite *frame_deque_suite(void);
Suite *frame_deque_stress_suite(void);
Suite *frame_split_deque_stress_suite(void);
Suite *scheduler_suite(void);
Suite *join_park_suite(void);
Suite *join_nest_suite(void);
Suite *timer_suite(void);
Suite *slots_suite(void);
Suite *batch_suite(void);
Suite *spawn_deadline_suite(void);
Suite *deadline_flag_suite(void);
Suite *cancel_records_suite(void);
Suite *errors_suite(void);
Suite *detached_suite(void);
Suite *group_wait_suite(void);
Suite *inline_suite(void);
Suite *parallel_for_suite(void);
Suite *blocking_suite(void);
Suite *job_wait_suite(void);
Suite *job_deadline_suite(void);
Suite *retry_suite(void);
Suite *trace_suite(void);
Suite *faults_suite(void);
Suite *random_trees_suite(void);
Suite *scope_suite(void);

/* A runtime with `workers` workers and `stack_size` bytes of worker stack (0:
 * the default); asserts it was created (test thread only). */
weft_runtime *weft_test_runtime(unsigned workers, size_t stack_size);

/* Seed for randomized tests: $WEFT_TEST_SEED if set, else from the clock; printed once. */
unsigned long long weft_test_seed(void);
/* The process may run on fewer than n CPUs (sched_getaffinity): then it
 * says on stderr that `what` is skipped, and returns true. */
bool weft_test_cpus_below(int n, const char *what);
/* $name as a positive integer, or `fallback` when unset or malformed. */
unsigned long long weft_test_env_u64(const char *name, unsigned long long fallback);

#endif
