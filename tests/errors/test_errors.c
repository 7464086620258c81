/* Error records: every failure listed in completion order with its code,
 * message and name, none for siblings that were merely cancelled; causes
 * nest like the task tree; the tree prints as expected; weft_run and
 * detached tasks report theirs; with no memory the codes still arrive. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

#include "base/alloc.h"
#include "runtime/runtime.h"
#include "tests/suites.h"

enum { BUDGET = 20 * WEFT_SEC };

/* ---- collect-all: exactly the failures, in completion order ---- */

enum { MANY = 1000, EVERY = 7 };

struct many {
    _Atomic int ran[MANY];
    _Atomic int order; /* completion ticket of failing tasks */
    int ticket[MANY];
    int join_rc;
    weft_errors *errs;
};

struct item {
    struct many *m;
    int i;
    char name[16];
};

static struct item items[MANY];

static int maybe_fail(weft_task *self, void *p)
{
    struct item *it = p;
    atomic_fetch_add(&it->m->ran[it->i], 1);
    if (it->i % EVERY != 0)
        return 0;
    /* ticket and failure recorded in the same order only roughly (two
     * workers): the test checks the set, and order where it is certain */
    return weft_fail(self, 1000 + it->i, "item %d failed", it->i);
}

static int collect_root(weft_task *self, void *p)
{
    struct many *m = p;
    weft_group g;
    weft_group_opts o = {.flags = WEFT_COLLECT};
    weft_group_init(&g, self, &o);
    for (int i = 0; i < MANY; i++) {
        items[i].m = m;
        items[i].i = i;
        snprintf(items[i].name, sizeof items[i].name, "item-%d", i);
        weft_spawn_opts so = {.name = items[i].name};
        weft_spawn_ex(&g, maybe_fail, &items[i], &so);
    }
    m->join_rc = weft_group_join(&g, &m->errs);
    return 0;
}

