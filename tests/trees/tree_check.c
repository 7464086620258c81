/*
 * The random trees' checker (tree.h): what a run recorded, described to
 * the oracle of the contract (tests/oracle/contract.h), which holds it
 * against the API's promises.
 *
 * Races make some outcomes open: whether a group was cancelled by the time
 * a child's ECANCELED or ETIMEDOUT was recorded decides whether that is a
 * failure or an excused stop. The plan says which groups can be cancelled
 * at all (may_cancel); where one cannot, every non-zero code is a failure
 * that must be listed. A node's own code (TREE_CODE_BASE + i) and any code
 * it passes on other than a cancel's are never excused: they must be listed
 * exactly once, wherever the tree keeps them. The trees read no clock: a
 * group that the plan lets be cancelled may have passed its deadline too.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "tests/oracle/contract.h"
#include "tests/trees/tree.h"

struct checker {
    const struct tree_run *r;
    const struct tree_plan *p;
    char *why;
    size_t len;
    int broken;
    /* node c's entry in its parent's cause, and node i's cause: the records
     * of its group (when its ending keeps them) and of its jobs whose
     * failure a wait saw */
    struct oracle_entry entry[TREE_MAX_NODES];
    struct oracle_list cause[TREE_MAX_NODES];
    char what[TREE_MAX_NODES][16];
    char cause_what[TREE_MAX_NODES][24];
    char message[TREE_MAX_NODES][48];
};

static int broke(struct checker *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int broke(struct checker *o, const char *fmt, ...)
{
    if (!o->broken) { /* the first broken promise tells most */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->why, o->len, fmt, ap);
        va_end(ap);
    }
    o->broken = 1;
    return 1;
}

static int report(struct checker *o, const struct oracle_verdict *v)
{
    return broke(o, "%s", v->why);
}

static const struct tree_node *node(const struct checker *o, int i)
{
    return &o->p->node[i];
}

/* A task that may have a scope of its own, where a cancel of that scope
 * alone turns its ECANCELED into ETIMEDOUT. Over-approximated: the runtime
 * makes a scope only when the spawn deadline is tighter than the group's. */
static bool timed(const struct tree_node *n)
{
    return n->role == TREE_TASK && n->named && n->spawn_deadline_us != 0;
}

/* A task whose entered scope can be ended by the scope itself: its
 * deadline or a weft_scope_cancel of it (exit then reports it). */
static bool scope_may_end(const struct tree_node *n)
{
    return n->scoped && (n->scope_deadline_us != 0 || n->scope_cancel != TREE_SCOPE_NO_CANCEL);
}

/* Can task child c record a failure in its group? From the plan alone. */
static bool may_fail(const struct checker *o, int c)
{
    const struct tree_node *n = node(o, c);
    switch (n->end) {
    case TREE_END_OK:
        return false;
    case TREE_END_FAIL:
        return true;
    case TREE_END_AWAIT_CANCEL: /* its ECANCELED comes with its group's cancel, unless timed */
        return timed(n);
    default: /* passes on what came from below (its scope's exit included), if anything is */
        return n->children > 0 || timed(n) || scope_may_end(n);
    }
}

/* Can something cancel the group that task i opens, itself? */
static bool own_event(const struct checker *o, int i)
{
    const struct tree_node *n = node(o, i);
    if (n->group_deadline_us != 0 || n->cancel_after >= 0 || o->p->outer_cancel == i)
        return true;
    if (!(n->flags & WEFT_COLLECT))
        for (int c = n->first_child; c < n->first_child + n->children; c++)
            if (node(o, c)->role == TREE_TASK && may_fail(o, c))
                return true;
    return false;
}

/* The scope task x entered, as a link of a chain. */
static struct oracle_scope entered_scope(const struct checker *o, int x)
{
    return (struct oracle_scope){scope_may_end(node(o, x)), node(o, x)->scope_shield};
}

/* The scopes from the group task i opens up to the root's: above a group,
 * the scope its task began it in, if any, then the deadline scope that
 * task may have of its own. */
