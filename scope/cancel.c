/*
 * Cancellation: one word per scope, read in O(1), pushed down the tree.
 *
 * What is guaranteed. weft_cancelled(self) is two loads (the task's scope,
 * the scope's cancel word), at any depth. Cancelling a scope (a group's, a
 * task's own, an entered one) cancels every live scope below it (except
 * shielded ones and what is below them), and every scope begun below it
 * afterwards; a task sees its scope's word, so a task that starts after
 * weft_group_cancel returned sees the flag.
 *
 * How. A scope (scope.h; its memory in a thread's chunks: group_pool.c,
 * scope_pool.c) carries `cancel` = gen << 32 | reason and a link to its
 * parent (with the parent's gen). Children are not listed anywhere: keeping
 * a list would cost every group init a shared atomic RMW (measured:
 * bench/RESULTS.md, "child lists vs scans"). Instead a canceller
 *   1. CASes the word from (gen, 0) to (gen, reason): one winner per life;
 *   2. issues a barrier on every running thread (membarrier:
 *      weft__full_barrier_everywhere, park.c);
 *   3. if any scope began under that life (children_gen == gen), scans
 *      every thread's chunks of scopes (type-stable memory, so reading a
 *      recycled one is safe) and cancels each live scope with a cancelled
 *      ancestor; passes repeat, with a barrier between, until one changes
 *      nothing.
 * A scope's begin (weft__scope_begin), on its side, publishes its word (and
 * stores the parent's gen into the parent's children_gen, every begin, even
 * when an earlier child of that life did: the canceller must read this init's own store,
 * which needs no multi-copy atomicity) and only then reads its parent's
 * word, with a compiler barrier between (weft__cancel_init_barrier). That
 * is an asymmetric Dekker pair with step 2: either the begin sees the parent
 * cancelled and inherits it, or the scan after the barrier sees the new
 * live scope. A state that a pass itself cancels is covered by the next
 * pass, after the next barrier. children_gen is never reset: a value left
 * by an earlier life can only equal a later gen after 2^32 lives, and then
 * costs a needless scan, never a missed one; a canceller whose life ended
 * meanwhile may skip the scan, and rightly: that life's tasks ended
 * every scope below it before it ended.
 *
 * Walk-ups are memoised per pass (scan_epoch), so a pass costs O(states)
 * even under a 10^4-deep chain. A state's fields are read seqlock-style: its
 * word before and after (weft__scope_release_word stores DEAD; the next life
 * stores its links, `parent` and `up` = parent's gen and flags, with
 * release, read here with acquire), so a torn view of
 * a state being recycled is never acted on; a CAS on the word against the gen
 * read at the start makes a late write to a new life impossible.
 *
 * Why a pass that changes nothing leaves no live state below a cancelled
 * group clear. A walk up stops with "no cancelled ancestor" only at a
 * shield, at the top, at a state this pass already judged so, or where a
 * read fails; read_link fails only for a life that ended (DEAD, or a later
 * gen). A scope's tasks end the scopes they begin (join their groups, exit
 * their entered scopes) before its life ends, so
 * every state the walk came up through has ended as well, and the walk
 * down, which re-reads each word from the bottom, marks none of them. A
 * word that changed within its life, a cancel setting its reason between
 * read_link's two loads, is read again, and the walk stops there with that
 * reason. Taken as a failed read (issue 17, hole 2), it let a pass mark a
 * live state below settled-not-cancelled and change nothing: with A -> B
 * -> X, the scan of weft_group_cancel(A) read B just as a fail-fast in B
 * cancelled it and returned with X live and clear, while the fail-fast's
 * own push-down waited in B's callbacks or for cancel_lock; a task starting
 * in X missed the flag. The window is two loads wide: tests/scope/test_cancel.c
 * holds the read in it through read_link's race point (race_point.h).
 *
 * Cancels are rare and may take microseconds (a membarrier, a scan); the
 * paths that pay nothing are spawn, run and join.
 */
#include "config.h"

#include <errno.h>

#include <weft/weft.h>

#include "scope/scope.h"
#include "base/race_point.h"

static struct weft__race_point link_race; /* in read_link: tests widen its window */

