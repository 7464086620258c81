/*
 * The oracle of the contract (contract.h): each rule once. The sentences
 * of API.md and the man pages each function stands for are quoted or
 * paraphrased above it; the checkers (tests/trees, fuzz, soak) only
 * describe what they saw.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "tests/scope/cancel_record.h"
#include "tests/oracle/contract.h"

static int broke(struct oracle_verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int broke(struct oracle_verdict *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
    return 1;
}

static bool is_stop_code(int rc)
{
    return rc == ECANCELED || rc == ETIMEDOUT;
}

/* ---- cancellation reaches down to the first shield ---- */

bool oracle_reaches(const struct oracle_scope *chain, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (chain[k].event)
            return true;
        if (chain[k].shield) /* WEFT_SHIELD: ignore the parent's cancellation */
            return false;
    }
    return false;
}

/* ---- deadlines ---- */

static weft_time none_is_never(weft_time t)
{
    return t == 0 ? WEFT_NEVER : t;
}

static weft_time min_time(weft_time a, weft_time b)
{
    return a < b ? a : b;
}

/* "The effective deadline of a group is the minimum of its own and its
 * parent's"; WEFT_SHIELD: "own deadline still applies". */
weft_time oracle_group_deadline(weft_time own, bool shield, weft_time opener)
{
    return min_time(none_is_never(own), shield ? WEFT_NEVER : opener);
}

/* "tasks and blocking jobs below inherit it ... A spawn's deadline narrows
 * it for that one task." */
weft_time oracle_spawn_deadline(weft_time group, weft_time spawn)
{
    return min_time(group, none_is_never(spawn));
}

int oracle_check_deadline(const char *what, weft_time seen, weft_time want,
                          struct oracle_verdict *v)
{
    if (seen != want)
        return broke(v, "%s's deadline is %lld, not min(group, parent unless shielded, spawn) = %lld",
                     what, (long long)seen, (long long)want);
    return 0;
}

/* ---- exactly once ---- */

/* "Every spawned function runs exactly once"; "cleanup(arg) runs after the
 * task's function returned, whatever the outcome." */
int oracle_check_runs(const struct oracle_runs *r, struct oracle_verdict *v)
{
    if (r->runs != r->spawned || (r->returns >= 0 && r->returns != r->runs))
        return broke(v, "%s ran %lld times and returned %lld times; %lld spawns returned 0", r->what,
                     r->runs, r->returns, r->spawned);
    if (r->cleanups >= 0 && r->cleanups != r->cleanups_due)
        return broke(v, "%s's cleanup ran %lld times, not %lld", r->what, r->cleanups,
                     r->cleanups_due);
    if (r->cleanups_early > 0)
        return broke(v, "%s's cleanup ran %lld times before its function returned", r->what,
                     r->cleanups_early);
    return 0;
}

/* A task that begins after a cancel above it returned "sees
 * weft_cancelled(self) == true from its first instruction". */
int oracle_check_late_starts(const char *what, unsigned unaware, unsigned allowed,
                             struct oracle_verdict *v)
{
    if (unaware > allowed)
        return broke(v, "%s: %u tasks began without seeing a cancel that had returned (%u allowed)",
                     what, unaware, allowed);
    return 0;
}

/* ---- which task returns are failures ---- */

