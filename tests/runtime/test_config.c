/* Settings: every environment variable and weft_config field has one valid
 * range; a bad variable is ignored with one line on stderr naming it, a bad
 * field makes create fail with EINVAL, and nothing is clamped silently. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "tests/caught_stderr.h"
#include "tests/suites.h"

static const char *const variables[] = {"WEFT_WORKERS", "WEFT_STACK_SIZE", "WEFT_BLOCKING_MAX",
                                        "WEFT_STATS", "WEFT_TRACE", "WEFT_AFFINITY"};
enum { NVARS = sizeof variables / sizeof variables[0] };

/* The test's environment, put back after each test (Check forks per test
 * by default, but not with CK_FORK=no). */
static char *saved[NVARS];

static void env_save(void)
{
    for (int i = 0; i < NVARS; i++) {
        const char *v = getenv(variables[i]);
        saved[i] = v != NULL ? strdup(v) : NULL;
        unsetenv(variables[i]);
    }
}

static void env_restore(void)
{
    for (int i = 0; i < NVARS; i++) {
        if (saved[i] != NULL)
            setenv(variables[i], saved[i], 1);
        else
            unsetenv(variables[i]);
        free(saved[i]);
        saved[i] = NULL;
    }
}

/* The settings with only `name` set to `value` (NULL: none), and what the
 * resolution wrote on stderr. */
static const char *resolve_with(const char *name, const char *value, struct weft__settings *set,
                                struct caught *c)
{
    if (name != NULL)
        setenv(name, value, 1);
    catch_begin(c);
    int rc = weft__settings_resolve(NULL, set);
    const char *text = catch_end(c);
    if (name != NULL)
        unsetenv(name);
    ck_assert_int_eq(rc, 0);
    return text;
}

static const struct {
    const char *name, *value, *why;
} refused[] = {
    {"WEFT_WORKERS", "-3", "not a whole number"}, /* strtoull's 2^64 - 3 */
    {"WEFT_WORKERS", "abc", "not a whole number"},
    {"WEFT_WORKERS", "3x", "not a whole number"},
    {"WEFT_WORKERS", "2.5", "not a whole number"},
    {"WEFT_WORKERS", " 3", "not a whole number"},
    {"WEFT_WORKERS", "+3", "not a whole number"},
    {"WEFT_WORKERS", "2k", "not a whole number"}, /* suffixes are for sizes */
    {"WEFT_WORKERS", "0", "out of range 1..1024"},
    {"WEFT_WORKERS", "1025", "out of range 1..1024"},
    {"WEFT_WORKERS", "18446744073709551617", "out of range 1..1024"}, /* 2^64 + 1 */
    {"WEFT_STACK_SIZE", "-1", "not a size (a whole number of bytes, or with k, m or g)"},
    {"WEFT_STACK_SIZE", "8q", "not a size (a whole number of bytes, or with k, m or g)"},
    {"WEFT_STACK_SIZE", "k", "not a size (a whole number of bytes, or with k, m or g)"},
    {"WEFT_STACK_SIZE", "63k", "out of range 64k..1g"},
    {"WEFT_STACK_SIZE", "1025m", "out of range 64k..1g"},
    {"WEFT_STACK_SIZE", "17179869184g", "out of range 64k..1g"}, /* 2^64 bytes */
    {"WEFT_BLOCKING_MAX", "-1", "not a whole number"},
    {"WEFT_BLOCKING_MAX", "0", "out of range 1..4096"},
    {"WEFT_BLOCKING_MAX", "4097", "out of range 1..4096"},
    {"WEFT_STATS", "yes", "not 0 or 1"},
    {"WEFT_AFFINITY", "bogus", "not none, compact or a CPU list like 0-3,8"},
    {"WEFT_AFFINITY", "close", "not none, compact or a CPU list like 0-3,8"},
    {"WEFT_AFFINITY", "0-", "not none, compact or a CPU list like 0-3,8"},
    {"WEFT_AFFINITY", "3-1", "not none, compact or a CPU list like 0-3,8"},
    {"WEFT_AFFINITY", "0,,1", "not none, compact or a CPU list like 0-3,8"},
    {"WEFT_AFFINITY", "1024", "not none, compact or a CPU list like 0-3,8"},
    {"WEFT_AFFINITY", "-1", "not none, compact or a CPU list like 0-3,8"},
};

START_TEST(test_a_bad_environment_value_is_ignored_with_one_line_naming_it)
{
    env_save();
    struct weft__settings def, set;
    struct caught c;
    ck_assert_str_eq(resolve_with(NULL, NULL, &def, &c), "");
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *text = resolve_with(refused[i].name, refused[i].value, &set, &c);
        char want[256];
        snprintf(want, sizeof want, "weft: ignoring %s=\"%s\": %s\n", refused[i].name,
                 refused[i].value, refused[i].why);
        ck_assert_str_eq(text, want);
        /* and the default applies */
        ck_assert_uint_eq(set.workers, def.workers);
        ck_assert_uint_eq(set.stack_size, def.stack_size);
        ck_assert_uint_eq(set.blocking_max, def.blocking_max);
        ck_assert_int_eq(set.print_stats, def.print_stats);
        ck_assert_int_eq(set.affinity, def.affinity);
    }
    ck_assert_int_eq(def.affinity, WEFT__AFFINITY_NONE);
    /* one line even for a value that holds a newline */
    const char *text = resolve_with("WEFT_WORKERS", "4\nWEFT", &set, &c);
    ck_assert_str_eq(text, "weft: ignoring WEFT_WORKERS=\"4?WEFT\": not a whole number\n");
    env_restore();
}
END_TEST

