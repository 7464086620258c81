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

/* Whether the wait's limit, or the task's deadline, has passed. */
static bool passed(const struct fz_frame *f, weft_time until)
{
    return weft_now() >= fz_min(until, f->deadline);
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
    o->m.eff_deadline = oracle_group_deadline(d, (flags & WEFT_SHIELD) != 0, f->deadline);
    o->m.born_cancelled = o->m.own_deadline <= before;
    o->m.up = f->scope;
    o->scope_level = f->n_scopes;
    f->n_open++;
}

static void cleanup_fn(void *arg)
{
    struct fz_task *t = arg;
    char what[16];
    snprintf(what, sizeof what, "task %u", t->id);
    struct oracle_runs runs = {.what = what, .spawned = 1, .runs = 1, .returns = -1,
                               .cleanups = -1, .cleanups_early = !atomic_load(&t->done)};
    struct oracle_verdict v;
    fz_verdict(oracle_check_runs(&runs, &v), &v);
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
    t->expect_deadline = oracle_spawn_deadline(o->m.eff_deadline, t->spawn_deadline);
    t->group = &o->m;
    t->spawner_scope = f->n_scopes > 0 ? &f->scopes[f->n_scopes - 1] : NULL;
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
    o->m.cancel_known_before_join = fz_cancel_returned(&o->m);
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
    if (f->group == NULL)
        return;
    atomic_store(&f->group->ecanceled_source, true);
    weft_group_cancel(f->group->handle); /* live: this task is in it */
    atomic_store(&f->group->cancel_returned, true);
}

static void op_sleep(struct fz_frame *f, const struct fz_node *n)
{
    weft_time until = weft_after((int64_t)(n->a % 32) * 64 * WEFT_USEC);
    int rc = weft_sleep(f->self, until);
    struct oracle_verdict v;
    fz_verdict(oracle_check_sleep("weft_sleep", rc, weft_now() >= until,
                                  fz_ecanceled_possible(f->scope), passed(f, until), &v),
               &v);
}

static void op_group_wait(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_open_group *o = top_group(f);
    if (o == NULL)
        return;
    weft_time until = fz_wait_choice(n->b);
    int rc = weft_group_wait(&o->g, until);
    bool unended = false;
    for (unsigned i = 0; i < o->m.n_kids; i++)
        unended |= !atomic_load(&o->m.kids[i]->done);
    struct oracle_verdict v;
    fz_verdict(oracle_check_group_wait("weft_group_wait", rc, unended,
                                       fz_ecanceled_possible(f->scope), passed(f, until), &v),
               &v);
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
    struct oracle_verdict v;
    for (unsigned i = 0; i <= (n->a & 3u); i++) {
        int rc = weft_group_next(&o->g, until, (n->a & 4) ? NULL : &arg, &status);
        o->m.handed_out += rc == 0;
        fz_verdict(oracle_check_stream_end("weft_group_next", rc, o->m.handed_out, o->m.n_kids,
                                           fz_ecanceled_possible(f->scope), passed(f, until), &v),
                   &v);
        if (rc != 0)
            return;
        if (n->a & 4)
            continue;
        struct fz_task *t = arg;
        bool mine = false;
        for (unsigned k = 0; k < o->m.n_kids; k++)
            mine |= o->m.kids[k] == t;
        struct oracle_return ret = {0};
        char what[16] = "an arg";
        if (mine) {
            snprintf(what, sizeof what, "task %u", t->id);
            ret = (struct oracle_return){.rc = t->rc, .own_deadline = t->timed};
        }
        struct oracle_completion c = {.what = what,
                                      .mine = mine,
                                      .ended = mine && atomic_load(&t->done),
                                      .times = mine ? 1 + t->streamed : 0,
                                      .status = status,
                                      .task = &ret};
        fz_verdict(oracle_check_completion(&c, &v), &v);
        t->streamed = true;
    }
}

static void cancel_cb_fn(void *arg)
{
    struct fz_frame *f = arg;
    /* its scope, not one entered since nor one around it, was cancelled */
    bool possible = fz_ecanceled_possible(f->cb_scope) || weft_now() >= f->cb_deadline;
    struct oracle_verdict v;
    fz_verdict(oracle_check_cancel_callback("weft_on_cancel", 1, false, possible, &v), &v);
    atomic_fetch_add(&f->cb_calls, 1);
}

static void op_on_cancel(struct fz_frame *f)
{
    if (f->cb_on)
        return;
    bool already = weft_cancelled(f->self);
    atomic_store(&f->cb_calls, 0);
    f->cb_level = f->n_scopes;
    f->cb_scope = f->scope;
    f->cb_deadline = f->deadline;
    int rc = weft_on_cancel(f->self, &f->cb, cancel_cb_fn, f);
    FZ_CHECK(rc == 0, "weft_on_cancel: %d", rc);
    struct oracle_verdict v;
    fz_verdict(oracle_check_cancel_callback("weft_on_cancel", atomic_load(&f->cb_calls), already,
                                            true, &v),
               &v);
    f->cb_on = true;
}

