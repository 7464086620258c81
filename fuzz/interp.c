/*
 * The interpreter: a task runs its program one command at a time, keeping
 * in its frame what it opened (groups, job handles, a cancel callback), and
 * checks each call's result against what the contract allows given what the
 * program did. At the end of its program it joins what it left open,
 * releases its job handles, and returns FAIL's code (through weft_fail, or
 * weft_fail_from with its last join's error tree), ECANCELED when it
 * stopped for a cancel, else 0.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "fuzz/fuzz.h"

_Atomic int fz_jobs_outstanding;

static void check_timed_rc(struct fz_frame *f, int rc, weft_time until, const char *what)
{
    if (rc == ECANCELED)
        FZ_CHECK(fz_ecanceled_possible(f->scope), "%s: ECANCELED with no cancel above", what);
    if (rc == ETIMEDOUT) {
        weft_time now = weft_now();
        FZ_CHECK(now >= fz_min(until, f->deadline),
                 "%s: ETIMEDOUT %lld ns before its deadline", what,
                 (long long)(fz_min(until, f->deadline) - now));
    }
}

static struct fz_open_group *top_group(struct fz_frame *f)
{
    return f->n_open > 0 ? &f->open[f->n_open - 1] : NULL;
}

static void op_open(struct fz_frame *f, const struct fz_node *n)
{
    if (f->n_open == FZ_MAX_OPEN)
        return;
    struct fz_open_group *o = &f->open[f->n_open];
    memset(&o->m, 0, sizeof o->m);
    o->outer_on = false;
    atomic_store(&o->outer_done, false);
    unsigned flags = n->a & (WEFT_COLLECT | WEFT_SHIELD | WEFT_STREAM);
    weft_time before = weft_now();
    weft_time d = fz_deadline_choice(n->b);
    weft_group_opts opts = {.flags = flags, .deadline = d, .name = "fz-group"};
    int rc = weft_group_init(&o->g, f->self, (n->a & 0x80) && flags == 0 && d == 0 ? NULL : &opts);
    FZ_CHECK(rc == 0, "weft_group_init: %d", rc);
    o->m.handle = &o->g;
    o->m.flags = flags;
    o->m.own_deadline = d == 0 ? WEFT_NEVER : d;
    o->m.eff_deadline = fz_min(o->m.own_deadline, (flags & WEFT_SHIELD) ? WEFT_NEVER : f->deadline);
    o->m.born_cancelled = o->m.own_deadline <= before;
    o->m.up = f->scope;
    f->n_open++;
}

static void cleanup_fn(void *arg)
{
    struct fz_task *t = arg;
    FZ_CHECK(atomic_load(&t->done), "task %u: cleanup before its function returned", t->id);
    atomic_fetch_add(&t->cleanups, 1);
}

static void op_spawn(struct fz_frame *f, struct fz_node *n)
{
    struct fz_open_group *o = top_group(f);
    if (o == NULL || o->m.n_kids == FZ_MAX_KIDS)
        return;
    struct fz_task *t = &n->u.task;
    memset(t, 0, sizeof *t);
    t->id = n->id;
    snprintf(t->name, sizeof t->name, "k%u", t->id);
    t->prog = n->child;
    t->depth = f->depth + 1;
    t->named = (n->a & 1) != 0;
    t->has_cleanup = (n->a & 2) != 0;
    t->spawn_deadline = fz_deadline_choice((uint8_t)(n->a >> 2));
    bool plain = (n->a & 0x40) && !t->named && !t->has_cleanup && t->spawn_deadline == 0;
    /* a deadline no tighter than the group's adds nothing (no scope) */
    t->timed = t->spawn_deadline != 0 && t->spawn_deadline < o->m.eff_deadline;
    t->expect_deadline =
        fz_min(o->m.eff_deadline, t->spawn_deadline != 0 ? t->spawn_deadline : WEFT_NEVER);
    t->group = &o->m;
    o->m.kids[o->m.n_kids++] = t;
    int rc;
    if (plain) {
        rc = weft_spawn(&o->g, fz_task_main, t);
    } else {
        weft_spawn_opts so = {.name = t->named ? t->name : NULL,
                              .deadline = t->spawn_deadline,
                              .cleanup = t->has_cleanup ? cleanup_fn : NULL};
        rc = weft_spawn_ex(&o->g, fz_task_main, t, &so);
    }
    FZ_CHECK(rc == 0, "weft_spawn into a live group: %d", rc);
    t->spawned = true;
}