struct oracle_listing oracle_listing_of(const struct oracle_return *r)
{
    int rc = r->rc;
    struct oracle_listing l = {.code = rc};
    if (rc == 0)
        return l;
    /* its own deadline's ECANCELED is listed as ETIMEDOUT (weft_spawn_ex(3)).
     * Once it read its flag, it stopped for its group's cancel (then it is
     * excused) or for its own deadline: listed, it says ETIMEDOUT. */
    if (r->own_deadline && rc == ECANCELED) {
        l.alt_code = ETIMEDOUT;
        if (r->saw_cancel) {
            l.code = ETIMEDOUT;
            l.alt_code = 0;
        }
    }
    /* "A task is no failure when it returns ECANCELED, or its group's
     * cancel reason, after its group was cancelled, or ETIMEDOUT once its
     * group's deadline passed." Its own scope's reason is its group's only
     * when ECANCELED: a deadline of its own gives ETIMEDOUT. */
    bool group_cancel_seen = r->saw_cancel && (!r->own_deadline || r->reason == ECANCELED);
    bool excused = (rc == ETIMEDOUT && r->deadline_passed) ||
                   (group_cancel_seen && (rc == ECANCELED || (r->reason != 0 && rc == r->reason)));
    /* must and must not both, when it saw a cancel the description says
     * could not come: a broken promise whatever the list holds */
    bool maybe_excused = is_stop_code(rc) && (r->cancel_possible || r->deadline_passed);
    l.must = !maybe_excused;
    l.may = !excused;
    return l;
}

/* ---- error lists ---- */

static bool code_fits(const struct oracle_listing *l, int code)
{
    return code == l->code || (l->alt_code != 0 && code == l->alt_code);
}

/* The entry rec stands for: by its message, else by name and code. Records
 * that match several entries alike (unnamed tasks with one code) cannot
 * tell whose they are, so an unmatched entry that must be listed comes
 * first, then one that may be, then any (to be reported). -1: none. */
static int find(const struct oracle_list *l, const weft_error *rec, const bool *matched)
{
    const char *msg = weft_error_message(rec), *task = weft_error_task(rec);
    for (size_t k = 0; k < l->n; k++)
        if (l->entry[k].message != NULL && strcmp(l->entry[k].message, msg) == 0)
            return (int)k;
    int pick = -1, pick_rank = -1, again = -1;
    for (size_t k = 0; k < l->n; k++) {
        const struct oracle_entry *e = &l->entry[k];
        if (e->message == NULL && e->name != NULL && strcmp(e->name, task) == 0 &&
            code_fits(&e->listing, weft_error_code(rec))) {
            int rank = e->listing.must ? 2 : e->listing.may ? 1 : 0;
            if (!matched[k] && rank > pick_rank) {
                pick = (int)k;
                pick_rank = rank;
            }
            again = (int)k;
        }
    }
    return pick >= 0 ? pick : again;
}

/* rec is e's record: its code, name and causes. */
static int check_record(const struct oracle_list *l, const struct oracle_entry *e,
                        const weft_error *rec, struct oracle_verdict *v)
{
    int code = weft_error_code(rec);
    if (!code_fits(&e->listing, code))
        return broke(v, "%s's record in %s says %d, not %d", e->what, l->what, code,
                     e->listing.code);
    if (e->name != NULL && strcmp(weft_error_task(rec), e->name) != 0)
        return broke(v, "%s's record in %s is named '%s', not '%s'", e->what, l->what,
                     weft_error_task(rec), e->name);
    const weft_errors *cause = weft_error_cause(rec);
    size_t n = weft_errors_count(cause);
    switch (e->cause) {
    case ORACLE_CAUSE_COUNT:
        if (n != e->cause_count)
            return broke(v, "%s's cause lists %zu failures, not %zu", e->what, n, e->cause_count);
        break;
    case ORACLE_CAUSE_AT_LEAST:
        if (n < e->cause_count)
            return broke(v, "%s's cause lists %zu failures, not at least %zu", e->what, n,
                         e->cause_count);
        break;
    case ORACLE_CAUSE_LIST:
        return oracle_check_list(e->cause_list, cause, v);
    case ORACLE_CAUSE_ANY:
        break;
    }
    return 0;
}

/* "every failure listed once in completion order with code, message and
 * name; causes nest like the tree"; "Tasks that merely returned ECANCELED
 * after being cancelled are not errors"; "a failure that could not be
 * recorded" is counted as lost. */