START_TEST(test_collect_all_lists_exactly_the_failures)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct many *m = calloc(1, sizeof *m);
    ck_assert_int_eq(weft_run(rt, collect_root, m, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(atomic_load(&m->ran[i]), 1);
    size_t expected = (MANY + EVERY - 1) / EVERY;
    ck_assert_uint_eq(weft_errors_count(m->errs), expected);
    ck_assert_uint_eq(weft_errors_lost(m->errs), 0);
    char seen[MANY] = {0};
    for (size_t k = 0; k < expected; k++) {
        const weft_error *e = weft_errors_at(m->errs, k);
        ck_assert_ptr_nonnull(e);
        int i = weft_error_code(e) - 1000;
        ck_assert_int_ge(i, 0);
        ck_assert_int_lt(i, MANY);
        ck_assert_int_eq(i % EVERY, 0);
        ck_assert_int_eq(seen[i], 0);
        seen[i] = 1;
        char want[32];
        snprintf(want, sizeof want, "item %d failed", i);
        ck_assert_str_eq(weft_error_message(e), want);
        snprintf(want, sizeof want, "item-%d", i);
        ck_assert_str_eq(weft_error_task(e), want);
        ck_assert_ptr_null(weft_error_cause(e));
    }
    ck_assert_ptr_null(weft_errors_at(m->errs, expected));
    /* the join returns the earliest failure: the first one listed */
    ck_assert_int_eq(m->join_rc, weft_error_code(weft_errors_at(m->errs, 0)));
    weft_errors_free(m->errs);
    free(m);
}
END_TEST

/* ---- completion order, where it is certain: one worker, in LIFO pops ---- */

static int fail_with_arg(weft_task *self, void *p)
{
    return weft_fail(self, (int)(intptr_t)p, "code %d", (int)(intptr_t)p);
}

struct ordered {
    weft_errors *errs;
};

static int ordered_root(weft_task *self, void *p)
{
    struct ordered *o = p;
    weft_group g;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    weft_group_init(&g, self, &go);
    for (intptr_t c = 1; c <= 5; c++)
        weft_spawn(&g, fail_with_arg, (void *)c);
    weft_group_join(&g, &o->errs);
    return 0;
}

START_TEST(test_failures_are_listed_in_completion_order)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct ordered o = {0};
    ck_assert_int_eq(weft_run(rt, ordered_root, &o, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    /* one worker: the join pops its deque newest first, 5 ran first */
    ck_assert_uint_eq(weft_errors_count(o.errs), 5);
    for (size_t k = 0; k < 5; k++)
        ck_assert_int_eq(weft_error_code(weft_errors_at(o.errs, k)), 5 - (int)k);
    weft_errors_free(o.errs);
}
END_TEST

/* ---- fail-fast: cancelled siblings are not errors ---- */

static int wait_for_cancel(weft_task *self, void *p)
{
    (void)p;
    weft_time end = weft_after(BUDGET);
    while (!weft_cancelled(self) && weft_now() < end)
        sched_yield();
    return weft_cancelled(self) ? ECANCELED : ETIME;
}

static int fail_eio(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EIO, "disk on fire");
}

struct ff {
    int rc;
    weft_errors *errs;
};

static int failfast_root(weft_task *self, void *p)
{
    struct ff *f = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    for (int i = 0; i < 8; i++)
        weft_spawn(&g, wait_for_cancel, NULL);
    weft_spawn(&g, fail_eio, NULL);
    f->rc = weft_group_join(&g, &f->errs);
    return 0;
}

START_TEST(test_fail_fast_lists_the_failure_not_the_cancelled_siblings)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct ff f = {0};
    ck_assert_int_eq(weft_run(rt, failfast_root, &f, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(f.rc, EIO);
    ck_assert_uint_eq(weft_errors_count(f.errs), 1);
    const weft_error *e = weft_errors_at(f.errs, 0);
    ck_assert_int_eq(weft_error_code(e), EIO);
    ck_assert_str_eq(weft_error_message(e), "disk on fire");
    ck_assert_str_eq(weft_error_task(e), "");
    weft_errors_free(f.errs);
}
END_TEST

/* ---- nesting: a failure three levels down, one tree ---- */

static int level3(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EIO, "cannot read block %d", 7);
}

static int level3_sibling(weft_task *self, void *p)
{
    (void)p;
    return wait_for_cancel(self, NULL);
}

/* joins with its errors and passes them on explicitly */
static int level2(weft_task *self, void *p)
{
    (void)p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    /* the sibling first: the join pops the newest, so no spinning task
     * holds this worker while the failing one waits behind it */
    weft_spawn(&g, level3_sibling, NULL);
    weft_spawn_opts o = {.name = "reader"};
    weft_spawn_ex(&g, level3, NULL, &o);
    weft_errors *errs = NULL;
    int rc = weft_group_join(&g, &errs);
    if (rc == 0)
        return 0;
    return weft_fail_from(self, errs, EPROTO, "chunk %d unreadable", 3);
}

/* joins without asking for its errors: they still become its cause */
static int level1(weft_task *self, void *p)
{
    (void)p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn_opts o = {.name = "chunk"};
    weft_spawn_ex(&g, level2, NULL, &o);
    return weft_group_join(&g, NULL);
}

static int tree_root(weft_task *self, void *p)
{
    struct ff *f = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    for (int i = 0; i < 4; i++)
        weft_spawn(&g, wait_for_cancel, NULL);
    weft_spawn_opts o = {.name = "file"};
    weft_spawn_ex(&g, level1, NULL, &o);
    f->rc = weft_group_join(&g, &f->errs);
    return 0;
}

static const char expected_tree[] = "1 error:\n"
                                    "  file: EPROTO: Protocol error\n"
                                    "    caused by 1 error:\n"
                                    "      chunk: EPROTO: chunk 3 unreadable\n"
                                    "        caused by 1 error:\n"
                                    "          reader: EIO: cannot read block 7\n";

START_TEST(test_a_deep_failure_makes_one_tree_with_the_right_nesting)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct ff f = {0};
    ck_assert_int_eq(weft_run(rt, tree_root, &f, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(f.rc, EPROTO);
    ck_assert_uint_eq(weft_errors_count(f.errs), 1);
    const weft_error *file = weft_errors_at(f.errs, 0);
    ck_assert_str_eq(weft_error_task(file), "file");
    ck_assert_int_eq(weft_error_code(file), EPROTO);
    const weft_errors *c1 = weft_error_cause(file);
    ck_assert_uint_eq(weft_errors_count(c1), 1);
    const weft_error *chunk = weft_errors_at(c1, 0);
    ck_assert_str_eq(weft_error_task(chunk), "chunk");
    ck_assert_str_eq(weft_error_message(chunk), "chunk 3 unreadable");
    const weft_errors *c2 = weft_error_cause(chunk);
    ck_assert_uint_eq(weft_errors_count(c2), 1);
    const weft_error *reader = weft_errors_at(c2, 0);
    ck_assert_str_eq(weft_error_task(reader), "reader");
    ck_assert_int_eq(weft_error_code(reader), EIO);
    ck_assert_ptr_null(weft_error_cause(reader));

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    weft_errors_print(f.errs, out);
    fclose(out);
    ck_assert_str_eq(text, expected_tree);
    free(text);
    weft_errors_free(f.errs);
}
END_TEST

/* ---- weft_fail's rules ---- */

struct rules {
    int rc_null, rc_zero, rc_fail_from_null;
    weft_errors *errs;
};

static int fails_twice(weft_task *self, void *p)
{
    (void)p;
    weft_fail(self, EIO, "first");
    return weft_fail(self, EIO, "second");
}

static int fails_then_succeeds(weft_task *self, void *p)
{
    (void)p;
    weft_fail(self, EIO, "never mind");
    return 0;
}

static int fails_without_message(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return ENOENT;
}

static int fails_with_null_format(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, ENOSPC, NULL);
}

static int rules_root(weft_task *self, void *p)
{
    struct rules *r = p;
    r->rc_null = weft_fail(NULL, EIO, "x");
    r->rc_zero = weft_fail(self, 0, "x");
    weft_errors *orphan = NULL;
    { /* a list to hand over to a weft_fail_from that refuses it */
        weft_group g;
        weft_group_init(&g, self, NULL);
        weft_spawn(&g, fail_eio, NULL);
        weft_group_join(&g, &orphan);
    }
    r->rc_fail_from_null = weft_fail_from(NULL, orphan, EIO, "x"); /* frees it */
    weft_group g;
    weft_group_opts o = {.flags = WEFT_COLLECT};
    weft_group_init(&g, self, &o);
    weft_spawn(&g, fails_then_succeeds, NULL);
    weft_spawn(&g, fails_without_message, NULL);
    weft_spawn(&g, fails_with_null_format, NULL);
    weft_group_join(&g, &r->errs);
    return 0;
}

START_TEST(test_weft_fail_rules)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct rules r = {0};
    ck_assert_int_eq(weft_run(rt, rules_root, &r, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(r.rc_null, EINVAL);
    ck_assert_int_eq(r.rc_zero, EINVAL);
    ck_assert_int_eq(r.rc_fail_from_null, EINVAL);
    /* fails_then_succeeds is no failure; the other two are, in LIFO order */
    ck_assert_uint_eq(weft_errors_count(r.errs), 2);
    const weft_error *a = weft_errors_at(r.errs, 0);
    const weft_error *b = weft_errors_at(r.errs, 1);
    ck_assert_int_eq(weft_error_code(a), ENOSPC);
    ck_assert_str_eq(weft_error_message(a), strerror(ENOSPC));
    ck_assert_int_eq(weft_error_code(b), ENOENT);
    ck_assert_str_eq(weft_error_message(b), strerror(ENOENT));
    weft_errors_free(r.errs);
    /* NULLs are harmless */
    ck_assert_uint_eq(weft_errors_count(NULL), 0);
    ck_assert_ptr_null(weft_errors_at(NULL, 0));
    ck_assert_int_eq(weft_error_code(NULL), EINVAL);
    ck_assert_str_eq(weft_error_message(NULL), "");
    ck_assert_str_eq(weft_error_task(NULL), "");
    ck_assert_ptr_null(weft_error_cause(NULL));
    weft_errors_free(NULL);
}
END_TEST

static int twice_root(weft_task *self, void *p)
{
    weft_errors **errs = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, fails_twice, NULL);
    weft_group_join(&g, errs);
    return 0;
}

START_TEST(test_the_last_weft_fail_wins)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    weft_errors *errs = NULL;
    ck_assert_int_eq(weft_run(rt, twice_root, &errs, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    ck_assert_str_eq(weft_error_message(weft_errors_at(errs, 0)), "second");
    weft_errors_free(errs);
}
END_TEST

/* ---- names are copied: a cleanup may free them ---- */

static void free_name(void *p)
{
    free(p);
}

static int fail_named_by_arg(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EIO, "named");
}

static int fail_plain_named_by_arg(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return EBUSY;
}

static int names_root(weft_task *self, void *p)
{
    weft_errors **errs = p;
    weft_group g;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    weft_group_init(&g, self, &go);
    char *n1 = strdup("heap-name-1"), *n2 = strdup("heap-name-2");
    weft_spawn_opts o1 = {.name = n1, .cleanup = free_name};
    weft_spawn_opts o2 = {.name = n2, .cleanup = free_name};
    weft_spawn_ex(&g, fail_named_by_arg, n1, &o1);
    weft_spawn_ex(&g, fail_plain_named_by_arg, n2, &o2);
    weft_group_join(&g, errs);
    return 0;
}

START_TEST(test_error_names_outlive_the_task_and_its_cleanup)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    weft_errors *errs = NULL;
    ck_assert_int_eq(weft_run(rt, names_root, &errs, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_uint_eq(weft_errors_count(errs), 2);
    ck_assert_str_eq(weft_error_task(weft_errors_at(errs, 0)), "heap-name-2");
    ck_assert_str_eq(weft_error_task(weft_errors_at(errs, 1)), "heap-name-1");
    weft_errors_free(errs);
}
END_TEST

/* ---- a group left unjoined: its failures become the task's cause ---- */

static int leaves_group_open(weft_task *self, void *p)
{
    weft_group *g = p;
    weft_group_init(g, self, NULL);
    weft_spawn(g, fail_eio, NULL);
    return 0; /* forgot the join: the runtime joins it, the task fails EINVAL */
}

static int abandon_root(weft_task *self, void *p)
{
    weft_errors **errs = p;
    weft_group outer, inner;
    weft_group_init(&outer, self, NULL);
    weft_spawn(&outer, leaves_group_open, &inner);
    weft_group_join(&outer, errs);
    return 0;
}

START_TEST(test_an_abandoned_groups_failures_are_kept_as_cause)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    weft_errors *errs = NULL;
    ck_assert_int_eq(weft_run(rt, abandon_root, &errs, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    const weft_error *e = weft_errors_at(errs, 0);
    ck_assert_int_eq(weft_error_code(e), EINVAL);
    const weft_errors *cause = weft_error_cause(e);
    ck_assert_uint_eq(weft_errors_count(cause), 1);
    ck_assert_int_eq(weft_error_code(weft_errors_at(cause, 0)), EIO);
    weft_errors_free(errs);
}
END_TEST

/* ---- weft_run's own errors ---- */

static int root_fails(weft_task *self, void *p)
{
    (void)p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, fail_eio, NULL);
    weft_errors *errs = NULL;
    weft_group_join(&g, &errs);
    return weft_fail_from(self, errs, ECONNRESET, "root gave up");
}

static int root_ok(weft_task *self, void *p)
{
    (void)p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, fail_eio, NULL);
    weft_group_join(&g, NULL); /* kept as cause, then dropped: it returns 0 */
    return 0;
}

START_TEST(test_weft_run_hands_out_the_roots_error_tree)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    weft_errors *errs = NULL;
    ck_assert_int_eq(weft_run(rt, root_fails, NULL, &errs), ECONNRESET);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    const weft_error *e = weft_errors_at(errs, 0);
    ck_assert_str_eq(weft_error_message(e), "root gave up");
    ck_assert_int_eq(weft_error_code(weft_errors_at(weft_error_cause(e), 0)), EIO);
    weft_errors_free(errs);
    errs = (weft_errors *)&errs; /* must be overwritten */
    ck_assert_int_eq(weft_run(rt, root_ok, NULL, &errs), 0);
    ck_assert_ptr_null(errs);
    ck_assert_int_eq(weft_run(rt, root_fails, NULL, NULL), ECONNRESET); /* freed inside */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- detached failures reach on_unhandled ---- */

struct seen {
    _Atomic int calls;
    int code;
    char task[32], message[64];
};

static void on_unhandled(const weft_error *e, void *arg)
{
    struct seen *s = arg;
    s->code = weft_error_code(e);
    snprintf(s->task, sizeof s->task, "%s", weft_error_task(e));
    snprintf(s->message, sizeof s->message, "%s", weft_error_message(e));
    atomic_fetch_add(&s->calls, 1);
}

static int detached_fails(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, ETIMEDOUT, "upstream took %d s", 3);
}