static size_t group_chain(const struct checker *o, int i, struct oracle_scope *chain)
{
    size_t k = 0;
    for (int x = i;; x = node(o, x)->parent) {
        chain[k++] = (struct oracle_scope){own_event(o, x), (node(o, x)->flags & WEFT_SHIELD) != 0};
        if (node(o, x)->scoped)
            chain[k++] = entered_scope(o, x);
        if (node(o, x)->parent < 0)
            return k;
        chain[k++] = (struct oracle_scope){timed(node(o, x)), false};
    }
}

enum { CHAIN_MAX = 3 * TREE_MAX_NODES };

/* Can the group that task i opens be cancelled? */
static bool may_cancel(const struct checker *o, int i)
{
    struct oracle_scope chain[CHAIN_MAX];
    return oracle_reaches(chain, group_chain(o, i, chain));
}

/* Can the scope that task i runs in be cancelled: its group's (or its own
 * deadline's), or, when `inside`, the scope it entered? */
static bool task_may_cancel(const struct checker *o, int i, bool inside)
{
    struct oracle_scope chain[CHAIN_MAX];
    size_t k = 0;
    if (inside && node(o, i)->scoped)
        chain[k++] = entered_scope(o, i);
    if (node(o, i)->parent >= 0) { /* a root's own scope is never cancelled */
        chain[k++] = (struct oracle_scope){timed(node(o, i)), false};
        k += group_chain(o, node(o, i)->parent, chain + k);
    }
    return oracle_reaches(chain, k);
}

static bool scope_may_cancel(const struct checker *o, int i)
{
    return task_may_cancel(o, i, false);
}

static weft_time expected_deadline(const struct checker *o, int i)
{
    const struct tree_node *n = node(o, i);
    const struct tree_seen *s = &o->r->seen[i];
    if (n->parent < 0)
        return oracle_spawn_deadline(WEFT_NEVER, WEFT_NEVER); /* a root has none */
    const struct tree_seen *ps = &o->r->seen[n->parent];
    /* its parent spawned it, or opened its group, inside its scope */
    weft_time opener = node(o, n->parent)->scoped ? ps->scope_deadline_in : ps->deadline;
    if (n->role == TREE_JOB) /* its parent's, narrowed by its own */
        return oracle_spawn_deadline(opener, s->spawn_deadline);
    bool shield = (node(o, n->parent)->flags & WEFT_SHIELD) != 0;
    return oracle_spawn_deadline(oracle_group_deadline(ps->group_deadline, shield, opener),
                                 s->spawn_deadline);
}

/* Task c's return, and what the plan allows of its group. A task without
 * a scope reads its group's word, which only goes from clear to set: a
 * cancel it saw before returning was there when its code was recorded. */
static struct oracle_return return_of(const struct checker *o, int c)
{
    const struct tree_seen *s = &o->r->seen[c];
    return (struct oracle_return){.rc = s->rc,
                                  .saw_cancel = s->reason_at_end != 0,
                                  .reason = s->reason_at_end,
                                  .cancel_possible = node(o, c)->parent >= 0 &&
                                                     may_cancel(o, node(o, c)->parent),
                                  .own_deadline = timed(node(o, c))};
}

static bool wrote_message(const struct tree_node *n)
{
    return n->end == TREE_END_FAIL || n->end == TREE_END_PASS;
}

/* Its ending hands its group's records on as its failure's cause. */
static bool group_kept(const struct tree_node *n)
{
    return n->end == TREE_END_FAIL || n->end == TREE_END_PASS || n->end == TREE_END_PASS_RAW;
}