int oracle_check_list(const struct oracle_list *l, const weft_errors *got,
                      struct oracle_verdict *v)
{
    if (l->n > ORACLE_MAX_ENTRIES)
        return broke(v, "%s: %zu entries, more than the oracle matches", l->what, l->n);
    if (weft_errors_lost(got) != 0)
        return broke(v, "%s lost %zu records with memory to spare", l->what,
                     weft_errors_lost(got));
    bool matched[ORACLE_MAX_ENTRIES] = {false};
    bool cancel_seen = false;
    size_t count = weft_errors_count(got);
    for (size_t k = 0; k < count; k++) {
        const weft_error *rec = weft_errors_at(got, k);
        if (weft_test_is_cancel_record(rec)) { /* why the group was cancelled */
            bool ok = !cancel_seen && (l->cancel_record == ORACLE_CANCEL_RECORD_ONCE ||
                                       (l->cancel_record == ORACLE_CANCEL_RECORD_ALONE && count == 1));
            if (!ok)
                return broke(v, "%s holds a record of why a group was cancelled where it must "
                                "not: %d '%s'", l->what, weft_error_code(rec),
                             weft_error_message(rec));
            cancel_seen = true;
            continue;
        }
        int i = find(l, rec, matched);
        if (i < 0)
            return broke(v, "%s holds a record of no task: %d '%s' task '%s'", l->what,
                         weft_error_code(rec), weft_error_message(rec), weft_error_task(rec));
        const struct oracle_entry *e = &l->entry[i];
        if (matched[i])
            return broke(v, "%s lists %s twice", l->what, e->what);
        matched[i] = true;
        if (!e->listing.may)
            return broke(v, "%s lists %s (code %d), which it must not", l->what, e->what,
                         weft_error_code(rec));
        if (check_record(l, e, rec, v))
            return 1;
    }
    for (size_t k = 0; k < l->n; k++)
        if (l->entry[k].listing.must && !matched[k])
            return broke(v, "%s failed with %d but %s lacks it", l->entry[k].what,
                         l->entry[k].listing.code, l->what);
    return 0;
}

/* ---- joins ---- */

/* "Returns 0; or the code of the earliest failure; or ETIMEDOUT /
 * ECANCELED when a deadline or an outside cancel ended the group." */
static int check_code(const char *what, int rc, const struct oracle_list *tasks, bool cancelled,
                      bool ecanceled_possible, bool etimedout_possible, struct oracle_verdict *v)
{
    size_t must = 0;
    bool a_failure_code = false;
    for (size_t k = 0; tasks != NULL && k < tasks->n; k++) {
        const struct oracle_listing *l = &tasks->entry[k].listing;
        must += l->must;
        a_failure_code |= rc != 0 && l->may && code_fits(l, rc);
    }
    if (rc == 0) {
        if (must > 0)
            return broke(v, "%s returned 0 after %zu failures", what, must);
        if (cancelled) /* a cancelled group never joins with 0 */
            return broke(v, "%s: its group was cancelled, yet it returned 0", what);
        return 0;
    }
    if (a_failure_code)
        return 0;
    if (must > 0)
        return broke(v, "%s returned %d, the code of no task that failed", what, rc);
    if (rc == ECANCELED && !ecanceled_possible)
        return broke(v, "%s returned ECANCELED, but nothing could cancel it", what);
    if (rc == ETIMEDOUT && !etimedout_possible)
        return broke(v, "%s returned ETIMEDOUT before its deadline", what);
    if (!is_stop_code(rc))
        return broke(v, "%s returned %d with no failure below", what, rc);
    return 0;
}

