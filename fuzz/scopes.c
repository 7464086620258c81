/*
 * Cancel scopes inside a task: the SCOPE_ENTER, SCOPE_EXIT and SCOPE_CANCEL
 * commands (weft_scope_enter / _exit / _cancel). A task keeps the scopes it
 * entered, innermost last, in its frame; while entered, each is a link of
 * the chains expect.c walks (a struct fz_group with no handle), so the
 * groups begun inside it, the timed waits and the flag reads all see it,
 * and its exit is held against the oracle (oracle_check_scope_exit). A
 * task may also cancel the innermost scope of the task that spawned it
 * (whatever life that storage is in by then: from any thread, a cancel of
 * an exited scope does nothing), and leave its scopes entered at its end
 * (it then fails with EINVAL unless it failed already).
 *
 * Misuse must be refused with EINVAL, or do nothing, and leave the task's
 * scopes as they were: enter with NULLs or a flag other than WEFT_SHIELD
 * (and from a blocking job: jobs.c), exit out of order, of a copy, of
 * storage never entered (zero-filled or not), of a scope exited already,
 * with NULLs, and while a group begun inside is open; cancel after exit,
 * of zero-filled storage, of NULL.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <weft/weft.h>

#include "fuzz/fuzz.h"

#define REFUSED(call)                                                                       \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        FZ_CHECK(rc_ == EINVAL, "%s: %d, not EINVAL", #call, rc_);                          \
    } while (0)

static struct fz_scope *innermost(struct fz_frame *f)
{
    return f->n_scopes > 0 ? &f->scopes[f->n_scopes - 1] : NULL;
}

/* After a refused call: the task is where the frame says, its deadline
 * the frame's, its flag up only if something could raise it. */
static void check_unchanged(struct fz_frame *f, const char *what)
{
    struct oracle_verdict v;
    fz_verdict(oracle_check_deadline(what, weft_deadline(f->self), f->deadline, &v), &v);
    fz_check_cancel_state(f->self, f->scope, f->deadline);
}

/* Storage that was never entered: zero-filled, or not. */
static void never_entered(weft_scope *s, bool zero)
{
    memset(s, zero ? 0 : 0xa5, sizeof *s);
}

static void enter_misuse(struct fz_frame *f, unsigned which)
{
    weft_scope s;
    never_entered(&s, true);
    weft_scope_opts collect = {.flags = WEFT_COLLECT}, unknown = {.flags = 1u << 7};
    switch (which) {
    case 0:
        REFUSED(weft_scope_enter(NULL, &s, NULL));
        break;
    case 1:
        REFUSED(weft_scope_enter(f->self, NULL, NULL));
        break;
    default:
        REFUSED(weft_scope_enter(f->self, &s, &collect));
        REFUSED(weft_scope_enter(f->self, &s, &unknown));
        break;
    }
    check_unchanged(f, "a refused weft_scope_enter");
}

