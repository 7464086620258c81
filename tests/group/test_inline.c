/*
 * The inline fast path (<weft/inline.h>), called by its own names so that
 * this suite tests it in every build: init refuses another layout; on this
 * library's layout live handles take the inline spawn, whose tasks run
 * exactly once, are counted, grow the deque through the call, and wake a
 * parked worker; whatever weft_spawn refuses it refuses; a spawn from a
 * thread other than the owner's, or into a WEFT_STREAM group, takes the
 * exported call; and the inline cancel check reads the flag. (--enable-inline-tests compiles the whole
 * suite with WEFT_INLINE as well.)
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <weft/inline.h>
#include <weft/weft.h>

#include "runtime/runtime.h"
#include "tests/suites.h"

enum { BUDGET = 5 * WEFT_SEC };

static uint32_t magic_of(const weft_group *g)
{
    const struct weft_inline_handle_ *h = (const void *)g;
    return (uint32_t)atomic_load_explicit(&h->key, memory_order_relaxed);
}

/* ---- init: another layout is EINVAL and leaves no group open ---- */

struct layouts {
    int rc_other, rc_zero, rc_join, rc_ours, rc_ours_join;
};

static int layouts_root(weft_task *self, void *p)
{
    struct layouts *l = p;
    weft_group g;
    memset(&g, 0, sizeof g);
    l->rc_other = weft_inline_group_init(&g, self, NULL, WEFT_INLINE_LAYOUT + 1);
    l->rc_zero = weft_inline_group_init(&g, self, NULL, 0);
    l->rc_join = weft_group_join(&g, NULL); /* never initialised */
    l->rc_ours = weft_inline_group_init(&g, self, NULL, WEFT_INLINE_LAYOUT);
    l->rc_ours_join = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_init_refuses_another_layout)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct layouts l = {0};
    /* a group left open would make the root fail with EINVAL */
    ck_assert_int_eq(weft_run(rt, layouts_root, &l, NULL), 0);
    ck_assert_int_eq(l.rc_other, EINVAL);
    ck_assert_int_eq(l.rc_zero, EINVAL);
    ck_assert_int_eq(l.rc_join, EINVAL);
    ck_assert_int_eq(l.rc_ours, 0);
    ck_assert_int_eq(l.rc_ours_join, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- spawn: inline on this layout, each task once, growth through the call ---- */

enum { MANY = 20000 }; /* far above a deque's first capacity (256) */

struct many {
    _Atomic uint8_t ran[MANY];
    uint32_t magic;
    void *self_inside, *self_thread;
    int spawn_rc, join_rc;
};

struct item {
    struct many *m;
    int i;
};
static struct item items[MANY];

static int mark(weft_task *self, void *p)
{
    (void)self;
    struct item *it = p;
    atomic_fetch_add_explicit(&it->m->ran[it->i], 1, memory_order_relaxed);
    return 0;
}

static int many_root(weft_task *self, void *p)
{
    struct many *m = p;
    m->self_inside = weft_inline_self_;
    m->self_thread = weft__self_thread;
    weft_group g;
    int rc = weft_inline_group_init(&g, self, NULL, WEFT_INLINE_LAYOUT);
    if (rc != 0)
        return rc;
    m->magic = magic_of(&g);
    for (int i = 0; i < MANY && m->spawn_rc == 0; i++) {
        items[i] = (struct item){m, i};
        m->spawn_rc = weft_inline_spawn(&g, mark, &items[i]);
    }
    m->join_rc = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_spawn_runs_each_task_once_and_counts_it)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        weft_runtime *rt = weft_test_runtime(workers, 0);
        static struct many m;
        memset(&m, 0, sizeof m);
        weft_stats before, after;
        weft_runtime_stats(rt, &before);
        ck_assert_int_eq(weft_run(rt, many_root, &m, NULL), 0);
        weft_runtime_stats(rt, &after);
        ck_assert_ptr_null(weft_inline_self_); /* not a worker */
        ck_assert_ptr_nonnull(m.self_inside);
        ck_assert_ptr_eq(m.self_inside, m.self_thread);
#ifndef WEFT_SPLIT_DEQUE
        /* the handle takes the inline path (the split deque's never does) */
        ck_assert_uint_eq(m.magic, WEFT_INLINE_LIVE_);
#else
        ck_assert_uint_ne(m.magic, WEFT_INLINE_LIVE_);
#endif
        ck_assert_int_eq(m.spawn_rc, 0);
        ck_assert_int_eq(m.join_rc, 0);
        for (int i = 0; i < MANY; i++)
            ck_assert_msg(m.ran[i] == 1, "task %d ran %d times", i, (int)m.ran[i]);
        ck_assert_uint_ge(after.spawns - before.spawns, MANY);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    }
}
END_TEST

/* ---- spawn: what weft_spawn refuses, the inline spawn refuses ---- */

struct refusals {
    int rc_null_group, rc_null_fn, rc_copy, rc_zeroed, rc_joined, rc_join;
    _Atomic int ran;
};

