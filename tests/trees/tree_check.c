/*
 * The oracle of the randomized task trees (tree.h): what a run recorded,
 * held against what the API promises.
 *
 * Races make some outcomes open: whether a group was cancelled by the time
 * a child's ECANCELED or ETIMEDOUT was recorded decides whether that is a
 * failure or an excused stop. The plan says which groups can be cancelled
 * at all (may_cancel); where one cannot, every non-zero code is a failure
 * that must be listed. A node's own code (TREE_CODE_BASE + i) and any code
 * it passes on other than a cancel's are never excused: they must be listed
 * exactly once, wherever the tree keeps them.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "tests/cancel_record.h"
#include "tests/trees/tree.h"

struct oracle {
    const struct tree_run *r;
    const struct tree_plan *p;
    char *why;
    size_t len;
    int broken;
};

static int broke(struct oracle *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int broke(struct oracle *o, const char *fmt, ...)
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

static const struct tree_node *node(const struct oracle *o, int i)
{
    return &o->p->node[i];
}

static bool is_cancel_code(int rc)
{
    return rc == ECANCELED || rc == ETIMEDOUT;
}

/* A task that may have a scope of its own, where a cancel of that scope
 * alone turns its ECANCELED into ETIMEDOUT. Over-approximated: the runtime
 * makes a scope only when the spawn deadline is tighter than the group's. */
static bool timed(const struct tree_node *n)
{
    return n->role == TREE_TASK && n->named && n->spawn_deadline_us != 0;
}

/* Can task child c record a failure in its group? From the plan alone. */
static bool may_fail(const struct oracle *o, int c)
{
    const struct tree_node *n = node(o, c);
    switch (n->end) {
    case TREE_END_OK:
        return false;
    case TREE_END_FAIL:
        return true;
    case TREE_END_AWAIT_CANCEL: /* its ECANCELED comes with its group's cancel, unless timed */
        return timed(n);
    default: /* passes on what came from below, if anything is below */
        return n->children > 0 || timed(n);
    }
}

static bool may_cancel(const struct oracle *o, int i);

/* Can the scope that task i runs in be cancelled? */
static bool scope_may_cancel(const struct oracle *o, int i)
{
    if (node(o, i)->parent < 0)
        return false;
    return timed(node(o, i)) || may_cancel(o, node(o, i)->parent);
}

/* Can the group that task i opens be cancelled? */
static bool may_cancel(const struct oracle *o, int i)
{
    const struct tree_node *n = node(o, i);
    if (n->group_deadline_us != 0 || n->cancel_after >= 0 || o->p->outer_cancel == i)
        return true;
    if (!(n->flags & WEFT_SHIELD) && scope_may_cancel(o, i))
        return true;
    if (!(n->flags & WEFT_COLLECT))
        for (int c = n->first_child; c < n->first_child + n->children; c++)
            if (node(o, c)->role == TREE_TASK && may_fail(o, c))
                return true;
    return false;
}

static weft_time min_time(weft_time a, weft_time b)
{
    return a < b ? a : b;
}

static weft_time expected_deadline(const struct oracle *o, int i)
{
    const struct tree_node *n = node(o, i);
    const struct tree_seen *s = &o->r->seen[i];
    if (n->parent < 0)
        return WEFT_NEVER;
    const struct tree_seen *ps = &o->r->seen[n->parent];
    if (n->role == TREE_JOB) /* the parent's, narrowed by its own */
        return min_time(ps->deadline, s->spawn_deadline);
    weft_time group = ps->group_deadline;
    if (!(node(o, n->parent)->flags & WEFT_SHIELD))
        group = min_time(group, ps->deadline);
    return min_time(group, s->spawn_deadline);
}

/* Must task child c's failure be in its group's list? May it be? */
static bool required_in_group(const struct oracle *o, int c)
{
    int rc = o->r->seen[c].rc;
    return rc != 0 && (!is_cancel_code(rc) || !may_cancel(o, node(o, c)->parent));
}