START_TEST(test_a_detached_failure_reaches_the_handler)
{
    struct seen s = {0};
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 2;
    cfg.on_unhandled = on_unhandled;
    cfg.on_unhandled_arg = &s;
    weft_runtime *rt = weft_runtime_create(&cfg);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(weft_spawn_detached(rt, detached_fails, NULL), 0);
    weft_time end = weft_after(BUDGET);
    while (atomic_load(&s.calls) == 0 && weft_now() < end)
        sched_yield();
    weft_stats st;
    weft_runtime_stats(rt, &st);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    ck_assert_int_eq(s.code, ETIMEDOUT);
    ck_assert_str_eq(s.message, "upstream took 3 s");
    ck_assert_str_eq(s.task, "");
    ck_assert_uint_eq(st.unhandled_errors, 1);
}
END_TEST

/* ---- no memory: every failure still counts, by code ---- */

enum { OOM_FAILURES = 50 };

struct oom {
    _Atomic int go;
    int rc;
    weft_errors *errs;
};

static int fail_when_told(weft_task *self, void *p)
{
    struct oom *o = p;
    weft_time end = weft_after(BUDGET);
    while (!atomic_load(&o->go) && weft_now() < end)
        sched_yield();
    return weft_fail(self, EMFILE, "a long message that a reserve record may have to cut short");
}

