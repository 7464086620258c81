/* weft_parallel_for: chunks tile the range exactly once and hold >= grain
 * indices, the earliest failure wins and stops the rest, bad input, nesting,
 * the caller's deadline and cancel, and both workers taking part. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

#include "tests/suites.h"

/* Busy for about `ns`, or until cancelled: true when cancelled. */
static bool spin_for(weft_task *self, weft_time ns)
{
    weft_time end = weft_after(ns);
    while (weft_now() < end)
        if (weft_cancelled(self))
            return true;
    return weft_cancelled(self);
}

/* ---- coverage and chunk sizes ---- */

struct cover {
    size_t begin, end, grain;
    _Atomic uint32_t *count; /* per index, offset by begin */
    _Atomic size_t chunks, min_chunk, bad_bounds;
    int rc;
};

static int count_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct cover *c = p;
    (void)self;
    if (lo >= hi || lo < c->begin || hi > c->end) {
        atomic_fetch_add(&c->bad_bounds, 1);
        return 0;
    }
    for (size_t i = lo; i < hi; i++)
        atomic_fetch_add_explicit(&c->count[i - c->begin], 1, memory_order_relaxed);
    atomic_fetch_add(&c->chunks, 1);
    size_t n = hi - lo, m = atomic_load(&c->min_chunk);
    while (n < m && !atomic_compare_exchange_weak(&c->min_chunk, &m, n)) {
    }
    return 0;
}

static int cover_root(weft_task *self, void *p)
{
    struct cover *c = p;
    c->rc = weft_parallel_for(self, c->begin, c->end, c->grain, count_body, c);
    return 0;
}

/* Runs one (begin, end, grain) on rt; asserts coverage and chunk sizes. */
static void check_cover(weft_runtime *rt, size_t begin, size_t end, size_t grain)
{
    size_t n = end - begin;
    struct cover c = {.begin = begin, .end = end, .grain = grain};
    c.count = calloc(n + 1, sizeof *c.count);
    ck_assert_ptr_nonnull(c.count);
    atomic_init(&c.min_chunk, SIZE_MAX);
    ck_assert_int_eq(weft_run(rt, cover_root, &c, NULL), 0);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_uint_eq(atomic_load(&c.bad_bounds), 0);
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&c.count[i]) != 1)
            ck_abort_msg("range [%zu, %zu) grain %zu: index %zu ran %u times", begin, end, grain,
                         begin + i, (unsigned)atomic_load(&c.count[i]));
    size_t chunks = atomic_load(&c.chunks), min = atomic_load(&c.min_chunk);
    if (n < grain) { /* one chunk: the whole range */
        ck_assert_uint_eq(chunks, 1);
        ck_assert_uint_eq(min, n);
    } else {
        ck_assert_uint_ge(min, grain);
        ck_assert_uint_le(chunks, n / grain);
    }
    free(c.count);
}

static const struct {
    size_t begin, end, grain;
} cases[] = {
    {0, 1, 1},           /* one index */
    {0, 1000, 1},        /* grain 1: a chunk per index at most */
    {0, 1000, 7},        /* not a multiple */
    {5, 1005, 1000},     /* range == grain */
    {3, 10, 100},        /* range < grain: one short chunk */
    {0, 100003, 64},     /* large, prime-ish length */
    {17, 100008, 1000},  /* offset begin */
    {0, 4096, 4096 / 2}, /* exactly two grains */
    {0, 3 * 999, 999},   /* odd grain, 3 grains */
};

START_TEST(test_chunks_cover_the_range_exactly_once)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = weft_test_runtime(workers, 0);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            check_cover(rt, cases[i].begin, cases[i].end, cases[i].grain);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    }
}
END_TEST

START_TEST(test_every_chunk_has_at_least_grain_indices)
{
    /* check_cover asserts min >= grain; here many grains on one range, where
     * the last chunk of every range task is the one that could come short */
    weft_runtime *rt = weft_test_runtime(2, 0);
    for (size_t grain = 1; grain <= 300; grain += 37)
        check_cover(rt, 11, 11 + 20011, grain);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* A range that ends at SIZE_MAX: hi - lo and the split point never overflow. */
struct top_of_range {
    _Atomic size_t indices, chunks;
    _Atomic int out_of_range;
    int rc;
};

static int top_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct top_of_range *t = p;
    (void)self;
    if (lo >= hi || lo < SIZE_MAX - 100000)
        atomic_store(&t->out_of_range, 1);
    atomic_fetch_add(&t->indices, hi - lo);
    atomic_fetch_add(&t->chunks, 1);
    return 0;
}