void fz_op_on_cancel_remove(struct fz_frame *f)
{
    if (!f->cb_on)
        return;
    weft_on_cancel_remove(&f->cb);
    struct oracle_verdict v;
    fz_verdict(oracle_check_cancel_callback("weft_on_cancel_remove", atomic_load(&f->cb_calls),
                                            false, true, &v),
               &v);
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
            /* the flag of a scope it entered: its group's may be clear */
            if (f->stop && f->me != NULL && f->n_scopes > 0)
                f->me->stopped_in_scope = true;
            break;
        case OP_DEADLINE: {
            struct oracle_verdict v;
            fz_verdict(oracle_check_deadline("OP_DEADLINE", weft_deadline(f->self), f->deadline, &v),
                       &v);
            break;
        }
        case OP_JOB: fz_op_job(f, n); break;
        case OP_JOB_WAIT: fz_op_job_wait(f, n); break;
        case OP_JOB_CANCEL: fz_op_job_cancel(f, n); break;
        case OP_JOB_RELEASE: fz_op_job_release(f, n); break;
        case OP_GROUP_WAIT: op_group_wait(f, n); break;
        case OP_GROUP_NEXT: op_group_next(f, n); break;
        case OP_PFOR: fz_op_pfor(f, n); break;
        case OP_RETRY: fz_op_retry(f, n); break;
        case OP_ON_CANCEL: op_on_cancel(f); break;
        case OP_ON_CANCEL_REMOVE: fz_op_on_cancel_remove(f); break;
        case OP_MISUSE: fz_op_misuse(f, n); break;
        case OP_CHAIN: fz_op_chain(f, n); break;
        case OP_OUTER_CANCEL: op_outer_cancel(f, n); break;
        case OP_SCOPE_ENTER: fz_op_scope_enter(f, n); break;
        case OP_SCOPE_EXIT: fz_op_scope_exit(f, n); break;
        case OP_SCOPE_CANCEL: fz_op_scope_cancel(f, n); break;
        case OP_COUNT: break;
        }
    }
}

/* Close what the program left open, then the task's result: what its
 * function returns, and in *expect what the runtime makes of it. */
static int finish(struct fz_frame *f, int *expect)
{
    fz_op_on_cancel_remove(f);
    while (f->n_open > 0) {
        struct fz_node take = {.a = 1};
        op_join(f, &take);
    }
    fz_jobs_release_all(f);
    bool inside = fz_scopes_finish(f);
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
    /* a task returning inside a scope it entered fails with EINVAL,
     * unless it failed already (weft_scope_enter(3)) */
    *expect = inside && rc == 0 ? EINVAL : rc;
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
    bool unaware = after_cancel && !weft_cancelled(self);
    char what[16];
    snprintf(what, sizeof what, "task %u", t->id);
    struct oracle_runs runs = {.what = what, .spawned = 1, .runs = atomic_fetch_add(&t->runs, 1) + 1,
                               .returns = -1, .cleanups = -1, .cleanups_early = -1};
    struct oracle_verdict v;
    fz_verdict(oracle_check_late_starts(what, unaware, 0, &v), &v);
    fz_verdict(oracle_check_runs(&runs, &v), &v);
    struct fz_frame f;
    frame_init(&f, self);
    f.me = t;
    f.depth = t->depth;
    f.deadline = t->expect_deadline;
    f.group = f.scope = t->group;
    fz_verdict(oracle_check_deadline(what, weft_deadline(self), f.deadline, &v), &v);
    fz_check_cancel_state(self, f.scope, f.deadline);
    if (t->prog != NULL)
        run_program(&f, t->prog);
    int expect;
    int rc = finish(&f, &expect);
    t->rc = expect;
    /* a failure in a fail-fast group cancels it: say so before it can */
    if (expect != 0 && (t->group->flags & WEFT_COLLECT) == 0)
        atomic_store(&t->group->ecanceled_source, true);
    atomic_store(&t->done, true);
    return rc;
}

int fz_root_main(weft_task *self, void *arg, int *expect)
{
    struct fz_input *in = arg;
    struct fz_frame f;
    frame_init(&f, self);
    f.deadline = oracle_spawn_deadline(WEFT_NEVER, WEFT_NEVER); /* a root has none */
    struct oracle_verdict v;
    bool cancelled = weft_cancelled(self);
    fz_verdict(oracle_check_deadline("the root", weft_deadline(self), f.deadline, &v), &v);
    fz_verdict(oracle_check_cancel_state("the root", cancelled, weft_cancel_reason(self), false,
                                         false, &v),
               &v);
    run_program(&f, in->top);
    return finish(&f, expect);
}
