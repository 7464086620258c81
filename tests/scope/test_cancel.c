/* Cancellation: the flag, propagation down the tree, fail-fast, collect,
 * shield, deadlines already past, and the bound on work after a cancel. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "tests/scope/cancel_record.h"
#include "tests/suites.h"

/* Spin until cancelled, at most `budget` (then record a timeout). */
static int spin_until_cancelled(weft_task *self, weft_time budget, _Atomic int *timed_out)
{
    weft_time end = weft_after(budget);
    while (!weft_cancelled(self)) {
        if (weft_now() > end) {
            atomic_store(timed_out, 1);
            return EFAULT;
        }
        sched_yield();
    }
    return ECANCELED;
}

/* ---- cancel from the owner: running and later tasks see it ---- */

struct basic {
    _Atomic int timed_out;
    _Atomic int saw_flag_at_entry;
    _Atomic int reason_seen;
    int join_rc, cancelled_after, reason_after, late_spawn_rc;
    int root_cancelled;
};

static int waiter(weft_task *self, void *p)
{
    struct basic *b = p;
    int rc = spin_until_cancelled(self, 10 * WEFT_SEC, &b->timed_out);
    atomic_store(&b->reason_seen, weft_cancel_reason(self));
    return rc;
}

static int late_task(weft_task *self, void *p)
{
    struct basic *b = p;
    if (weft_cancelled(self))
        atomic_fetch_add(&b->saw_flag_at_entry, 1);
    return 0;
}

static int cancel_own_group(weft_task *self, void *p)
{
    struct basic *b = p;
    b->root_cancelled = weft_cancelled(self);
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    for (int i = 0; i < 4; i++)
        weft_spawn(&g, waiter, b);
    weft_group_cancel(&g);
    b->late_spawn_rc = weft_spawn(&g, late_task, b); /* still accepted and run */
    b->join_rc = weft_group_join(&g, NULL);
    weft_group_cancel(&g); /* joined: no effect */
    b->cancelled_after = weft_cancelled(self);
    b->reason_after = weft_cancel_reason(self);
    return 0;
}