static int top_root(weft_task *self, void *p)
{
    struct top_of_range *t = p;
    t->rc = weft_parallel_for(self, SIZE_MAX - 100000, SIZE_MAX, 10, top_body, t);
    return 0;
}

START_TEST(test_a_range_ending_at_size_max_does_not_overflow)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct top_of_range t = {0};
    ck_assert_int_eq(weft_run(rt, top_root, &t, NULL), 0);
    ck_assert_int_eq(t.rc, 0);
    ck_assert_int_eq(atomic_load(&t.out_of_range), 0);
    ck_assert_uint_eq(atomic_load(&t.indices), 100000);
    ck_assert_uint_ge(atomic_load(&t.chunks), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- empty range and bad input ---- */

struct bad {
    _Atomic int body_calls;
    int empty_rc, empty_grain0_rc;
    int null_self_rc, null_body_rc, reversed_rc, grain0_rc, not_running_rc;
};

static int never_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct bad *b = p;
    (void)self;
    (void)lo;
    (void)hi;
    atomic_fetch_add(&b->body_calls, 1);
    return 0;
}

struct child_arg {
    struct bad *b;
    weft_task *parent; /* running, but not on the child's thread at the child's turn */
};

static int not_running_child(weft_task *self, void *p)
{
    struct child_arg *a = p;
    (void)self;
    a->b->not_running_rc = weft_parallel_for(a->parent, 0, 10, 1, never_body, a->b);
    return 0;
}

static int bad_root(weft_task *self, void *p)
{
    struct bad *b = p;
    b->empty_rc = weft_parallel_for(self, 42, 42, 1, never_body, b);
    b->empty_grain0_rc = weft_parallel_for(self, 42, 42, 0, never_body, b);
    b->null_self_rc = weft_parallel_for(NULL, 0, 10, 1, never_body, b);
    b->null_body_rc = weft_parallel_for(self, 0, 10, 1, NULL, b);
    b->reversed_rc = weft_parallel_for(self, 10, 0, 1, never_body, b);
    b->grain0_rc = weft_parallel_for(self, 0, 10, 0, never_body, b);
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    struct child_arg a = {b, self};
    int rc = weft_spawn(&g, not_running_child, &a);
    int jrc = weft_group_join(&g, NULL);
    return rc != 0 ? rc : jrc;
}

START_TEST(test_bad_input_returns_einval_and_an_empty_range_0)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct bad b = {.not_running_rc = -1};
    ck_assert_int_eq(weft_run(rt, bad_root, &b, NULL), 0);
    ck_assert_int_eq(b.empty_rc, 0);
    ck_assert_int_eq(b.empty_grain0_rc, EINVAL); /* grain 0 is refused before the range is read */
    ck_assert_int_eq(b.null_self_rc, EINVAL);
    ck_assert_int_eq(b.null_body_rc, EINVAL);
    ck_assert_int_eq(b.reversed_rc, EINVAL);
    ck_assert_int_eq(b.grain0_rc, EINVAL);
    ck_assert_int_eq(b.not_running_rc, EINVAL);
    ck_assert_int_eq(atomic_load(&b.body_calls), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_off_the_workers_it_returns_einval)
{
    /* the test thread is no worker: any task pointer is refused, unread */
    weft_task *fake = (weft_task *)(uintptr_t)0x1000;
    struct bad b = {0};
    ck_assert_int_eq(weft_parallel_for(fake, 0, 10, 1, never_body, &b), EINVAL);
    ck_assert_int_eq(atomic_load(&b.body_calls), 0);
}
END_TEST

/* ---- failures ---- */

#define FAIL_CHUNKS 200000u
#define BUDGET (10 * WEFT_SEC) /* a chunk waiting for a cancel that never comes gives up */

struct fail {
    size_t fail_at;  /* the index whose chunk fails with EIO at once */
    int late_code;   /* what the other chunks return once they see the cancel */
    weft_time spin;  /* other chunks: busy this long unless cancelled first */
    bool wait_cancel; /* other chunks: wait for the cancel, then return late_code */
    _Atomic size_t ran, cancelled_at_entry;
    _Atomic int gave_up;
    int rc;
};

