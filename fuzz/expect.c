/*
 * What the contract promises about a program's results, checked from the
 * records the interpreter kept. Only what API.md and the header promise is
 * asserted; where timing decides between outcomes, every outcome the
 * contract allows is accepted:
 *   - a join returns the earliest failure's code (the first one listed) when
 *     a task failed, else 0, ECANCELED or ETIMEDOUT; ECANCELED only when a
 *     cancel or a fail-fast failure happened in the group or above it (up to
 *     a shield), ETIMEDOUT only once the group's effective deadline passed
 *     (or a task's own deadline turned its ECANCELED into ETIMEDOUT);
 *   - a cancelled group, or one whose own deadline was already past, never
 *     joins with 0;
 *   - every deliberate failure (codes that are neither ECANCELED nor
 *     ETIMEDOUT, so no cancel excuses them) is listed exactly once, with its
 *     code, task name and message; nothing else is, but an ETIMEDOUT of a
 *     task whose own deadline stopped it.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "tests/cancel_record.h"

void fz_violation(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("weft-fuzz: invariant violated: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static const int fail_codes[] = {EIO, EPERM, ENOENT, EBADF, EDOM, ERANGE, ENOSPC, EPIPE};
enum { N_FAIL_CODES = sizeof fail_codes / sizeof fail_codes[0] };

int fz_fail_code(uint8_t a)
{
    return fail_codes[a % N_FAIL_CODES];
}

bool fz_is_fail_code(int code)
{
    for (unsigned i = 0; i < N_FAIL_CODES; i++)
        if (fail_codes[i] == code)
            return true;
    return false;
}

weft_time fz_deadline_choice(uint8_t c)
{
    switch (c % 4) {
    case 1: return weft_now() - WEFT_USEC; /* already past */
    case 2: return weft_after(300 * WEFT_USEC);
    case 3: return weft_after(2 * WEFT_MSEC);
    default: return 0; /* none */
    }
}

weft_time fz_wait_choice(uint8_t c)
{
    switch (c % 4) {
    case 1: return weft_after(100 * WEFT_USEC);
    case 2: return weft_after(1 * WEFT_MSEC);
    case 3: return WEFT_NEVER; /* every task and job ends within milliseconds */
    default: return 0;         /* in the past: polls */
    }
}

bool fz_ecanceled_possible(const struct fz_group *g)
{
    for (; g != NULL; g = g->up) {
        if (atomic_load(&g->ecanceled_source))
            return true;
        if (g->flags & WEFT_SHIELD)
            break;
    }
    return false;
}

bool fz_cancel_returned(const struct fz_group *g)
{
    for (; g != NULL; g = g->up) {
        if (atomic_load(&g->cancel_returned))
            return true;
        if (g->flags & WEFT_SHIELD)
            break;
    }
    return false;
}

void fz_check_cancel_state(weft_task *self, const struct fz_group *scope, weft_time deadline)
{
    bool cancelled = weft_cancelled(self);
    int reason = weft_cancel_reason(self); /* read after: a cancel is sticky */
    FZ_CHECK(reason == 0 || reason == ECANCELED || reason == ETIMEDOUT,
             "weft_cancel_reason: %d", reason);
    FZ_CHECK(!cancelled || reason != 0, "weft_cancelled is true but the reason is 0");
    if (reason == ETIMEDOUT)
        FZ_CHECK(weft_now() >= deadline, "cancelled with ETIMEDOUT %lld ns before the deadline",
                 (long long)(deadline - weft_now()));
    if (reason == ECANCELED)
        FZ_CHECK(fz_ecanceled_possible(scope), "cancelled with ECANCELED, but nothing cancelled");
}

static const char *expected_name(const struct fz_task *t)
{
    return t->named ? t->name : "";
}

/* The kid a record stands for, or NULL. */
static struct fz_task *match_record(struct fz_group *g, const weft_error *e, bool *matched)
{
    int code = weft_error_code(e);
    const char *task = weft_error_task(e);
    for (unsigned i = 0; i < g->n_kids; i++) {
        struct fz_task *t = g->kids[i];
        if (matched[i] || strcmp(task, expected_name(t)) != 0)
            continue;
        /* two unnamed tasks may fail with one code, and records come in
         * completion order: the message names the task */
        char msg[32];
        snprintf(msg, sizeof msg, "fz-fail %u", t->id);
        bool deliberate = fz_is_fail_code(code) && code == t->rc &&
                          strcmp(weft_error_message(e), msg) == 0;
        bool own_timeout = code == ETIMEDOUT && t->timed && t->rc == ECANCELED;
        if (deliberate || own_timeout) {
            matched[i] = true;
            return t;
        }
    }
    return NULL;
}