START_TEST(test_good_environment_values_are_taken_silently)
{
    env_save();
    struct weft__settings def, set;
    struct caught c;
    resolve_with(NULL, NULL, &def, &c);
    ck_assert_str_eq(resolve_with("WEFT_WORKERS", "1", &set, &c), "");
    ck_assert_uint_eq(set.workers, 1);
    ck_assert_str_eq(resolve_with("WEFT_WORKERS", "1024", &set, &c), "");
    ck_assert_uint_eq(set.workers, 1024);
    ck_assert_str_eq(resolve_with("WEFT_STACK_SIZE", "64k", &set, &c), "");
    ck_assert_uint_eq(set.stack_size, 64 << 10);
    ck_assert_str_eq(resolve_with("WEFT_STACK_SIZE", "1G", &set, &c), "");
    ck_assert_uint_eq(set.stack_size, (size_t)1 << 30);
    ck_assert_str_eq(resolve_with("WEFT_STACK_SIZE", "262144", &set, &c), "");
    ck_assert_uint_eq(set.stack_size, 256 << 10);
    ck_assert_str_eq(resolve_with("WEFT_BLOCKING_MAX", "4096", &set, &c), "");
    ck_assert_uint_eq(set.blocking_max, 4096);
    ck_assert_str_eq(resolve_with("WEFT_STATS", "1", &set, &c), "");
    ck_assert(set.print_stats);
    ck_assert_str_eq(resolve_with("WEFT_STATS", "0", &set, &c), "");
    ck_assert(!set.print_stats);
    ck_assert_str_eq(resolve_with("WEFT_AFFINITY", "compact", &set, &c), "");
    ck_assert_int_eq(set.affinity, WEFT__AFFINITY_COMPACT);
    ck_assert_str_eq(resolve_with("WEFT_AFFINITY", "none", &set, &c), "");
    ck_assert_int_eq(set.affinity, WEFT__AFFINITY_NONE);
    ck_assert_str_eq(resolve_with("WEFT_AFFINITY", "0-1023", &set, &c), ""); /* whatever is allowed */
    ck_assert_int_eq(set.affinity, WEFT__AFFINITY_LIST);
    ck_assert_str_eq(set.affinity_list, "0-1023");
    /* empty counts as unset */
    ck_assert_str_eq(resolve_with("WEFT_WORKERS", "", &set, &c), "");
    ck_assert_uint_eq(set.workers, def.workers);
    env_restore();
}
END_TEST

START_TEST(test_a_runtime_created_under_a_negative_weft_workers_gets_the_default)
{
    env_save();
    weft_runtime *rt = weft_runtime_create(NULL);
    ck_assert_ptr_nonnull(rt);
    unsigned def = weft_runtime_workers(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    setenv("WEFT_WORKERS", "-3", 1); /* was 1024 workers */
    struct caught c;
    catch_begin(&c);
    rt = weft_runtime_create(NULL);
    const char *text = catch_end(&c);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(text, "weft: ignoring WEFT_WORKERS=\"-3\": not a whole number\n");
    ck_assert_uint_eq(weft_runtime_workers(rt), def);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    /* a field wins: the variable is not even read */
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 2;
    catch_begin(&c);
    rt = weft_runtime_create(&cfg);
    text = catch_end(&c);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(weft_runtime_workers(rt), 2);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    env_restore();
}
END_TEST

/* A config with one field set. */
static weft_runtime *create_with(unsigned workers, size_t stack_size, unsigned blocking_max)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    cfg.stack_size = stack_size;
    cfg.blocking_max = blocking_max;
    errno = 0;
    return weft_runtime_create(&cfg);
}

START_TEST(test_an_out_of_range_config_field_fails_create_with_einval)
{
    static const struct {
        unsigned workers;
        size_t stack_size;
        unsigned blocking_max;
    } bad[] = {
        {1025, 0, 0},
        {100000, 0, 0},
        {UINT32_MAX, 0, 0},
        {0, 1, 0},
        {0, (64 << 10) - 1, 0},
        {0, ((size_t)1 << 30) + 1, 0},
        {0, SIZE_MAX, 0},
        {0, 0, 4097},
        {0, 0, UINT32_MAX},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_runtime *rt = create_with(bad[i].workers, bad[i].stack_size, bad[i].blocking_max);
        if (rt != NULL) {
            weft_runtime_destroy(rt);
            ck_abort_msg("case %zu: created", i);
        }
        ck_assert_int_eq(errno, EINVAL);
    }
    /* the ends of each range are fine (and a stack rounds up to pages) */
    weft_runtime *rt = create_with(2, 64 << 10, 4096);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    struct weft__settings set;
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 1024;
    cfg.stack_size = ((size_t)64 << 10) + 1;
    cfg.blocking_max = 1;
    ck_assert_int_eq(weft__settings_resolve(&cfg, &set), 0);
    ck_assert_uint_eq(set.workers, 1024);
    ck_assert_uint_ge(set.stack_size, ((size_t)64 << 10) + 1);
    ck_assert_uint_eq(set.stack_size % (size_t)sysconf(_SC_PAGESIZE), 0);
    ck_assert_uint_eq(set.blocking_max, 1);
    cfg.stack_size = (size_t)1 << 30;
    ck_assert_int_eq(weft__settings_resolve(&cfg, &set), 0);
    ck_assert_uint_eq(set.stack_size, (size_t)1 << 30);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_a_bad_environment_value_is_ignored_with_one_line_naming_it);
    tcase_add_test(tc, test_good_environment_values_are_taken_silently);
    tcase_add_test(tc, test_a_runtime_created_under_a_negative_weft_workers_gets_the_default);
    tcase_add_test(tc, test_an_out_of_range_config_field_fails_create_with_einval);
    suite_add_tcase(s, tc);
    return s;
}