/* Every node's entry in its parent's cause, and every node's cause. */
static void describe(struct checker *o)
{
    for (int c = 0; c < o->p->count; c++) {
        const struct tree_node *n = node(o, c);
        const struct tree_seen *s = &o->r->seen[c];
        struct oracle_entry *e = &o->entry[c];
        tree_message(o->message[c], sizeof o->message[c], o->r->id, c);
        snprintf(o->what[c], sizeof o->what[c], "%sn%d", n->role == TREE_JOB ? "job " : "", c);
        snprintf(o->cause_what[c], sizeof o->cause_what[c], "n%d's cause", c);
        o->cause[c] = (struct oracle_list){
            .what = o->cause_what[c],
            .entry = &o->entry[n->first_child],
            .n = (size_t)n->children,
            /* why its group was cancelled, which a join that returns
             * non-zero hands out when no task failed */
            .cancel_record = group_kept(n) && s->join_cancel_record ? ORACLE_CANCEL_RECORD_ONCE
                                                                     : ORACLE_NO_CANCEL_RECORD};
        *e = (struct oracle_entry){.what = o->what[c], .name = n->named ? s->name : ""};
        if (n->role == TREE_JOB) { /* in its parent's cause once a wait saw it fail */
            int own = TREE_CODE_BASE + c;
            bool seen = s->job_wait_rc == own;
            e->listing = (struct oracle_listing){seen, seen, own, 0};
            e->message = o->message[c];
            continue;
        }
        struct oracle_return ret = return_of(o, c);
        e->listing = oracle_listing_of(&ret);
        if (n->parent >= 0 && !group_kept(node(o, n->parent)))
            e->listing.must = e->listing.may = false;
        e->message = wrote_message(n) ? o->message[c] : NULL;
        e->cause = ORACLE_CAUSE_LIST;
        e->cause_list = &o->cause[c];
    }
}

/* A STREAM group handed out each completion once, with the task's code. */
static int check_stream(struct checker *o, int i)
{
    struct oracle_verdict v;
    unsigned handed = 0, spawned = 0;
    for (int c = node(o, i)->first_child; c < node(o, i)->first_child + node(o, i)->children; c++) {
        const struct tree_seen *cs = &o->r->seen[c];
        if (node(o, c)->role != TREE_TASK)
            continue;
        spawned += cs->spawned;
        handed += (unsigned)cs->streamed;
        if (cs->streamed == 0)
            continue;
        struct oracle_return ret = return_of(o, c);
        struct oracle_completion done = {.what = o->what[c],
                                         .mine = true,
                                         .ended = true,
                                         .times = cs->streamed,
                                         .status = cs->stream_status,
                                         .task = &ret};
        if (oracle_check_completion(&done, &v))
            return report(o, &v);
    }
    /* its caller, task i, stops waiting when its own scope (inside the
     * one it entered) is cancelled */
    char what[32];
    snprintf(what, sizeof what, "n%d's stream", i);
    bool stop = task_may_cancel(o, i, true);
    if (oracle_check_stream_end(what, o->r->seen[i].stream_end, handed, spawned, stop, stop, &v))
        return report(o, &v);
    return 0;
}

/* The join's code and count of i's group against what its children did. */
static int check_join(struct checker *o, int i)
{
    const struct tree_node *n = node(o, i);
    const struct tree_seen *s = &o->r->seen[i];
    if (!s->opened)
        return 0;
    if ((n->flags & WEFT_STREAM) && check_stream(o, i))
        return 1;
    struct oracle_entry tasks[TREE_MAX_NODES];
    size_t k = 0;
    for (int c = n->first_child; c < n->first_child + n->children; c++) {
        if (node(o, c)->role != TREE_TASK)
            continue;
        struct oracle_return ret = return_of(o, c);
        tasks[k] = o->entry[c];
        tasks[k++].listing = oracle_listing_of(&ret); /* the join lists it, kept or not */
    }
    char what[32];
    snprintf(what, sizeof what, "n%d's join", i);
    struct oracle_list list = {.what = what, .entry = tasks, .n = k};
    bool may = may_cancel(o, i);
    /* begun inside a scope that a cancel or a past deadline ended before the join */
    bool scope_ended = n->scoped && !(n->flags & WEFT_SHIELD) &&
                       (s->scope_cancel_before_join || n->scope_deadline_us < 0);
    struct oracle_join j = {
        .what = what,
        .rc = s->join_rc,
        .tasks = &list,
        /* the owner cancels before its join; the outer cancel may come after */
        .cancelled = n->cancel_after >= 0 || s->outer_before_join || n->group_deadline_us < 0 ||
                     scope_ended,
        .ecanceled_possible = may,
        .etimedout_possible = may,
        .took = n->end != TREE_END_PASS_RAW, /* that one passes the code on, not the list */
        .count = s->join_count,
        .first_code = s->first_code,
        .only_cancel_record = s->join_cancel_record,
    };
    struct oracle_verdict v;
    if (oracle_check_join(&j, &v))
        return report(o, &v);
    /* weft_scope_cancel alone ended it: the record names the scope */
    if (scope_ended && s->join_cancel_record && s->scope_cancel_before_join &&
        n->scope_deadline_us == 0 && !own_event(o, i) &&
        (n->scope_shield || !scope_may_cancel(o, i)) &&
        oracle_check_scope_cancel_record(what, s->join_message,
                                         n->scope_named ? s->scope_name : NULL, &v))
        return report(o, &v);
    if (n->group_wait_us != 0) {
        snprintf(what, sizeof what, "n%d's weft_group_wait", i);
        if (oracle_check_group_wait(what, s->group_wait_rc, s->unended_at_wait,
                                    task_may_cancel(o, i, true), true, &v))
            return report(o, &v);
    }
    return 0;
}