static int oom_root(weft_task *self, void *p)
{
    struct oom *o = p;
    weft_group g;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    weft_group_init(&g, self, &go);
    for (int i = 0; i < OOM_FAILURES; i++)
        weft_spawn(&g, fail_when_told, o);
    weft__alloc_fail_from(1); /* from here on every allocation fails */
    atomic_store(&o->go, 1);
    o->rc = weft_group_join(&g, &o->errs);
    weft__alloc_fail_from(0);
    return 0;
}

START_TEST(test_without_memory_failures_are_still_reported)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct oom o = {0};
    ck_assert_int_eq(weft_run(rt, oom_root, &o, NULL), 0);
    ck_assert_int_eq(o.rc, EMFILE);
    ck_assert_ptr_nonnull(o.errs);
    size_t n = weft_errors_count(o.errs);
    ck_assert_uint_ge(n, 1); /* the reserve */
    ck_assert_uint_eq(n + weft_errors_lost(o.errs), OOM_FAILURES);
    for (size_t i = 0; i < n; i++) { /* no index (no memory): walked */
        const weft_error *e = weft_errors_at(o.errs, i);
        ck_assert_int_eq(weft_error_code(e), EMFILE);
        ck_assert_int_eq(strncmp(weft_error_message(e), "a long message", 14), 0);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    weft_errors_print(o.errs, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "not recorded: out of memory"));
    free(text);
    weft_errors_free(o.errs);
    /* the reserve is back: a second round lists as many */
    struct oom again = {0};
    ck_assert_int_eq(weft_run(rt, oom_root, &again, NULL), 0);
    ck_assert_uint_eq(weft_errors_count(again.errs), n);
    weft_errors_free(again.errs);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- spawn_opts.cleanup: once, after fn, whatever the outcome ---- */