/* A task without a scope reads its group's word, which only goes from
 * clear to set: a cancel it saw before returning was there when its code
 * was recorded, and excused a cancel's code. */
static bool allowed_in_group(const struct oracle *o, int c)
{
    const struct tree_seen *s = &o->r->seen[c];
    if (s->rc == 0)
        return false;
    bool excused = !timed(node(o, c)) && s->reason_at_end != 0 &&
                   (s->rc == ECANCELED || s->rc == s->reason_at_end);
    return !excused;
}

static bool wrote_message(const struct tree_node *n)
{
    return n->end == TREE_END_FAIL || n->end == TREE_END_PASS;
}

/* Which child of i does rec describe? -1: none. */
static int identify(const struct oracle *o, int i, const weft_error *rec)
{
    char msg[48];
    for (int c = node(o, i)->first_child; c < node(o, i)->first_child + node(o, i)->children; c++) {
        const struct tree_node *n = node(o, c);
        tree_message(msg, sizeof msg, o->r->id, c);
        if ((n->role == TREE_JOB || wrote_message(n)) && strcmp(weft_error_message(rec), msg) == 0)
            return c;
        if (n->role == TREE_TASK && !wrote_message(n) && n->named &&
            strcmp(weft_error_task(rec), o->r->seen[c].name) == 0)
            return c;
    }
    return -1;
}

static int check_cause(struct oracle *o, int i, const weft_errors *cause);

/* rec is the record of task c's failure. */
static int check_record(struct oracle *o, int c, const weft_error *rec)
{
    const struct tree_node *n = node(o, c);
    const struct tree_seen *s = &o->r->seen[c];
    int code = weft_error_code(rec);
    bool code_ok = code == s->rc || (timed(n) && s->rc == ECANCELED && code == ETIMEDOUT);
    if (!code_ok)
        return broke(o, "n%d returned %d but its record says %d", c, s->rc, code);
    const char *want_name = n->named ? s->name : "";
    if (strcmp(weft_error_task(rec), want_name) != 0)
        return broke(o, "n%d's record is named '%s', not '%s'", c, weft_error_task(rec),
                     want_name);
    return check_cause(o, c, weft_error_cause(rec));
}

/* i's cause: the records of its group (when its ending keeps them) and
 * of its jobs whose failure a wait saw. */
static int check_cause(struct oracle *o, int i, const weft_errors *cause)
{
    const struct tree_node *n = node(o, i);
    if (weft_errors_lost(cause) != 0)
        return broke(o, "n%d's cause lost %zu records", i, weft_errors_lost(cause));
    bool group_kept = n->end == TREE_END_FAIL || n->end == TREE_END_PASS ||
                      n->end == TREE_END_PASS_RAW;
    bool seen_child[TREE_MAX_NODES] = {false};
    bool seen_cancel = false;
    for (size_t k = 0; k < weft_errors_count(cause); k++) {
        const weft_error *rec = weft_errors_at(cause, k);
        int c = identify(o, i, rec);
        if (c < 0 && group_kept && !seen_cancel && o->r->seen[i].join_cancel_record &&
            weft_test_is_cancel_record(rec)) {
            seen_cancel = true; /* why i's group was cancelled */
            continue;
        }
        if (c < 0)
            return broke(o, "n%d's cause holds a record of no child: %d '%s' task '%s'", i,
                         weft_error_code(rec), weft_error_message(rec), weft_error_task(rec));
        if (seen_child[c])
            return broke(o, "n%d's cause lists n%d twice", i, c);
        seen_child[c] = true;
        const struct tree_seen *cs = &o->r->seen[c];
        if (node(o, c)->role == TREE_JOB) {
            int own = TREE_CODE_BASE + c;
            if (cs->job_wait_rc != own || weft_error_code(rec) != own ||
                strcmp(weft_error_task(rec), cs->name) != 0)
                return broke(o, "job n%d in n%d's cause with %d, named '%s'; its wait returned %d",
                             c, i, weft_error_code(rec), weft_error_task(rec), cs->job_wait_rc);
            continue;
        }
        if (!group_kept || !allowed_in_group(o, c))
            return broke(o, "n%d's cause holds n%d (returned %d), which it must not", i, c, cs->rc);
        if (check_record(o, c, rec))
            return 1;
    }
    for (int c = n->first_child; c < n->first_child + n->children; c++) {
        if (seen_child[c])
            continue;
        const struct tree_seen *cs = &o->r->seen[c];
        if (node(o, c)->role == TREE_JOB && cs->job_wait_rc == TREE_CODE_BASE + c)
            return broke(o, "job n%d failed, its wait saw it, but n%d's cause lacks it", c, i);
        if (node(o, c)->role == TREE_TASK && group_kept && required_in_group(o, c))
            return broke(o, "n%d returned %d but n%d's cause lacks it", c, cs->rc, i);
    }
    return 0;
}