static int fail_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct fail *f = p;
    if (weft_cancelled(self))
        atomic_fetch_add(&f->cancelled_at_entry, 1);
    atomic_fetch_add(&f->ran, 1);
    if (lo <= f->fail_at && f->fail_at < hi)
        return EIO;
    if (f->wait_cancel) {
        weft_time end = weft_after(BUDGET);
        while (!weft_cancelled(self)) {
            if (weft_now() > end) {
                atomic_store(&f->gave_up, 1);
                return 0;
            }
            sched_yield();
        }
        return f->late_code;
    }
    return spin_for(self, f->spin) ? ECANCELED : 0;
}

static int fail_root(weft_task *self, void *p)
{
    struct fail *f = p;
    f->rc = weft_parallel_for(self, 0, FAIL_CHUNKS, 1, fail_body, f);
    return 0;
}

START_TEST(test_the_earliest_failure_is_returned)
{
    /* the EIO chunk is the first body the loop calls; every other chunk
     * fails with ERANGE only after it saw the cancel EIO caused, so later */
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct fail f = {.fail_at = 0, .late_code = ERANGE, .wait_cancel = true};
    ck_assert_int_eq(weft_run(rt, fail_root, &f, NULL), 0);
    ck_assert_int_eq(atomic_load(&f.gave_up), 0);
    ck_assert_int_eq(f.rc, EIO);
    /* chunks returning ECANCELED once cancelled are no failures either */
    struct fail g = {.fail_at = 0, .late_code = ECANCELED, .wait_cancel = true};
    ck_assert_int_eq(weft_run(rt, fail_root, &g, NULL), 0);
    ck_assert_int_eq(atomic_load(&g.gave_up), 0);
    ck_assert_int_eq(g.rc, EIO);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_a_failure_skips_the_chunks_not_begun)
{
    /* 200000 chunks of ~2 us (0.4 s of work); the first fails at once.
     * Bounds, not times: a body may see the flag at entry only when it was
     * set in the instant between its range task's look and the call (about
     * once per worker; the cancel reaches the range groups one by one, so
     * a few more, never many), and far fewer than all chunks run (half:
     * 0.2 s for the cancel to land). */
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct fail f = {.fail_at = 0, .spin = 2 * WEFT_USEC};
    ck_assert_int_eq(weft_run(rt, fail_root, &f, NULL), 0);
    ck_assert_int_eq(f.rc, EIO);
    ck_assert_uint_le(atomic_load(&f.cancelled_at_entry), 8);
    ck_assert_uint_lt(atomic_load(&f.ran), FAIL_CHUNKS / 2);
    /* a failure in the middle: likewise */
    struct fail m = {.fail_at = FAIL_CHUNKS / 2 + 1, .spin = 2 * WEFT_USEC};
    ck_assert_int_eq(weft_run(rt, fail_root, &m, NULL), 0);
    ck_assert_int_eq(m.rc, EIO);
    ck_assert_uint_le(atomic_load(&m.cancelled_at_entry), 8);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- every failing chunk's record reaches the caller ---- */

#define RECORD_RANGE 1000000u
#define RECORD_GRAIN 1000u
#define RECORD_RUNS 10
#define MAX_FAILED 64

/* The body whose chunk holds `fail_at` fails at once; with `late`, every
 * other body is busy ~20 us and fails too if the loop was cancelled
 * meanwhile (ERANGE is no cancellation, so each is a failure of its own).
 * Each failing body notes its chunk's start: the test then knows every
 * record it must find. */
struct records {
    size_t fail_at;
    bool late;
    _Atomic size_t nfailed;
    size_t failed_lo[MAX_FAILED];
    const char *failed_what[MAX_FAILED];
    _Atomic int overflow;
    int rc;
};

static int note_failure(weft_task *self, struct records *r, size_t lo, const char *what)
{
    size_t k = atomic_fetch_add(&r->nfailed, 1);
    if (k >= MAX_FAILED) {
        atomic_store(&r->overflow, 1);
        return 0;
    }
    r->failed_lo[k] = lo;
    r->failed_what[k] = what;
    return weft_fail(self, ERANGE, "%s %zu", what, lo);
}

static int record_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct records *r = p;
    for (size_t i = lo; i < hi; i++)
        if (i == r->fail_at)
            return note_failure(self, r, lo, "bad value in the chunk at");
    if (r->late && spin_for(self, 20 * WEFT_USEC))
        return note_failure(self, r, lo, "late failure in the chunk at");
    return 0;
}

static int records_root(weft_task *self, void *p)
{
    struct records *r = p;
    r->rc = weft_parallel_for(self, 0, RECORD_RANGE, RECORD_GRAIN, record_body, r);
    return r->rc;
}