enum { CLEANED = 400 };

struct cleaned {
    _Atomic int fn_ran, cleanups, early; /* early: a cleanup before its fn returned */
    _Atomic int done;
};

struct cl_item {
    struct cleaned *c;
    int i;
    _Atomic int fn_returned, cleaned;
};

static struct cl_item cl_items[CLEANED];

static void count_cleanup(void *p)
{
    struct cl_item *it = p;
    if (!atomic_load(&it->fn_returned))
        atomic_fetch_add(&it->c->early, 1);
    atomic_fetch_add(&it->cleaned, 1);
    atomic_fetch_add(&it->c->cleanups, 1);
}

/* outcomes by i: success, failure, a wait for the cancel, an own deadline */
static int varied(weft_task *self, void *p)
{
    struct cl_item *it = p;
    atomic_fetch_add(&it->c->fn_ran, 1);
    int rc = 0;
    switch (it->i % 4) {
    case 1:
        rc = weft_fail(self, EIO, "item %d", it->i);
        break;
    case 2:
        rc = weft_sleep(self, weft_after(BUDGET)); /* the first failure cancels it */
        break;
    case 3:
        rc = weft_sleep(self, weft_after(BUDGET)); /* its own deadline ends it */
        break;
    }
    atomic_store(&it->fn_returned, 1);
    return rc;
}