/* A STREAM group handed out each completion once, with the task's code. */
static int check_stream(struct oracle *o, int i)
{
    const struct tree_seen *s = &o->r->seen[i];
    if (s->stream_end != ENOENT && s->stream_end != ECANCELED && s->stream_end != ETIMEDOUT)
        return broke(o, "n%d's weft_group_next ended with %d", i, s->stream_end);
    for (int c = node(o, i)->first_child; c < node(o, i)->first_child + node(o, i)->children; c++) {
        const struct tree_seen *cs = &o->r->seen[c];
        if (node(o, c)->role != TREE_TASK || cs->streamed == 0)
            continue;
        if (cs->streamed > 1)
            return broke(o, "n%d's completion was handed out %d times", c, cs->streamed);
        bool timed_out = timed(node(o, c)) && cs->rc == ECANCELED && cs->stream_status == ETIMEDOUT;
        if (cs->stream_status != cs->rc && !timed_out)
            return broke(o, "n%d returned %d, weft_group_next said %d", c, cs->rc,
                         cs->stream_status);
    }
    if (s->stream_end == ENOENT)
        for (int c = node(o, i)->first_child; c < node(o, i)->first_child + node(o, i)->children;
             c++)
            if (node(o, c)->role == TREE_TASK && o->r->seen[c].streamed != 1)
                return broke(o, "weft_group_next said ENOENT before n%d's completion", c);
    return 0;
}

/* The join's code and count of i's group against what its children did. */
static int check_join(struct oracle *o, int i)
{
    const struct tree_seen *s = &o->r->seen[i];
    if (!s->opened)
        return 0;
    if ((node(o, i)->flags & WEFT_STREAM) && check_stream(o, i))
        return 1;
    size_t required = 0, allowed = 0;
    for (int c = node(o, i)->first_child; c < node(o, i)->first_child + node(o, i)->children; c++) {
        if (node(o, c)->role != TREE_TASK)
            continue;
        required += required_in_group(o, c);
        allowed += allowed_in_group(o, c);
    }
    if (node(o, i)->end != TREE_END_PASS_RAW && (s->join_count < required || s->join_count > allowed))
        return broke(o, "n%d's join listed %zu failures; between %zu and %zu were due", i,
                     s->join_count, required, allowed);
    if (required > 0 && s->join_rc == 0)
        return broke(o, "n%d's join returned 0 after %zu failures", i, required);
    if (s->join_rc != 0 && !is_cancel_code(s->join_rc) && allowed == 0)
        return broke(o, "n%d's join returned %d with no failure below", i, s->join_rc);
    if (allowed == 0 && s->join_rc != 0 && !may_cancel(o, i))
        return broke(o, "n%d's join returned %d though nothing could cancel it", i, s->join_rc);
    if (s->join_rc != 0 && node(o, i)->end != TREE_END_PASS_RAW && s->join_count == 0 &&
        !s->join_cancel_record)
        return broke(o, "n%d's join returned %d and handed out no record", i, s->join_rc);
    if (s->join_count > 0 && s->join_rc != s->first_code) /* the earliest is the first listed */
        return broke(o, "n%d's join returned %d, its first record says %d", i, s->join_rc,
                     s->first_code);
    /* the owner cancels before its join; the outer cancel may come after */
    bool cancelled = node(o, i)->cancel_after >= 0 || s->outer_before_join ||
                     node(o, i)->group_deadline_us < 0;
    if (cancelled && s->join_rc == 0) /* a cancelled group never joins with 0 */
        return broke(o, "n%d's group was cancelled, yet its join returned 0", i);
    if (node(o, i)->group_wait_us != 0) {
        int w = s->group_wait_rc;
        if (w != 0 && w != ETIMEDOUT && w != ECANCELED)
            return broke(o, "n%d's weft_group_wait returned %d", i, w);
        if (s->unended_at_wait)
            return broke(o, "n%d's weft_group_wait returned 0 before a task ended", i);
    }
    return 0;
}