static void check_tree(struct fz_group *g, int rc, const weft_errors *errs)
{
    bool matched[FZ_MAX_KIDS] = {false};
    size_t n = weft_errors_count(errs);
    FZ_CHECK(errs == NULL || n > 0, "an error tree with no failure (it should be NULL)");
    FZ_CHECK(rc == 0 || n > 0, "join returned %d and handed out no record", rc);
    if (weft_test_only_cancel_record(errs, rc)) { /* why it was cancelled: no task failed */
        for (unsigned i = 0; i < g->n_kids; i++)
            FZ_CHECK(!fz_is_fail_code(g->kids[i]->rc),
                     "task %u failed with %d but the join listed only why it was cancelled",
                     g->kids[i]->id, g->kids[i]->rc);
        return;
    }
    FZ_CHECK(weft_errors_lost(errs) == 0, "failures lost with memory to spare");
    if (n > 0)
        FZ_CHECK(rc == weft_error_code(weft_errors_at(errs, 0)),
                 "join returned %d but the earliest failure listed is %d", rc,
                 weft_error_code(weft_errors_at(errs, 0)));
    for (size_t i = 0; i < n; i++) {
        const weft_error *e = weft_errors_at(errs, i);
        struct fz_task *t = match_record(g, e, matched);
        FZ_CHECK(t != NULL, "error record %zu (%d, task \"%s\") matches no task that failed", i,
                 weft_error_code(e), weft_error_task(e));
        if (!fz_is_fail_code(weft_error_code(e)))
            continue;
        char msg[32];
        snprintf(msg, sizeof msg, "fz-fail %u", t->id);
        FZ_CHECK(strcmp(weft_error_message(e), msg) == 0, "task %u's message is \"%s\"", t->id,
                 weft_error_message(e));
        if (t->explicit_cause) {
            size_t listed = weft_errors_count(weft_error_cause(e));
            FZ_CHECK(listed == t->cause_count || (t->cause_at_least && listed > t->cause_count),
                     "task %u's cause lists %zu failures, not %s%zu", t->id, listed,
                     t->cause_at_least ? "at least " : "", t->cause_count);
        }
    }
    for (unsigned i = 0; i < g->n_kids; i++)
        FZ_CHECK(matched[i] || !fz_is_fail_code(g->kids[i]->rc),
                 "task %u failed with %d but is not in the error tree", g->kids[i]->id,
                 g->kids[i]->rc);
}

void fz_check_join(struct fz_group *g, int rc, const weft_errors *errs, bool took_errs)
{
    weft_time now = weft_now();
    unsigned n_fail = 0, n_own_timeout = 0;
    bool rc_is_a_failure = false;
    for (unsigned i = 0; i < g->n_kids; i++) {
        struct fz_task *t = g->kids[i];
        FZ_CHECK(atomic_load(&t->runs) == 1 && atomic_load(&t->done),
                 "join returned before task %u ended (runs %d)", t->id, atomic_load(&t->runs));
        FZ_CHECK(atomic_load(&t->cleanups) == (t->has_cleanup ? 1 : 0),
                 "join returned with task %u's cleanup run %d times", t->id,
                 atomic_load(&t->cleanups));
        if (fz_is_fail_code(t->rc)) {
            n_fail++;
            rc_is_a_failure |= rc == t->rc;
        }
        if (t->timed && t->rc == ECANCELED)
            n_own_timeout++;
    }
    if (n_fail > 0) {
        FZ_CHECK(rc_is_a_failure || (rc == ETIMEDOUT && n_own_timeout > 0),
                 "join returned %d, the code of no task that failed", rc);
    } else {
        FZ_CHECK(rc == 0 || rc == ECANCELED || rc == ETIMEDOUT, "join returned %d", rc);
        if (rc == ECANCELED)
            FZ_CHECK(fz_ecanceled_possible(g), "join returned ECANCELED, but nothing cancelled");
        if (rc == ETIMEDOUT)
            FZ_CHECK(now >= g->eff_deadline || n_own_timeout > 0,
                     "join returned ETIMEDOUT %lld ns before the group's deadline",
                     (long long)(g->eff_deadline - now));
    }
    if (g->cancelled_by_owner || g->outer_before_join || g->born_cancelled)
        FZ_CHECK(rc != 0, "a %s group joined with 0",
                 g->born_cancelled ? "past-deadline" : "cancelled");
    if (took_errs)
        check_tree(g, rc, errs);
}

void fz_check_input(const struct fz_input *in)
{
    for (unsigned i = 0; i < in->n_nodes; i++) {
        const struct fz_node *n = &in->nodes[i];
        if (n->op == OP_SPAWN) {
            const struct fz_task *t = &n->u.task;
            int runs = atomic_load(&t->runs), cleanups = atomic_load(&t->cleanups);
            if (t->spawned)
                FZ_CHECK(runs == 1 && cleanups == (t->has_cleanup ? 1 : 0),
                         "task %u: ran %d times, cleanup %d times", t->id, runs, cleanups);
            else
                FZ_CHECK(runs == 0, "task %u was never spawned but ran", t->id);
        } else if (n->op == OP_JOB && n->u.job.spawned) {
            const struct fz_job *j = &n->u.job;
            int runs = atomic_load(&j->runs), cleanups = atomic_load(&j->cleanups);
            FZ_CHECK(runs == 1 && cleanups == 1, "job %u: ran %d times, cleanup %d times", j->id,
                     runs, cleanups);
        }
    }
}
