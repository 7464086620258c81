/* CPU lists ("0-3,8") and the placement of workers on CPUs (base/cpu_list.c),
 * on made-up allowed sets: what the machine has does not matter here. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/cpu_list.h"
#include "base/thread.h"
#include "tests/suites.h"

enum { MAX_SEEN = 64 };
struct seen {
    unsigned n;
    unsigned cpu[MAX_SEEN];
};

static void record(unsigned cpu, void *arg)
{
    struct seen *s = arg;
    if (s->n < MAX_SEEN)
        s->cpu[s->n] = cpu;
    s->n++;
}

/* "a b c": the CPUs text gives, in order, or "EINVAL". */
static const char *parsed(const char *text, char *buf, size_t size)
{
    struct seen s = {0};
    if (weft__cpu_list_parse(text, record, &s) != 0) {
        snprintf(buf, size, "EINVAL%s", s.n != 0 ? " after calls" : "");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < s.n && i < MAX_SEEN && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i == 0 ? "%u" : " %u", s.cpu[i]);
    return buf;
}

START_TEST(test_a_cpu_list_gives_its_cpus_in_order_ranges_and_repeats_included)
{
    static const struct {
        const char *text, *cpus;
    } good[] = {
        {"0", "0"},
        {"7", "7"},
        {"0-3", "0 1 2 3"},
        {"0-3,8", "0 1 2 3 8"},
        {"8,0-1", "8 0 1"},
        {"3-3", "3"},
        {"1,1,1", "1 1 1"},
        {"0-1,0-1", "0 1 0 1"},
        {"007", "7"},
        {"1023", "1023"},
        {"1020-1023,2", "1020 1021 1022 1023 2"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_str_eq(parsed(good[i].text, buf, sizeof buf), good[i].cpus);
}
END_TEST

START_TEST(test_a_malformed_or_out_of_range_cpu_list_is_einval_before_any_cpu_is_given)
{
    static const char *const bad[] = {
        "", ",", "0,", ",0", "0,,1", "-", "-1", "0-", "3-1", "0-1-2", "a", "0x1", " 0", "0 ",
        "0, 1", "+1", "1.5", "0-3:2", "1024", "0-1024", "99999999999999999999", "4294967297",
        "compact", "0\n",
    };
    char buf[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(strcmp(parsed(bad[i], buf, sizeof buf), "EINVAL") == 0, "\"%s\" gave %s", bad[i],
                      buf);
    ck_assert_int_eq(weft__cpu_list_parse(NULL, NULL, NULL), EINVAL);
    ck_assert_int_eq(weft__cpu_list_parse("0-3", NULL, NULL), 0);
}
END_TEST

START_TEST(test_the_mode_is_none_compact_or_a_list)
{
    ck_assert_int_eq(weft__affinity_mode_of("none"), WEFT__AFFINITY_NONE);
    ck_assert_int_eq(weft__affinity_mode_of("NONE"), WEFT__AFFINITY_NONE);
    ck_assert_int_eq(weft__affinity_mode_of("compact"), WEFT__AFFINITY_COMPACT);
    ck_assert_int_eq(weft__affinity_mode_of("Compact"), WEFT__AFFINITY_COMPACT);
    ck_assert_int_eq(weft__affinity_mode_of("0-3,8"), WEFT__AFFINITY_LIST);
    ck_assert_int_eq(weft__affinity_mode_of("close"), -1);
    ck_assert_int_eq(weft__affinity_mode_of("compact "), -1);
    ck_assert_int_eq(weft__affinity_mode_of(""), -1);
    ck_assert_int_eq(weft__affinity_mode_of(NULL), -1);
}
END_TEST

static cpu_set_t set_of(const char *list)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    for (const char *p = list; *p != '\0'; p++)
        if (*p != ' ')
            CPU_SET((unsigned)(*p - '0'), &s);
    return s;
}

/* The placement of `workers` as "cpu cpu -1 ...", and its spread set as digits. */
static int place(enum weft__affinity_mode mode, const char *list, const char *allowed, unsigned workers,
                 char *cpus, char *spread)
{
    static _Alignas(max_align_t) char store[1024];
    struct weft__placement *pl = (struct weft__placement *)(void *)store;
    ck_assert_uint_le(weft__placement_size(workers), sizeof store);
    cpu_set_t in = set_of(allowed);
    int rc = weft__placement_fill(mode, list, &in, workers, pl);
    ck_assert_int_eq(weft__placement_fill(mode, list, &in, workers, NULL), rc);
    if (rc != 0)
        return rc;
    ck_assert_int_eq(pl->mode, mode);
    ck_assert_uint_eq(pl->workers, workers);
    ck_assert(CPU_EQUAL(&pl->allowed, &in));
    size_t used = 0;
    cpus[0] = '\0';
    for (unsigned i = 0; i < workers; i++)
        used += (size_t)sprintf(cpus + used, i == 0 ? "%d" : " %d", pl->cpu[i]);
    used = 0;
    for (unsigned c = 0; c < 10; c++)
        if (CPU_ISSET(c, &pl->spread))
            spread[used++] = (char)('0' + c);
    spread[used] = '\0';
    ck_assert_int_eq(CPU_COUNT(&pl->spread), (int)used);
    return 0;
}

START_TEST(test_compact_pins_worker_i_to_the_ith_allowed_cpu_and_spreads_the_rest)
{
    char cpus[128], spread[16];
    ck_assert_int_eq(place(WEFT__AFFINITY_COMPACT, NULL, "1 3 5", 5, cpus, spread), 0);
    ck_assert_str_eq(cpus, "1 3 5 -1 -1");
    ck_assert_str_eq(spread, "135");
    ck_assert_int_eq(place(WEFT__AFFINITY_COMPACT, NULL, "1 3 5", 2, cpus, spread), 0);
    ck_assert_str_eq(cpus, "1 3");
    ck_assert_int_eq(place(WEFT__AFFINITY_COMPACT, NULL, "4", 3, cpus, spread), 0);
    ck_assert_str_eq(cpus, "4 -1 -1");
    ck_assert_str_eq(spread, "4");
    ck_assert_int_eq(place(WEFT__AFFINITY_COMPACT, NULL, "", 1, cpus, spread), EINVAL);
}
END_TEST

START_TEST(test_a_list_pins_worker_i_to_its_ith_allowed_cpu_dropping_the_others)
{
    char cpus[128], spread[16];
    /* in its order, repeats kept, CPUs outside the allowed set dropped */
    ck_assert_int_eq(place(WEFT__AFFINITY_LIST, "5,0-3,3", "1 3 5", 5, cpus, spread), 0);
    ck_assert_str_eq(cpus, "5 1 3 3 -1");
    ck_assert_str_eq(spread, "135");
    ck_assert_int_eq(place(WEFT__AFFINITY_LIST, "2,0", "0 1 2 3", 4, cpus, spread), 0);
    ck_assert_str_eq(cpus, "2 0 -1 -1");
    ck_assert_str_eq(spread, "02"); /* the workers past the list run on its CPUs only */
    ck_assert_int_eq(place(WEFT__AFFINITY_LIST, "0-7", "6", 2, cpus, spread), 0);
    ck_assert_str_eq(cpus, "6 -1");
    ck_assert_str_eq(spread, "6");
    /* a list longer than the workers: its other CPUs are still where spares run */
    ck_assert_int_eq(place(WEFT__AFFINITY_LIST, "1,2,3", "0 1 2 3", 1, cpus, spread), 0);
    ck_assert_str_eq(cpus, "1");
    ck_assert_str_eq(spread, "123");
    /* nothing left, or a bad list */
    ck_assert_int_eq(place(WEFT__AFFINITY_LIST, "0,2", "1 3", 2, cpus, spread), EINVAL);
    ck_assert_int_eq(place(WEFT__AFFINITY_LIST, "0-", "0 1", 2, cpus, spread), EINVAL);
    ck_assert_int_eq(place(WEFT__AFFINITY_LIST, "1024", "0 1", 2, cpus, spread), EINVAL);
    ck_assert_int_eq(place(WEFT__AFFINITY_NONE, NULL, "0 1", 2, cpus, spread), EINVAL);
}
END_TEST

/* Threads of this process now (/proc/self/status), -1 if unreadable. */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static atomic_bool started_anyway;

static void *mark_started(void *arg)
{
    (void)arg;
    atomic_store(&started_anyway, true);
    return NULL;
}

START_TEST(test_a_thread_start_on_a_cpu_the_system_refuses_fails_and_leaves_no_thread)
{
    /* the last CPU a cpu_set_t holds: no machine this runs on has it online */
    cpu_set_t mine, bad;
    ck_assert_int_eq(sched_getaffinity(0, sizeof mine, &mine), 0);
    if (CPU_ISSET(CPU_SETSIZE - 1, &mine)) {
        printf("cpu_list: refused-CPU start skipped: CPU %d is allowed here\n", CPU_SETSIZE - 1);
        return;
    }
    /* a CPU it may use works: the thread runs there (first: a sanitizer
     * starts its own thread at the first creation) */
    CPU_ZERO(&bad);
    for (unsigned c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &mine)) {
            CPU_SET(c, &bad);
            break;
        }
    pthread_t tid;
    ck_assert_int_eq(weft__thread_start_on(&tid, (size_t)256 << 10, "weft-good", mark_started, NULL, &bad),
                     0);
    ck_assert_int_eq(pthread_join(tid, NULL), 0);
    ck_assert(atomic_load(&started_anyway));
    atomic_store(&started_anyway, false);
    CPU_ZERO(&bad);
    CPU_SET(CPU_SETSIZE - 1, &bad);
    int before = thread_count();
    int rc = weft__thread_start_on(&tid, (size_t)256 << 10, "weft-bad", mark_started, NULL, &bad);
    ck_assert_int_eq(rc, EINVAL);
    ck_assert_int_eq(thread_count(), before);
    ck_assert(!atomic_load(&started_anyway));
}
END_TEST

Suite *cpu_list_suite(void)
{
    Suite *s = suite_create("cpu_list");
    TCase *tc = tcase_create("cpu_list");
    tcase_add_test(tc, test_a_cpu_list_gives_its_cpus_in_order_ranges_and_repeats_included);
    tcase_add_test(tc, test_a_malformed_or_out_of_range_cpu_list_is_einval_before_any_cpu_is_given);
    tcase_add_test(tc, test_the_mode_is_none_compact_or_a_list);
    tcase_add_test(tc, test_compact_pins_worker_i_to_the_ith_allowed_cpu_and_spreads_the_rest);
    tcase_add_test(tc, test_a_list_pins_worker_i_to_its_ith_allowed_cpu_dropping_the_others);
    tcase_add_test(tc, test_a_thread_start_on_a_cpu_the_system_refuses_fails_and_leaves_no_thread);
    suite_add_tcase(s, tc);
    return s;
}