static void op_join(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_open_group *o = top_group(f);
    if (o == NULL)
        return;
    bool take = (n->a & 1) != 0;
    weft_errors *errs = NULL;
    o->m.outer_before_join = atomic_load(&o->outer_done);
    int rc = weft_group_join(&o->g, take ? &errs : NULL);
    if (!take && rc != 0)
        f->kept_unknown = true; /* its failures' records, if any, are kept */
    if (o->outer_on) /* its cancel may come after the join: no effect then */
        pthread_join(o->outer, NULL);
    o->outer_on = false;
    fz_check_join(&o->m, rc, errs, take);
    f->joined = o->g; /* a joined handle, for the misuse commands */
    f->have_joined = true;
    if (take) {
        weft_errors_free(f->last_errs);
        f->last_errs = errs;
    }
    f->n_open--;
}

static void op_cancel(struct fz_frame *f)
{
    struct fz_open_group *o = top_group(f);
    if (o == NULL)
        return;
    o->m.cancelled_by_owner = true;
    atomic_store(&o->m.ecanceled_source, true); /* before the cancel */
    weft_group_cancel(&o->g);
    atomic_store(&o->m.cancel_returned, true);
}

static void *outer_canceller(void *arg)
{
    struct fz_open_group *o = arg;
    struct timespec ts = {0, (long)o->outer_delay_us * 1000};
    nanosleep(&ts, NULL);
    weft_group_cancel(&o->g);
    atomic_store(&o->m.cancel_returned, true);
    atomic_store(&o->outer_done, true);
    return NULL;
}

/* A second thread cancels the innermost group after a delay, whatever its
 * tasks (a fail-fast group failing below, say) are doing; its join waits
 * for that thread. */
static void op_outer_cancel(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_open_group *o = top_group(f);
    if (o == NULL || o->outer_on)
        return;
    atomic_store(&o->m.ecanceled_source, true); /* before the cancel */
    atomic_store(&o->outer_done, false);
    o->outer_delay_us = (n->a % 32u) * 16u;
    o->outer_on = pthread_create(&o->outer, NULL, outer_canceller, o) == 0;
}

static void op_cancel_scope(struct fz_frame *f)
{
    if (f->scope == NULL)
        return;
    atomic_store(&f->scope->ecanceled_source, true);
    weft_group_cancel(f->scope->handle); /* live: this task is in it */
    atomic_store(&f->scope->cancel_returned, true);
}

static void op_sleep(struct fz_frame *f, const struct fz_node *n)
{
    weft_time until = weft_after((int64_t)(n->a % 32) * 64 * WEFT_USEC);
    int rc = weft_sleep(f->self, until);
    FZ_CHECK(rc == 0 || rc == ECANCELED || rc == ETIMEDOUT, "weft_sleep: %d", rc);
    if (rc == 0)
        FZ_CHECK(weft_now() >= until, "weft_sleep returned 0 early");
    check_timed_rc(f, rc, until, "weft_sleep");
}

static void op_group_wait(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_open_group *o = top_group(f);
    if (o == NULL)
        return;
    weft_time until = fz_wait_choice(n->b);
    int rc = weft_group_wait(&o->g, until);
    FZ_CHECK(rc == 0 || rc == ECANCELED || rc == ETIMEDOUT, "weft_group_wait: %d", rc);
    if (rc == 0)
        for (unsigned i = 0; i < o->m.n_kids; i++)
            FZ_CHECK(atomic_load(&o->m.kids[i]->done), "weft_group_wait: 0 before task %u ended",
                     o->m.kids[i]->id);
    check_timed_rc(f, rc, until, "weft_group_wait");
}