int oracle_check_join(const struct oracle_join *j, struct oracle_verdict *v)
{
    if (check_code(j->what, j->rc, j->tasks, j->cancelled, j->ecanceled_possible,
                   j->etimedout_possible, v))
        return 1;
    if (!j->took)
        return 0;
    size_t count = j->count;
    int first = j->first_code;
    bool only_cancel = j->only_cancel_record;
    if (j->errs_kept) {
        only_cancel = j->rc != 0 && weft_test_only_cancel_record(j->errs, j->rc);
        count = only_cancel ? 0 : weft_errors_count(j->errs);
        first = count > 0 ? weft_error_code(weft_errors_at(j->errs, 0)) : 0;
        if (j->errs != NULL && weft_errors_count(j->errs) == 0)
            return broke(v, "%s handed out an error list with no failure (it should be NULL)",
                         j->what);
    }
    /* "Whenever weft_group_join returns non-zero and errs is non-NULL,
     * *errs holds at least one record whose code is the returned one" */
    if (j->rc != 0 && count == 0 && !only_cancel)
        return broke(v, "%s returned %d and handed out no record", j->what, j->rc);
    if (count > 0 && j->rc != first) /* the earliest is the first listed */
        return broke(v, "%s returned %d, its first record says %d", j->what, j->rc, first);
    size_t must = 0, may = 0;
    for (size_t k = 0; j->tasks != NULL && k < j->tasks->n; k++) {
        must += j->tasks->entry[k].listing.must;
        may += j->tasks->entry[k].listing.may;
    }
    if (count < must || count > may)
        return broke(v, "%s listed %zu failures; between %zu and %zu were due", j->what, count,
                     must, may);
    if (!j->errs_kept)
        return 0;
    struct oracle_list l = {.what = j->what, .cancel_record = ORACLE_CANCEL_RECORD_ALONE};
    if (j->tasks != NULL) {
        l.entry = j->tasks->entry;
        l.n = j->tasks->n;
    }
    return oracle_check_list(&l, j->errs, v);
}

/* weft_run "returns fn's status. If errs is non-NULL it receives the error
 * tree (NULL when none)". */
int oracle_check_run(int rc, int root_rc, const weft_errors *errs, const struct oracle_entry *root,
                     struct oracle_verdict *v)
{
    if (rc != root_rc)
        return broke(v, "weft_run returned %d, the root %d", rc, root_rc);
    if (rc == 0)
        return errs == NULL ? 0 : broke(v, "weft_run returned 0 with an error tree");
    if (weft_errors_count(errs) != 1)
        return broke(v, "weft_run's tree has %zu records (%zu lost), not the root's one",
                     weft_errors_count(errs), weft_errors_lost(errs));
    struct oracle_list l = {.what = "weft_run's tree", .entry = root, .n = 1};
    return oracle_check_list(&l, errs, v);
}

/* ---- streams ---- */

/* weft_group_next "hands out completions in completion order: returns 0
 * with the task's arg and status". */
int oracle_check_completion(const struct oracle_completion *c, struct oracle_verdict *v)
{
    if (!c->mine)
        return broke(v, "%s: weft_group_next handed out an arg that is no task of its group",
                     c->what);
    if (c->times > 1)
        return broke(v, "%s's completion was handed out %d times", c->what, c->times);
    if (!c->ended)
        return broke(v, "%s's completion was handed out before it ended", c->what);
    int rc = c->task->rc;
    bool timed_out = c->task->own_deadline && rc == ECANCELED && c->status == ETIMEDOUT;
    if (c->status != rc && !timed_out)
        return broke(v, "%s returned %d, weft_group_next said %d", c->what, rc, c->status);
    return 0;
}

/* "ENOENT when no spawned task is left"; ETIMEDOUT at the deadline. */
int oracle_check_stream_end(const char *what, int rc, unsigned handed_out, unsigned spawned,
                            bool ecanceled_possible, bool etimedout_possible,
                            struct oracle_verdict *v)
{
    if (handed_out > spawned)
        return broke(v, "%s: %u completions handed out, %u tasks spawned", what, handed_out,
                     spawned);
    if (rc == 0)
        return 0;
    if (rc == ENOENT)
        return handed_out == spawned
                   ? 0
                   : broke(v, "%s: weft_group_next said ENOENT with %u of %u handed out", what,
                           handed_out, spawned);
    if (!is_stop_code(rc))
        return broke(v, "%s: weft_group_next ended with %d", what, rc);
    return oracle_check_stop(what, rc, ecanceled_possible, etimedout_possible, v);
}