void weft__cancel_race_arm(void (*fn)(void *arg, const void *state), void *arg)
{
    weft__race_arm(&link_race, fn, arg);
}

/* A consistent view of a live state's upward link. */
struct link {
    uint64_t word; /* the state's word */
    struct weft__scope *parent;
    uint32_t parent_gen;
    bool shielded;
};

/* The links of g, whose word w was live when read_link loaded it. */
static bool read_live_link(struct weft__scope *g, struct link *l, uint64_t w)
{
    for (;;) {
        l->word = w;
        /* acquire: a link stored by a later life brings its DEAD word along */
        l->parent = atomic_load_explicit(&g->parent, memory_order_acquire);
        uint64_t up = atomic_load_explicit(&g->up, memory_order_acquire);
        l->parent_gen = weft__scope_parent_gen(up);
        l->shielded = ((up >> 32) & WEFT_SHIELD) != 0;
        weft__race_pass(&link_race, g);
        /* acquire: the next try's first load */
        w = atomic_load_explicit(&g->cancel, memory_order_acquire);
        if (w == l->word)
            return true;
        if (weft__cancel_gen(w) != weft__cancel_gen(l->word) ||
            weft__cancel_reason_of(w) == WEFT__GROUP_DEAD)
            return false;
        /* same life, a cancel set the reason since the first load: once
         * more (a life's reason is set once, so at most two tries) */
    }
}

/* False only when g's life ended (pooled, or a later life began) before or
 * during the read. A word that a cancel changed meanwhile is read again. */
static inline bool read_link(struct weft__scope *g, struct link *l)
{
    /* acquire: the links this life stored before its word */
    uint64_t w = atomic_load_explicit(&g->cancel, memory_order_acquire);
    /* pooled, as most states a scan reads are: out at once, with no frame */
    return weft__cancel_reason_of(w) != WEFT__GROUP_DEAD && read_live_link(g, l, w);
}

/* The live parent behind l, or NULL (none, shielded, or the link is stale). */
static struct weft__scope *parent_of(const struct link *l)
{
    if (l->parent == NULL || l->shielded)
        return NULL;
    uint64_t pw = atomic_load_explicit(&l->parent->cancel, memory_order_acquire);
    return weft__cancel_gen(pw) == l->parent_gen ? l->parent : NULL;
}

/*
 * Decide g: walk up to the first ancestor that is cancelled (then cancel the
 * path below it) or known not to be (then mark the path). True if it
 * cancelled anything.
 */
static bool settle(struct weft__scopes *scopes, struct weft__scope *g)
{
    uint64_t epoch = scopes->scan_epoch;
    struct link l;
    uint32_t reason = 0;
    for (struct weft__scope *x = g;;) {
        if (x->scan_epoch == epoch || !read_link(x, &l))
            break;
        if ((reason = weft__cancel_reason_of(l.word)) != 0)
            break;
        x->scan_word = l.word;
        if ((x = parent_of(&l)) == NULL)
            break;
    }
    /* The same path again, from g up to what was seen, so g is cancelled
     * before its parent (a task leaving a scope in between lands in the
     * clear parent: weft_scope_exit makes the cancel reach it itself): a
     * state whose word changed since (its life ended, a new one began,
     * maybe under another parent or shielded) is not the one the walk up
     * judged, and must not get that walk's reason. Same word, same life,
     * same links. */
    bool changed = false;
    for (struct weft__scope *x = g; x != NULL;) {
        if (x->scan_epoch == epoch || !read_link(x, &l) ||
            weft__cancel_reason_of(l.word) != 0 || l.word != x->scan_word)
            break;
        if (reason != 0) {
            uint64_t expect = l.word;
            if (atomic_compare_exchange_strong_explicit(&x->cancel, &expect, l.word | reason,
                                                        memory_order_seq_cst,
                                                        memory_order_relaxed)) {
                weft__cancel_note(x, weft__cancel_gen(l.word), WEFT__BY_ANCESTOR);
                changed = true;
            }
        } else {
            x->scan_epoch = epoch;
        }
        x = parent_of(&l);
    }
    return changed;
}