static int count(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add(&((struct refusals *)p)->ran, 1);
    return 0;
}

static int refusals_root(weft_task *self, void *p)
{
    struct refusals *r = p;
    weft_group g, copy, zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    int rc = weft_inline_group_init(&g, self, NULL, WEFT_INLINE_LAYOUT);
    if (rc != 0)
        return rc;
    memcpy(&copy, &g, sizeof g);
    r->rc_null_group = weft_inline_spawn(NULL, count, r);
    r->rc_null_fn = weft_inline_spawn(&g, NULL, r);
    r->rc_copy = weft_inline_spawn(&copy, count, r);
    r->rc_zeroed = weft_inline_spawn(&zeroed, count, r);
    r->rc_join = weft_group_join(&g, NULL);
    r->rc_joined = weft_inline_spawn(&g, count, r);
    return 0;
}

START_TEST(test_spawn_refuses_what_weft_spawn_refuses)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct refusals r = {0};
    ck_assert_int_eq(weft_run(rt, refusals_root, &r, NULL), 0);
    ck_assert_int_eq(r.rc_null_group, EINVAL);
    ck_assert_int_eq(r.rc_null_fn, EINVAL);
    ck_assert_int_eq(r.rc_copy, EINVAL);
    ck_assert_int_eq(r.rc_zeroed, EINVAL);
    ck_assert_int_eq(r.rc_join, 0);
    ck_assert_int_eq(r.rc_joined, EINVAL);
    ck_assert_int_eq(atomic_load(&r.ran), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- spawn from a thread that is not the owner's: the exported call ---- */

struct outside {
    weft_group g;
    _Atomic int spawned, ran;
    int spawn_rc, join_rc, waited_too_long;
};

static int outside_task(weft_task *self, void *p)
{
    (void)self;
    atomic_fetch_add(&((struct outside *)p)->ran, 1);
    return 0;
}

static void *outside_thread(void *p)
{
    struct outside *o = p;
    o->spawn_rc = weft_inline_spawn(&o->g, outside_task, o);
    atomic_store(&o->spawned, 1);
    return NULL;
}

static int outside_root(weft_task *self, void *p)
{
    struct outside *o = p;
    int rc = weft_inline_group_init(&o->g, self, NULL, WEFT_INLINE_LAYOUT);
    if (rc != 0)
        return rc;
    pthread_t tid;
    if (pthread_create(&tid, NULL, outside_thread, o) != 0) {
        o->join_rc = weft_group_join(&o->g, NULL);
        return EAGAIN;
    }
    weft_time until = weft_after(BUDGET);
    while (!atomic_load(&o->spawned) && weft_now() < until)
        sched_yield();
    o->waited_too_long = !atomic_load(&o->spawned);
    o->join_rc = weft_group_join(&o->g, NULL);
    pthread_join(tid, NULL);
    return 0;
}

START_TEST(test_spawn_from_another_thread_takes_the_call)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    static struct outside o;
    memset(&o, 0, sizeof o);
    ck_assert_int_eq(weft_run(rt, outside_root, &o, NULL), 0);
    ck_assert_int_eq(o.waited_too_long, 0);
    ck_assert_int_eq(o.spawn_rc, 0);
    ck_assert_int_eq(o.join_rc, 0);
    ck_assert_int_eq(atomic_load(&o.ran), 1); /* joined: it ran before the join returned */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- the inline spawn wakes a parked worker ---- */

struct wake {
    _Atomic int b_started;
    int a_rc, join_rc;
};

static int wake_b(weft_task *self, void *p)
{
    (void)self;
    atomic_store(&((struct wake *)p)->b_started, 1);
    return 0;
}

/* Runs on the spawner's thread (popped first): only another worker can
 * run b meanwhile, and it is parked unless the spawn woke it. */
static int wake_a(weft_task *self, void *p)
{
    (void)self;
    struct wake *w = p;
    weft_time until = weft_after(BUDGET);
    while (!atomic_load(&w->b_started))
        if (weft_now() > until)
            return ETIMEDOUT;
    return 0;
}

static int wake_root(weft_task *self, void *p)
{
    struct wake *w = p;
    /* long enough for the other worker to find nothing and park */
    int rc = weft_sleep(self, weft_after(100 * WEFT_MSEC));
    if (rc != 0)
        return rc;
    weft_group g;
    rc = weft_inline_group_init(&g, self, NULL, WEFT_INLINE_LAYOUT);
    if (rc != 0)
        return rc;
    weft_inline_spawn(&g, wake_b, w);
    weft_inline_spawn(&g, wake_a, w);
    w->join_rc = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_spawn_wakes_a_parked_worker)
{
    /* the default parking, and the mode in which spawners fence: the
     * inline spawn then leaves the fence and the look to the library */
    const enum weft__park_mode modes[] = {WEFT__PARK_RECHECK, WEFT__PARK_FENCE};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        weft__park_mode_force(modes[i]);
        weft_runtime *rt = weft_test_runtime(2, 0);
        weft__park_mode_force(WEFT__PARK_RECHECK);
        ck_assert_int_eq(atomic_load(&rt->jobs.scopes.sched.spawner_fences),
                         modes[i] == WEFT__PARK_FENCE);
        struct wake w = {0};
        ck_assert_int_eq(weft_run(rt, wake_root, &w, NULL), 0);
        ck_assert_int_eq(w.join_rc, 0); /* wake_a saw b start elsewhere */
        ck_assert_int_eq(atomic_load(&w.b_started), 1);
        ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    }
}
END_TEST