/* Task i's scope: entered, its deadline and the one after it, its sleep,
 * what its exit reported against what could end it. */
static int check_scope(struct checker *o, int i)
{
    const struct tree_node *n = node(o, i);
    const struct tree_seen *s = &o->r->seen[i];
    struct oracle_verdict v;
    char what[32], other[48];
    snprintf(what, sizeof what, "n%d's scope", i);
    if (s->scope_enter_rc != 0)
        return broke(o, "%s: weft_scope_enter returned %d", what, s->scope_enter_rc);
    if (oracle_check_deadline(what, s->scope_deadline_in,
                              oracle_scope_deadline(s->scope_deadline, n->scope_shield,
                                                    s->deadline), &v))
        return report(o, &v);
    snprintf(other, sizeof other, "n%d after its scope", i);
    if (oracle_check_deadline(other, s->deadline_after_exit, s->deadline, &v))
        return report(o, &v);
    snprintf(other, sizeof other, "n%d's weft_sleep in its scope", i);
    if (n->scope_sleep_us != 0 &&
        oracle_check_sleep(other, s->scope_sleep_rc, s->scope_sleep_end >= s->scope_sleep_until,
                           task_may_cancel(o, i, true), s->scope_sleep_end >= s->scope_deadline_in,
                           &v))
        return report(o, &v);
    struct oracle_scope_exit e = {
        .what = what,
        .rc = s->scope_exit_rc,
        .shield = n->scope_shield,
        .outer_possible = scope_may_cancel(o, i),
        .cancel_possible = n->scope_cancel != TREE_SCOPE_NO_CANCEL,
        .cancel_returned = s->scope_cancel_before_exit,
        .past_at_enter = n->scope_deadline_us < 0,
        .own_deadline_passed = s->scope_deadline != WEFT_NEVER &&
                               s->scope_exit_at >= s->scope_deadline,
        .saw_cancel = s->scope_saw_cancel,
        .reason = s->scope_reason,
        .cancelled_after = s->scope_cancelled_after,
    };
    if (oracle_check_scope_exit(&e, &v))
        return report(o, &v);
    return 0;
}

static int check_node(struct checker *o, int i)
{
    const struct tree_node *n = node(o, i);
    const struct tree_seen *s = &o->r->seen[i];
    struct oracle_verdict v;
    if (!s->spawned)
        return broke(o, "n%d was not spawned: %d", i, s->spawn_rc);
    if (n->role == TREE_JOB)
        return 0; /* it may still run: tree_check_jobs, after destroy */
    if (tree_task_children(o->p, i) > 0 && s->init_rc != 0)
        return broke(o, "n%d's weft_group_init returned %d", i, s->init_rc);
    struct oracle_runs runs = {.what = o->what[i],
                               .spawned = 1,
                               .runs = atomic_load(&s->ran),
                               .returns = atomic_load(&s->returned),
                               .cleanups = atomic_load(&s->cleanups),
                               .cleanups_due = n->named,
                               .cleanups_early = atomic_load(&s->cleanups_early)};
    if (oracle_check_runs(&runs, &v) ||
        oracle_check_deadline(o->what[i], s->deadline, expected_deadline(o, i), &v))
        return report(o, &v);
    /* as it returned, out of any scope it entered: cancelled only if the
     * plan lets something reach it (a shield holds off what is above) */
    bool may = scope_may_cancel(o, i);
    if (oracle_check_cancel_state(o->what[i], s->reason_at_end != 0, s->reason_at_end, may, may,
                                  &v))
        return report(o, &v);
    if (n->scoped && check_scope(o, i))
        return 1;
    return check_join(o, i);
}

