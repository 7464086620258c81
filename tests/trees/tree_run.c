/*
 * Runs a task-tree plan (tree.h) on weft. Each node records what it saw in
 * its tree_seen; nothing here asserts (workers record, the test asserts
 * after the join).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "tests/scope/cancel_record.h"
#include "tests/oracle/contract.h"
#include "tests/trees/tree.h"

void tree_message(char *buf, size_t len, unsigned id, int i)
{
    snprintf(buf, len, "tree %u node %d", id, i);
}

void tree_link_message(char *buf, size_t len, unsigned id, int k)
{
    snprintf(buf, len, "tree %u link %d", id, k);
}

/* Node x's entered scope in a chain: was a weft_scope_cancel of it done? */
static struct oracle_scope entered_scope(const struct tree_run *r, int x)
{
    return (struct oracle_scope){atomic_load(&r->seen[x].scope_cancel_done) != 0,
                                 r->plan->node[x].scope_shield};
}

/* Was a weft_group_cancel or weft_scope_cancel above node i (a group it is
 * in, or the scope that group was begun in, up to the first shield) done
 * before now? A job is in its parent's scope, not in the group its parent
 * opened. seq_cst: read before the flag, so a cancel that returned before
 * these loads must show in the flag read after them. */
static bool cancelled_above(const struct tree_run *r, int i)
{
    const struct tree_plan *p = r->plan;
    struct oracle_scope chain[2 * TREE_MAX_NODES];
    size_t k = 0;
    int x = i;
    if (p->node[i].role == TREE_JOB) {
        x = p->node[i].parent;
        if (p->node[x].scoped)
            chain[k++] = entered_scope(r, x);
    }
    for (; p->node[x].parent >= 0; x = p->node[x].parent) {
        int up = p->node[x].parent;
        chain[k++] = (struct oracle_scope){atomic_load(&r->seen[up].cancel_done) != 0,
                                           (p->node[up].flags & WEFT_SHIELD) != 0};
        if (p->node[up].scoped) /* up began that group inside its scope */
            chain[k++] = entered_scope(r, up);
    }
    return oracle_reaches(chain, k);
}

static void note_start(struct tree_run *r, int i, weft_task *self)
{
    struct tree_seen *s = &r->seen[i];
    const struct tree_node *n = &r->plan->node[i];
    bool after_cancel = cancelled_above(r, i);
    /* a job follows its parent's scope while that lives: a timed parent
     * that returned took its scope, and the link upwards, with it (read
     * after the flag: unreturned then, the link held when it was read) */
    if (after_cancel && !weft_cancelled(self) &&
        (n->role != TREE_JOB || !atomic_load(&r->seen[n->parent].returned)))
        atomic_fetch_add(&r->unaware_after_cancel, 1);
    s->deadline = weft_deadline(self);
    atomic_fetch_add(&s->ran, 1);
}

static void work(weft_task *self, const struct tree_node *n)
{
    if (n->work_us == 0)
        return;
    weft_time end = weft_after(n->work_us * WEFT_USEC);
    if (n->sleeps) {
        weft_sleep(self, end); /* ends early on a cancel: fine */
        return;
    }
    while (weft_now() < end)
        ;
}

/* ECANCELED if a cancel came within TREE_AWAIT_US, else 0. */
static int await_cancel(weft_task *self, const struct tree_node *n)
{
    weft_time end = weft_after(TREE_AWAIT_US * WEFT_USEC);
    if (n->sleeps)
        weft_sleep(self, end);
    else
        while (!weft_cancelled(self) && weft_now() < end)
            sched_yield();
    return weft_cancelled(self) ? ECANCELED : 0;
}

static void cleanup(void *p)
{
    struct tree_arg *a = p;
    struct tree_seen *s = &a->run->seen[a->index];
    if (!atomic_load(&s->returned))
        atomic_fetch_add(&s->cleanups_early, 1);
    atomic_fetch_add(&s->cleanups, 1);
}