static bool scan_pass(struct weft__scopes *scopes)
{
    bool changed = false;
    scopes->scan_epoch++;
    unsigned n = weft__nthreads(&scopes->sched);
    for (unsigned i = 0; i < n; i++) {
        struct weft__scope_iter it = {weft__scope_chunks_first(&scopes->sched.threads[i]), 0};
        for (struct weft__scope *x; (x = weft__scope_iter_next(&it)) != NULL;)
            changed |= settle(scopes, x);
    }
    return changed;
}

/* After a scan cancelled states: run their callbacks, outside every lock
 * (a callback may cancel or register). Popping under cb_lock makes a state
 * drained by two cancellers at once run each callback once. */
static void run_callbacks_below(struct weft__scopes *scopes)
{
    /* a registrar that found its state's word clear under cb_lock, before
     * the scan set it, pushes its callback before unlocking: wait that
     * out, or the NULL test below would skip a callback nobody then runs */
    pthread_mutex_lock(&scopes->cb_lock);
    pthread_mutex_unlock(&scopes->cb_lock);
    unsigned n = weft__nthreads(&scopes->sched);
    for (unsigned i = 0; i < n; i++) {
        struct weft__scope_iter it = {weft__scope_chunks_first(&scopes->sched.threads[i]), 0};
        for (struct weft__scope *x; (x = weft__scope_iter_next(&it)) != NULL;) {
            uint64_t w = atomic_load_explicit(&x->cancel, memory_order_acquire);
            uint32_t r = weft__cancel_reason_of(w);
            if (r != 0 && r != WEFT__GROUP_DEAD &&
                atomic_load_explicit(&x->callbacks, memory_order_relaxed) != NULL)
                weft__cancel_cb_run_all(scopes, x, weft__cancel_gen(w)); /* that life's only */
        }
    }
}

/* The trace's cancel instant: g's name only when it cannot change under us
 * (see weft__cancel_by). */
static void trace_cancel(struct weft__scopes *scopes, struct weft__scope *g, int reason,
                         enum weft__cancel_by by)
{
    struct weft__thread *thr = weft__self_thread;
    bool inside = thr != NULL && (thr == g->home ||
                                  (thr->current != NULL && thr->current->scope == g));
    bool outside_call = by == WEFT__BY_CALL || by == WEFT__BY_SCOPE_CALL;
    const char *name = !outside_call || inside ? g->name : NULL;
    weft__trace_emit(scopes->sched.trace_log, WEFT__TR_CANCEL, name, weft_now(), -1, reason, (int)by);
}

/* Steps 2 and 3 for g's life gen, whose word is cancelled. */
static void push_down(struct weft__scopes *scopes, struct weft__scope *g, uint32_t gen)
{
    weft__full_barrier_everywhere(&scopes->sched);
    if (atomic_load_explicit(&g->children_gen, memory_order_relaxed) != gen)
        return; /* nothing below this life, nor anything being initialised there */
    pthread_mutex_lock(&scopes->cancel_lock);
    /* a thread added meanwhile begins its scopes after the scan, and reads
     * the cancelled words (see weft__sched's grow_lock) */
    pthread_mutex_lock(&scopes->sched.grow_lock);
    bool any = false;
    while (scan_pass(scopes)) {
        any = true;
        weft__full_barrier_everywhere(&scopes->sched);
    }
    pthread_mutex_unlock(&scopes->sched.grow_lock);
    pthread_mutex_unlock(&scopes->cancel_lock);
    if (any)
        run_callbacks_below(scopes);
}