int tree_check(const struct tree_run *r, unsigned workers, char *why, size_t len)
{
    struct checker o = {.r = r, .p = r->plan, .why = why, .len = len};
    describe(&o);
    for (int i = 0; i < r->plan->count; i++)
        if (check_node(&o, i))
            return 1;
    struct oracle_verdict v;
    char what[24];
    snprintf(what, sizeof what, "tree %u", r->id);
    if (oracle_check_late_starts(what, atomic_load(&r->unaware_after_cancel), workers, &v))
        return report(&o, &v);
    struct oracle_entry root = o.entry[0];
    root.what = "the root";
    root.listing = (struct oracle_listing){r->seen[0].rc != 0, r->seen[0].rc != 0, r->seen[0].rc, 0};
    root.message = o.message[0];
    if (oracle_check_run(r->root_rc, r->seen[0].rc, r->errs, &root, &v))
        return report(&o, &v);
    return 0;
}

/* Job j of tree r: did it run, clean up, see its deadline? */
static int check_job(struct checker *o, int j)
{
    const struct tree_seen *s = &o->r->seen[j];
    char what[32];
    snprintf(what, sizeof what, "tree %u: job n%d", o->r->id, j);
    struct oracle_runs runs = {.what = what,
                               .spawned = 1,
                               .runs = atomic_load(&s->ran),
                               .returns = atomic_load(&s->returned),
                               .cleanups = atomic_load(&s->cleanups),
                               .cleanups_due = 1,
                               .cleanups_early = atomic_load(&s->cleanups_early)};
    struct oracle_verdict v;
    if (oracle_check_runs(&runs, &v) ||
        oracle_check_deadline(what, s->deadline, expected_deadline(o, j), &v))
        return report(o, &v);
    return 0;
}

/* Link k of r's detached chain: ran once if its spawn returned 0, else never,
 * with its child, outside every deadline. */
static int check_link(struct checker *o, int k)
{
    const struct tree_link_seen *l = &o->r->link[k];
    /* link 0 is spawned while weft_run runs; a later one may meet destroy */
    bool refused = k > 0 && l->spawn_rc == ESHUTDOWN;
    if (l->spawn_rc != 0 && !refused)
        return broke(o, "tree %u: detached link %d's spawn returned %d", o->r->id, k, l->spawn_rc);
    char what[48];
    snprintf(what, sizeof what, "tree %u: detached link %d", o->r->id, k);
    struct oracle_runs runs = {.what = what,
                               .spawned = l->spawn_rc == 0,
                               .runs = atomic_load(&l->ran),
                               .returns = atomic_load(&l->returned),
                               .cleanups = -1,
                               .cleanups_early = -1};
    struct oracle_verdict v;
    if (oracle_check_runs(&runs, &v))
        return report(o, &v);
    if (runs.runs == 0)
        return 0;
    if (l->init_rc != 0 || l->child_spawn_rc != 0)
        return broke(o, "%s: init %d, child spawned %d", what, l->init_rc, l->child_spawn_rc);
    char child[64];
    snprintf(child, sizeof child, "%s's child", what);
    struct oracle_runs child_runs = {.what = child,
                                     .spawned = 1,
                                     .runs = atomic_load(&l->child_ran),
                                     .returns = -1,
                                     .cleanups = -1,
                                     .cleanups_early = -1};
    /* nothing cancels a link but destroy; its child returns 0 */
    struct oracle_join join = {.what = what, .rc = l->join_rc, .ecanceled_possible = true};
    if (oracle_check_runs(&child_runs, &v) || oracle_check_join(&join, &v) ||
        oracle_check_deadline(what, l->deadline, oracle_spawn_deadline(WEFT_NEVER, WEFT_NEVER),
                              &v))
        return report(o, &v);
    return 0;
}