/* ---- waits and the cancel state ---- */

/* Timed waits return "0, ECANCELED or ETIMEDOUT; returns on time": never
 * early, and ECANCELED only for a cancelled caller. */
int oracle_check_stop(const char *what, int rc, bool ecanceled_possible, bool deadline_passed,
                      struct oracle_verdict *v)
{
    if (rc == ECANCELED && !ecanceled_possible)
        return broke(v, "%s: ECANCELED, but nothing could cancel its caller", what);
    if (rc == ETIMEDOUT && !deadline_passed)
        return broke(v, "%s: ETIMEDOUT before its deadline", what);
    return 0;
}

int oracle_check_sleep(const char *what, int rc, bool until_passed, bool ecanceled_possible,
                       bool deadline_passed, struct oracle_verdict *v)
{
    if (rc == 0)
        return until_passed ? 0 : broke(v, "%s returned 0 early", what);
    if (!is_stop_code(rc))
        return broke(v, "%s returned %d", what, rc);
    return oracle_check_stop(what, rc, ecanceled_possible, deadline_passed, v);
}

/* "weft_group_wait waits for all tasks but up to deadline only: ETIMEDOUT
 * then, and the tasks go on"; a cancelled caller stops waiting. */
int oracle_check_group_wait(const char *what, int rc, bool unended, bool ecanceled_possible,
                            bool deadline_passed, struct oracle_verdict *v)
{
    if (rc == 0)
        return unended ? broke(v, "%s returned 0 before a task ended", what) : 0;
    if (!is_stop_code(rc))
        return broke(v, "%s returned %d", what, rc);
    return oracle_check_stop(what, rc, ecanceled_possible, deadline_passed, v);
}

/* "weft_job_wait returns the job's status, or ETIMEDOUT when deadline (or
 * the caller's inherited deadline) passes first, or ECANCELED when the
 * caller is cancelled"; a job stopped by its own deadline ended timed out. */
int oracle_check_job_wait(const struct oracle_job_wait *w, struct oracle_verdict *v)
{
    /* its ECANCELED after its deadline, with nothing else to cancel it,
     * can only be its deadline's */
    bool timed_out = w->status == ECANCELED && w->own_deadline_passed;
    if (w->done && w->rc == w->status && (!timed_out || w->cancel_possible))
        return 0;
    if (w->done && w->rc == ETIMEDOUT && timed_out)
        return 0;
    if (!is_stop_code(w->rc))
        return broke(v, "%s: weft_job_wait returned %d, the job %d%s", w->what, w->rc, w->status,
                     w->done ? "" : " (not yet)");
    return oracle_check_stop(w->what, w->rc, w->ecanceled_possible, w->deadline_passed, v);
}

/* weft_cancel_reason is "0, ECANCELED or ETIMEDOUT"; the deadline cancels
 * "with reason ETIMEDOUT" when it passes. */
int oracle_check_cancel_state(const char *what, bool cancelled, int reason,
                              bool ecanceled_possible, bool deadline_passed,
                              struct oracle_verdict *v)
{
    if (reason != 0 && !is_stop_code(reason))
        return broke(v, "%s: weft_cancel_reason is %d", what, reason);
    if (cancelled && reason == 0)
        return broke(v, "%s: weft_cancelled is true but the reason is 0", what);
    if (reason == ETIMEDOUT && !deadline_passed)
        return broke(v, "%s: cancelled with ETIMEDOUT before its deadline", what);
    if (reason == ECANCELED && !ecanceled_possible)
        return broke(v, "%s: cancelled with ECANCELED, but nothing could cancel it", what);
    return 0;
}

/* weft_on_cancel "runs fn once when the task's scope is cancelled (at
 * once, on the caller's thread, if it already is)". */