bool weft__cancel(struct weft__scope *g, uint32_t gen, int reason, enum weft__cancel_by by)
{
    uint64_t expect = (uint64_t)gen << 32;
    struct weft__scopes *scopes = g->scopes;
    if (!atomic_compare_exchange_strong_explicit(&g->cancel, &expect, expect | (uint32_t)reason,
                                                 memory_order_seq_cst, memory_order_relaxed)) {
        /* Another cancel of this life won and may still be pushing it down
         * (in a callback, or preempted before its scan). A caller of
         * weft_group_cancel is promised that tasks starting after it
         * returns see the flag, so it pushes down too: the word it read
         * set, then its own barrier and scan, is the Dekker pair above.
         * weft_scope_cancel promises the same of groups begun below.
         * Failures and deadlines promise nothing of the kind: they skip it. */
        uint32_t r = weft__cancel_reason_of(expect);
        /* acquire: pairs with the winner's release once its push-down is done */
        if ((by == WEFT__BY_CALL || by == WEFT__BY_SCOPE_CALL) &&
            weft__cancel_gen(expect) == gen && r != 0 &&
            r != WEFT__GROUP_DEAD &&
            atomic_load_explicit(&g->pushed_gen, memory_order_acquire) != gen)
            push_down(scopes, g, gen);
        return false;
    }
    weft__cancel_note(g, gen, by);
    if (scopes->sched.trace_log != NULL)
        trace_cancel(scopes, g, reason, by);
    weft__cancel_cb_run_all(scopes, g, gen);
    push_down(scopes, g, gen);
    /* release: a losing cancel that reads this may return at once, as this
     * one does now (never reset: a stale equal gen needs 2^32 lives) */
    atomic_store_explicit(&g->pushed_gen, gen, memory_order_release);
    return true;
}

/* The cancel of owner, an ancestor of s, reaches s now, with `reason`,
 * noted as the ancestor's: another canceller of owner may still be on its
 * way down, and s's task may move up (weft_scope_exit) at once, so it must
 * land in a cancelled scope. The topmost scope of the path still clear is
 * enough: a cancel that wins its word reaches every scope below it before
 * it returns; one that loses to another canceller does not wait for that
 * one's push-down, so look again until the path is cancelled (its scopes'
 * lives cannot end meanwhile: s's task runs in them). */
static void cancel_path(struct weft__scope *s, struct weft__scope *owner, int reason)
{
    for (;;) {
        struct weft__scope *top = NULL;
        uint64_t top_word = 0;
        for (struct weft__scope *x = s; x != NULL && x != owner; x = weft__scope_enclosing(x, NULL)) {
            uint64_t w = atomic_load_explicit(&x->cancel, memory_order_relaxed);
            if (weft__cancel_reason_of(w) == 0) {
                top = x;
                top_word = w;
            }
        }
        if (top == NULL)
            return;
        weft__cancel(top, weft__cancel_gen(top_word), reason, WEFT__BY_ANCESTOR);
    }
}

void weft__cancel_at_deadline(weft_task *self)
{
    struct weft__scope *g = self->scope;
    weft_time d = g->deadline;
    if (d == WEFT_NEVER || weft_now() < d)
        return;
    /* Cancel the scope whose own deadline it is, as its timer would: the
     * cancel reaches self's group from there, and the join records name
     * that scope (cancel_cause.c). Its ancestors are live: self runs below
     * them. */
    for (struct weft__scope *p; (p = weft__scope_enclosing(g, NULL)) != NULL && p->deadline == d;)
        g = p;
    struct weft__scope *owner = g;
    uint64_t ow = atomic_load_explicit(&owner->cancel, memory_order_relaxed);
    if (weft__cancel_reason_of(ow) == 0)
        weft__cancel(owner, weft__cancel_gen(ow), ETIMEDOUT, WEFT__BY_DEADLINE);
    /* another cancel of the owner (its timer's) may still be on its way
     * down: do its part for the path to self's scope */
    if (owner != self->scope)
        cancel_path(self->scope, owner, ETIMEDOUT);
}

void weft__cancel_inherit(struct weft__scope *s)
{
    struct weft__scope *x = s;
    uint64_t w = atomic_load_explicit(&x->cancel, memory_order_acquire);
    while (weft__cancel_reason_of(w) == 0) {
        if ((x = weft__scope_enclosing(x, &w)) == NULL)
            return; /* nothing above s is cancelled */
    }
    if (x != s)
        cancel_path(s, x, (int)weft__cancel_reason_of(w));
}

bool weft_cancelled(const weft_task *self)
{
    return self != NULL &&
           weft__cancel_reason_of(atomic_load_explicit(&self->scope->cancel,
                                                       memory_order_relaxed)) != 0;
}

int weft_cancel_reason(const weft_task *self)
{
    if (self == NULL)
        return 0;
    return (int)weft__cancel_reason_of(
        atomic_load_explicit(&self->scope->cancel, memory_order_relaxed));
}

weft_time weft_deadline(const weft_task *self)
{
    return self != NULL ? self->scope->deadline : WEFT_NEVER;
}
