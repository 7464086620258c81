/*
 * Why was it cancelled? Whenever weft_group_join returns non-zero and the
 * caller asks for the errors, the first record carries the returned code; a
 * group ended by a cancel with no failure of its own hands out one record
 * that says why: its deadline (and how long after it started), a
 * weft_group_cancel, or the enclosing scope whose cancel reached it, named,
 * with that one's reason. A task's plain ETIMEDOUT reads "deadline exceeded".
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "tests/scope/cancel_record.h"
#include "tests/suites.h"

/* What a test's tasks saw, asserted by the test's thread after the run. */
struct seen {
    int rc;
    size_t count;
    int code;
    char task[64];
    char message[256];
    bool has_arg; /* weft_error_arg of the first record is not NULL */
};

static void keep(struct seen *s, int rc, weft_errors *errs)
{
    s->rc = rc;
    s->count = weft_errors_count(errs);
    if (s->count > 0) {
        const weft_error *e = weft_errors_at(errs, 0);
        s->code = weft_error_code(e);
        snprintf(s->task, sizeof s->task, "%s", weft_error_task(e));
        snprintf(s->message, sizeof s->message, "%s", weft_error_message(e));
        s->has_arg = weft_error_arg(e) != NULL;
    }
    weft_errors_free(errs);
}

static int spin_until_cancelled(weft_task *self, void *arg)
{
    (void)arg;
    while (!weft_cancelled(self))
        weft_sleep(self, weft_after(100 * WEFT_USEC));
    return weft_cancel_reason(self);
}

static int cancels_its_group(weft_task *self, void *arg)
{
    (void)self;
    weft_group_cancel(arg);
    return 0;
}

/* ---- the group's own deadline ---- */

static int own_deadline_root(weft_task *self, void *arg)
{
    weft_group g;
    weft_group_opts o = {.deadline = weft_after(50 * WEFT_MSEC), .name = "batch"};
    if (weft_group_init(&g, self, &o) != 0)
        return EIO;
    weft_spawn(&g, spin_until_cancelled, NULL);
    weft_errors *errs = NULL;
    int rc = weft_group_join(&g, &errs);
    keep(arg, rc, errs);
    return 0;
}