static int cleanup_root(weft_task *self, void *p)
{
    struct cleaned *c = p;
    unsigned flags[] = {0, WEFT_COLLECT, WEFT_STREAM};
    for (int round = 0; round < 3; round++) {
        weft_group g;
        weft_group_opts go = {.flags = flags[round]};
        weft_group_init(&g, self, &go);
        for (int k = 0; k < CLEANED / 4; k++) {
            int i = round * (CLEANED / 4) + k;
            cl_items[i] = (struct cl_item){.c = c, .i = i};
            weft_spawn_opts o = {.cleanup = count_cleanup};
            if (i % 4 == 3)
                o.deadline = weft_after(5 * WEFT_MSEC);
            weft_spawn_ex(&g, varied, &cl_items[i], &o);
        }
        if (flags[round] & WEFT_COLLECT) /* nobody fails fast: end the sleepers */
            weft_group_cancel(&g);
        weft_group_join(&g, NULL);
    }
    atomic_store(&c->done, 1);
    return 0;
}

START_TEST(test_cleanup_runs_once_after_the_function_whatever_the_outcome)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct cleaned c = {0};
    ck_assert_int_eq(weft_run(rt, cleanup_root, &c, NULL), 0);
    /* and from outside the workers: a detached task has no cleanup, a root none */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    int spawned = 3 * (CLEANED / 4);
    ck_assert_int_eq(atomic_load(&c.fn_ran), spawned);
    ck_assert_int_eq(atomic_load(&c.cleanups), spawned);
    ck_assert_int_eq(atomic_load(&c.early), 0);
    for (int i = 0; i < spawned; i++)
        ck_assert_int_eq(atomic_load(&cl_items[i].cleaned), 1);
}
END_TEST

/* ---- weft_error_arg: from a record back to its input ---- */

enum { GATHER = 30 };

struct gather {
    int input[GATHER];      /* each task's arg points at one of these */
    _Atomic int failed[GATHER];
    int body_arg;           /* the parallel_for's body arg */
    int job_arg;
    weft_errors *errs;
    int join_rc;
};

/* input i: fails with a message when i % 3 == 1, with a bare code when
 * i % 3 == 2, succeeds otherwise; the arg is all it knows */
static int gather_one(weft_task *self, void *p)
{
    int *in = p;
    if (*in % 3 == 1)
        return weft_fail(self, EIO, "input %d is bad", *in);
    return *in % 3 == 2 ? EPROTO : 0;
}