/* One loop: the root's record holds, as its cause, exactly one record per
 * failing body, each with that body's code and message, none twice. */
static void check_records(weft_runtime *rt, size_t fail_at, bool late)
{
    struct records r = {.fail_at = fail_at, .late = late};
    weft_errors *errs = NULL;
    ck_assert_int_eq(weft_run(rt, records_root, &r, &errs), ERANGE);
    ck_assert_int_eq(r.rc, ERANGE);
    ck_assert_int_eq(atomic_load(&r.overflow), 0);
    ck_assert_uint_eq(weft_errors_count(errs), 1);
    const weft_errors *cause = weft_error_cause(weft_errors_at(errs, 0));
    size_t nfailed = atomic_load(&r.nfailed);
    ck_assert_uint_ge(nfailed, 1);
    if (weft_errors_count(cause) != nfailed)
        ck_abort_msg("fail_at %zu: %zu failing chunks but %zu records in the cause", fail_at,
                     nfailed, weft_errors_count(cause));
    bool found[MAX_FAILED] = {false};
    for (size_t i = 0; i < nfailed; i++) {
        const weft_error *e = weft_errors_at(cause, i);
        ck_assert_int_eq(weft_error_code(e), ERANGE);
        ck_assert_ptr_null(weft_error_cause(e));
        size_t k = 0;
        for (; k < nfailed; k++) {
            char want[96];
            snprintf(want, sizeof want, "%s %zu", r.failed_what[k], r.failed_lo[k]);
            if (!found[k] && strcmp(weft_error_message(e), want) == 0)
                break;
        }
        if (k == nfailed)
            ck_abort_msg("fail_at %zu: record \"%s\" is no failing chunk's, or a second one",
                         fail_at, weft_error_message(e));
        found[k] = true;
    }
    /* the earliest failure's code is the first record's */
    ck_assert_int_eq(weft_error_code(weft_errors_at(cause, 0)), r.rc);
    weft_errors_free(errs);
}

START_TEST(test_a_failing_chunks_record_is_the_callers_cause_wherever_it_ran)
{
    /* near the start (the loop's first range task runs it) and near the
     * end (at 2 workers a split-off half runs it), 1 and 2 workers */
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = weft_test_runtime(workers, 0);
        for (int run = 0; run < RECORD_RUNS; run++) {
            check_records(rt, 10, false);
            check_records(rt, RECORD_RANGE - 100000, false);
        }
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    }
}
END_TEST

START_TEST(test_several_failing_chunks_each_leave_one_record)
{
    /* the chunks running when the first failure cancels the loop fail too:
     * each of their records is listed once */
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = weft_test_runtime(workers, 0);
        for (int run = 0; run < RECORD_RUNS; run++) {
            check_records(rt, 10, true);
            check_records(rt, RECORD_RANGE - 100000, true);
        }
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    }
}
END_TEST

/* ---- nesting ---- */

#define OUTER 48u
#define INNER 500u

struct nested {
    _Atomic uint32_t count[OUTER][INNER];
    size_t fail_i, fail_j; /* (OUTER, *): no failure */
    int rc;
};

struct inner_arg {
    struct nested *n;
    size_t i;
};

static int inner_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct inner_arg *a = p;
    (void)self;
    for (size_t j = lo; j < hi; j++) {
        if (a->i == a->n->fail_i && j == a->n->fail_j)
            return EIO;
        atomic_fetch_add_explicit(&a->n->count[a->i][j], 1, memory_order_relaxed);
    }
    return 0;
}

static int outer_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct nested *n = p;
    for (size_t i = lo; i < hi; i++) {
        struct inner_arg a = {n, i}; /* lives until the inner loop returned */
        int rc = weft_parallel_for(self, 0, INNER, 8, inner_body, &a);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int nested_root(weft_task *self, void *p)
{
    struct nested *n = p;
    n->rc = weft_parallel_for(self, 0, OUTER, 1, outer_body, n);
    return 0;
}

START_TEST(test_nested_loops_cover_every_pair_once)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct nested *n = calloc(1, sizeof *n);
    ck_assert_ptr_nonnull(n);
    n->fail_i = OUTER;
    ck_assert_int_eq(weft_run(rt, nested_root, n, NULL), 0);
    ck_assert_int_eq(n->rc, 0);
    for (size_t i = 0; i < OUTER; i++)
        for (size_t j = 0; j < INNER; j++)
            if (atomic_load(&n->count[i][j]) != 1)
                ck_abort_msg("(%zu, %zu) ran %u times", i, j, (unsigned)atomic_load(&n->count[i][j]));
    free(n);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_an_inner_failure_fails_the_outer_loop)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct nested *n = calloc(1, sizeof *n);
    ck_assert_ptr_nonnull(n);
    n->fail_i = 20;
    n->fail_j = 333;
    ck_assert_int_eq(weft_run(rt, nested_root, n, NULL), 0);
    ck_assert_int_eq(n->rc, EIO);
    for (size_t i = 0; i < OUTER; i++)
        for (size_t j = 0; j < INNER; j++)
            ck_assert_uint_le(atomic_load(&n->count[i][j]), 1);
    free(n);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- the caller's deadline and cancel ---- */