/* ---- a WEFT_STREAM group's spawns take the call: completions stream ---- */

enum { STREAMED = 3 };

struct stream {
    int got, rc_end, rc_join, spawn_rc;
    intptr_t args[STREAMED];
    int status[STREAMED];
};

static int stream_task(weft_task *self, void *p)
{
    (void)self;
    return (int)(intptr_t)p; /* its arg is its status: 0, 1, 2 */
}

static int stream_root(weft_task *self, void *p)
{
    struct stream *s = p;
    weft_group g;
    weft_group_opts o = {.flags = WEFT_STREAM | WEFT_COLLECT};
    int rc = weft_inline_group_init(&g, self, &o, WEFT_INLINE_LAYOUT);
    if (rc != 0)
        return rc;
    for (intptr_t i = 0; i < STREAMED && s->spawn_rc == 0; i++)
        s->spawn_rc = weft_inline_spawn(&g, stream_task, (void *)i);
    void *arg;
    int status;
    while (s->got < STREAMED &&
           (rc = weft_group_next(&g, weft_after(BUDGET), &arg, &status)) == 0) {
        s->args[s->got] = (intptr_t)arg;
        s->status[s->got] = status;
        s->got++;
    }
    s->rc_end = weft_group_next(&g, weft_after(BUDGET), NULL, NULL);
    s->rc_join = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_stream_group_spawns_take_the_call)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct stream s = {0};
    ck_assert_int_eq(weft_run(rt, stream_root, &s, NULL), 0);
    ck_assert_int_eq(s.spawn_rc, 0);
    ck_assert_int_eq(s.got, STREAMED); /* a plain inline frame would not stream */
    int seen = 0, earliest = 0;
    for (int i = 0; i < STREAMED; i++) {
        ck_assert_int_eq(s.status[i], (int)s.args[i]);
        seen |= 1 << s.args[i];
        if (earliest == 0)
            earliest = s.status[i];
    }
    ck_assert_int_eq(seen, (1 << STREAMED) - 1);
    ck_assert_int_eq(s.rc_end, ENOENT);
    ck_assert_int_eq(s.rc_join, earliest); /* the first failure to end */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- cancelled: the flag, inline ---- */

struct flags {
    int root_before, root_after, child_inline, child_call, null_task;
};

static int flag_child(weft_task *self, void *p)
{
    struct flags *f = p;
    f->child_inline = weft_inline_cancelled(self);
    f->child_call = (weft_cancelled)(self);
    return 0;
}

static int flags_root(weft_task *self, void *p)
{
    struct flags *f = p;
    f->null_task = weft_inline_cancelled(NULL);
    f->root_before = weft_inline_cancelled(self);
    weft_group g;
    int rc = weft_inline_group_init(&g, self, NULL, WEFT_INLINE_LAYOUT);
    if (rc != 0)
        return rc;
    weft_group_cancel(&g);
    weft_inline_spawn(&g, flag_child, f);
    weft_group_join(&g, NULL);
    f->root_after = weft_inline_cancelled(self);
    return 0;
}

START_TEST(test_cancelled_reads_the_flag)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    struct flags f = {-1, -1, -1, -1, -1};
    ck_assert_int_eq(weft_run(rt, flags_root, &f, NULL), 0);
    ck_assert_int_eq(f.null_task, 0);
    ck_assert_int_eq(f.root_before, 0);
    ck_assert_int_eq(f.child_inline, 1);
    ck_assert_int_eq(f.child_call, 1);
    ck_assert_int_eq(f.root_after, 0); /* the group's cancel does not reach up */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

Suite *inline_suite(void)
{
    Suite *s = suite_create("inline");
    TCase *tc = tcase_create("inline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_init_refuses_another_layout);
    tcase_add_test(tc, test_spawn_runs_each_task_once_and_counts_it);
    tcase_add_test(tc, test_spawn_refuses_what_weft_spawn_refuses);
    tcase_add_test(tc, test_spawn_from_another_thread_takes_the_call);
    tcase_add_test(tc, test_spawn_wakes_a_parked_worker);
    tcase_add_test(tc, test_stream_group_spawns_take_the_call);
    tcase_add_test(tc, test_cancelled_reads_the_flag);
    suite_add_tcase(s, tc);
    return s;
}