static int check_node(struct oracle *o, unsigned i)
{
    const struct tree_node *n = node(o, (int)i);
    const struct tree_seen *s = &o->r->seen[i];
    if (!s->spawned)
        return broke(o, "n%u was not spawned: %d", i, s->spawn_rc);
    if (n->role == TREE_JOB)
        return 0; /* it may still run: tree_check_jobs, after destroy */
    if (tree_task_children(o->p, (int)i) > 0 && s->init_rc != 0)
        return broke(o, "n%u's weft_group_init returned %d", i, s->init_rc);
    int ran = atomic_load(&o->r->seen[i].ran);
    if (ran != 1 || atomic_load(&o->r->seen[i].returned) != 1)
        return broke(o, "task n%u ran %d times and returned %d times", i, ran,
                     atomic_load(&o->r->seen[i].returned));
    if (n->named && (atomic_load(&o->r->seen[i].cleanups) != 1 ||
                     atomic_load(&o->r->seen[i].cleanups_early) != 0))
        return broke(o, "n%u's cleanup ran %d times, %d before its function returned", i,
                     atomic_load(&o->r->seen[i].cleanups),
                     atomic_load(&o->r->seen[i].cleanups_early));
    weft_time want = expected_deadline(o, (int)i);
    if (s->deadline != want)
        return broke(o, "n%u's deadline is %lld, not min(parent, own) = %lld", i,
                     (long long)s->deadline, (long long)want);
    return check_join(o, (int)i);
}

int tree_check(const struct tree_run *r, unsigned workers, char *why, size_t len)
{
    struct oracle o = {r, r->plan, why, len, 0};
    for (int i = 0; i < r->plan->count; i++)
        if (check_node(&o, (unsigned)i))
            return 1;
    unsigned unaware = atomic_load(&r->unaware_after_cancel);
    if (unaware > workers)
        return broke(&o, "%u tasks began without seeing a cancel that had returned (workers %u)",
                     unaware, workers);
    if (r->root_rc != r->seen[0].rc)
        return broke(&o, "weft_run returned %d, the root %d", r->root_rc, r->seen[0].rc);
    if (r->root_rc == 0)
        return r->errs == NULL ? 0 : broke(&o, "weft_run returned 0 with an error tree");
    if (weft_errors_count(r->errs) != 1 || weft_errors_lost(r->errs) != 0)
        return broke(&o, "weft_run's tree has %zu records (%zu lost), not the root's one",
                     weft_errors_count(r->errs), weft_errors_lost(r->errs));
    const weft_error *root = weft_errors_at(r->errs, 0);
    char msg[48];
    tree_message(msg, sizeof msg, r->id, 0);
    if (strcmp(weft_error_message(root), msg) != 0)
        return broke(&o, "the root's record says '%s'", weft_error_message(root));
    return check_record(&o, 0, root);
}

/* Job j of tree r: did it run, clean up, see its deadline? */
static int check_job(struct oracle *o, int j)
{
    const struct tree_seen *s = &o->r->seen[j];
    if (atomic_load(&s->ran) != 1 || atomic_load(&s->returned) != 1)
        return broke(o, "tree %u: job n%d ran %d times", o->r->id, j, atomic_load(&s->ran));
    if (atomic_load(&s->cleanups) != 1 || atomic_load(&s->cleanups_early) != 0)
        return broke(o, "tree %u: job n%d's cleanup ran %d times, %d early", o->r->id, j,
                     atomic_load(&s->cleanups), atomic_load(&s->cleanups_early));
    weft_time want = expected_deadline(o, j);
    if (s->deadline != want)
        return broke(o, "tree %u: job n%d's deadline is %lld, not %lld", o->r->id, j,
                     (long long)s->deadline, (long long)want);
    return 0;
}