START_TEST(test_cancel_reaches_running_and_later_tasks)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct basic b = {0};
    ck_assert_int_eq(weft_run(rt, cancel_own_group, &b, NULL), 0);
    ck_assert_int_eq(b.root_cancelled, 0);
    ck_assert_int_eq(atomic_load(&b.timed_out), 0);
    ck_assert_int_eq(b.late_spawn_rc, 0);
    ck_assert_int_eq(atomic_load(&b.saw_flag_at_entry), 1);
    ck_assert_int_eq(atomic_load(&b.reason_seen), ECANCELED);
    /* the waiters returned ECANCELED because they were cancelled: no failure */
    ck_assert_int_eq(b.join_rc, ECANCELED);
    /* the owner's own scope is not the group's */
    ck_assert_int_eq(b.cancelled_after, 0);
    ck_assert_int_eq(b.reason_after, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- fail-fast and collect ---- */

struct policy {
    unsigned flags;
    _Atomic int timed_out;
    _Atomic int siblings_cancelled;
    _Atomic int siblings_finished;
    int join_rc;
};

static int fail_eio(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return EIO;
}

static int fail_erange_later(weft_task *self, void *p)
{
    (void)p;
    weft_time end = weft_after(20 * WEFT_MSEC);
    while (weft_now() < end && !weft_cancelled(self))
        sched_yield();
    return weft_cancelled(self) ? ECANCELED : ERANGE;
}

static int sibling(weft_task *self, void *p)
{
    struct policy *pol = p;
    weft_time end = weft_after(50 * WEFT_MSEC); /* long enough for the failure to land */
    while (weft_now() < end) {
        if (weft_cancelled(self)) {
            atomic_fetch_add(&pol->siblings_cancelled, 1);
            return ECANCELED;
        }
        sched_yield();
    }
    atomic_fetch_add(&pol->siblings_finished, 1);
    return 0;
}

static int run_policy(weft_task *self, void *p)
{
    struct policy *pol = p;
    weft_group g;
    weft_group_opts o = {.flags = pol->flags};
    if (weft_group_init(&g, self, &o) != 0)
        return EFAULT;
    for (int i = 0; i < 3; i++)
        weft_spawn(&g, sibling, pol);
    weft_spawn(&g, fail_erange_later, pol);
    weft_spawn(&g, fail_eio, pol);
    pol->join_rc = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_first_failure_cancels_siblings)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct policy pol = {.flags = 0};
    ck_assert_int_eq(weft_run(rt, run_policy, &pol, NULL), 0);
    ck_assert_int_eq(pol.join_rc, EIO);
    ck_assert_int_eq(atomic_load(&pol.siblings_cancelled), 3);
    ck_assert_int_eq(atomic_load(&pol.siblings_finished), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_collect_lets_every_task_finish)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct policy pol = {.flags = WEFT_COLLECT};
    ck_assert_int_eq(weft_run(rt, run_policy, &pol, NULL), 0);
    /* the earliest failure: EIO fails at once, ERANGE after 20 ms */
    ck_assert_int_eq(pol.join_rc, EIO);
    ck_assert_int_eq(atomic_load(&pol.siblings_cancelled), 0);
    ck_assert_int_eq(atomic_load(&pol.siblings_finished), 3);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- propagation through nested groups; shield ---- */

struct nest {
    _Atomic(weft_group *) top_live;
    unsigned depth;
    _Atomic int timed_out;
    _Atomic int leaves_cancelled;
    _Atomic int shielded_cancelled; /* a task under the shield saw the flag */
    _Atomic int shield_leaf_started;
    _Atomic int leaves_started;
    int shield_join_rc;
};

struct level {
    struct nest *n;
    unsigned depth;
};

static int leaf(weft_task *self, void *p)
{
    struct level *l = p;
    atomic_fetch_add(&l->n->leaves_started, 1);
    if (spin_until_cancelled(self, 10 * WEFT_SEC, &l->n->timed_out) == ECANCELED)
        atomic_fetch_add(&l->n->leaves_cancelled, 1);
    return ECANCELED;
}

static int shielded_leaf(weft_task *self, void *p)
{
    struct nest *n = p;
    atomic_fetch_add(&n->shield_leaf_started, 1);
    weft_time end = weft_after(30 * WEFT_MSEC);
    while (weft_now() < end) {
        if (weft_cancelled(self))
            atomic_store(&n->shielded_cancelled, 1);
        sched_yield();
    }
    return 0;
}

/* Runs inside the shield: a plain group here inherits the shield's scope. */
static int under_shield(weft_task *self, void *p)
{
    weft_group inner;
    if (weft_group_init(&inner, self, NULL) != 0)
        return EFAULT;
    weft_spawn(&inner, shielded_leaf, p);
    return weft_group_join(&inner, NULL);
}

/* Under a shield: a group whose tasks must not be cancelled from above. */
static int shield_level(weft_task *self, void *p)
{
    struct nest *n = p;
    weft_group s;
    weft_group_opts o = {.flags = WEFT_SHIELD};
    if (weft_group_init(&s, self, &o) != 0)
        return EFAULT;
    weft_spawn(&s, shielded_leaf, n);
    weft_spawn(&s, under_shield, n);
    n->shield_join_rc = weft_group_join(&s, NULL);
    return 0;
}

static int level_task(weft_task *self, void *p)
{
    struct level *l = p;
    if (l->depth == 0)
        return leaf(self, p);
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    struct level kids[2] = {{l->n, l->depth - 1}, {l->n, l->depth - 1}};
    weft_spawn(&g, level_task, &kids[0]);
    weft_spawn(&g, level_task, &kids[1]);
    return weft_group_join(&g, NULL);
}

static int nest_root(weft_task *self, void *p)
{
    struct nest *n = p;
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    struct level top = {n, n->depth};
    weft_spawn(&g, level_task, &top);
    weft_spawn(&g, shield_level, n); /* a shielded subtree inside the cancelled one */
    atomic_store(&n->top_live, &g);
    /* the leaves spin until cancelled: this join ends only after the cancel */
    return weft_group_join(&g, NULL);
}

/* An outside thread cancels the top group once leaves are spinning. */
static void *outside_canceller(void *p)
{
    struct nest *n = p;
    weft_time end = weft_after(10 * WEFT_SEC);
    while ((atomic_load(&n->top_live) == NULL || atomic_load(&n->leaves_started) < 1) &&
           weft_now() < end)
        sched_yield();
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
    weft_group *top = atomic_load(&n->top_live);
    if (top != NULL)
        weft_group_cancel(top);
    return NULL;
}

START_TEST(test_cancel_reaches_every_nested_group_but_not_a_shield)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct nest n = {.depth = 5};
    pthread_t canceller;
    ck_assert_int_eq(pthread_create(&canceller, NULL, outside_canceller, &n), 0);
    ck_assert_int_eq(weft_run(rt, nest_root, &n, NULL), ECANCELED);
    pthread_join(canceller, NULL);
    ck_assert_int_eq(atomic_load(&n.timed_out), 0);
    /* every leaf ran once and ended through the cancel, before or at entry */
    ck_assert_int_eq(atomic_load(&n.leaves_started), 1 << 5);
    ck_assert_int_eq(atomic_load(&n.leaves_cancelled), 1 << 5);
    ck_assert_int_eq(n.shield_join_rc, 0);
    ck_assert_int_eq(atomic_load(&n.shield_leaf_started), 2);
    ck_assert_int_eq(atomic_load(&n.shielded_cancelled), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* A shielded group under a cancelled parent: it and its children go on. */
struct shield_case {
    _Atomic int shielded_cancelled;
    _Atomic int shield_leaf_started;
    int outer_rc, shield_rc, plain_rc, plain_reason;
};

static int plain_child_group(weft_task *self, void *p)
{
    struct shield_case *c = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    c->plain_reason = weft_cancel_reason(self);
    weft_spawn(&g, fail_eio, NULL); /* a failure still counts under a cancel */
    c->plain_rc = weft_group_join(&g, NULL);
    return 0;
}

static int shield_child(weft_task *self, void *p)
{
    struct shield_case *c = p;
    /* self is in the cancelled group; the shield ignores that */
    weft_group s;
    weft_group_opts o = {.flags = WEFT_SHIELD};
    weft_group_init(&s, self, &o);
    struct nest n = {0};
    weft_spawn(&s, shielded_leaf, &n);
    c->shield_rc = weft_group_join(&s, NULL);
    atomic_store(&c->shielded_cancelled, atomic_load(&n.shielded_cancelled));
    atomic_store(&c->shield_leaf_started, atomic_load(&n.shield_leaf_started));
    return plain_child_group(self, p);
}

static int shield_under_cancel(weft_task *self, void *p)
{
    struct shield_case *c = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_group_cancel(&g);
    weft_spawn(&g, shield_child, c);
    c->outer_rc = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_shield_ignores_a_cancelled_parent)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct shield_case c = {0};
    ck_assert_int_eq(weft_run(rt, shield_under_cancel, &c, NULL), 0);
    ck_assert_int_eq(c.shield_rc, 0);
    ck_assert_int_eq(atomic_load(&c.shield_leaf_started), 1);
    ck_assert_int_eq(atomic_load(&c.shielded_cancelled), 0);
    /* a plain group initialised under the cancelled scope inherits it */
    ck_assert_int_eq(c.plain_reason, ECANCELED);
    ck_assert_int_eq(c.plain_rc, EIO);
    ck_assert_int_eq(c.outer_rc, ECANCELED);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- deadlines: inherited, tightest wins, a past one cancels at once ---- */

struct dl {
    weft_time own[5];
    weft_time seen[6];
    int reason_seen[6];
    int rc[5];
};

struct dl_level {
    struct dl *d;
    unsigned i;
};

static int dl_task(weft_task *self, void *p)
{
    struct dl_level *l = p;
    struct dl *d = l->d;
    d->seen[l->i] = weft_deadline(self);
    d->reason_seen[l->i] = weft_cancel_reason(self);
    if (l->i == 5)
        return 0;
    weft_group g;
    weft_group_opts o = {.deadline = d->own[l->i]};
    if (weft_group_init(&g, self, &o) != 0)
        return EFAULT;
    struct dl_level next = {d, l->i + 1};
    weft_spawn(&g, dl_task, &next);
    d->rc[l->i] = weft_group_join(&g, NULL);
    return d->rc[l->i];
}

START_TEST(test_deadline_is_inherited_and_the_tightest_wins)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    weft_time base = weft_after(3600 * WEFT_SEC);
    struct dl d = {.own = {base + 50, 0, base + 10, base + 30, WEFT_NEVER}};
    struct dl_level top = {&d, 0};
    ck_assert_int_eq(weft_run(rt, dl_task, &top, NULL), 0);
    ck_assert(d.seen[0] == WEFT_NEVER); /* the root has none */
    ck_assert(d.seen[1] == base + 50);
    ck_assert(d.seen[2] == base + 50); /* 0: no deadline of its own */
    ck_assert(d.seen[3] == base + 10);
    ck_assert(d.seen[4] == base + 10); /* a looser own deadline does not widen */
    ck_assert(d.seen[5] == base + 10);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(d.reason_seen[i], 0);

    /* a deadline in the past is legal: that level and below are cancelled at once */
    struct dl past = {.own = {WEFT_NEVER, 0, weft_now() - WEFT_SEC, 0, 0}};
    struct dl_level ptop = {&past, 0};
    ck_assert_int_eq(weft_run(rt, dl_task, &ptop, NULL), ETIMEDOUT);
    ck_assert_int_eq(past.reason_seen[2], 0);
    ck_assert_int_eq(past.reason_seen[3], ETIMEDOUT);
    ck_assert_int_eq(past.reason_seen[5], ETIMEDOUT);
    ck_assert_int_eq(past.rc[4], ETIMEDOUT);
    ck_assert_int_eq(past.rc[2], ETIMEDOUT);
    /* the level above saw its child fail with ETIMEDOUT: a failure there */
    ck_assert_int_eq(past.rc[1], ETIMEDOUT);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a 10^5-task tree: after the cancel returned, every task sees it ---- */

struct big {
    weft_group *top;
    _Atomic int cancel_done;
    _Atomic uint64_t started, unaware_after_cancel, aware;
    uint64_t cancel_after; /* tasks started before the cancel */
};

struct bnode {
    struct big *b;
    unsigned depth;
};

static int big_task(weft_task *self, void *p)
{
    struct bnode *n = p;
    struct big *b = n->b;
    uint64_t k = atomic_fetch_add(&b->started, 1) + 1;
    if (k == b->cancel_after) {
        weft_group_cancel(b->top);
        atomic_store(&b->cancel_done, 1);
    } else if (k > b->cancel_after) {
        /* a task that began while the cancel runs looks once it returned:
         * however slow the canceller's thread (a loaded machine preempts
         * it), the tasks after it are then checked, not raced */
        weft_time end = weft_after(20 * WEFT_SEC);
        while (!atomic_load(&b->cancel_done) && weft_now() < end)
            sched_yield();
    }
    /* read `cancel_done` before the flag: if it is set, the flag must be */
    int done = atomic_load(&b->cancel_done);
    bool flag = weft_cancelled(self);
    if (done && !flag)
        atomic_fetch_add(&b->unaware_after_cancel, 1);
    if (flag)
        atomic_fetch_add(&b->aware, 1);
    if (n->depth == 0)
        return 0;
    /* fan-out 10 per level: 10^5 leaves at depth 5 */
    struct bnode kids[10];
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    for (int i = 0; i < 10; i++) {
        kids[i] = (struct bnode){b, n->depth - 1};
        weft_spawn(&g, big_task, &kids[i]);
    }
    int rc = weft_group_join(&g, NULL);
    return rc == ECANCELED ? ECANCELED : rc;
}

static int big_root(weft_task *self, void *p)
{
    struct big *b = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    b->top = &g;
    struct bnode top = {b, 5};
    weft_spawn(&g, big_task, &top);
    return weft_group_join(&g, NULL);
}

START_TEST(test_cancel_of_a_big_tree_reaches_every_later_task)
{
    unsigned workers = 2;
    weft_runtime *rt = weft_test_runtime(workers, 0);
    struct big b = {.cancel_after = 20000};
    ck_assert_int_eq(weft_run(rt, big_root, &b, NULL), ECANCELED);
    uint64_t total = 1 + 10 + 100 + 1000 + 10000 + 100000;
    /* every task ran exactly once, cancelled or not */
    ck_assert_uint_eq(atomic_load(&b.started), total);
    /* the property: tasks that began without the flag after the cancel
     * returned are at most one per worker (in fact none) */
    ck_assert_uint_le(atomic_load(&b.unaware_after_cancel), workers);
    /* every task from the canceller on looked after the cancel returned */
    ck_assert_uint_ge(atomic_load(&b.aware), total - b.cancel_after + 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a 10^4-deep chain cancelled from its bottom ---- */

struct chain {
    weft_group *top;
    unsigned depth;
    _Atomic int bottom_saw;
};

struct clink {
    struct chain *c;
    unsigned left;
};

static int chain_task(weft_task *self, void *p)
{
    struct clink *l = p;
    if (l->left == 0) {
        weft_group_cancel(l->c->top);
        atomic_store(&l->c->bottom_saw, weft_cancelled(self));
        return 0;
    }
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    struct clink next = {l->c, l->left - 1};
    weft_spawn(&g, chain_task, &next);
    int rc = weft_group_join(&g, NULL);
    return rc == ECANCELED ? (weft_cancelled(self) ? ECANCELED : EFAULT) : rc;
}

static int chain_root(weft_task *self, void *p)
{
    struct chain *c = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    c->top = &g;
    struct clink first = {c, c->depth};
    weft_spawn(&g, chain_task, &first);
    return weft_group_join(&g, NULL);
}

START_TEST(test_cancel_reaches_the_bottom_of_a_deep_chain)
{
    weft_runtime *rt = weft_runtime_create(NULL);
    ck_assert_ptr_nonnull(rt);
    struct chain c = {.depth = 10000};
    ck_assert_int_eq(weft_run(rt, chain_root, &c, NULL), ECANCELED);
    ck_assert_int_eq(atomic_load(&c.bottom_saw), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_null_arguments)
{
    ck_assert(!weft_cancelled(NULL));
    ck_assert_int_eq(weft_cancel_reason(NULL), 0);
    ck_assert(weft_deadline(NULL) == WEFT_NEVER);
    weft_group_cancel(NULL); /* harmless */
    weft_group never_initialised = {{0}};
    weft_group_cancel(&never_initialised);
}
END_TEST

/* ---- weft_on_cancel ---- */

struct cbs {
    _Atomic int ran, inside, overlap;
    _Atomic int ran_on_worker; /* worker id of the thread that ran it, +1 */
    int rc_null, rc_late, ran_before_cancel, ran_after_remove, self_removed;
    weft_cancel_cb *self_cb;
};

static void count_cb(void *p)
{
    struct cbs *c = p;
    if (atomic_fetch_add(&c->inside, 1) != 0)
        atomic_store(&c->overlap, 1);
    atomic_fetch_add(&c->ran, 1);
    atomic_fetch_sub(&c->inside, 1);
}

static void self_removing_cb(void *p)
{
    struct cbs *c = p;
    weft_on_cancel_remove(c->self_cb); /* must not deadlock */
    c->self_removed = 1;
    atomic_fetch_add(&c->ran, 1);
}

static int cb_task(weft_task *self, void *p)
{
    struct cbs *c = p;
    weft_cancel_cb removed, kept, self_cb;
    memset(&kept, 0xa5, sizeof kept); /* garbage, as on a real stack */
    c->rc_null = weft_on_cancel(self, NULL, count_cb, c) == EINVAL &&
                 weft_on_cancel(self, &kept, NULL, c) == EINVAL &&
                 weft_on_cancel(NULL, &kept, count_cb, c) == EINVAL;
    weft_on_cancel_remove(&kept); /* after a refused registration: harmless */
    weft_on_cancel(self, &removed, count_cb, c);
    weft_on_cancel_remove(&removed); /* never runs */
    weft_on_cancel(self, &kept, count_cb, c);
    c->self_cb = &self_cb;
    weft_on_cancel(self, &self_cb, self_removing_cb, c);
    c->ran_before_cancel = atomic_load(&c->ran);
    weft_time end = weft_after(10 * WEFT_SEC);
    while (!weft_cancelled(self) && weft_now() < end)
        sched_yield();
    /* the flag is set before the canceller runs the callbacks: let them run
     * (a remove before that would rightly keep `kept` from ever running) */
    while (atomic_load(&c->ran) < 2 && weft_now() < end)
        sched_yield();
    weft_on_cancel_remove(&kept);     /* ran already: returns */
    weft_on_cancel_remove(&self_cb);  /* likewise */
    /* registered on a cancelled scope: runs at once, here */
    weft_cancel_cb late;
    int before = atomic_load(&c->ran);
    c->rc_late = weft_on_cancel(self, &late, count_cb, c);
    c->ran_after_remove = atomic_load(&c->ran) - before;
    weft_on_cancel_remove(&late);
    return ECANCELED;
}

static int cb_parent(weft_task *self, void *p)
{
    weft_group outer;
    weft_group_init(&outer, self, NULL);
    /* the callbacks are in a group below the one cancelled */
    weft_spawn(&outer, cb_task, p);
    weft_time end = weft_after(20 * WEFT_MSEC);
    while (weft_now() < end)
        sched_yield();
    weft_group_cancel(&outer);
    return weft_group_join(&outer, NULL);
}

static int cb_root(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, cb_parent, p);
    return weft_group_join(&g, NULL);
}

START_TEST(test_cancel_callbacks_run_once_and_remove_is_safe)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct cbs c = {0};
    ck_assert_int_eq(weft_run(rt, cb_root, &c, NULL), ECANCELED);
    ck_assert_int_eq(c.rc_null, 1);
    ck_assert_int_eq(c.ran_before_cancel, 0);
    /* kept + self-removing ran once each, the removed one never, late at once */
    ck_assert_int_eq(c.self_removed, 1);
    ck_assert_int_eq(c.rc_late, 0);
    ck_assert_int_eq(c.ran_after_remove, 1);
    ck_assert_msg(atomic_load(&c.ran) == 3, "ran %d", atomic_load(&c.ran));
    ck_assert_int_eq(atomic_load(&c.overlap), 0);
    weft_on_cancel_remove(NULL); /* harmless */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* Cancel racing remove: after remove returns the callback is not running
 * and never starts; it ran at most once. */
struct race {
    weft_group *g;
    _Atomic int canceller_ready, go, ran, inside, after_remove_violations, runs_twice;
    _Atomic int removed;
    int window; /* registrar's spin before remove: sweeps the race */
};

static void race_cb(void *p)
{
    struct race *r = p;
    atomic_store(&r->inside, 1);
    if (atomic_load(&r->removed))
        atomic_fetch_add(&r->after_remove_violations, 1);
    if (atomic_fetch_add(&r->ran, 1) != 0)
        atomic_fetch_add(&r->runs_twice, 1);
    for (volatile int i = 0; i < 200; i++)
        ;
    atomic_store(&r->inside, 0);
}

static int race_registrar(weft_task *self, void *p)
{
    struct race *r = p;
    weft_time end = weft_after(WEFT_SEC);
    while (!atomic_load(&r->canceller_ready) && weft_now() < end)
        ; /* both sides running at once, or there is no race */
    weft_cancel_cb cb;
    weft_on_cancel(self, &cb, race_cb, r);
    atomic_store(&r->go, 1);
    for (volatile int i = 0; i < r->window; i++)
        ;
    weft_on_cancel_remove(&cb);
    if (atomic_load(&r->inside))
        atomic_fetch_add(&r->after_remove_violations, 1);
    atomic_store(&r->removed, 1);
    return 0;
}

static int race_canceller(weft_task *self, void *p)
{
    (void)self;
    struct race *r = p;
    atomic_store(&r->canceller_ready, 1);
    weft_time end = weft_after(WEFT_SEC);
    while (!atomic_load(&r->go) && weft_now() < end)
        ;
    weft_group_cancel(r->g);
    return 0;
}

static int race_round(weft_task *self, void *p)
{
    struct race *r = p;
    weft_group g, side;
    weft_group_init(&g, self, NULL);
    weft_group_init(&side, self, NULL);
    r->g = &g;
    weft_spawn(&side, race_canceller, r);
    weft_spawn(&g, race_registrar, r);
    weft_group_join(&side, NULL);
    weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_cancel_racing_remove_never_runs_after_remove)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    int ran = 0, rounds = 2000;
    for (int i = 0; i < rounds; i++) {
        struct race r = {.window = (i % 100) * 20};
        ck_assert_int_eq(weft_run(rt, race_round, &r, NULL), 0);
        ck_assert_int_eq(atomic_load(&r.after_remove_violations), 0);
        ck_assert_int_eq(atomic_load(&r.runs_twice), 0);
        ran += atomic_load(&r.ran);
    }
    printf("cancel vs remove: the callback ran in %d of %d rounds\n", ran, rounds);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- weft_sleep ---- */

struct sl {
    weft_group *g;
    int rc_plain, rc_cancelled, rc_deadline, rc_pre, rc_null, rc_past;
    weft_time plain_ns, cancelled_ns, pre_ns, past_ns;
    weft_time deadline, woke_at; /* the group's deadline; when its sleeper woke */
};

struct sleep_result {
    int rc;
    weft_time ns;
};

static int sleep_forever(weft_task *self, void *p)
{
    struct sleep_result *r = p;
    weft_time t0 = weft_now();
    r->rc = weft_sleep(self, WEFT_NEVER);
    r->ns = weft_now() - t0;
    return r->rc;
}

static int cancel_after_20ms(weft_task *self, void *p)
{
    struct sl *s = p;
    weft_sleep(self, weft_after(20 * WEFT_MSEC));
    weft_group_cancel(s->g);
    return 0;
}

static int sleep_to_deadline(weft_task *self, void *p)
{
    struct sl *s = p;
    s->rc_deadline = weft_sleep(self, weft_after(10 * WEFT_SEC));
    s->woke_at = weft_now();
    return 0;
}

static int sleeper_root(weft_task *self, void *p)
{
    struct sl *s = p;
    s->rc_null = weft_sleep(NULL, 0);
    weft_time t0 = weft_now();
    s->rc_plain = weft_sleep(self, weft_after(20 * WEFT_MSEC));
    s->plain_ns = weft_now() - t0;
    t0 = weft_now();
    s->rc_past = weft_sleep(self, t0 - WEFT_SEC);
    s->past_ns = weft_now() - t0;

    weft_group g;
    weft_group_init(&g, self, NULL);
    s->g = &g;
    struct sleep_result mid = {0}, pre = {0};
    weft_spawn(&g, sleep_forever, &mid);
    weft_spawn(&g, cancel_after_20ms, s);
    weft_group_join(&g, NULL);
    s->rc_cancelled = mid.rc;
    s->cancelled_ns = mid.ns;

    weft_group d;
    weft_group_opts o = {.deadline = weft_after(30 * WEFT_MSEC)};
    s->deadline = o.deadline;
    weft_group_init(&d, self, &o);
    weft_spawn(&d, sleep_to_deadline, s);
    weft_group_join(&d, NULL);

    weft_group c;
    weft_group_init(&c, self, NULL);
    weft_group_cancel(&c);
    weft_spawn(&c, sleep_forever, &pre); /* already cancelled: returns at once */
    weft_group_join(&c, NULL);
    s->rc_pre = pre.rc;
    s->pre_ns = pre.ns;
    return 0;
}

START_TEST(test_sleep_returns_on_time_or_early_when_cancelled)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct sl s = {0};
    ck_assert_int_eq(weft_run(rt, sleeper_root, &s, NULL), 0);
    ck_assert_int_eq(s.rc_null, EINVAL);
    ck_assert_int_eq(s.rc_plain, 0);
    ck_assert_int_ge(s.plain_ns, 20 * WEFT_MSEC);
    ck_assert_int_lt(s.plain_ns, 2 * WEFT_SEC); /* generous: a loaded machine */
    ck_assert_int_eq(s.rc_past, 0);
    ck_assert_int_lt(s.past_ns, WEFT_SEC);
    ck_assert_int_eq(s.rc_cancelled, ECANCELED); /* woken by the cancel, not the clock */
    ck_assert_int_lt(s.cancelled_ns, 2 * WEFT_SEC);
    ck_assert_int_eq(s.rc_deadline, ETIMEDOUT);
    /* woken by the deadline: not before it (the task itself may start late) */
    ck_assert_int_ge(s.woke_at, s.deadline);
    ck_assert_int_lt(s.woke_at - s.deadline, 2 * WEFT_SEC);
    ck_assert_int_eq(s.rc_pre, ECANCELED);
    ck_assert_int_lt(s.pre_ns, WEFT_SEC);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- deadlines fired by the timer ---- */

struct busy {
    _Atomic int timed_out_guard; /* a task spun 10 s without seeing the flag */
    _Atomic int saw_etimedout, saw_other;
};

/* Works in ~10 us chunks, checking the flag between them. */
static int busy_until_cancelled(weft_task *self, void *p)
{
    struct busy *b = p;
    if (spin_until_cancelled(self, 10 * WEFT_SEC, &b->timed_out_guard) != ECANCELED)
        return EFAULT;
    if (weft_cancel_reason(self) == ETIMEDOUT)
        atomic_fetch_add(&b->saw_etimedout, 1);
    else
        atomic_fetch_add(&b->saw_other, 1);
    return weft_cancel_reason(self);
}

struct busy_level {
    struct busy *b;
    unsigned depth;
};

static int busy_tree(weft_task *self, void *p)
{
    struct busy_level *l = p;
    if (l->depth == 0)
        return busy_until_cancelled(self, l->b);
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EFAULT;
    struct busy_level kids[2] = {{l->b, l->depth - 1}, {l->b, l->depth - 1}};
    weft_spawn(&g, busy_tree, &kids[0]);
    weft_spawn(&g, busy_tree, &kids[1]);
    return weft_group_join(&g, NULL);
}

struct timed {
    struct busy b;
    weft_time budget;
    int rc;
    weft_time elapsed;
};

static int timed_root(weft_task *self, void *p)
{
    struct timed *t = p;
    weft_time t0 = weft_now();
    weft_group g;
    weft_group_opts o = {.deadline = t0 + t->budget};
    if (weft_group_init(&g, self, &o) != 0)
        return EFAULT;
    struct busy_level top = {&t->b, 5}; /* the deadline reaches 5 levels down */
    weft_spawn(&g, busy_tree, &top);
    t->rc = weft_group_join(&g, NULL);
    t->elapsed = weft_now() - t0;
    return 0;
}

START_TEST(test_deadline_cancels_a_busy_subtree_with_etimedout)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct timed t = {.budget = 30 * WEFT_MSEC};
    ck_assert_int_eq(weft_run(rt, timed_root, &t, NULL), 0);
    ck_assert_int_eq(t.rc, ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&t.b.timed_out_guard), 0);
    ck_assert_int_eq(atomic_load(&t.b.saw_other), 0);
    ck_assert_int_eq(atomic_load(&t.b.saw_etimedout), 1 << 5);
    ck_assert_int_ge(t.elapsed, t.budget);
    ck_assert_int_lt(t.elapsed, t.budget + 2 * WEFT_SEC); /* generous: loaded CI */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* Groups that end before their deadline: the timer must never cancel a
 * later life of their recycled state. */
struct early {
    _Atomic int spurious;
};

static int quick(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return 0;
}

static int plain_then_check(weft_task *self, void *p)
{
    struct early *e = p;
    weft_time end = weft_after(3 * WEFT_MSEC);
    while (weft_now() < end)
        if (weft_cancelled(self))
            atomic_store(&e->spurious, 1);
    return 0;
}

static int early_root(weft_task *self, void *p)
{
    for (int i = 0; i < 200; i++) {
        weft_group g;
        /* 1 ms: the fire races the join; 50 ms: the entry is disarmed */
        weft_group_opts o = {.deadline = weft_after((i % 2 ? 1 : 50) * WEFT_MSEC)};
        if (weft_group_init(&g, self, &o) != 0)
            return EFAULT;
        weft_spawn(&g, quick, NULL);
        int rc = weft_group_join(&g, NULL);
        if (rc != 0 && rc != ETIMEDOUT)
            return EFAULT;
        /* the state just released is the next one initialised here */
        weft_group h;
        weft_group_init(&h, self, NULL);
        weft_spawn(&h, plain_then_check, p);
        if ((rc = weft_group_join(&h, NULL)) != 0)
            return rc == ETIMEDOUT ? ENOTRECOVERABLE : EFAULT; /* a late fire hit h */
    }
    return 0;
}

START_TEST(test_deadline_of_an_ended_group_never_fires_later)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct early e = {0};
    ck_assert_int_eq(weft_run(rt, early_root, &e, NULL), 0);
    ck_assert_int_eq(atomic_load(&e.spurious), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* A shield ignores its parent's deadline but keeps its own. */
struct shield_dl {
    struct busy b;
    int outer_rc, shield_rc;
    weft_time shield_elapsed, t0;
};

static int shield_with_own_deadline(weft_task *self, void *p)
{
    struct shield_dl *s = p;
    weft_group g;
    weft_group_opts o = {.flags = WEFT_SHIELD, .deadline = s->t0 + 80 * WEFT_MSEC};
    weft_group_init(&g, self, &o);
    weft_spawn(&g, busy_until_cancelled, &s->b);
    s->shield_rc = weft_group_join(&g, NULL);
    s->shield_elapsed = weft_now() - s->t0;
    return 0;
}

static int shield_dl_root(weft_task *self, void *p)
{
    struct shield_dl *s = p;
    s->t0 = weft_now();
    weft_group g;
    weft_group_opts o = {.deadline = s->t0 + 20 * WEFT_MSEC};
    weft_group_init(&g, self, &o);
    weft_spawn(&g, shield_with_own_deadline, s);
    s->outer_rc = weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_shield_keeps_its_own_deadline_only)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct shield_dl s = {0};
    ck_assert_int_eq(weft_run(rt, shield_dl_root, &s, NULL), 0);
    ck_assert_int_eq(s.shield_rc, ETIMEDOUT);
    ck_assert_int_ge(s.shield_elapsed, 80 * WEFT_MSEC); /* not the parent's 20 ms */
    ck_assert_int_eq(atomic_load(&s.b.saw_etimedout), 1);
    ck_assert_int_eq(s.outer_rc, ETIMEDOUT);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a weft_group_cancel that loses to a cancel still pushing down ---- */

/* A fail-fast cancel of g is held up in a callback (as preemption could
 * hold it) before its scan; the owner's weft_group_cancel(g) meanwhile
 * finds g cancelled already. After it returns, a task starting two levels
 * below must see the flag all the same. */
struct lost_race {
    atomic_int inner_ready, winner_in_callback, cancel_returned, late_ended;
    atomic_int late_saw; /* -1 until the late task ran */
};

static void wait_until_set(atomic_int *f)
{
    weft_time end = weft_after(10 * WEFT_SEC);
    while (!atomic_load(f) && weft_now() < end)
        sched_yield();
}

static void hold_the_winner(void *p)
{
    struct lost_race *lr = p;
    atomic_store(&lr->winner_in_callback, 1);
    wait_until_set(&lr->late_ended);
}

static int starts_after_the_cancel(weft_task *self, void *p)
{
    struct lost_race *lr = p;
    atomic_store(&lr->late_saw, weft_cancelled(self));
    atomic_store(&lr->late_ended, 1);
    return 0;
}

static int inner_owner(weft_task *self, void *p)
{
    struct lost_race *lr = p;
    weft_cancel_cb cb;
    weft_on_cancel(self, &cb, hold_the_winner, lr);
    weft_group inner;
    weft_group_init(&inner, self, NULL);
    atomic_store(&lr->inner_ready, 1);
    wait_until_set(&lr->cancel_returned);
    weft_spawn(&inner, starts_after_the_cancel, lr);
    weft_group_join(&inner, NULL);
    weft_on_cancel_remove(&cb);
    return 0;
}

static int fails_at_once(weft_task *self, void *p)
{
    (void)p;
    return weft_fail(self, EIO, "the winning cancel");
}

static int lost_race_root(weft_task *self, void *p)
{
    struct lost_race *lr = p;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, inner_owner, lr);
    while (!atomic_load(&lr->inner_ready))
        weft_sleep(self, weft_after(50 * WEFT_USEC));
    weft_spawn(&g, fails_at_once, NULL);
    while (!atomic_load(&lr->winner_in_callback))
        weft_sleep(self, weft_after(50 * WEFT_USEC));
    weft_group_cancel(&g); /* loses the CAS to the failure's cancel */
    atomic_store(&lr->cancel_returned, 1);
    return weft_group_join(&g, NULL);
}

START_TEST(test_a_cancel_that_loses_the_race_still_reaches_later_tasks)
{
    weft_runtime *rt = weft_test_runtime(3, 0);
    struct lost_race lr = {.late_saw = -1};
    ck_assert_int_eq(weft_run(rt, lost_race_root, &lr, NULL), EIO);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(atomic_load(&lr.late_saw), 1);
}
END_TEST

/* ---- a sleep that ends at the group's deadline before the timer fires ---- */

/* weft_sleep returns ETIMEDOUT once the effective deadline passed, which may
 * be a moment before the timer thread cancels the group. Returning that is
 * returning the reason the group stops for: no failure, whichever comes
 * first (found by make check-soak: a spurious ETIMEDOUT error, and fail-fast
 * then cancelling the siblings with ECANCELED instead). */
struct dl_race {
    int bad_rc, bad_errs, bad_reason, first_rc;
    size_t first_count;
};

static int sleep_until_the_deadline(weft_task *self, void *p)
{
    _Atomic int *reason_bad = p;
    int rc = weft_sleep(self, WEFT_NEVER);
    if (rc != ETIMEDOUT || (weft_cancelled(self) && weft_cancel_reason(self) != ETIMEDOUT))
        atomic_fetch_add(reason_bad, 1);
    return rc;
}

static int dl_race_root(weft_task *self, void *p)
{
    struct dl_race *d = p;
    _Atomic int reason_bad = 0;
    weft_group g;
    weft_group_init(&g, self, &(weft_group_opts){.deadline = weft_after(200 * WEFT_USEC)});
    for (int i = 0; i < 3; i++)
        weft_spawn(&g, sleep_until_the_deadline, &reason_bad);
    weft_errors *errs = NULL;
    int rc = weft_group_join(&g, &errs);
    /* the join's one record says the deadline ended it: no task's failure */
    bool errs_ok = weft_test_only_cancel_record(errs, ETIMEDOUT) &&
                   strncmp(weft_error_message(weft_errors_at(errs, 0)), "cancelled: deadline exceeded",
                           28) == 0;
    if (rc != ETIMEDOUT || !errs_ok) {
        if (d->bad_rc + d->bad_errs == 0) {
            d->first_rc = rc;
            d->first_count = weft_errors_count(errs);
        }
        d->bad_rc += rc != ETIMEDOUT;
        d->bad_errs += !errs_ok;
    }
    d->bad_reason += atomic_load(&reason_bad);
    weft_errors_free(errs);
    return 0;
}

START_TEST(test_returning_etimedout_at_the_deadline_is_no_failure)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct dl_race d = {0};
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq(weft_run(rt, dl_race_root, &d, NULL), 0);
    ck_assert_msg(d.bad_rc == 0 && d.bad_errs == 0,
                  "%d joins did not return ETIMEDOUT, %d had errors (first: %d, %zu errors)",
                  d.bad_rc, d.bad_errs, d.first_rc, d.first_count);
    ck_assert_int_eq(d.bad_reason, 0); /* no sibling saw ECANCELED from a fail-fast */
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a cancel's callbacks never reach the next life of a recycled state ---- */

/* A canceller on another thread runs a slow callback of group g; meanwhile
 * g's tasks see the flag and end, g is joined, and the next group of the
 * same task (likely on g's state again) registers callbacks. The canceller,
 * done with the slow one, must not run those: that group is not cancelled
 * (found by make check-soak: sleepers woken with reason 0, joins returning
 * 0 instead of ECANCELED). */
struct cb_life {
    weft_cancel_cb slow_cb; /* outlives g: never removed, forgotten at g's end */
    _Atomic int registered;
    _Atomic int wrong_runs; /* callbacks run in a scope nothing cancelled */
    long rounds;
};

static void slow_callback(void *p)
{
    (void)p;
    struct timespec ts = {0, 300 * 1000};
    nanosleep(&ts, NULL);
}

static void wrong_run(void *p)
{
    atomic_fetch_add(&((struct cb_life *)p)->wrong_runs, 1);
}

static int registers_slow_callback(weft_task *self, void *p)
{
    struct cb_life *c = p;
    weft_on_cancel(self, &c->slow_cb, slow_callback, c);
    atomic_store(&c->registered, 1);
    weft_time end = weft_after(5 * WEFT_SEC);
    while (!weft_cancelled(self) && weft_now() < end)
        sched_yield();
    return ECANCELED;
}

static int never_cancelled_task(weft_task *self, void *p)
{
    weft_cancel_cb cb;
    weft_on_cancel(self, &cb, wrong_run, p);
    weft_time end = weft_after(WEFT_MSEC);
    while (weft_now() < end)
        sched_yield();
    weft_on_cancel_remove(&cb);
    return 0;
}

static int cb_life_canceller(weft_task *self, void *p)
{
    (void)self;
    weft_group_cancel(p);
    return 0;
}

static int cb_life_round(weft_task *self, void *p)
{
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, registers_slow_callback, p);
    weft_time end = weft_after(WEFT_SEC);
    while (!atomic_load(&((struct cb_life *)p)->registered) && weft_now() < end)
        sched_yield();
    weft_job *job = NULL;
    if (weft_spawn_blocking(self, cb_life_canceller, &g, NULL, &job) != 0)
        return EAGAIN;
    weft_group_join(&g, NULL);
    weft_group h; /* nothing cancels it; likely g's state again */
    weft_group_init(&h, self, NULL);
    weft_spawn(&h, never_cancelled_task, p);
    int rc = weft_group_join(&h, NULL);
    weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return rc;
}

START_TEST(test_cancel_callbacks_never_run_in_the_next_life_of_a_state)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct cb_life c = {.rounds = 0};
    weft_time end = weft_after(WEFT_SEC);
    while (weft_now() < end && atomic_load(&c.wrong_runs) == 0) {
        atomic_store(&c.registered, 0);
        ck_assert_int_eq(weft_run(rt, cb_life_round, &c, NULL), 0);
        c.rounds++;
    }
    printf("callback lives: %ld rounds, %d callbacks run in a scope nothing cancelled\n", c.rounds,
           atomic_load(&c.wrong_runs));
    ck_assert_int_eq(atomic_load(&c.wrong_runs), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a callback nested in another may remove the outer one ---- */

/* The root's cancel of g runs outer_cb, which cancels g again: that cancel
 * loses, pushes the cancel down itself and so runs inner_cb, nested on the
 * same stack; inner_cb removes outer_cb, which is running further up. The
 * remove must return at once rather than wait for outer_cb to end. */
struct nested_cbs {
    weft_group g;
    weft_cancel_cb outer, inner;
    atomic_int inner_registered, inner_ran;
};

static void outer_cb(void *p)
{
    struct nested_cbs *n = p;
    weft_group_cancel(&n->g);
}

static void inner_cb(void *p)
{
    struct nested_cbs *n = p;
    weft_on_cancel_remove(&n->outer);
    atomic_store(&n->inner_ran, 1);
}

static int inner_holder(weft_task *self, void *p)
{
    struct nested_cbs *n = p;
    weft_on_cancel(self, &n->inner, inner_cb, n);
    atomic_store(&n->inner_registered, 1);
    wait_until_set(&n->inner_ran);
    weft_on_cancel_remove(&n->inner);
    return ECANCELED;
}

static int outer_holder(weft_task *self, void *p)
{
    struct nested_cbs *n = p;
    weft_on_cancel(self, &n->outer, outer_cb, n);
    weft_group below;
    weft_group_init(&below, self, NULL);
    weft_spawn(&below, inner_holder, n);
    weft_group_join(&below, NULL);
    weft_on_cancel_remove(&n->outer);
    return ECANCELED;
}

static int nested_cbs_root(weft_task *self, void *p)
{
    struct nested_cbs *n = p;
    weft_group_init(&n->g, self, NULL);
    weft_spawn(&n->g, outer_holder, n);
    while (!atomic_load(&n->inner_registered))
        weft_sleep(self, weft_after(50 * WEFT_USEC));
    weft_group_cancel(&n->g);
    return weft_group_join(&n->g, NULL);
}

START_TEST(test_a_callback_may_remove_the_callback_it_runs_nested_in)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct nested_cbs n = {0};
    ck_assert_int_eq(weft_run(rt, nested_cbs_root, &n, NULL), ECANCELED); /* a hang ends in Check's timeout */
    ck_assert_int_eq(atomic_load(&n.inner_ran), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- concurrent cancels of nested groups: A -> B -> X ---- */

/* weft_group_cancel(A) from an outside thread (the outer cancel) while B is
 * cancelled from one of its tasks, by a fail-fast failure or by
 * weft_group_cancel(B) (the inner cancel). A task started in X after the
 * outer cancel returned must see the flag, even while the inner cancel has
 * not pushed B's down yet: a callback of B holds the inner canceller until
 * that task ran (as preemption could hold it). The outer scan may read B
 * just as the inner cancel sets B's word; a race point (cancel.c) can hold
 * that read between its two loads of B's word until the inner cancel landed,
 * which is otherwise a window of a few instructions. */
struct nested_race {
    bool inner_by_call;     /* B cancelled by weft_group_cancel, not a failure */
    bool tear;              /* the race point holds the outer scan's read of B */
    unsigned inner_delay_ns, outer_delay_ns; /* no race point: spins before each cancel */
    pthread_t outer;        /* the outer canceller's thread */
    weft_group a, b;
    struct weft__group *b_state, *x_state;
    const void *last_read;  /* the outer thread only: the state its scan read last */
    atomic_int ready, go, inner_now, torn, outer_returned, probe_done;
    atomic_int probe_saw;   /* -1 until the probe ran */
};

/* Where a cancel scan (cancel.c) reaches state g: thread by thread, each
 * thread's chunks newest first, each chunk in order. */
static long scan_position(weft_runtime *rt, const struct weft__group *g)
{
    long pos = 0;
    for (unsigned i = 0; i < weft__nthreads(weft__runtime_sched(rt)); i++)
        for (struct weft__scope_chunk *c = weft__scope_chunks_first(&rt->jobs.scopes.sched.threads[i]); c != NULL;
             c = c->next)
            for (size_t k = 0; k < c->count; k++, pos++)
                if (weft__scope_chunk_at(c, k) == &g->scope)
                    return pos;
    return -1;
}

static void spin_ns(unsigned ns)
{
    weft_time end = weft_after(ns);
    while (weft_now() < end)
        ;
}

static bool wait_either(atomic_int *f, atomic_int *g)
{
    weft_time end = weft_after(5 * WEFT_SEC);
    while (!atomic_load(f) && (g == NULL || !atomic_load(g)) && weft_now() < end)
        sched_yield();
    return atomic_load(f);
}

/* The race point: in the outer thread's read of B from X's walk up, while
 * B's word is still clear, let the inner cancel land before the re-read. */
static void tear_read_of_b(void *arg, const void *state)
{
    struct nested_race *n = arg;
    if (!pthread_equal(pthread_self(), n->outer))
        return;
    const void *last = n->last_read;
    n->last_read = state;
    if (state != n->b_state || last != n->x_state || atomic_load(&n->torn) ||
        weft__cancel_reason_of(atomic_load(&n->b_state->scope.cancel)) != 0)
        return;
    atomic_store(&n->torn, 1);
    atomic_store(&n->inner_now, 1);
    weft_time end = weft_after(5 * WEFT_SEC);
    while (weft__cancel_reason_of(atomic_load(&n->b_state->scope.cancel)) == 0 &&
           weft_now() < end)
        sched_yield();
}

/* A callback of B: holds the inner canceller (not the outer one, which may
 * run it too) until the probe ran. */
static void hold_inner(void *p)
{
    struct nested_race *n = p;
    if (!pthread_equal(pthread_self(), n->outer))
        wait_either(&n->probe_done, NULL);
}

static int probe_x(weft_task *self, void *p)
{
    struct nested_race *n = p;
    atomic_store(&n->probe_saw, weft_cancelled(self));
    atomic_store(&n->probe_done, 1);
    return 0;
}

static int inner_canceller(weft_task *self, void *p)
{
    struct nested_race *n = p;
    if (n->tear) {
        wait_either(&n->inner_now, &n->outer_returned);
    } else {
        wait_either(&n->go, NULL);
        spin_ns(n->inner_delay_ns);
    }
    if (n->inner_by_call) {
        weft_group_cancel(&n->b);
        return ECANCELED;
    }
    return weft_fail(self, EIO, "the inner cancel");
}

/* Opens X under B where a scan reaches it before B, then starts a probe in
 * X once the outer cancel returned. Before B: a scan that reaches B first
 * cancels it itself, and only a pass that changes nothing can end early.
 * The groups opened on the way there are joined at once. */
static int x_owner(weft_task *self, void *p)
{
    struct nested_race *n = p;
    weft_runtime *rt = weft__runtime_of_sched(weft__self_thread->sched);
    weft_cancel_cb cb;
    weft_on_cancel(self, &cb, hold_inner, n);
    long b_pos = scan_position(rt, n->b_state);
    enum { TRIES = 2 * WEFT__GROUP_CHUNK_STATES + 1 }; /* a new chunk is scanned first */
    weft_group g[TRIES];
    int x = 0;
    for (; x < TRIES; x++) {
        weft_group_init(&g[x], self, NULL);
        n->x_state = weft__group_of_owner(&g[x], weft__self_thread);
        if (scan_position(rt, n->x_state) < b_pos || x == TRIES - 1)
            break;
    }
    for (int k = 0; k < x; k++)
        weft_group_join(&g[k], NULL);
    atomic_store(&n->ready, 1);
    wait_either(&n->outer_returned, NULL);
    weft_spawn(&g[x], probe_x, n);
    weft_group_join(&g[x], NULL);
    weft_on_cancel_remove(&cb);
    return 0;
}

static int b_owner(weft_task *self, void *p)
{
    struct nested_race *n = p;
    weft_group_init(&n->b, self, NULL);
    n->b_state = weft__group_of_owner(&n->b, weft__self_thread);
    weft_spawn(&n->b, inner_canceller, n);
    weft_spawn(&n->b, x_owner, n);
    return weft_group_join(&n->b, NULL);
}

static int a_owner(weft_task *self, void *p)
{
    struct nested_race *n = p;
    weft_group_init(&n->a, self, NULL);
    weft_spawn(&n->a, b_owner, n);
    return weft_group_join(&n->a, NULL);
}

static void *outer_canceller(void *p)
{
    struct nested_race *n = p;
    wait_either(&n->ready, NULL);
    atomic_store(&n->go, 1);
    if (!n->tear)
        spin_ns(n->outer_delay_ns);
    weft_group_cancel(&n->a);
    atomic_store(&n->outer_returned, 1);
    return NULL;
}

/* One round on rt; *n filled by the caller. The round's weft_run code. */
static int nested_race_round(weft_runtime *rt, struct nested_race *n)
{
    atomic_init(&n->probe_saw, -1);
    ck_assert_int_eq(pthread_create(&n->outer, NULL, outer_canceller, n), 0);
    if (n->tear)
        weft__cancel_race_arm(tear_read_of_b, n); /* after create: the point reads n->outer */
    int rc = weft_run(rt, a_owner, n, NULL);
    pthread_join(n->outer, NULL);
    weft__cancel_race_arm(NULL, NULL); /* every scan ended with weft_run */
    return rc;
}

START_TEST(test_an_outer_cancel_reaches_below_a_group_cancelled_during_its_scan)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    int rounds = 0, torn = 0, missed = 0;
    for (; rounds < 40 && torn < 8; rounds++) {
        struct nested_race n = {.inner_by_call = rounds % 2 == 1, .tear = true};
        int rc = nested_race_round(rt, &n);
        ck_assert(rc == (n.inner_by_call ? ECANCELED : EIO));
        ck_assert_int_eq(atomic_load(&n.probe_saw) == -1, 0);
        torn += atomic_load(&n.torn);
        missed += atomic_load(&n.probe_saw) != 1;
    }
    printf("outer cancel against an inner one mid-scan: %d rounds, %d torn reads of B, "
           "%d probes missed the flag\n", rounds, torn, missed);
    fflush(stdout);
    ck_assert_int_gt(torn, 0); /* else the race was never run */
    ck_assert_int_eq(missed, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

START_TEST(test_concurrent_cancels_of_nested_groups_reach_later_tasks)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    uint64_t rng = weft_test_seed() | 1;
    int rounds = 0, missed = 0, first_missed = -1;
    weft_time end = weft_after(WEFT_SEC);
    for (; rounds < 3000 && weft_now() < end; rounds++) {
        struct nested_race n = {.inner_by_call = rounds % 2 == 1,
                                .inner_delay_ns = (unsigned)(weft__rng_next(&rng) % 40000),
                                .outer_delay_ns = (unsigned)(weft__rng_next(&rng) % 4000)};
        int rc = nested_race_round(rt, &n);
        ck_assert(rc == EIO || rc == ECANCELED);
        if (atomic_load(&n.probe_saw) != 1 && missed++ == 0)
            first_missed = rounds;
    }
    printf("concurrent nested cancels: %d rounds, %d probes missed the flag (first: round %d)\n",
           rounds, missed, first_missed);
    fflush(stdout);
    ck_assert_int_eq(missed, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- registering a live callback again ---- */

/* Tasks A and B of group g each register a callback on g's scope; then the
 * callback B registered is registered again from a task of a cancelled
 * group h (before the fix: its link cleared, which cut A's callback off
 * g's list, then run at once), A's again from A, A's again from inside its
 * own run, and A's with a NULL fn. Each must be refused (EBUSY; EINVAL for
 * the NULL fn) and change nothing: on g's cancel both original callbacks
 * run once. Removed, A's callback may be registered again. Each later
 * attempt is made only if the earlier ones were refused: on a runtime
 * without the check they would corrupt the list for good (a cycle, a
 * callback running nested in itself), and the test is to fail, not hang. */
struct rereg {
    weft_cancel_cb cb_a, cb_b;
    weft_task *a_self;
    atomic_int a_registered, b_registered, cross_done, a_ready;
    atomic_int refused_so_far; /* every attempt so far was refused */
    atomic_int ran_a, ran_b, ran_other, tried_running, rc_running, setup_failed;
    int rc_first_a, rc_first_b, rc_cross, rc_same, rc_null_fn, rc_again;
};

static void rereg_other(void *p)
{
    struct rereg *r = p;
    atomic_fetch_add(&r->ran_other, 1);
}

static void rereg_b(void *p)
{
    struct rereg *r = p;
    atomic_fetch_add(&r->ran_b, 1);
}

static void rereg_a(void *p)
{
    struct rereg *r = p;
    atomic_fetch_add(&r->ran_a, 1);
    /* running: a registration of this very callback (on the canceller's
     * thread, for A's scope) is refused too */
    if (atomic_load(&r->refused_so_far) && atomic_exchange(&r->tried_running, 1) == 0)
        atomic_store(&r->rc_running, weft_on_cancel(r->a_self, &r->cb_a, rereg_other, r));
}

static bool rereg_wait(struct rereg *r, atomic_int *flag)
{
    wait_until_set(flag);
    if (!atomic_load(flag))
        atomic_store(&r->setup_failed, 1);
    return atomic_load(flag);
}

static int rereg_task_a(weft_task *self, void *p)
{
    struct rereg *r = p;
    r->a_self = self;
    r->rc_first_a = weft_on_cancel(self, &r->cb_a, rereg_a, r);
    atomic_store(&r->a_registered, 1);
    if (rereg_wait(r, &r->cross_done) && r->rc_cross == EBUSY) {
        r->rc_same = weft_on_cancel(self, &r->cb_a, rereg_other, r);
        r->rc_null_fn = weft_on_cancel(self, &r->cb_a, NULL, r);
        atomic_store(&r->refused_so_far, r->rc_same == EBUSY && r->rc_null_fn == EINVAL);
    }
    atomic_store(&r->a_ready, 1);
    wait_until_set(&r->ran_a);
    weft_on_cancel_remove(&r->cb_a);
    /* removed: it may be registered again; the scope is cancelled, so it
     * runs at once */
    r->rc_again = weft_on_cancel(self, &r->cb_a, rereg_a, r);
    weft_on_cancel_remove(&r->cb_a);
    return ECANCELED;
}

static int rereg_task_b(weft_task *self, void *p)
{
    struct rereg *r = p;
    if (!rereg_wait(r, &r->a_registered))
        return EFAULT;
    r->rc_first_b = weft_on_cancel(self, &r->cb_b, rereg_b, r);
    atomic_store(&r->b_registered, 1);
    wait_until_set(&r->ran_b);
    weft_on_cancel_remove(&r->cb_b);
    return ECANCELED;
}

static int rereg_task_c(weft_task *self, void *p)
{
    struct rereg *r = p;
    /* self's scope (h) is cancelled; cb_b is registered on g's */
    r->rc_cross = weft_on_cancel(self, &r->cb_b, rereg_other, r);
    atomic_store(&r->cross_done, 1);
    return ECANCELED;
}

static int rereg_root(weft_task *self, void *p)
{
    struct rereg *r = p;
    weft_group g, h;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    weft_spawn(&g, rereg_task_a, r);
    weft_spawn(&g, rereg_task_b, r);
    if (rereg_wait(r, &r->b_registered)) {
        weft_group_init(&h, self, NULL);
        weft_group_cancel(&h);
        weft_spawn(&h, rereg_task_c, r); /* runs, cancelled from its start */
        weft_group_join(&h, NULL);
        rereg_wait(r, &r->a_ready);
    }
    weft_group_cancel(&g);
    weft_group_join(&g, NULL);
    return 0;
}

START_TEST(test_registering_a_live_callback_again_is_refused_and_harmless)
{
    weft_runtime *rt = weft_test_runtime(3, 0); /* root, A and B at once */
    struct rereg r = {.rc_cross = -1, .rc_same = -1, .rc_null_fn = -1, .rc_again = -1};
    atomic_init(&r.rc_running, -1);
    ck_assert_int_eq(weft_run(rt, rereg_root, &r, NULL), 0);
    ck_assert_int_eq(atomic_load(&r.setup_failed), 0);
    ck_assert_int_eq(r.rc_first_a, 0);
    ck_assert_int_eq(r.rc_first_b, 0);
    ck_assert_int_eq(r.rc_cross, EBUSY);
    ck_assert_int_eq(r.rc_same, EBUSY);
    ck_assert_int_eq(r.rc_null_fn, EINVAL);
    ck_assert_int_eq(atomic_load(&r.tried_running), 1);
    ck_assert_int_eq(atomic_load(&r.rc_running), EBUSY);
    /* both ran once on the cancel; A's once more when registered again */
    ck_assert_int_eq(atomic_load(&r.ran_b), 1);
    ck_assert_int_eq(r.rc_again, 0);
    ck_assert_int_eq(atomic_load(&r.ran_a), 2);
    ck_assert_int_eq(atomic_load(&r.ran_other), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

/* ---- a scope exited while the canceller's scan is between two states ---- */

/* A -> G2 -> S: task M runs in group A and opens G2; its task T enters a
 * scope S. A is cancelled from a plain thread; its scan settles S first (a
 * scope chunk is newer than the group chunk) and walks the path up, so it
 * cancels S and then G2. The race point holds the scan just before G2
 * while T, seeing S cancelled, exits S: T must land cancelled
 * (weft_scope_exit(3)), so the exit itself makes the cancel of A reach G2.
 * Before that, T was back in a clear G2 until the scan went on. */
struct exit_race {
    weft_group a;
    _Atomic(const void *) g2;    /* G2's scope, as T saw it */
    _Atomic(const void *) s;     /* S's scope */
    atomic_int entered, done, held;
    int exit_rc;
    bool cancelled_after;
};

static void hold_before_g2(void *arg, const void *state)
{
    struct exit_race *e = arg;
    const struct weft__scope *s = atomic_load(&e->s);
    if (state != atomic_load(&e->g2) || s == NULL ||
        weft__cancel_reason_of(atomic_load(&s->cancel)) == 0 || atomic_load(&e->held))
        return;
    atomic_store(&e->held, 1);
    const struct weft__scope *g2 = state;
    weft_time end = weft_after(2 * WEFT_SEC);
    /* until T is done, or T's exit cancelled G2 itself (its push-down
     * then waits for this scan's lock) */
    while (!atomic_load(&e->done) && weft__cancel_reason_of(atomic_load(&g2->cancel)) == 0 &&
           weft_now() < end)
        sched_yield();
}

static int exit_race_t(weft_task *self, void *p)
{
    struct exit_race *e = p;
    atomic_store(&e->g2, (const void *)self->scope);
    weft_scope sc;
    if (weft_scope_enter(self, &sc, NULL) != 0)
        return EIO;
    atomic_store(&e->s, (const void *)self->scope);
    atomic_store(&e->entered, 1);
    weft_time end = weft_after(20 * WEFT_SEC);
    while (!weft_cancelled(self) && weft_now() < end)
        sched_yield();
    e->exit_rc = weft_scope_exit(self, &sc);
    e->cancelled_after = weft_cancelled(self);
    atomic_store(&e->done, 1);
    return 0;
}

static int exit_race_m(weft_task *self, void *p)
{
    weft_group g2;
    weft_group_init(&g2, self, NULL);
    weft_spawn(&g2, exit_race_t, p);
    weft_group_join(&g2, NULL);
    return 0;
}

static int exit_race_root(weft_task *self, void *p)
{
    struct exit_race *e = p;
    weft_group_init(&e->a, self, NULL);
    weft_spawn(&e->a, exit_race_m, p);
    weft_group_join(&e->a, NULL);
    return 0;
}

static void *exit_race_canceller(void *p)
{
    struct exit_race *e = p;
    weft_time end = weft_after(20 * WEFT_SEC);
    while (!atomic_load(&e->entered) && weft_now() < end)
        sched_yield();
    weft_group_cancel(&e->a);
    return NULL;
}

START_TEST(test_a_scope_exited_mid_scan_lands_in_a_cancelled_group)
{
    struct exit_race e;
    memset(&e, 0, sizeof e);
    weft_runtime *rt = weft_test_runtime(1, 0);
    pthread_t canceller;
    weft__cancel_race_arm(hold_before_g2, &e);
    ck_assert_int_eq(pthread_create(&canceller, NULL, exit_race_canceller, &e), 0);
    ck_assert_int_eq(weft_run(rt, exit_race_root, &e, NULL), 0);
    pthread_join(canceller, NULL);
    weft__cancel_race_arm(NULL, NULL);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(atomic_load(&e.held), 1); /* the scan met S before G2 */
    ck_assert_int_eq(e.exit_rc, 0);            /* an enclosing cancel ended S */
    ck_assert(e.cancelled_after);
}
END_TEST

Suite *cancel_suite(void)
{
    Suite *s = suite_create("cancel");
    TCase *tc = tcase_create("cancel");
    tcase_set_timeout(tc, 180); /* the 10^4-deep chain takes 15-40 s under TSan */
    tcase_add_test(tc, test_cancel_reaches_running_and_later_tasks);
    tcase_add_test(tc, test_first_failure_cancels_siblings);
    tcase_add_test(tc, test_collect_lets_every_task_finish);
    tcase_add_test(tc, test_cancel_reaches_every_nested_group_but_not_a_shield);
    tcase_add_test(tc, test_shield_ignores_a_cancelled_parent);
    tcase_add_test(tc, test_deadline_is_inherited_and_the_tightest_wins);
    tcase_add_test(tc, test_cancel_of_a_big_tree_reaches_every_later_task);
    tcase_add_test(tc, test_cancel_reaches_the_bottom_of_a_deep_chain);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_cancel_callbacks_run_once_and_remove_is_safe);
    tcase_add_test(tc, test_cancel_racing_remove_never_runs_after_remove);
    tcase_add_test(tc, test_sleep_returns_on_time_or_early_when_cancelled);
    tcase_add_test(tc, test_deadline_cancels_a_busy_subtree_with_etimedout);
    tcase_add_test(tc, test_deadline_of_an_ended_group_never_fires_later);
    tcase_add_test(tc, test_shield_keeps_its_own_deadline_only);
    tcase_add_test(tc, test_a_cancel_that_loses_the_race_still_reaches_later_tasks);
    tcase_add_test(tc, test_a_callback_may_remove_the_callback_it_runs_nested_in);
    tcase_add_test(tc, test_returning_etimedout_at_the_deadline_is_no_failure);
    tcase_add_test(tc, test_cancel_callbacks_never_run_in_the_next_life_of_a_state);
    tcase_add_test(tc, test_registering_a_live_callback_again_is_refused_and_harmless);
    suite_add_tcase(s, tc);
    /* CK_RUN_CASE=nested_cancels runs these alone */
    TCase *nested = tcase_create("nested_cancels");
    tcase_set_timeout(nested, 60);
    tcase_add_test(nested, test_an_outer_cancel_reaches_below_a_group_cancelled_during_its_scan);
    tcase_add_test(nested, test_concurrent_cancels_of_nested_groups_reach_later_tasks);
    tcase_add_test(nested, test_a_scope_exited_mid_scan_lands_in_a_cancelled_group);
    suite_add_tcase(s, nested);
    return s;
}
