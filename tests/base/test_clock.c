/* weft_now / weft_after / weft_version. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "tests/suites.h"

START_TEST(test_now_is_monotonic_and_in_ns)
{
    weft_time a = weft_now();
    struct timespec pause = {0, 2 * 1000 * 1000};
    nanosleep(&pause, NULL);
    weft_time b = weft_now();
    ck_assert_int_gt(a, 0);
    ck_assert_int_ge(b - a, 2 * WEFT_MSEC);
    ck_assert_int_lt(b - a, 2 * WEFT_SEC); /* generous: a loaded machine */
}
END_TEST

START_TEST(test_after_adds_and_saturates)
{
    weft_time before = weft_now();
    weft_time t = weft_after(WEFT_SEC);
    ck_assert_int_ge(t, before + WEFT_SEC);
    ck_assert_int_lt(t, weft_now() + WEFT_SEC + 1);
    ck_assert_int_eq(weft_after(INT64_MAX), WEFT_NEVER);
    ck_assert_int_eq(weft_after(INT64_MAX - 5), WEFT_NEVER);
    ck_assert_int_lt(weft_after(INT64_MIN), 0); /* far in the past, no overflow */
    ck_assert_int_lt(weft_after(-WEFT_SEC), weft_now());
}
END_TEST

START_TEST(test_version_matches_header)
{
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
             WEFT_VERSION_PATCH);
    ck_assert_str_eq(weft_version(), expect);
}
END_TEST

Suite *clock_suite(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("time");
    tcase_add_test(tc, test_now_is_monotonic_and_in_ns);
    tcase_add_test(tc, test_after_adds_and_saturates);
    tcase_add_test(tc, test_version_matches_header);
    suite_add_tcase(s, tc);
    return s;
}
