/*
 * weft_on_cancel: callbacks run once when a task's scope is cancelled, like
 * C++'s std::stop_callback. This is how blocking code interrupts itself
 * (close a fd, signal a condvar) when its work is no longer wanted.
 *
 * A callback lives in the caller's weft_cancel_cb (no allocation) and, while
 * registered, in a list of its scope. One mutex per runtime guards
 * every list and every callback's status; callbacks are rare, and the lock
 * is never held while one runs, so a callback may register, remove or
 * cancel anything.
 *
 * Who runs a callback: whoever cancels its scope (cancel.c calls
 * weft__cancel_cb_run_all for every scope it cancelled), or the registrar
 * itself when the scope is already cancelled. A registrar checks the word
 * under the lock; a canceller CASes the word before it takes the lock; so a
 * callback is either seen by the canceller's drain or runs at registration,
 * never neither, and each is popped under the lock, so never both.
 *
 * Remove waits (on a condvar) while the callback runs on another thread,
 * and returns at once when called from inside the callback itself, or from
 * a callback nested in it (a thread-local chain marks the callbacks this
 * thread is running).
 *
 * Registering a callback that is still registered or running returns
 * EBUSY and touches nothing (issue 17, hole 4): before, it rewrote the
 * callback's link, which cut the rest of its scope's list off (other
 * tasks' callbacks, a blocking job's link to its parent among them), or
 * made it run twice at once. The status word cannot simply be trusted:
 * a weft_cancel_cb is usually an uninitialised stack variable, and its
 * bits may read as registered or running. So it is checked against the
 * runtime's own records, under the lock, without dereferencing what it
 * points to first: running only if it is on scopes->cb_running (the callbacks
 * run now, linked through `next`, which a running callback does not use
 * otherwise); registered only if its scope pointer is a scope of scopes (the
 * registrar's, one of a worker's chunks, a job's: all type-stable memory,
 * found by weft__scope_is_of without a lock) and it is on that scope's
 * list. Limits: a callback live in another runtime is not recognised,
 * nor, from a thread that is not one of the runtime's workers, one registered on a
 * pooled scope (destroy may be freeing those pools under an abandoned
 * job).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "scope/scope.h"

/* The public struct's four words: status lives in the low bits of the
 * scope pointer (scopes are cache-line aligned). The scope stays set from
 * registration until it forgets the callback (its end), so remove can find
 * the runtime's lock; a scope is type-stable while the workers live and
 * its runtime never changes, so that is safe. A forgotten callback points
 * at no scope: a blocking job may remove its link to a parent's scope
 * after destroy freed every pooled scope (job.c). */
struct weft__cancel_cb {
    void (*fn)(void *arg);
    void *arg;
    struct weft__cancel_cb *next;
    _Atomic uintptr_t scope_status; /* status written under cb_lock */
};
_Static_assert(sizeof(struct weft__cancel_cb) <= sizeof(weft_cancel_cb), "fits weft_cancel_cb");

enum { CB_IDLE = 0, CB_REGISTERED = 1, CB_RUNNING = 2, CB_STATUS = 3 };
/* A link (weft__cancel_cb_link): when its scope ends it moves up to the
 * scope's live parent instead of being forgotten. Kept across status changes. */
enum { CB_CARRIED = 4, CB_BITS = 7 };

/* The callbacks this thread is running, innermost first: a callback may
 * cancel a group, which may run other callbacks nested on this stack. */
struct running {
    struct weft__cancel_cb *cb;
    struct running *outer;
};
static __thread struct running *running_here;

static bool running_on_this_thread(struct weft__cancel_cb *c)
{
    for (struct running *r = running_here; r != NULL; r = r->outer)
        if (r->cb == c)
            return true;
    return false;
}

static struct weft__cancel_cb *impl(weft_cancel_cb *cb)
{
    return (struct weft__cancel_cb *)(void *)cb;
}

static struct weft__scope *scope_of(uintptr_t gs)
{
    return (struct weft__scope *)(gs & ~(uintptr_t)CB_BITS);
}

static unsigned status_of(struct weft__cancel_cb *c)
{
    return (unsigned)(atomic_load_explicit(&c->scope_status, memory_order_relaxed) & CB_STATUS);
}

