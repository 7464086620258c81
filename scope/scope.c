/*
 * Cancel scopes inside a task: weft_scope_enter / _exit / _cancel, after
 * Trio's CancelScope and asyncio's `async with timeout()`.
 *
 * A scope is one of the running thread's pool (scope_pool.c), begun under
 * the task's current scope and flagged WEFT__SCOPE_ENTERED. Entering points
 * the task at it;
 * everything that reads the task's scope (weft_cancelled, deadlines, timed
 * waits, callbacks, groups and jobs begun meanwhile) then sees it, and
 * cancel.c's propagation reaches it like any state below a cancelled one.
 * Exiting points the task at the parent again and ends the state's life.
 *
 * The caller's weft_scope holds a handle, as a weft_group does: the state's
 * gen tells a stale handle (an exited scope) from the live one, so that
 * weft_scope_cancel from another thread racing with the exit cancels the
 * scope's life or nothing.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>

#include <weft/weft.h>

#include "scope/scope.h"

enum { SCOPE_LIVE = 0x73636f70u /* "scop" */, SCOPE_EXITED = 0x65786974u /* "exit" */ };

/* What the caller's weft_scope holds. */
struct handle {
    /* SCOPE_LIVE | the state's gen << 32, in one store; atomic: a cancel
     * from another thread reads it while the owner exits */
    _Atomic uint64_t key;
    _Atomic(struct weft__scope *) state;
    /* the task that entered it; atomic: another task's misused exit reads
     * it while the owner enters the same storage again */
    _Atomic(weft_task *) task;
    /* its own address: a copy's is not; atomic: a cancel from another
     * thread reads it while the task enters the same storage again */
    _Atomic(const struct handle *) self;
    weft_time own_deadline;    /* the deadline of its options (WEFT_NEVER: none) */
    uint32_t open_at_enter;    /* task->open_groups once entered */
    bool groups_before;        /* the task had groups open at enter */
};
_Static_assert(sizeof(struct handle) <= sizeof(weft_scope), "the handle fits weft_scope");
_Static_assert(_Alignof(struct handle) <= _Alignof(weft_scope), "weft_scope alignment");

static struct handle *handle_of(weft_scope *s)
{
    return (struct handle *)(void *)s;
}

static bool entered(const struct weft__scope *s)
{
    return (weft__scope_flags(s) & WEFT__SCOPE_ENTERED) != 0;
}

/* Groups t initialised and has not joined: its open count less the scopes
 * it entered and has not exited, which are its scope and those above it. */
static uint32_t open_groups_only(const struct weft_task *t)
{
    uint32_t scopes = 0;
    for (const struct weft__scope *s = t->scope; entered(s);
         s = atomic_load_explicit(&s->parent, memory_order_relaxed))
        scopes++;
    return t->open_groups - scopes;
}

int weft_scope_enter(weft_task *self, weft_scope *s, const weft_scope_opts *o)
{
    struct weft__thread *thr = weft__self_thread;
    if (self == NULL || s == NULL || thr == NULL || thr->current != self)
        return EINVAL; /* self must be the task running on this worker */
    unsigned flags = o != NULL ? o->flags : 0;
    if ((flags & ~(unsigned)WEFT_SHIELD) != 0)
        return EINVAL;
    weft_time own = o != NULL && o->deadline != 0 ? o->deadline : WEFT_NEVER;
    struct weft__scope *g;
    int rc = weft__scope_open(thr, self->scope, flags | WEFT__SCOPE_ENTERED,
                              o != NULL ? o->name : NULL, own, &g);
    if (rc != 0)
        return rc;
    struct handle *h = handle_of(s);
    h->groups_before = open_groups_only(self) != 0;
    self->scope = g;
    self->open_groups++; /* the task's end looks for what it left open */
    atomic_store_explicit(&h->task, self, memory_order_relaxed);
    atomic_store_explicit(&h->self, h, memory_order_relaxed);
    h->own_deadline = own;
    h->open_at_enter = self->open_groups;
    atomic_store_explicit(&h->state, g, memory_order_relaxed);
    uint64_t w = atomic_load_explicit(&g->cancel, memory_order_relaxed);
    /* release: a canceller on another thread that reads the key sees the rest */
    atomic_store_explicit(&h->key, (w & ~(uint64_t)UINT32_MAX) | SCOPE_LIVE,
                          memory_order_release);
    return 0;
}