static int finish(struct tree_run *r, weft_task *self, int i, int rc)
{
    r->seen[i].rc = rc;
    r->seen[i].reason_at_end = weft_cancel_reason(self);
    atomic_store(&r->seen[i].returned, 1);
    return rc;
}

static int job_fn(weft_task *self, void *p)
{
    struct tree_arg *a = p;
    const struct tree_node *n = &a->run->plan->node[a->index];
    note_start(a->run, a->index, self);
    work(self, n);
    char msg[48];
    tree_message(msg, sizeof msg, a->run->id, a->index);
    int rc = 0;
    if (n->end == TREE_END_FAIL)
        rc = weft_fail(self, TREE_CODE_BASE + a->index, "%s", msg);
    else if (n->end == TREE_END_AWAIT_CANCEL)
        rc = await_cancel(self, n);
    return finish(a->run, self, a->index, rc);
}

static weft_time deadline_of(int32_t us)
{
    return us == 0 ? WEFT_NEVER : weft_after(us * WEFT_USEC);
}

static void spawn_task(struct tree_run *r, int c, weft_group *g);

/* ---- scopes: a node's scope around its sub-tree ---- */

static void scope_enter(struct tree_run *r, int i, weft_task *self)
{
    const struct tree_node *n = &r->plan->node[i];
    struct tree_seen *s = &r->seen[i];
    s->scope_deadline = deadline_of(n->scope_deadline_us);
    weft_scope_opts o = {.flags = n->scope_shield ? WEFT_SHIELD : 0u,
                         .name = n->scope_named ? s->scope_name : NULL};
    if (s->scope_deadline != WEFT_NEVER)
        o.deadline = s->scope_deadline;
    s->scope_enter_rc = weft_scope_enter(self, &r->scope[i], &o);
    s->scope_deadline_in = weft_deadline(self);
    atomic_store(&s->scope_state, 1);
}

/* weft_scope_cancel of node t's scope; in_life: it was entered before the
 * call began and is not exited before the call returned. */
static void scope_cancel(struct tree_run *r, int t, bool in_life)
{
    weft_scope_cancel(&r->scope[t]);
    if (in_life)
        atomic_store(&r->seen[t].scope_cancel_done, 1);
}

/* Node i cancels the scope of node t as it starts: its parent's, entered
 * before i was spawned into the group begun inside, or a sibling's, which
 * it gives a moment to enter (bounded, lending its worker meanwhile). */
static void cancel_scope_of(struct tree_run *r, int i, weft_task *self)
{
    int t = r->plan->node[i].cancels_scope_of;
    struct tree_seen *ts = &r->seen[t];
    if (t == r->plan->node[i].parent) {
        scope_cancel(r, t, true);
        return;
    }
    weft_time end = weft_after(TREE_SIBLING_WAIT_US * WEFT_USEC);
    while (atomic_load(&ts->scope_state) == 0 && !atomic_load(&ts->returned) && weft_now() < end)
        if (weft_sleep(self, weft_after(100 * WEFT_USEC)) != 0)
            break;
    /* seq_cst, with the node's load of scope_cancel_done before its exit:
     * a cancel that a node sees done began after it entered and ended
     * before it exited */
    scope_cancel(r, t, atomic_load(&ts->scope_state) == 1);
}

/* Exits node i's scope: what the task saw just before and after. */
static int scope_exit(struct tree_run *r, int i, weft_task *self)
{
    struct tree_seen *s = &r->seen[i];
    s->scope_cancel_before_exit = atomic_load(&s->scope_cancel_done) != 0;
    s->scope_saw_cancel = weft_cancelled(self);
    s->scope_reason = weft_cancel_reason(self); /* after: the flag is sticky */
    s->scope_exit_rc = weft_scope_exit(self, &r->scope[i]);
    s->scope_exit_at = weft_now();
    s->scope_cancelled_after = weft_cancelled(self);
    s->deadline_after_exit = weft_deadline(self);
    atomic_store(&s->scope_state, 2);
    return s->scope_exit_rc;
}

/* ---- the detached chain ---- */