void fz_op_scope_enter(struct fz_frame *f, const struct fz_node *n)
{
    unsigned which = n->b % 8u;
    if (which >= 5) {
        enter_misuse(f, which - 5);
        return;
    }
    if (f->n_scopes == FZ_MAX_SCOPES)
        return;
    struct fz_scope *sc = &f->scopes[f->n_scopes];
    unsigned flags = (n->a & 1) ? (unsigned)WEFT_SHIELD : 0u;
    bool named = (n->a & 2) != 0;
    weft_time before = weft_now();
    weft_time d = fz_deadline_choice((uint8_t)(n->a >> 2));
    weft_scope_opts o = {.flags = flags, .deadline = d, .name = named ? "fz-scope" : NULL};
    bool no_opts = (n->a & 0x40) && flags == 0 && d == 0 && !named;
    /* nothing reads the link now: the groups begun in its last life were
     * joined before that life's exit */
    memset(&sc->m, 0, sizeof sc->m);
    sc->m.flags = flags;
    sc->m.own_deadline = d == 0 ? WEFT_NEVER : d;
    sc->m.eff_deadline = oracle_scope_deadline(d, flags != 0, f->deadline);
    sc->m.born_cancelled = sc->m.own_deadline <= before;
    /* a deadline already past cancels it at enter, before any task can
     * begin below it */
    atomic_store(&sc->m.cancel_returned, sc->m.born_cancelled);
    sc->m.up = f->scope;
    sc->m.foreign_source = &sc->foreign;
    sc->outer = f->scope;
    sc->outer_deadline = f->deadline;
    sc->own_deadline = sc->m.own_deadline;
    sc->cancel_called = false;
    int rc = weft_scope_enter(f->self, &sc->s, no_opts ? NULL : &o);
    FZ_CHECK(rc == 0, "weft_scope_enter: %d", rc);
    sc->entered_once = true;
    f->scope = &sc->m;
    f->deadline = sc->m.eff_deadline;
    f->n_scopes++;
    if ((n->b & 0x18) == 0x18)
        f->leave_scopes = true;
    struct oracle_verdict v;
    fz_verdict(oracle_check_deadline("weft_scope_enter", weft_deadline(f->self), f->deadline, &v),
               &v);
    FZ_CHECK(!sc->m.born_cancelled || weft_cancelled(f->self),
             "a scope entered with its deadline past is not cancelled");
    fz_check_cancel_state(f->self, f->scope, f->deadline);
}

/* A group the task began inside its scope number `level` (1: the
 * outermost), or deeper, is still open. */
static bool group_begun_inside(const struct fz_frame *f, unsigned level)
{
    for (unsigned k = 0; k < f->n_open; k++)
        if (f->open[k].scope_level >= level)
            return true;
    return false;
}

/* Exits the innermost scope as a program should: refused while a group
 * begun inside is open, else with what the oracle allows. */
static void exit_innermost(struct fz_frame *f)
{
    struct fz_scope *sc = innermost(f);
    if (sc == NULL)
        return;
    bool refused = group_begun_inside(f, f->n_scopes);
    if (!refused && f->cb_on && f->cb_level >= f->n_scopes)
        fz_op_on_cancel_remove(f); /* registered inside: removed before its scope ends */
    bool saw = weft_cancelled(f->self);
    int reason = weft_cancel_reason(f->self); /* after: the flag is sticky */
    int rc = weft_scope_exit(f->self, &sc->s);
    weft_time now = weft_now();
    bool after = weft_cancelled(f->self);
    if (refused) {
        FZ_CHECK(rc == EINVAL, "weft_scope_exit with a group begun inside open: %d, not EINVAL",
                 rc);
        check_unchanged(f, "a refused weft_scope_exit");
        return;
    }
    f->scope = sc->outer;
    f->deadline = sc->outer_deadline;
    f->n_scopes--;
    struct oracle_scope_exit e = {
        .what = "weft_scope_exit",
        .rc = rc,
        .shield = (sc->m.flags & WEFT_SHIELD) != 0,
        .outer_possible = fz_ecanceled_possible(sc->outer) || now >= sc->outer_deadline,
        .cancel_possible = atomic_load(&sc->m.ecanceled_source) || atomic_load(&sc->foreign),
        .cancel_returned = sc->cancel_called,
        .past_at_enter = sc->m.born_cancelled,
        .own_deadline_passed = sc->own_deadline != WEFT_NEVER && now >= sc->own_deadline,
        .saw_cancel = saw,
        .reason = reason,
        .cancelled_after = after,
    };
    struct oracle_verdict v;
    fz_verdict(oracle_check_scope_exit(&e, &v), &v);
    fz_verdict(oracle_check_deadline("after weft_scope_exit", weft_deadline(f->self), f->deadline,
                                     &v),
               &v);
}