static void set(struct weft__cancel_cb *c, struct weft__scope *g, unsigned status)
{
    uintptr_t carried = atomic_load_explicit(&c->scope_status, memory_order_relaxed) & CB_CARRIED;
    atomic_store_explicit(&c->scope_status, (uintptr_t)g | carried | status,
                          memory_order_relaxed);
}


static bool is_cancelled(struct weft__scope *g)
{
    uint32_t r = weft__cancel_reason_of(atomic_load_explicit(&g->cancel, memory_order_acquire));
    return r != 0 && r != WEFT__GROUP_DEAD;
}

static bool listed(struct weft__cancel_cb *head, struct weft__cancel_cb *c)
{
    for (; head != NULL; head = head->next)
        if (head == c)
            return true;
    return false;
}

/* Under cb_lock: mark c (off any group's list) running, on the running list. */
static void set_running_locked(struct weft__scopes *scopes, struct weft__scope *g, struct weft__cancel_cb *c)
{
    set(c, g, CB_RUNNING);
    c->next = scopes->cb_running;
    scopes->cb_running = c;
}

/* c was marked running under the lock: run it, then mark it done. */
static void run_one(struct weft__scopes *scopes, struct weft__scope *g, struct weft__cancel_cb *c)
{
    struct running frame = {c, running_here};
    running_here = &frame;
    c->fn(c->arg);
    running_here = frame.outer;
    pthread_mutex_lock(&scopes->cb_lock);
    for (struct weft__cancel_cb **p = &scopes->cb_running; *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    set(c, g, CB_IDLE);
    pthread_cond_broadcast(&scopes->cb_done);
    pthread_mutex_unlock(&scopes->cb_lock);
}

/* The runtime part a registration on self's scope (or, self NULL, from
 * this thread) belongs to, or NULL. */
static struct weft__scopes *registrar_scopes(weft_task *self)
{
    if (self != NULL) {
        struct weft__scope *g = self->scope;
        if (g->scopes != NULL)
            return g->scopes;
        /* only a runtime's never-cancelled scope has no owner thread */
        return (struct weft__scopes *)(void *)((char *)g -
                                               offsetof(struct weft__scopes, never_cancelled));
    }
    if (weft__self_thread != NULL)
        return weft__scopes_of(weft__self_thread->sched);
    return weft__off_worker_scopes;
}

static bool in_chunks(const struct weft__scope_chunk *c, const struct weft__scope *s)
{
    struct weft__scope_iter it = {c, 0};
    for (struct weft__scope *x; (x = weft__scope_iter_next(&it)) != NULL;)
        if (x == s)
            return true;
    return false;
}

bool weft__scope_is_of(struct weft__scopes *scopes, const struct weft__scope *s, bool workers_live)
{
    if (workers_live) {
        unsigned n = weft__nthreads(&scopes->sched);
        for (unsigned i = 0; i < n; i++)
            if (in_chunks(weft__scope_chunks_first(&scopes->sched.threads[i]), s))
                return true;
    }
    return in_chunks(atomic_load_explicit(&scopes->loose_scope_chunks, memory_order_acquire), s);
}

/* Whether g, read from a callback's status word, is a scope of scopes,
 * found without dereferencing it (the header comment). */
static bool is_state_of(struct weft__scopes *scopes, weft_task *self, struct weft__scope *g)
{
    if (self != NULL && g == self->scope)
        return true;
    struct weft__thread *me = weft__self_thread;
    return weft__scope_is_of(scopes, g, me != NULL && me->sched == &scopes->sched); /* on a worker: they live */
}

/* Under scopes->cb_lock: c is registered or running in scopes. */
static bool live_locked(struct weft__scopes *scopes, weft_task *self, struct weft__cancel_cb *c)
{
    uintptr_t gs = atomic_load_explicit(&c->scope_status, memory_order_relaxed);
    switch (gs & CB_STATUS) {
    case CB_RUNNING:
        return listed(scopes->cb_running, c);
    case CB_REGISTERED: {
        struct weft__scope *g = scope_of(gs);
        return is_state_of(scopes, self, g) &&
               listed(atomic_load_explicit(&g->callbacks, memory_order_relaxed), c);
    }
    default:
        return false;
    }
}

static int on_cancel(weft_task *self, weft_cancel_cb *cbp, void (*fn)(void *arg), void *arg,
                     uintptr_t carried)
{
    struct weft__cancel_cb *c = impl(cbp);
    if (c == NULL)
        return EINVAL;
    struct weft__scopes *scopes = registrar_scopes(self);
    if (scopes == NULL) { /* self NULL, off every runtime: nothing to check against */
        set(c, NULL, CB_IDLE); /* a remove after a refused registration is harmless */
        return EINVAL;
    }
    pthread_mutex_lock(&scopes->cb_lock);
    bool busy = live_locked(scopes, self, c);
    if (self == NULL || fn == NULL || busy) {
        if (!busy)
            set(c, NULL, CB_IDLE); /* a remove after a refused registration is harmless */
        pthread_mutex_unlock(&scopes->cb_lock);
        return self == NULL || fn == NULL ? EINVAL : EBUSY;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = NULL;
    atomic_store_explicit(&c->scope_status, carried, memory_order_relaxed);
    struct weft__scope *g = self->scope;
    if (g->scopes == NULL) {
        set(c, NULL, CB_IDLE); /* a root's scope is never cancelled */
        pthread_mutex_unlock(&scopes->cb_lock);
        return 0;
    }
    if (is_cancelled(g)) {
        set_running_locked(scopes, g, c);
        pthread_mutex_unlock(&scopes->cb_lock);
        run_one(scopes, g, c); /* already cancelled: at once, on this thread */
        return 0;
    }
    c->next = atomic_load_explicit(&g->callbacks, memory_order_relaxed);
    atomic_store_explicit(&g->callbacks, c, memory_order_relaxed);
    /* sticky for the life: the join then takes weft__group_end_slow */
    g->end_work |= WEFT__END_CALLBACKS;
    set(c, g, CB_REGISTERED);
    pthread_mutex_unlock(&scopes->cb_lock);
    return 0;
}

int weft_on_cancel(weft_task *self, weft_cancel_cb *cbp, void (*fn)(void *arg), void *arg)
{
    return on_cancel(self, cbp, fn, arg, 0);
}

int weft__cancel_cb_link(weft_task *self, weft_cancel_cb *cb, void (*fn)(void *arg), void *arg)
{
    return on_cancel(self, cb, fn, arg, CB_CARRIED);
}

int weft__cancel_cb_reason(weft_cancel_cb *cbp)
{
    struct weft__scope *g =
        scope_of(atomic_load_explicit(&impl(cbp)->scope_status, memory_order_relaxed));
    if (g == NULL)
        return ECANCELED;
    uint32_t r = weft__cancel_reason_of(atomic_load_explicit(&g->cancel, memory_order_acquire));
    return r == ETIMEDOUT ? ETIMEDOUT : ECANCELED;
}

/* Under cb_lock: take c off g's list. */
static void unlink_locked(struct weft__scope *g, struct weft__cancel_cb *c)
{
    struct weft__cancel_cb *head = atomic_load_explicit(&g->callbacks, memory_order_relaxed);
    if (head == c) {
        atomic_store_explicit(&g->callbacks, c->next, memory_order_relaxed);
        return;
    }
    for (struct weft__cancel_cb *p = head; p != NULL; p = p->next)
        if (p->next == c) {
            p->next = c->next;
            return;
        }
}

/* Under scopes->cb_lock. */
static void remove_locked(struct weft__scopes *scopes, struct weft__cancel_cb *c)
{
    struct weft__scope *g =
        scope_of(atomic_load_explicit(&c->scope_status, memory_order_relaxed));
    if (g == NULL)
        return; /* never registered, or forgotten */
    if (status_of(c) == CB_REGISTERED) {
        unlink_locked(g, c);
        set(c, g, CB_IDLE);
    } else if (!running_on_this_thread(c)) { /* from inside fn, maybe nested: at once */
        /* the callback, another thread's, may wait on a task queued here */
        weft__slot_share(weft__self_thread);
        while (status_of(c) == CB_RUNNING)
            pthread_cond_wait(&scopes->cb_done, &scopes->cb_lock);
    }
}

void weft_on_cancel_remove(weft_cancel_cb *cbp)
{
    struct weft__cancel_cb *c = impl(cbp);
    if (c == NULL)
        return;
    struct weft__scope *g =
        scope_of(atomic_load_explicit(&c->scope_status, memory_order_relaxed));
    if (g == NULL)
        return; /* never registered anywhere, or forgotten */
    struct weft__scopes *scopes = g->scopes;
    pthread_mutex_lock(&scopes->cb_lock);
    remove_locked(scopes, c);
    pthread_mutex_unlock(&scopes->cb_lock);
}

void weft__cancel_cb_remove(struct weft__scopes *scopes, weft_cancel_cb *cbp)
{
    pthread_mutex_lock(&scopes->cb_lock);
    remove_locked(scopes, impl(cbp)); /* the group is read under the lock its forget took */
    pthread_mutex_unlock(&scopes->cb_lock);
}

void weft__cancel_cb_run_all(struct weft__scopes *scopes, struct weft__scope *g, uint32_t gen)
{
    for (;;) {
        pthread_mutex_lock(&scopes->cb_lock);
        struct weft__cancel_cb *c = atomic_load_explicit(&g->callbacks, memory_order_relaxed);
        /* the cancelled life may have ended and the state begun another,
         * uncancelled, whose callbacks are not ours to run: its registrars
         * checked the word under this lock and found it clear */
        uint64_t w = atomic_load_explicit(&g->cancel, memory_order_acquire);
        uint32_t r = weft__cancel_reason_of(w);
        if (weft__cancel_gen(w) != gen || r == 0 || r == WEFT__GROUP_DEAD)
            c = NULL;
        if (c != NULL) {
            atomic_store_explicit(&g->callbacks, c->next, memory_order_relaxed);
            set_running_locked(scopes, g, c);
        }
        pthread_mutex_unlock(&scopes->cb_lock);
        if (c == NULL)
            return;
        run_one(scopes, g, c);
    }
}

/* Where g's links go when g ends: its parent, when that one's life is the
 * one g began under and no shield stands between; else NULL. The parent
 * is live: g's owner runs below it. */
static struct weft__scope *carry_target(struct weft__scope *g)
{
    struct weft__scope *p = weft__scope_enclosing(g, NULL);
    return p != NULL && p->scopes != NULL ? p : NULL; /* not a root's never-cancelled scope */
}

void weft__cancel_cb_forget(struct weft__scopes *scopes, struct weft__scope *g)
{
    struct weft__scope *p = NULL;
    bool moved = false;
    pthread_mutex_lock(&scopes->cb_lock);
    struct weft__cancel_cb *c = atomic_load_explicit(&g->callbacks, memory_order_relaxed);
    atomic_store_explicit(&g->callbacks, NULL, memory_order_relaxed);
    if (c != NULL)
        p = carry_target(g);
    for (struct weft__cancel_cb *next; c != NULL; c = next) {
        next = c->next;
        bool carried = (atomic_load_explicit(&c->scope_status, memory_order_relaxed) &
                        CB_CARRIED) != 0;
        if (!carried || p == NULL) {
            set(c, NULL, CB_IDLE);
            continue;
        }
        /* a released job keeps its link upward: registered on p as
         * weft_on_cancel would register it, the lock ordering it against
         * p's cancellers */
        c->next = atomic_load_explicit(&p->callbacks, memory_order_relaxed);
        atomic_store_explicit(&p->callbacks, c, memory_order_relaxed);
        p->end_work |= WEFT__END_CALLBACKS;
        set(c, p, CB_REGISTERED);
        moved = true;
    }
    uint64_t pw = p != NULL ? atomic_load_explicit(&p->cancel, memory_order_acquire) : 0;
    pthread_mutex_unlock(&scopes->cb_lock);
    /* p's cancel may have drained its list before: run what moved now */
    if (moved && weft__cancel_reason_of(pw) != 0)
        weft__cancel_cb_run_all(scopes, p, weft__cancel_gen(pw));
}