START_TEST(test_a_deadline_ended_join_lists_the_deadline_with_the_group_name)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct seen s = {0};
    ck_assert_int_eq(weft_run(rt, own_deadline_root, &s, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(s.rc, ETIMEDOUT);
    ck_assert_uint_eq(s.count, 1);
    ck_assert_int_eq(s.code, ETIMEDOUT);
    ck_assert_str_eq(s.task, "batch");
    ck_assert(!s.has_arg); /* made by the runtime, not a task's */
    double ms = 0;
    ck_assert_msg(sscanf(s.message, "cancelled: deadline exceeded, %lf ms after it started", &ms) == 1,
                  "message: %s", s.message);
    /* the group started after the deadline was set, 50 ms ahead */
    ck_assert_msg(ms > 0.0 && ms <= 50.0, "the deadline came %f ms after the start", ms);
}
END_TEST

/* ---- weft_group_cancel ---- */

static int outside_cancel_root(weft_task *self, void *arg)
{
    weft_group g;
    weft_group_opts o = {.name = "workers"};
    if (weft_group_init(&g, self, &o) != 0)
        return EIO;
    weft_spawn(&g, spin_until_cancelled, NULL);
    weft_spawn(&g, cancels_its_group, &g);
    weft_errors *errs = NULL;
    int rc = weft_group_join(&g, &errs);
    keep(arg, rc, errs);
    return 0;
}

START_TEST(test_a_cancelled_join_lists_who_cancelled_it)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct seen s = {0};
    ck_assert_int_eq(weft_run(rt, outside_cancel_root, &s, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(s.rc, ECANCELED);
    ck_assert_uint_eq(s.count, 1);
    ck_assert_int_eq(s.code, ECANCELED);
    ck_assert_str_eq(s.task, "workers");
    ck_assert_str_eq(s.message, "cancelled: by weft_group_cancel");
    ck_assert(!s.has_arg);
}
END_TEST

/* ---- an ancestor's cancel, pushed down ---- */

struct nested {
    bool outer_deadline; /* else the outer group is cancelled by a call */
    const char *outer_name;
    weft_group outer;
    struct seen inner;
};

static int inner_owner(weft_task *self, void *arg)
{
    struct nested *n = arg;
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EIO;
    weft_spawn(&g, spin_until_cancelled, NULL);
    if (!n->outer_deadline) {
        weft_sleep(self, weft_after(2 * WEFT_MSEC)); /* the inner group is live first */
        weft_group_cancel(&n->outer);
    }
    weft_errors *errs = NULL;
    int rc = weft_group_join(&g, &errs);
    keep(&n->inner, rc, errs);
    return rc;
}

static int nested_root(weft_task *self, void *arg)
{
    struct nested *n = arg;
    weft_group_opts o = {.name = n->outer_name};
    if (n->outer_deadline)
        o.deadline = weft_after(5 * WEFT_MSEC);
    if (weft_group_init(&n->outer, self, &o) != 0)
        return EIO;
    weft_spawn(&n->outer, inner_owner, n);
    weft_errors *errs = NULL;
    int rc = weft_group_join(&n->outer, &errs);
    /* inner_owner returned the reason: no failure, so the outer join lists
     * its own cause */
    bool ok = weft_test_only_cancel_record(errs, rc);
    weft_errors_free(errs);
    return ok ? 0 : EIO;
}

START_TEST(test_an_inherited_deadline_names_the_enclosing_group)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct nested n = {.outer_deadline = true, .outer_name = "outer"};
    ck_assert_int_eq(weft_run(rt, nested_root, &n, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(n.inner.rc, ETIMEDOUT);
    ck_assert_uint_eq(n.inner.count, 1);
    ck_assert_int_eq(n.inner.code, ETIMEDOUT);
    ck_assert_str_eq(n.inner.task, "");
    ck_assert_msg(strncmp(n.inner.message,
                          "cancelled: the enclosing 'outer' was, deadline exceeded, ", 57) == 0,
                  "message: %s", n.inner.message);
}
END_TEST

START_TEST(test_an_enclosing_cancel_is_named_with_its_reason)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct nested n = {.outer_deadline = false, .outer_name = NULL};
    ck_assert_int_eq(weft_run(rt, nested_root, &n, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(n.inner.rc, ECANCELED);
    ck_assert_uint_eq(n.inner.count, 1);
    ck_assert_str_eq(n.inner.message, "cancelled: an enclosing scope was, by weft_group_cancel");
}
END_TEST

/* ---- a task's own ETIMEDOUT, and joins that return 0 ---- */

static int returns_etimedout(weft_task *self, void *arg)
{
    (void)self;
    (void)arg;
    return ETIMEDOUT;
}

static int plain_timeout_root(weft_task *self, void *arg)
{
    struct seen *s = arg;
    weft_group g;
    weft_group_opts o = {.flags = WEFT_COLLECT};
    if (weft_group_init(&g, self, &o) != 0)
        return EIO;
    weft_spawn(&g, returns_etimedout, NULL);
    weft_errors *errs = NULL;
    int rc = weft_group_join(&g, &errs);
    keep(&s[0], rc, errs);
    /* nothing failed, nothing cancelled: no list at all */
    if (weft_group_init(&g, self, NULL) != 0)
        return EIO;
    weft_spawn(&g, cancels_its_group, NULL); /* cancels nothing: NULL */
    errs = (weft_errors *)&errs;
    s[1].rc = weft_group_join(&g, &errs);
    s[1].count = errs == NULL ? 0 : 99;
    return 0;
}

START_TEST(test_a_task_timeout_reads_deadline_exceeded_and_a_clean_join_lists_nothing)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct seen s[2] = {{0}};
    ck_assert_int_eq(weft_run(rt, plain_timeout_root, s, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(s[0].rc, ETIMEDOUT);
    ck_assert_uint_eq(s[0].count, 1);
    ck_assert_str_eq(s[0].message, "deadline exceeded");
    ck_assert_int_eq(s[1].rc, 0);
    ck_assert_uint_eq(s[1].count, 0);
}
END_TEST

/* ---- destroy's cancel of a detached task, pushed down ---- */

static struct seen shutdown_seen;
static atomic_bool shutdown_started;

static int detached_owner(weft_task *self, void *arg)
{
    (void)arg;
    weft_group g;
    weft_group_opts o = {.name = "background"};
    if (weft_group_init(&g, self, &o) != 0)
        return EIO;
    weft_spawn(&g, spin_until_cancelled, NULL);
    atomic_store(&shutdown_started, true);
    weft_errors *errs = NULL;
    int rc = weft_group_join(&g, &errs);
    keep(&shutdown_seen, rc, errs);
    return rc;
}

START_TEST(test_a_group_below_a_detached_task_names_the_shutdown)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    ck_assert_int_eq(weft_spawn_detached(rt, detached_owner, NULL), 0);
    while (!atomic_load(&shutdown_started))
        sched_yield();
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(shutdown_seen.rc, ECANCELED);
    ck_assert_uint_eq(shutdown_seen.count, 1);
    ck_assert_str_eq(shutdown_seen.task, "background");
    ck_assert_str_eq(shutdown_seen.message,
                     "cancelled: an enclosing scope was, by weft_runtime_destroy");
}
END_TEST

Suite *cancel_records_suite(void)
{
    Suite *s = suite_create("cancel_records");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_a_deadline_ended_join_lists_the_deadline_with_the_group_name);
    tcase_add_test(tc, test_a_cancelled_join_lists_who_cancelled_it);
    tcase_add_test(tc, test_an_inherited_deadline_names_the_enclosing_group);
    tcase_add_test(tc, test_an_enclosing_cancel_is_named_with_its_reason);
    tcase_add_test(tc, test_a_task_timeout_reads_deadline_exceeded_and_a_clean_join_lists_nothing);
    tcase_add_test(tc, test_a_group_below_a_detached_task_names_the_shutdown);
    suite_add_tcase(s, tc);
    return s;
}