static void exit_misuse(struct fz_frame *f, unsigned which)
{
    struct fz_scope *sc = innermost(f);
    weft_scope other;
    never_entered(&other, true);
    switch (which) {
    case 0: /* out of order: an outer one while an inner one is entered */
        if (f->n_scopes >= 2)
            REFUSED(weft_scope_exit(f->self, &f->scopes[f->n_scopes - 2].s));
        else
            REFUSED(weft_scope_exit(f->self, &other));
        break;
    case 1: /* a copy of the innermost, or storage never entered and not zero */
        if (sc != NULL)
            other = sc->s;
        else
            never_entered(&other, false);
        REFUSED(weft_scope_exit(f->self, &other));
        break;
    case 2: /* exited already, or never entered */
        if (f->n_scopes < FZ_MAX_SCOPES && f->scopes[f->n_scopes].entered_once)
            REFUSED(weft_scope_exit(f->self, &f->scopes[f->n_scopes].s));
        else
            REFUSED(weft_scope_exit(f->self, &other));
        break;
    default:
        REFUSED(weft_scope_exit(NULL, sc != NULL ? &sc->s : &other));
        REFUSED(weft_scope_exit(f->self, NULL));
        break;
    }
    check_unchanged(f, "a refused weft_scope_exit");
}

void fz_op_scope_exit(struct fz_frame *f, const struct fz_node *n)
{
    unsigned which = n->a % 8u;
    if (which < 4)
        exit_innermost(f);
    else
        exit_misuse(f, which - 4);
}

/* The owner cancels the k-th scope it entered: once that returns, the
 * task's flag is up, unless a shield entered since holds it off. */
static void cancel_own(struct fz_frame *f, unsigned k)
{
    struct fz_scope *sc = &f->scopes[k];
    atomic_store(&sc->m.ecanceled_source, true); /* before the cancel */
    weft_scope_cancel(&sc->s);
    atomic_store(&sc->m.cancel_returned, true);
    sc->cancel_called = true;
    bool reaches = true;
    for (unsigned i = k + 1; i < f->n_scopes; i++)
        reaches &= (f->scopes[i].m.flags & WEFT_SHIELD) == 0;
    FZ_CHECK(!reaches || weft_cancelled(f->self),
             "weft_scope_cancel of scope %u of %u returned, the task is not cancelled", k + 1,
             f->n_scopes);
    fz_check_cancel_state(f->self, f->scope, f->deadline);
}

void fz_op_scope_cancel(struct fz_frame *f, const struct fz_node *n)
{
    weft_scope other;
    never_entered(&other, true);
    switch (n->a % 8u) {
    case 3: /* the spawner's innermost scope, as it is now: any life, or exited */
        if (f->me != NULL && f->me->spawner_scope != NULL) {
            atomic_store(&f->me->spawner_scope->foreign, true); /* before the cancel */
            weft_scope_cancel(&f->me->spawner_scope->s);
        }
        break;
    case 4: /* one exited: no effect */
        if (f->n_scopes < FZ_MAX_SCOPES && f->scopes[f->n_scopes].entered_once)
            weft_scope_cancel(&f->scopes[f->n_scopes].s);
        check_unchanged(f, "weft_scope_cancel after exit");
        break;
    case 5: /* NULL, storage never entered: no effect */
        weft_scope_cancel(NULL);
        weft_scope_cancel(&other);
        check_unchanged(f, "weft_scope_cancel of nothing");
        break;
    default: /* the innermost; 6: the outermost of several, and those inside it
              * up to a shield */
        if (f->n_scopes > 0)
            cancel_own(f, n->a % 8u == 6 ? 0 : f->n_scopes - 1);
        break;
    }
}

bool fz_scopes_finish(struct fz_frame *f)
{
    if (f->leave_scopes && f->n_scopes > 0)
        return true;
    while (f->n_scopes > 0)
        exit_innermost(f); /* never refused: every group is joined */
    return false;
}