/* Link k of r's detached chain: ran once if its spawn returned 0, else never,
 * with its child, outside every deadline. */
static int check_link(struct oracle *o, int k)
{
    const struct tree_link_seen *l = &o->r->link[k];
    int ran = atomic_load(&l->ran);
    /* link 0 is spawned while weft_run runs; a later one may meet destroy */
    bool refused = k > 0 && l->spawn_rc == ESHUTDOWN;
    if (l->spawn_rc != 0 && !refused)
        return broke(o, "tree %u: detached link %d's spawn returned %d", o->r->id, k, l->spawn_rc);
    if (ran != (l->spawn_rc == 0) || atomic_load(&l->returned) != ran)
        return broke(o, "tree %u: detached link %d (spawn %d) ran %d times, returned %d", o->r->id,
                     k, l->spawn_rc, ran, atomic_load(&l->returned));
    if (ran == 0)
        return 0;
    if (l->init_rc != 0 || l->child_spawn_rc != 0 || atomic_load(&l->child_ran) != 1)
        return broke(o, "tree %u: detached link %d: init %d, child spawned %d, ran %d times",
                     o->r->id, k, l->init_rc, l->child_spawn_rc, atomic_load(&l->child_ran));
    if (l->join_rc != 0 && l->join_rc != ECANCELED) /* ECANCELED: destroy cancelled it */
        return broke(o, "tree %u: detached link %d's join returned %d", o->r->id, k, l->join_rc);
    if (l->deadline != WEFT_NEVER)
        return broke(o, "tree %u: detached link %d has a deadline", o->r->id, k);
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

int tree_check_jobs(const struct tree_run *runs, size_t n, unsigned workers,
                    const struct tree_unhandled *u, char *why, size_t len)
{
    struct oracle o = {NULL, NULL, why, len, 0};
    size_t due = 0;
    for (size_t k = 0; k < n; k++) {
        o.r = &runs[k];
        o.p = runs[k].plan;
        /* again: jobs may have begun after weft_run returned */
        unsigned unaware = atomic_load(&runs[k].unaware_after_cancel);
        if (unaware > workers)
            return broke(&o, "tree %u: %u tasks and jobs began without seeing a cancel that "
                             "had returned", runs[k].id, unaware);
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
    if ((size_t)count != due)
        return broke(&o, "on_unhandled got %d failures; %zu jobs and links failed unseen", count,
                     due);
    for (int k = 0; k < count; k++) { /* each one is such a job's or link's, and once: count == due */
        unsigned id;
        int j;
        bool is_link = false, parsed = sscanf(u->message[k], "tree %u node %d", &id, &j) == 2;
        if (!parsed)
            is_link = parsed = sscanf(u->message[k], "tree %u link %d", &id, &j) == 2;
        id -= runs[0].id; /* unsigned: a smaller id wraps and fails the test below */
        bool known = parsed && id < n && j >= 0 &&
                     (is_link ? j < TREE_CHAIN_MAX && link_failed(&runs[id], j) &&
                                 u->code[k] == TREE_LINK_CODE + j
                           : j < runs[id].plan->count && unobserved_failure(&runs[id], j) &&
                                 u->code[k] == TREE_CODE_BASE + j);
        if (!known)
            return broke(&o, "on_unhandled got %d '%s', which no unseen job failure nor "
                             "detached link's is", u->code[k], u->message[k]);
        for (int m = 0; m < k; m++)
            if (strcmp(u->message[m], u->message[k]) == 0)
                return broke(&o, "on_unhandled got '%s' twice", u->message[k]);
    }
    return 0;
}
