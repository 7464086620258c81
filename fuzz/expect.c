/*
 * The fuzzer's checks: what the interpreter recorded, described to the
 * oracle of the contract (tests/oracle/contract.h), which states the rules
 * the random trees and the soak hold their runs against too. Where timing
 * decides between outcomes the description says what was possible, so
 * every outcome the contract allows is accepted:
 *   - a cancel was possible once OP_CANCEL, OP_CANCEL_SCOPE, OP_OUTER_CANCEL,
 *     OP_SCOPE_CANCEL or a failure in a fail-fast group flagged the group
 *     or entered scope (before it could happen), here or above up to a
 *     shield;
 *   - a deadline passed when the clock, read after the call, says so;
 *   - a task that returned ECANCELED saw its flag (OP_CHECK_CANCEL);
 *     any group might have been cancelled by then, so only deliberate
 *     failures (codes that are never ECANCELED/ETIMEDOUT) must be listed.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "tests/oracle/contract.h"

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

void fz_verdict(int broken, const struct oracle_verdict *v)
{
    if (broken)
        fz_violation("%s", v->why);
}

/* g and the groups and entered scopes above it, each with whether `event`
 * flagged it (a scope's storage that another task may cancel: any life). */
static size_t chain_of(const struct fz_group *g, bool cancel_returned, struct oracle_scope *chain)
{
    size_t k = 0;
    for (; g != NULL; g = g->up) {
        FZ_CHECK(k < FZ_MAX_CHAIN, "a chain of more than %d groups and scopes", FZ_MAX_CHAIN);
        bool source = atomic_load(&g->ecanceled_source) ||
                      (g->foreign_source != NULL && atomic_load(g->foreign_source));
        chain[k++] = (struct oracle_scope){
            cancel_returned ? atomic_load(&g->cancel_returned) : source,
            (g->flags & WEFT_SHIELD) != 0};
    }
    return k;
}

bool fz_ecanceled_possible(const struct fz_group *g)
{
    struct oracle_scope chain[FZ_MAX_CHAIN];
    return oracle_reaches(chain, chain_of(g, false, chain));
}

bool fz_cancel_returned(const struct fz_group *g)
{
    struct oracle_scope chain[FZ_MAX_CHAIN];
    return oracle_reaches(chain, chain_of(g, true, chain));
}

void fz_check_cancel_state(weft_task *self, const struct fz_group *scope, weft_time deadline)
{
    bool cancelled = weft_cancelled(self);
    int reason = weft_cancel_reason(self); /* read after: a cancel is sticky */
    struct oracle_verdict v;
    fz_verdict(oracle_check_cancel_state("a task", cancelled, reason, fz_ecanceled_possible(scope),
                                         weft_now() >= deadline, &v),
               &v);
}

static const char *expected_name(const struct fz_task *t)
{
    return t->named ? t->name : "";
}

/* What kid t returned, and how its record must look. */
struct kid_record {
    char what[16], message[32];
};

static void describe_kid(const struct fz_task *t, struct kid_record *k, struct oracle_entry *e)
{
    snprintf(k->what, sizeof k->what, "task %u", t->id);
    snprintf(k->message, sizeof k->message, "fz-fail %u", t->id);
    /* its ECANCELED means it saw its flag (OP_CHECK_CANCEL); its group may
     * have been cancelled by then whatever the program did; when it saw the
     * flag of a scope it entered, its group's tells nothing */
    struct oracle_return ret = {.rc = t->rc,
                                .saw_cancel = t->rc == ECANCELED && !t->stopped_in_scope,
                                .cancel_possible = true,
                                .own_deadline = t->timed};
    bool deliberate = fz_is_fail_code(t->rc);
    *e = (struct oracle_entry){
        .what = k->what,
        .listing = oracle_listing_of(&ret),
        /* two unnamed tasks may fail with one code, and records come in
         * completion order: the message names the task */
        .message = deliberate ? k->message : NULL,
        .name = expected_name(t),
    };
    if (deliberate && t->explicit_cause) {
        e->cause = t->cause_at_least ? ORACLE_CAUSE_AT_LEAST : ORACLE_CAUSE_COUNT;
        e->cause_count = t->cause_count;
    }
}

void fz_check_join(struct fz_group *g, int rc, const weft_errors *errs, bool took_errs)
{
    weft_time now = weft_now();
    struct oracle_verdict v;
    struct kid_record names[FZ_MAX_KIDS];
    struct oracle_entry kids[FZ_MAX_KIDS];
    for (unsigned i = 0; i < g->n_kids; i++) {
        struct fz_task *t = g->kids[i];
        describe_kid(t, &names[i], &kids[i]);
        struct oracle_runs runs = {.what = names[i].what,
                                   .spawned = 1,
                                   .runs = atomic_load(&t->runs),
                                   .returns = atomic_load(&t->done),
                                   .cleanups = atomic_load(&t->cleanups),
                                   .cleanups_due = t->has_cleanup,
                                   .cleanups_early = -1}; /* cleanup_fn checks */
        fz_verdict(oracle_check_runs(&runs, &v), &v);
    }
    struct oracle_list list = {.what = "the join's list", .entry = kids, .n = g->n_kids};
    struct oracle_join j = {
        .what = "a join",
        .rc = rc,
        .tasks = &list,
        .cancelled = g->cancelled_by_owner || g->outer_before_join || g->born_cancelled ||
                     g->cancel_known_before_join,
        .ecanceled_possible = fz_ecanceled_possible(g),
        .etimedout_possible = now >= g->eff_deadline,
        .took = took_errs,
        .errs_kept = true,
        .errs = errs,
    };
    fz_verdict(oracle_check_join(&j, &v), &v);
}

void fz_check_input(const struct fz_input *in)
{
    struct oracle_verdict v;
    for (unsigned i = 0; i < in->n_nodes; i++) {
        const struct fz_node *n = &in->nodes[i];
        char what[24];
        if (n->op == OP_SPAWN) {
            const struct fz_task *t = &n->u.task;
            snprintf(what, sizeof what, "task %u", t->id);
            struct oracle_runs runs = {.what = what,
                                       .spawned = t->spawned,
                                       .runs = atomic_load(&t->runs),
                                       .returns = -1,
                                       .cleanups = atomic_load(&t->cleanups),
                                       .cleanups_due = t->spawned && t->has_cleanup,
                                       .cleanups_early = -1};
            fz_verdict(oracle_check_runs(&runs, &v), &v);
        } else if (n->op == OP_JOB && n->u.job.spawned) {
            const struct fz_job *j = &n->u.job;
            snprintf(what, sizeof what, "job %u", j->id);
            struct oracle_runs runs = {.what = what,
                                       .spawned = 1,
                                       .runs = atomic_load(&j->runs),
                                       .returns = -1,
                                       .cleanups = atomic_load(&j->cleanups),
                                       .cleanups_due = 1,
                                       .cleanups_early = -1};
            fz_verdict(oracle_check_runs(&runs, &v), &v);
        }
    }
}