static int chain_child(weft_task *self, void *p)
{
    (void)self;
    struct tree_arg *a = p;
    atomic_fetch_add(&a->run->link[a->index].child_ran, 1);
    weft_time end = weft_after(a->run->plan->chain_work_us * WEFT_USEC);
    while (weft_now() < end)
        ;
    return 0;
}

/* Link k: a group with a child, the next link spawned detached, the join. */
static int chain_link(weft_task *self, void *p)
{
    struct tree_arg *a = p;
    struct tree_run *r = a->run;
    int k = a->index;
    struct tree_link_seen *l = &r->link[k];
    atomic_fetch_add(&l->ran, 1);
    l->deadline = weft_deadline(self);
    weft_group g;
    l->init_rc = weft_group_init(&g, self, NULL);
    if (l->init_rc == 0)
        l->child_spawn_rc = weft_spawn(&g, chain_child, a);
    if (k + 1 < r->plan->chain_links) /* refused (ESHUTDOWN) once destroy began */
        r->link[k + 1].spawn_rc = weft_spawn_detached(r->rt, chain_link, &r->link_arg[k + 1]);
    if (l->init_rc == 0)
        l->join_rc = weft_group_join(&g, NULL);
    int rc = 0;
    if (r->plan->chain_fails & (1u << k)) {
        char msg[48];
        tree_link_message(msg, sizeof msg, r->id, k);
        rc = weft_fail(self, TREE_LINK_CODE + k, "%s", msg);
    }
    atomic_store(&l->returned, 1);
    return rc;
}

/* ---- the outer cancel: a second thread cancels a node's group ---- */

static void *outer_canceller(void *p)
{
    struct tree_run *r = p;
    const struct tree_plan *pl = r->plan;
    /* once the failing task below began (bounded: it always runs, unless
     * the node's group is joined already) */
    weft_time give_up = weft_after(5 * WEFT_SEC);
    while (!atomic_load(&r->seen[pl->outer_after].ran) && atomic_load(&r->outer_state) == 0 &&
           weft_now() < give_up)
        sched_yield();
    weft_time at = weft_after(pl->outer_delay_us * WEFT_USEC);
    while (weft_now() < at)
        ;
    int expect = 0;
    weft_group *g = atomic_load(&r->outer_group);
    if (g == NULL || !atomic_compare_exchange_strong(&r->outer_state, &expect, 1))
        return NULL; /* withdrawn: the group was joined */
    weft_group_cancel(g);
    atomic_store(&r->seen[pl->outer_cancel].cancel_done, 1);
    atomic_store(&r->outer_state, 2);
    return NULL;
}

/* Node i's group is about to go (its handle leaves scope): the outer
 * canceller must not begin now, and one that began must have returned. */
static void outer_withdraw(struct tree_run *r)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&r->outer_state, &expect, 3))
        while (atomic_load(&r->outer_state) == 1)
            sched_yield();
}

/* Takes i's completions as they come, until none is left or the wait stops
 * (its caller cancelled); the join takes any left. */
static void drain(struct tree_run *r, int i, weft_group *g)
{
    void *arg;
    int status, rc;
    while ((rc = weft_group_next(g, WEFT_NEVER, &arg, &status)) == 0) {
        struct tree_arg *a = arg;
        r->seen[a->index].streamed++;
        r->seen[a->index].stream_status = status;
    }
    r->seen[i].stream_end = rc;
}