static void op_group_next(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_open_group *o = top_group(f);
    if (o == NULL)
        return;
    weft_time until = fz_wait_choice(n->b);
    void *arg = NULL;
    int status = 0;
    if ((o->m.flags & WEFT_STREAM) == 0) {
        int rc = weft_group_next(&o->g, until, &arg, &status);
        FZ_CHECK(rc == EINVAL, "weft_group_next without WEFT_STREAM: %d, not EINVAL", rc);
        return;
    }
    for (unsigned i = 0; i <= (n->a & 3u); i++) {
        int rc = weft_group_next(&o->g, until, (n->a & 4) ? NULL : &arg, &status);
        if (rc == ENOENT) {
            FZ_CHECK(o->m.handed_out == o->m.n_kids, "weft_group_next: ENOENT with %u of %u out",
                     o->m.handed_out, o->m.n_kids);
            return;
        }
        if (rc != 0) {
            FZ_CHECK(rc == ECANCELED || rc == ETIMEDOUT, "weft_group_next: %d", rc);
            check_timed_rc(f, rc, until, "weft_group_next");
            return;
        }
        o->m.handed_out++;
        FZ_CHECK(o->m.handed_out <= o->m.n_kids, "weft_group_next: more completions than spawns");
        if (n->a & 4)
            continue;
        struct fz_task *t = arg;
        bool mine = false;
        for (unsigned k = 0; k < o->m.n_kids; k++)
            mine |= o->m.kids[k] == t;
        FZ_CHECK(mine, "weft_group_next: an arg that is no task of this group");
        FZ_CHECK(!t->streamed, "weft_group_next: task %u handed out twice", t->id);
        t->streamed = true;
        FZ_CHECK(atomic_load(&t->done), "weft_group_next: task %u not ended", t->id);
        FZ_CHECK(status == t->rc || (t->timed && t->rc == ECANCELED && status == ETIMEDOUT),
                 "weft_group_next: task %u returned %d, status %d", t->id, t->rc, status);
    }
}

static void cancel_cb_fn(void *arg)
{
    struct fz_frame *f = arg;
    FZ_CHECK(weft_cancelled(f->self), "a cancel callback ran in a scope not cancelled");
    atomic_fetch_add(&f->cb_calls, 1);
}

static void op_on_cancel(struct fz_frame *f)
{
    if (f->cb_on)
        return;
    bool already = weft_cancelled(f->self);
    atomic_store(&f->cb_calls, 0);
    int rc = weft_on_cancel(f->self, &f->cb, cancel_cb_fn, f);
    FZ_CHECK(rc == 0, "weft_on_cancel: %d", rc);
    if (already)
        FZ_CHECK(atomic_load(&f->cb_calls) == 1, "weft_on_cancel in a cancelled scope did not run it");
    f->cb_on = true;
}

static void op_on_cancel_remove(struct fz_frame *f)
{
    if (!f->cb_on)
        return;
    weft_on_cancel_remove(&f->cb);
    int calls = atomic_load(&f->cb_calls);
    FZ_CHECK(calls <= 1, "a cancel callback ran %d times", calls);
    f->cb_on = false;
}

static void run_program(struct fz_frame *f, const struct fz_prog *p)
{
    for (struct fz_node *n = p->first; n != NULL && !f->stop; n = n->next) {
        switch ((enum fz_op)n->op) {
        case OP_OPEN: op_open(f, n); break;
        case OP_SPAWN: op_spawn(f, n); break;
        case OP_JOIN: op_join(f, n); break;
        case OP_CANCEL: op_cancel(f); break;
        case OP_CANCEL_SCOPE: op_cancel_scope(f); break;
        case OP_FAIL: f->fail_code = fz_fail_code(n->a); break;
        case OP_SLEEP: op_sleep(f, n); break;
        case OP_CHECK_CANCEL:
            fz_check_cancel_state(f->self, f->scope, f->deadline);
            f->stop = weft_cancelled(f->self);
            break;
        case OP_DEADLINE:
            FZ_CHECK(weft_deadline(f->self) == f->deadline, "weft_deadline: %lld, expected %lld",
                     (long long)weft_deadline(f->self), (long long)f->deadline);
            break;
        case OP_JOB: fz_op_job(f, n); break;
        case OP_JOB_WAIT: fz_op_job_wait(f, n); break;
        case OP_JOB_CANCEL: fz_op_job_cancel(f, n); break;
        case OP_JOB_RELEASE: fz_op_job_release(f, n); break;
        case OP_GROUP_WAIT: op_group_wait(f, n); break;
        case OP_GROUP_NEXT: op_group_next(f, n); break;
        case OP_PFOR: fz_op_pfor(f, n); break;
        case OP_RETRY: fz_op_retry(f, n); break;
        case OP_ON_CANCEL: op_on_cancel(f); break;
        case OP_ON_CANCEL_REMOVE: op_on_cancel_remove(f); break;
        case OP_MISUSE: fz_op_misuse(f, n); break;
        case OP_CHAIN: fz_op_chain(f, n); break;
        case OP_OUTER_CANCEL: op_outer_cancel(f, n); break;
        case OP_COUNT: break;
        }
    }
}