struct stop {
    weft_time deadline; /* of the group around the loop; WEFT_NEVER: the 100th chunk cancels it */
    weft_group g;
    _Atomic size_t ran;
    int pfor_rc, join_rc;
    weft_time returned_at;
};

static int stop_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct stop *s = p;
    (void)lo;
    (void)hi;
    if (atomic_fetch_add(&s->ran, 1) == 100 && s->deadline == WEFT_NEVER)
        weft_group_cancel(&s->g); /* the caller's group, from inside: an outside cancel */
    /* ~50 us a chunk: 10^6 chunks are far more than the test waits for */
    return spin_for(self, 50 * WEFT_USEC) ? ECANCELED : 0;
}

static int stop_loop(weft_task *self, void *p)
{
    struct stop *s = p;
    s->pfor_rc = weft_parallel_for(self, 0, 1000000, 1, stop_body, s);
    s->returned_at = weft_now();
    return s->pfor_rc;
}

static int stop_root(weft_task *self, void *p)
{
    struct stop *s = p;
    weft_group_opts o = {.deadline = s->deadline};
    if (weft_group_init(&s->g, self, &o) != 0)
        return EFAULT;
    int rc = weft_spawn(&s->g, stop_loop, s);
    s->join_rc = weft_group_join(&s->g, NULL);
    return rc;
}

START_TEST(test_the_callers_deadline_stops_it_with_etimedout)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct stop s = {.deadline = weft_after(30 * WEFT_MSEC)};
    ck_assert_int_eq(weft_run(rt, stop_root, &s, NULL), 0);
    ck_assert_int_eq(s.pfor_rc, ETIMEDOUT);
    ck_assert_int_eq(s.join_rc, ETIMEDOUT);
    ck_assert_int_ge(s.returned_at, s.deadline);
    ck_assert_int_lt(s.returned_at, s.deadline + BUDGET); /* generous: stopped, not finished */
    ck_assert_uint_lt(atomic_load(&s.ran), 1000000);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_a_cancel_of_the_callers_group_stops_it_with_ecanceled)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct stop s = {.deadline = WEFT_NEVER};
    ck_assert_int_eq(weft_run(rt, stop_root, &s, NULL), 0);
    ck_assert_int_eq(s.pfor_rc, ECANCELED);
    ck_assert_int_eq(s.join_rc, ECANCELED);
    ck_assert_uint_lt(atomic_load(&s.ran), 1000000);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* Bodies that sleep until the loop's deadline: each sleep may end at the
 * deadline on its own, before the timer cancelled the loop. That ETIMEDOUT
 * is the loop stopping for its deadline, not a failure of the loop. */
#define SLEEPERS 6u

struct sleepers {
    _Atomic unsigned timed_out, cancelled, other;
    int pfor_rc;
};

static int sleep_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct sleepers *s = p;
    (void)lo;
    (void)hi;
    int rc = weft_sleep(self, weft_after(BUDGET));
    atomic_fetch_add(rc == ETIMEDOUT ? &s->timed_out : rc == ECANCELED ? &s->cancelled : &s->other, 1);
    return rc;
}

static int sleep_loop(weft_task *self, void *p)
{
    struct sleepers *s = p;
    s->pfor_rc = weft_parallel_for(self, 0, SLEEPERS, 1, sleep_body, s);
    return s->pfor_rc;
}

static int sleep_root(weft_task *self, void *p)
{
    weft_errors **errs = p;
    struct sleepers *s = (struct sleepers *)(errs + 1);
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    /* the deadline is the loop task's own: its ETIMEDOUT is then a failure
     * of g, whose record shows what the loop left as its cause */
    weft_spawn_opts o = {.deadline = weft_after(20 * WEFT_MSEC)};
    int rc = weft_spawn_ex(&g, sleep_loop, s, &o);
    int jrc = weft_group_join(&g, errs);
    return rc != 0 ? rc : jrc;
}