static int node_task(weft_task *self, void *p)
{
    struct tree_arg *a = p;
    struct tree_run *r = a->run;
    int i = a->index;
    const struct tree_node *n = &r->plan->node[i];
    struct tree_seen *s = &r->seen[i];
    note_start(r, i, self);
    if (n->cancels_scope_of >= 0)
        cancel_scope_of(r, i, self);
    if (n->scoped)
        scope_enter(r, i, self);

    weft_group g;
    if (tree_task_children(r->plan, i) > 0) {
        s->group_deadline = deadline_of(n->group_deadline_us);
        weft_group_opts o = {.flags = n->flags, .name = s->name};
        if (s->group_deadline != WEFT_NEVER)
            o.deadline = s->group_deadline;
        s->init_rc = weft_group_init(&g, self, &o);
        s->opened = s->init_rc == 0;
        if (s->opened && i == r->plan->outer_cancel)
            atomic_store(&r->outer_group, &g);
    }
    int spawned = 0, tasks = 0;
    for (int c = n->first_child; c < n->first_child + n->children; c++) {
        if (r->plan->node[c].role != TREE_TASK)
            continue;
        if (tasks++ == n->scope_cancel_after)
            scope_cancel(r, i, true);
        if (!s->opened) {
            r->seen[c].spawn_rc = s->init_rc;
            continue;
        }
        if (spawned++ == n->cancel_after) {
            weft_group_cancel(&g);
            atomic_store(&s->cancel_done, 1);
        }
        spawn_task(r, c, &g);
    }
    if (s->opened && spawned == n->cancel_after) {
        weft_group_cancel(&g);
        atomic_store(&s->cancel_done, 1);
    }
    if (tasks == n->scope_cancel_after)
        scope_cancel(r, i, true);

    /* jobs: all started, then each waited for (maybe giving up) and released */
    weft_job *jobs[TREE_MAX_NODES];
    for (int c = n->first_child; c < n->first_child + n->children; c++) {
        struct tree_seen *cs = &r->seen[c];
        jobs[c] = NULL;
        if (r->plan->node[c].role != TREE_JOB)
            continue;
        cs->spawn_deadline = deadline_of(r->plan->node[c].spawn_deadline_us);
        weft_spawn_opts o = {.name = cs->name, .cleanup = cleanup};
        if (cs->spawn_deadline != WEFT_NEVER)
            o.deadline = cs->spawn_deadline;
        cs->spawn_rc = weft_spawn_blocking(self, job_fn, &r->arg[c], &o, &jobs[c]);
        cs->spawned = cs->spawn_rc == 0;
    }
    int job_rc = 0;
    for (int c = n->first_child; c < n->first_child + n->children; c++) {
        const struct tree_node *cn = &r->plan->node[c];
        if (jobs[c] == NULL)
            continue;
        if (cn->job_cancel)
            weft_job_cancel(jobs[c]);
        int rc = weft_job_wait(jobs[c], deadline_of(cn->job_wait_us));
        if (rc == ETIMEDOUT && cn->job_rewait) /* the job went on: a later wait gets its status */
            rc = weft_job_wait(jobs[c], WEFT_NEVER);
        r->seen[c].job_wait_rc = rc;
        if (job_rc == 0)
            job_rc = rc;
        weft_job_release(jobs[c]);
    }
    if (s->opened && n->group_wait_us != 0) {
        s->group_wait_rc = weft_group_wait(&g, deadline_of(n->group_wait_us));
        for (int c = n->first_child; c < n->first_child + n->children; c++)
            if (s->group_wait_rc == 0 && r->plan->node[c].role == TREE_TASK &&
                !atomic_load(&r->seen[c].returned))
                s->unended_at_wait = true;
    }

    if (i == r->plan->chain_from)
        r->link[0].spawn_rc = weft_spawn_detached(r->rt, chain_link, &r->link_arg[0]);

    if (s->opened && (n->flags & WEFT_STREAM))
        drain(r, i, &g);
    if (n->scoped && n->scope_sleep_us != 0) {
        s->scope_sleep_until = weft_after(n->scope_sleep_us * WEFT_USEC);
        s->scope_sleep_rc = weft_sleep(self, s->scope_sleep_until);
        s->scope_sleep_end = weft_now();
    }
    work(self, n);
    weft_errors *errs = NULL;
    bool raw = n->end == TREE_END_PASS_RAW;
    if (s->opened) {
        s->outer_before_join = i == r->plan->outer_cancel && atomic_load(&r->outer_state) == 2;
        s->scope_cancel_before_join = atomic_load(&s->scope_cancel_done) != 0;
        s->join_rc = weft_group_join(&g, raw ? NULL : &errs);
        s->join_count = weft_errors_count(errs);
        if (s->join_count > 0)
            snprintf(s->join_message, sizeof s->join_message, "%s",
                     weft_error_message(weft_errors_at(errs, 0)));
        s->first_code = weft_error_code(weft_errors_at(errs, 0)); /* EINVAL for none */
        /* not a failure: why the group was cancelled, which a join that
         * returns non-zero hands out when no task failed */
        s->join_cancel_record = s->join_rc != 0 && weft_test_only_cancel_record(errs, s->join_rc);
        if (s->join_cancel_record)
            s->join_count = 0;
    }
    if (i == r->plan->outer_cancel)
        outer_withdraw(r);
    int scope_rc = n->scoped ? scope_exit(r, i, self) : 0;
    int passed = s->join_rc != 0 ? s->join_rc : job_rc != 0 ? job_rc : scope_rc;
    char msg[48];
    tree_message(msg, sizeof msg, r->id, i);
    switch (n->end) {
    case TREE_END_FAIL:
        return finish(r, self, i, weft_fail_from(self, errs, TREE_CODE_BASE + i, "%s", msg));
    case TREE_END_PASS:
        if (passed != 0)
            return finish(r, self, i, weft_fail_from(self, errs, passed, "%s", msg));
        break;
    case TREE_END_PASS_RAW:
        return finish(r, self, i, passed);
    case TREE_END_AWAIT_CANCEL:
        weft_errors_free(errs);
        return finish(r, self, i, await_cancel(self, n));
    default:
        break;
    }
    weft_errors_free(errs);
    return finish(r, self, i, 0);
}