int oracle_check_cancel_callback(const char *what, int calls, bool cancelled_at_registration,
                                 bool cancel_possible, struct oracle_verdict *v)
{
    if (calls > 1)
        return broke(v, "%s: a cancel callback ran %d times", what, calls);
    if (calls != 0 && !cancel_possible)
        return broke(v, "%s: a cancel callback ran in a scope nothing cancels", what);
    if (cancelled_at_registration && calls != 1)
        return broke(v, "%s: a cancel callback registered in a cancelled scope ran %d times",
                     what, calls);
    return 0;
}

/* ---- cancel scopes inside a task ---- */

/* "deadline min'd with the enclosing one unless WEFT_SHIELD" */
weft_time oracle_scope_deadline(weft_time own, bool shield, weft_time enclosing)
{
    return oracle_group_deadline(own, shield, enclosing);
}

/* weft_scope_exit(3): "ETIMEDOUT when its own deadline passed, ECANCELED
 * when weft_scope_cancel() was called on it, else 0. A scope cancelled only
 * because an enclosing one was exits with 0, and the task stays cancelled
 * until it leaves the scope that was." weft_scope_enter(3): "A deadline
 * already past cancels the scope at enter"; weft_scope_cancel(3): "the
 * task's weft_cancelled(3) turns true". */
int oracle_check_scope_exit(const struct oracle_scope_exit *s, struct oracle_verdict *v)
{
    bool enclosing = s->outer_possible && !s->shield;
    if (s->rc != 0 && !is_stop_code(s->rc))
        return broke(v, "%s: weft_scope_exit returned %d", s->what, s->rc);
    if (s->cancel_returned && !s->saw_cancel)
        return broke(v, "%s: a weft_scope_cancel of it returned, yet the task inside is not "
                        "cancelled", s->what);
    if (s->past_at_enter && !s->saw_cancel)
        return broke(v, "%s: its deadline was past at enter, yet the task inside is not "
                        "cancelled", s->what);
    if (oracle_check_cancel_state(s->what, s->saw_cancel, s->reason,
                                  s->cancel_possible || enclosing,
                                  s->own_deadline_passed || enclosing, v))
        return 1;
    if (s->rc == ECANCELED && !s->cancel_possible)
        return broke(v, "%s: exit said ECANCELED, but no weft_scope_cancel could reach it",
                     s->what);
    if (s->rc == ETIMEDOUT && !s->own_deadline_passed)
        return broke(v, "%s: exit said ETIMEDOUT before its own deadline", s->what);
    /* the first cancel of a life wins its word: exit names that one or,
     * when it came from an enclosing scope, none */
    if (s->saw_cancel && s->rc != 0 && s->rc != s->reason)
        return broke(v, "%s: cancelled with %d inside, yet exit said %d", s->what, s->reason,
                     s->rc);
    if (s->saw_cancel && s->rc == 0 && !enclosing)
        return broke(v, "%s: cancelled with %d%s, which only the scope itself could do, yet "
                        "exit said 0", s->what, s->reason, s->shield ? " (a shield)" : "");
    if (s->saw_cancel && s->rc == 0 && !s->cancelled_after)
        return broke(v, "%s: exit said 0 for an enclosing cancel, but after it the task is not "
                        "cancelled", s->what);
    if (s->cancelled_after && !s->outer_possible)
        return broke(v, "%s: the task is cancelled after exit, though nothing could cancel the "
                        "enclosing scope", s->what);
    return 0;
}

/* weft_group_join(3): "the cancel of an enclosing group or task deadline,
 * named (or "an enclosing scope" when it has no name), with its own
 * reason"; the reason of a weft_scope_cancel is "by weft_scope_cancel". */