static int gather_root(weft_task *self, void *p)
{
    struct gather *g = p;
    weft_group grp;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    if (weft_group_init(&grp, self, &go) != 0)
        return EFAULT;
    for (int i = 0; i < GATHER; i++) {
        g->input[i] = i;
        weft_spawn_opts o = {.name = i % 2 ? "odd" : NULL};
        if ((i % 2 ? weft_spawn_ex(&grp, gather_one, &g->input[i], &o)
                   : weft_spawn(&grp, gather_one, &g->input[i])) != 0)
            return EFAULT;
    }
    g->join_rc = weft_group_join(&grp, &g->errs);
    return 0;
}

START_TEST(test_error_arg_maps_every_gathered_failure_back_to_its_input)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct gather g = {0};
    ck_assert_int_eq(weft_run(rt, gather_root, &g, NULL), 0);
    ck_assert_int_ne(g.join_rc, 0);
    int seen[GATHER] = {0};
    for (size_t k = 0; k < weft_errors_count(g.errs); k++) {
        const weft_error *e = weft_errors_at(g.errs, k);
        int *in = weft_error_arg(e);
        ck_assert_ptr_nonnull(in);
        ck_assert(in >= g.input && in < g.input + GATHER);
        int i = (int)(in - g.input);
        seen[i]++;
        if (i % 3 == 1) {
            char want[32];
            snprintf(want, sizeof want, "input %d is bad", i);
            ck_assert_int_eq(weft_error_code(e), EIO);
            ck_assert_str_eq(weft_error_message(e), want);
        } else {
            ck_assert_int_eq(weft_error_code(e), EPROTO);
        }
        ck_assert_str_eq(weft_error_task(e), i % 2 ? "odd" : "");
    }
    for (int i = 0; i < GATHER; i++)
        ck_assert_int_eq(seen[i], i % 3 != 0);
    weft_errors_free(g.errs);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

static int failing_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    (void)p;
    (void)hi;
    return lo == 7 ? weft_fail(self, ERANGE, "bad index 7") : 0;
}

static int failing_job(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EPIPE, "the job's pipe broke");
}

/* Fails with the job's failure as its cause. */
static int job_waiter(weft_task *self, void *p)
{
    struct gather *g = p;
    weft_job *job = NULL;
    int rc = weft_spawn_blocking(self, failing_job, &g->job_arg, NULL, &job);
    if (rc != 0)
        return EFAULT;
    rc = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return rc;
}

/* Fails with the loop's failure as its cause. */
static int loop_runner(weft_task *self, void *p)
{
    struct gather *g = p;
    return weft_parallel_for(self, 0, 100, 1, failing_body, &g->body_arg);
}

static int arg_root(weft_task *self, void *p)
{
    struct gather *g = p;
    weft_group grp;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    if (weft_group_init(&grp, self, &go) != 0)
        return EFAULT;
    weft_spawn(&grp, job_waiter, g);
    weft_spawn(&grp, loop_runner, g);
    weft_errors *inner = NULL;
    int rc = weft_group_join(&grp, &inner);
    return weft_fail_from(self, inner, rc, "the root gave up");
}

START_TEST(test_error_arg_of_a_job_a_chunk_and_the_root)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct gather g = {0};
    weft_errors *errs = NULL;
    ck_assert_int_ne(weft_run(rt, arg_root, &g, &errs), 0);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    const weft_error *root = weft_errors_at(errs, 0);
    ck_assert_ptr_eq(weft_error_arg(root), &g);
    const weft_errors *inner = weft_error_cause(root);
    ck_assert_uint_eq(weft_errors_count(inner), 2);
    bool job_seen = false, loop_seen = false;
    for (size_t k = 0; k < 2; k++) {
        const weft_error *e = weft_errors_at(inner, k);
        ck_assert_ptr_eq(weft_error_arg(e), &g); /* both tasks got g */
        const weft_errors *cause = weft_error_cause(e);
        ck_assert_uint_eq(weft_errors_count(cause), 1);
        const weft_error *c = weft_errors_at(cause, 0);
        if (weft_error_code(e) == EPIPE) { /* the job's record, kept by its wait */
            job_seen = true;
            ck_assert_str_eq(weft_error_message(c), "the job's pipe broke");
            ck_assert_ptr_eq(weft_error_arg(c), &g.job_arg);
        } else { /* the chunk's record: the body's arg, not an internal one */
            loop_seen = true;
            ck_assert_int_eq(weft_error_code(e), ERANGE);
            ck_assert_str_eq(weft_error_message(c), "bad index 7");
            ck_assert_ptr_eq(weft_error_arg(c), &g.body_arg);
        }
    }
    ck_assert(job_seen && loop_seen);
    ck_assert_ptr_null(weft_error_arg(NULL));
    weft_errors_free(errs);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* The runtime's own record: failures that got no record are counted on one
 * it makes when the list is built, which stands for no task. */