static void spawn_task(struct tree_run *r, int c, weft_group *g)
{
    const struct tree_node *n = &r->plan->node[c];
    struct tree_seen *s = &r->seen[c];
    if (n->named) {
        s->spawn_deadline = deadline_of(n->spawn_deadline_us);
        weft_spawn_opts o = {.name = s->name, .cleanup = cleanup};
        if (s->spawn_deadline != WEFT_NEVER)
            o.deadline = s->spawn_deadline;
        s->spawn_rc = weft_spawn_ex(g, node_task, &r->arg[c], &o);
    } else {
        s->spawn_rc = weft_spawn(g, node_task, &r->arg[c]);
    }
    s->spawned = s->spawn_rc == 0;
}

void tree_run(weft_runtime *rt, const struct tree_plan *p, unsigned id, struct tree_run *r)
{
    memset(r, 0, sizeof *r);
    r->plan = p;
    r->rt = rt;
    r->id = id;
    for (int k = 0; k < TREE_CHAIN_MAX; k++) {
        r->link[k].spawn_rc = -1;
        r->link_arg[k] = (struct tree_arg){r, k};
    }
    for (int i = 0; i < p->count; i++) {
        struct tree_seen *s = &r->seen[i];
        r->arg[i] = (struct tree_arg){r, i};
        s->spawn_deadline = s->group_deadline = WEFT_NEVER;
        snprintf(s->name, sizeof s->name, "t%u.n%d", id, i);
        snprintf(s->scope_name, sizeof s->scope_name, "t%u.s%d", id, i);
        s->scope_deadline = WEFT_NEVER;
    }
    r->seen[0].spawned = true; /* the root: weft_run runs it */
    pthread_t outer;
    bool outer_started = p->outer_cancel >= 0 &&
                         pthread_create(&outer, NULL, outer_canceller, r) == 0;
    if (p->outer_cancel >= 0 && !outer_started)
        atomic_store(&r->outer_state, 3); /* no thread: the cancel never comes */
    r->root_rc = weft_run(rt, node_task, &r->arg[0], &r->errs);
    if (outer_started)
        pthread_join(outer, NULL);
}

void tree_on_unhandled(const weft_error *err, void *arg)
{
    struct tree_unhandled *u = arg;
    int k = atomic_fetch_add(&u->count, 1);
    if (k >= TREE_UNHANDLED_MAX)
        return;
    u->code[k] = weft_error_code(err);
    snprintf(u->message[k], sizeof u->message[k], "%s", weft_error_message(err));
}