int oracle_check_scope_cancel_record(const char *what, const char *message,
                                     const char *scope_name, struct oracle_verdict *v)
{
    char want[160];
    if (scope_name != NULL)
        snprintf(want, sizeof want, "cancelled: the enclosing '%s' was, by weft_scope_cancel",
                 scope_name);
    else
        snprintf(want, sizeof want, "cancelled: an enclosing scope was, by weft_scope_cancel");
    if (strcmp(message, want) != 0)
        return broke(v, "%s: the record of why it was cancelled says '%s', not '%s'", what,
                     message, want);
    return 0;
}

/* ---- calls that run a function several times ---- */

/* weft_retry_run: "total tries, >= 1"; "Never waits past the effective
 * deadline (returns ETIMEDOUT with the last failure as cause), stops at
 * cancellation". */
int oracle_check_retry(const struct oracle_retry *r, struct oracle_verdict *v)
{
    if (r->calls > r->attempts)
        return broke(v, "%s: %u tries of %u", r->what, r->calls, r->attempts);
    if (r->rc == 0) {
        if (r->calls != r->fails + 1)
            return broke(v, "%s: 0 after %u tries, %u failing", r->what, r->calls, r->fails);
        return 0;
    }
    if (r->rc == r->fail_code) {
        if (r->calls != r->attempts || r->fails < r->attempts)
            return broke(v, "%s: %d after %u of %u tries, %u failing", r->what, r->rc, r->calls,
                         r->attempts, r->fails);
        return 0;
    }
    if (!is_stop_code(r->rc))
        return broke(v, "%s returned %d", r->what, r->rc);
    return oracle_check_stop(r->what, r->rc, r->ecanceled_possible, r->etimedout_possible, v);
}

/* weft_parallel_for "splits [begin,end) into chunks of at least grain,
 * fail-fast": the earliest failure wins and stops the rest. */
int oracle_check_parallel_for(const struct oracle_parallel_for *p, struct oracle_verdict *v)
{
    bool all = true, fail_ran = false;
    for (size_t i = 0; i < p->n; i++) {
        unsigned h = atomic_load(&p->hits[i]);
        if (h > 1)
            return broke(v, "%s: index %zu visited %u times", p->what, i, h);
        all &= h == 1;
        fail_ran |= i == p->fail_at && h == 1;
    }
    if (p->fail_must_run && p->fail_at < p->n && !fail_ran)
        return broke(v, "%s: index %zu, whose chunk fails, never ran", p->what, p->fail_at);
    struct oracle_entry chunk = {.what = "the failing chunk",
                                 .listing = {fail_ran, fail_ran, p->fail_code, 0}};
    struct oracle_list chunks = {.what = p->what, .entry = &chunk, .n = 1};
    if (check_code(p->what, p->rc, &chunks, false, p->ecanceled_possible, p->etimedout_possible,
                   v))
        return 1;
    if (p->rc == 0 && !all)
        return broke(v, "%s returned 0, but an index was skipped", p->what);
    return 0;
}

/* ---- unhandled failures ---- */

/* "If it fails, its error goes to on_unhandled"; destroy "reports at
 * destroy every failed job nobody waited for nor released": once each. */
int oracle_check_reports(const struct oracle_reports *r, struct oracle_verdict *v)
{
    if (r->unknown != 0)
        return broke(v, "%s got %llu reports of no failure that was due", r->what,
                     (unsigned long long)r->unknown);
    if (r->repeated != 0)
        return broke(v, "%s got %llu failures again", r->what, (unsigned long long)r->repeated);
    if (r->seen > r->due || (r->final && r->seen != r->due))
        return broke(v, "%s got %llu reports; %llu failures were due%s", r->what,
                     (unsigned long long)r->seen, (unsigned long long)r->due,
                     r->final ? "" : " so far");
    if (r->final && r->summed && r->seen_sum != r->due_sum)
        return broke(v, "%s: the ids reported and those due differ (hash sums %llu, %llu): one "
                        "lost, another reported twice", r->what,
                     (unsigned long long)r->seen_sum, (unsigned long long)r->due_sum);
    return 0;
}