/* A job failure that no wait saw: on_unhandled must have it. */
static bool unobserved_failure(const struct tree_run *r, int j)
{
    const struct tree_seen *s = &r->seen[j];
    return r->plan->node[j].role == TREE_JOB && s->spawned && s->rc == TREE_CODE_BASE + j &&
           s->job_wait_rc != s->rc;
}

/* A link of the chain that ran and failed: on_unhandled must have it. */
static bool link_failed(const struct tree_run *r, int k)
{
    return r->plan->chain_from >= 0 && k < r->plan->chain_links &&
           (r->plan->chain_fails & (1u << k)) && atomic_load(&r->link[k].ran) == 1;
}

/* Report k of u: a due job's or link's failure, with its code? */
static bool known_report(const struct tree_run *runs, size_t n, const struct tree_unhandled *u,
                         int k)
{
    unsigned id;
    int j;
    bool is_link = false, parsed = sscanf(u->message[k], "tree %u node %d", &id, &j) == 2;
    if (!parsed)
        is_link = parsed = sscanf(u->message[k], "tree %u link %d", &id, &j) == 2;
    id -= runs[0].id; /* unsigned: a smaller id wraps and fails the test below */
    return parsed && id < n && j >= 0 &&
           (is_link ? j < TREE_CHAIN_MAX && link_failed(&runs[id], j) &&
                          u->code[k] == TREE_LINK_CODE + j
                    : j < runs[id].plan->count && unobserved_failure(&runs[id], j) &&
                          u->code[k] == TREE_CODE_BASE + j);
}

int tree_check_jobs(const struct tree_run *runs, size_t n, unsigned workers,
                    const struct tree_unhandled *u, char *why, size_t len)
{
    struct checker o = {.why = why, .len = len};
    struct oracle_verdict v;
    size_t due = 0;
    for (size_t k = 0; k < n; k++) {
        o.r = &runs[k];
        o.p = runs[k].plan;
        /* again: jobs may have begun after weft_run returned */
        char what[48];
        snprintf(what, sizeof what, "tree %u, jobs included", runs[k].id);
        if (oracle_check_late_starts(what, atomic_load(&runs[k].unaware_after_cancel), workers,
                                     &v))
            return report(&o, &v);
        for (int j = 0; j < o.p->count; j++) {
            if (o.p->node[j].role != TREE_JOB || !runs[k].seen[j].spawned)
                continue;
            if (check_job(&o, j))
                return 1;
            due += unobserved_failure(&runs[k], j);
        }
        if (o.p->chain_from < 0)
            continue;
        if (runs[k].link[0].spawn_rc == -1)
            return broke(&o, "tree %u: n%d never started its detached chain", runs[k].id,
                         o.p->chain_from);
        for (int l = 0; l < o.p->chain_links; l++) {
            if (l > 0 && runs[k].link[l].spawn_rc == -1 && atomic_load(&runs[k].link[l - 1].ran))
                return broke(&o, "tree %u: detached link %d ran but did not spawn link %d",
                             runs[k].id, l - 1, l);
            if (runs[k].link[l].spawn_rc != -1 && check_link(&o, l))
                return 1;
            due += link_failed(&runs[k], l);
        }
    }
    int count = atomic_load(&u->count);
    if (count > TREE_UNHANDLED_MAX)
        return broke(&o, "%d unhandled failures: more than this test keeps", count);
    struct oracle_reports reports = {.due = due, .seen = (uint64_t)count, .final = true};
    int first_odd = -1;
    for (int k = 0; k < count; k++) {
        bool known = known_report(runs, n, u, k), again = false;
        for (int m = 0; m < k && known; m++)
            again |= strcmp(u->message[m], u->message[k]) == 0;
        reports.unknown += !known;
        reports.repeated += again;
        if ((!known || again) && first_odd < 0)
            first_odd = k;
    }
    char what[128];
    if (first_odd >= 0)
        snprintf(what, sizeof what, "on_unhandled (%d '%s' among them)", u->code[first_odd],
                 u->message[first_odd]);
    else
        snprintf(what, sizeof what, "on_unhandled");
    reports.what = what;
    if (oracle_check_reports(&reports, &v))
        return report(&o, &v);
    return 0;
}