/* Close what the program left open, then the task's result. */
static int finish(struct fz_frame *f)
{
    op_on_cancel_remove(f);
    while (f->n_open > 0) {
        struct fz_node take = {.a = 1};
        op_join(f, &take);
    }
    fz_jobs_release_all(f);
    int rc = 0;
    unsigned id = f->me != NULL ? f->me->id : 0;
    if (f->fail_code != 0) {
        if (f->last_errs != NULL) {
            if (f->me != NULL) {
                f->me->explicit_cause = true;
                f->me->cause_count = weft_errors_count(f->last_errs) + f->kept_causes;
                f->me->cause_at_least = f->kept_unknown;
            }
            rc = weft_fail_from(f->self, f->last_errs, f->fail_code, "fz-fail %u", id);
            f->last_errs = NULL; /* taken */
        } else {
            rc = weft_fail(f->self, f->fail_code, "fz-fail %u", id);
        }
        FZ_CHECK(rc == f->fail_code, "weft_fail returned %d, not its code %d", rc, f->fail_code);
    } else if (f->stop) {
        rc = ECANCELED;
    }
    weft_errors_free(f->last_errs);
    f->last_errs = NULL;
    return rc;
}

static void frame_init(struct fz_frame *f, weft_task *self)
{
    memset(f, 0, sizeof *f);
    f->self = self;
    atomic_init(&f->cb_calls, 0);
}

int fz_task_main(weft_task *self, void *arg)
{
    struct fz_task *t = arg;
    /* read before the flag: a cancel that returned before this load shows
     * in the flag read after it (cancel.c's promise) */
    bool after_cancel = fz_cancel_returned(t->group);
    FZ_CHECK(!after_cancel || weft_cancelled(self),
             "task %u began after a cancel above it returned, but its flag is clear", t->id);
    FZ_CHECK(atomic_fetch_add(&t->runs, 1) == 0, "task %u ran twice", t->id);
    struct fz_frame f;
    frame_init(&f, self);
    f.me = t;
    f.depth = t->depth;
    f.deadline = t->expect_deadline;
    f.scope = t->group;
    FZ_CHECK(weft_deadline(self) == f.deadline,
             "task %u: weft_deadline %lld, expected %lld (group %lld, spawn %lld)", t->id,
             (long long)weft_deadline(self), (long long)f.deadline,
             (long long)t->group->eff_deadline, (long long)t->spawn_deadline);
    fz_check_cancel_state(self, f.scope, f.deadline);
    if (t->prog != NULL)
        run_program(&f, t->prog);
    int rc = finish(&f);
    t->rc = rc;
    /* a failure in a fail-fast group cancels it: say so before it can */
    if (rc != 0 && (t->group->flags & WEFT_COLLECT) == 0)
        atomic_store(&t->group->ecanceled_source, true);
    atomic_store(&t->done, true);
    return rc;
}

int fz_root_main(weft_task *self, void *arg)
{
    struct fz_input *in = arg;
    struct fz_frame f;
    frame_init(&f, self);
    f.deadline = WEFT_NEVER;
    FZ_CHECK(weft_deadline(self) == WEFT_NEVER, "a root task has a deadline");
    FZ_CHECK(!weft_cancelled(self), "a root task starts cancelled");
    run_program(&f, in->top);
    return finish(&f);
}