enum { HOG = 40, UNRECORDED = 5 };

struct lost {
    int arg;
    int rc;
    weft_errors *errs;
};

static int fail_at_once(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return EMFILE;
}

static int lost_root(weft_task *self, void *p)
{
    struct lost *l = p;
    weft_group hog, g;
    weft_group_opts go = {.flags = WEFT_COLLECT};
    weft_errors *held = NULL;
    /* one worker: nothing runs before the join; both groups and the hog's
     * tasks are set up while memory is there */
    int rc = weft_group_init(&hog, self, &go);
    if (rc != 0)
        return rc;
    rc = weft_group_init(&g, self, &go);
    for (int i = 0; rc == 0 && i < HOG; i++)
        rc = weft_spawn(&hog, fail_at_once, &l->arg);
    /* then every allocation fails: HOG failures use up the reserve of
     * records (their list holds it), and UNRECORDED failures get none */
    weft__alloc_fail_from(1);
    (void)weft_group_join(&hog, &held);
    for (int i = 0; rc == 0 && i < UNRECORDED; i++)
        rc = weft_spawn(&g, fail_at_once, &l->arg); /* descriptors the hog's tasks freed */
    if (rc == 0)
        rc = weft_group_wait(&g, WEFT_NEVER); /* every failure went unrecorded */
    weft_errors_free(held);                   /* the reserve is back */
    l->rc = weft_group_join(&g, &l->errs);
    weft__alloc_fail_from(0);
    return rc;
}

START_TEST(test_error_arg_is_null_for_the_runtimes_own_record)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct lost l = {0};
    ck_assert_int_eq(weft_run(rt, lost_root, &l, NULL), 0);
    ck_assert_int_eq(l.rc, EMFILE);
    ck_assert_uint_eq(weft_errors_count(l.errs), 1);
    ck_assert_uint_eq(weft_errors_lost(l.errs), UNRECORDED);
    const weft_error *e = weft_errors_at(l.errs, 0);
    ck_assert_str_eq(weft_error_message(e), "out of memory while recording failures");
    ck_assert_ptr_null(weft_error_arg(e));
    weft_errors_free(l.errs);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_collect_all_lists_exactly_the_failures);
    tcase_add_test(tc, test_failures_are_listed_in_completion_order);
    tcase_add_test(tc, test_fail_fast_lists_the_failure_not_the_cancelled_siblings);
    tcase_add_test(tc, test_a_deep_failure_makes_one_tree_with_the_right_nesting);
    tcase_add_test(tc, test_weft_fail_rules);
    tcase_add_test(tc, test_the_last_weft_fail_wins);
    tcase_add_test(tc, test_error_names_outlive_the_task_and_its_cleanup);
    tcase_add_test(tc, test_an_abandoned_groups_failures_are_kept_as_cause);
    tcase_add_test(tc, test_weft_run_hands_out_the_roots_error_tree);
    tcase_add_test(tc, test_a_detached_failure_reaches_the_handler);
    tcase_add_test(tc, test_without_memory_failures_are_still_reported);
    tcase_add_test(tc, test_cleanup_runs_once_after_the_function_whatever_the_outcome);
    tcase_add_test(tc, test_error_arg_maps_every_gathered_failure_back_to_its_input);
    tcase_add_test(tc, test_error_arg_of_a_job_a_chunk_and_the_root);
    tcase_add_test(tc, test_error_arg_is_null_for_the_runtimes_own_record);
    suite_add_tcase(s, tc);
    return s;
}