/* Who cancelled g's life `gen`: the winner of its word notes that right
 * after its CAS, so the note is at most that store away. */
static int cancelled_by(struct weft__scope *g, uint32_t gen)
{
    for (;;) {
        uint64_t note = atomic_load_explicit(&g->cancel_note, memory_order_relaxed);
        if ((uint32_t)(note >> 32) == gen)
            return (int)(uint32_t)note - 1;
        sched_yield();
    }
}

/* What exit reports for g's life in word w (Trio's cancelled_caught): its
 * own deadline or a weft_scope_cancel of it, not an enclosing cancel. */
static int caught(struct weft__scope *g, uint64_t w, weft_time own)
{
    uint32_t reason = weft__cancel_reason_of(w);
    if (reason == 0)
        return 0;
    int by = cancelled_by(g, weft__cancel_gen(w));
    if (by == WEFT__BY_SCOPE_CALL)
        return ECANCELED;
    if (by == WEFT__BY_DEADLINE)
        return ETIMEDOUT;
    /* an enclosing scope with the same deadline fired first: it is this
     * scope's own deadline all the same */
    if (reason == ETIMEDOUT && own != WEFT_NEVER && own == g->deadline && weft_now() >= own)
        return ETIMEDOUT;
    return 0;
}

/* End g, an entered scope of t: t is back in g's parent. */
static void leave(struct weft__thread *thr, struct weft_task *t, struct weft__scope *g)
{
    t->scope = atomic_load_explicit(&g->parent, memory_order_relaxed);
    t->open_groups--;
    weft__scope_close(thr, g);
}

int weft_scope_exit(weft_task *self, weft_scope *s)
{
    struct weft__thread *thr = weft__self_thread;
    struct handle *h = handle_of(s);
    if (self == NULL || h == NULL || thr == NULL || thr->current != self)
        return EINVAL;
    uint64_t key = atomic_load_explicit(&h->key, memory_order_relaxed);
    struct weft__scope *g = atomic_load_explicit(&h->state, memory_order_relaxed);
    if ((uint32_t)key != SCOPE_LIVE || atomic_load_explicit(&h->self, memory_order_relaxed) != h ||
        atomic_load_explicit(&h->task, memory_order_relaxed) != self || self->scope != g)
        return EINVAL; /* not entered, exited, a copy, another task's, or not innermost */
    uint64_t w = atomic_load_explicit(&g->cancel, memory_order_relaxed);
    if (weft__cancel_gen(w) != (uint32_t)(key >> 32))
        return EINVAL;
    /* a group begun inside and not joined would outlive its parent scope.
     * The count of the task's open groups tells, unless a group begun
     * before the enter was joined inside: then look */
    if ((self->open_groups != h->open_at_enter || h->groups_before) &&
        weft__scope_has_live_child(thr, g))
        return EINVAL;
    int rc = caught(g, w, h->own_deadline);
    atomic_store_explicit(&h->key, SCOPE_EXITED, memory_order_relaxed);
    leave(thr, self, g);
    /* an enclosing cancel reached g, maybe before the scope self is back
     * in: self must land cancelled (weft_scope_exit(3)) */
    if (weft__cancel_reason_of(w) != 0)
        weft__cancel_inherit(self->scope);
    return rc;
}

void weft_scope_cancel(weft_scope *s)
{
    struct handle *h = handle_of(s);
    if (h == NULL)
        return;
    uint64_t key = atomic_load_explicit(&h->key, memory_order_acquire);
    if ((uint32_t)key != SCOPE_LIVE || atomic_load_explicit(&h->self, memory_order_relaxed) != h)
        return;
    /* a no-op once that life ended: its state is type-stable pool memory */
    weft__cancel(atomic_load_explicit(&h->state, memory_order_relaxed), (uint32_t)(key >> 32),
                 ECANCELED, WEFT__BY_SCOPE_CALL);
}

void weft__scope_unwind(struct weft__thread *thr, struct weft_task *t)
{
    while (entered(t->scope))
        leave(thr, t, t->scope);
}