START_TEST(test_a_body_timing_out_at_the_deadline_is_no_failure_of_the_loop)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    for (int run = 0; run < 10; run++) {
        struct {
            weft_errors *errs;
            struct sleepers s;
        } a = {0};
        ck_assert_int_eq(weft_run(rt, sleep_root, &a, NULL), ETIMEDOUT);
        ck_assert_int_eq(a.s.pfor_rc, ETIMEDOUT);
        ck_assert_uint_eq(weft_errors_count(a.errs), 1);
        const weft_error *e = weft_errors_at(a.errs, 0);
        ck_assert_int_eq(weft_error_code(e), ETIMEDOUT);
        if (weft_error_cause(e) != NULL)
            ck_abort_msg("run %d: a body's timeout was recorded as the loop's failure: \"%s\"", run,
                         weft_error_message(weft_errors_at(weft_error_cause(e), 0)));
        /* every body that ran was stopped by the deadline, none by a fail-fast */
        unsigned timed_out = atomic_load(&a.s.timed_out), cancelled = atomic_load(&a.s.cancelled);
        unsigned other = atomic_load(&a.s.other);
        ck_assert_uint_ge(timed_out, 1);
        ck_assert_uint_eq(cancelled, 0);
        ck_assert_uint_eq(other, 0);
        weft_errors_free(a.errs);
    }
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- load balance ---- */

struct balance {
    _Atomic unsigned seen; /* bit per worker id */
    int rc;
};

static int balance_body(weft_task *self, size_t lo, size_t hi, void *p)
{
    struct balance *b = p;
    (void)lo;
    (void)hi;
    int id = weft_worker_id(self);
    if (id >= 0 && id < 32) /* -1: an extra slot, for a moment (weft.h) */
        atomic_fetch_or(&b->seen, 1u << id);
    spin_for(self, 50 * WEFT_USEC);
    return 0;
}

static int balance_root(weft_task *self, void *p)
{
    struct balance *b = p;
    b->rc = weft_parallel_for(self, 0, 400, 1, balance_body, b); /* ~20 ms of work */
    return 0;
}

START_TEST(test_both_workers_run_chunks_of_a_large_range)
{
    /* A loop of ~20 ms on one core, repeated until both ids were seen or
     * 200 loops (>= 4 s) passed: the second worker needs only to be given a
     * CPU once in that time, however busy the machine. */
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct balance b = {0};
    for (int round = 0; round < 200 && atomic_load(&b.seen) != 3u; round++) {
        ck_assert_int_eq(weft_run(rt, balance_root, &b, NULL), 0);
        ck_assert_int_eq(b.rc, 0);
    }
    ck_assert_uint_eq(atomic_load(&b.seen), 3u);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

Suite *parallel_for_suite(void)
{
    Suite *s = suite_create("parallel_for");
    TCase *tc = tcase_create("parallel_for");
    tcase_set_timeout(tc, 180); /* TSan on a shared 2-core machine */
    tcase_add_test(tc, test_chunks_cover_the_range_exactly_once);
    tcase_add_test(tc, test_every_chunk_has_at_least_grain_indices);
    tcase_add_test(tc, test_a_range_ending_at_size_max_does_not_overflow);
    tcase_add_test(tc, test_bad_input_returns_einval_and_an_empty_range_0);
    tcase_add_test(tc, test_off_the_workers_it_returns_einval);
    tcase_add_test(tc, test_the_earliest_failure_is_returned);
    tcase_add_test(tc, test_a_failure_skips_the_chunks_not_begun);
    tcase_add_test(tc, test_a_failing_chunks_record_is_the_callers_cause_wherever_it_ran);
    tcase_add_test(tc, test_several_failing_chunks_each_leave_one_record);
    tcase_add_test(tc, test_nested_loops_cover_every_pair_once);
    tcase_add_test(tc, test_an_inner_failure_fails_the_outer_loop);
    tcase_add_test(tc, test_the_callers_deadline_stops_it_with_etimedout);
    tcase_add_test(tc, test_a_cancel_of_the_callers_group_stops_it_with_ecanceled);
    tcase_add_test(tc, test_a_body_timing_out_at_the_deadline_is_no_failure_of_the_loop);
    tcase_add_test(tc, test_both_workers_run_chunks_of_a_large_range);
    suite_add_tcase(s, tc);
    return s;
}
