/*
 * weft_on_cancel: callbacks run once when a task's scope is cancelled, like
 * C++'s std::stop_callback. This is how blocking code interrupts itself
 * (close a fd, signal a condvar) when its work is no longer wanted.
 *
 * A callback lives in the caller's weft_cancel_cb (no allocation) and, while
 * registered, in a list of its group state. One mutex per runtime guards
 * every list and every callback's status; callbacks are rare, and the lock
 * is never held while one runs, so a callback may register, remove or
 * cancel anything.
 *
 * Who runs a callback: whoever cancels its group (cancel.c calls
 * weft__cancel_cb_run_all for every state it cancelled), or the registrar
 * itself when the scope is already cancelled. A registrar checks the word
 * under the lock; a canceller CASes the word before it takes the lock; so a
 * callback is either seen by the canceller's drain or runs at registration,
 * never neither, and each is popped under the lock, so never both.
 *
 * Remove waits (on a condvar) while the callback runs on another thread,
 * and returns at once when called from inside the callback itself, or from
 * a callback nested in it (a thread-local chain marks the callbacks this
 * thread is running).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>

#include <weft/weft.h>

#include "runtime/internal.h"

/* The public struct's four words: status lives in the low bits of the
 * group pointer (states are cache-line aligned). The group stays set from
 * registration until its group forgets it (the group's end), so remove can
 * find the runtime's lock; a state is type-stable while the workers live
 * and its owner thread never changes, so that is safe. A forgotten
 * callback points at no group: a blocking job may remove its link to a
 * parent's scope after destroy freed every group state (job.c). */
struct weft__cancel_cb {
    void (*fn)(void *arg);
    void *arg;
    struct weft__cancel_cb *next;
    _Atomic uintptr_t group_status; /* status written under cb_lock */
};
_Static_assert(sizeof(struct weft__cancel_cb) <= sizeof(weft_cancel_cb), "fits weft_cancel_cb");

enum { CB_IDLE = 0, CB_REGISTERED = 1, CB_RUNNING = 2, CB_STATUS = 3 };

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

static struct weft__group *group_of(uintptr_t gs)
{
    return (struct weft__group *)(gs & ~(uintptr_t)CB_STATUS);
}

static unsigned status_of(struct weft__cancel_cb *c)
{
    return (unsigned)(atomic_load_explicit(&c->group_status, memory_order_relaxed) & CB_STATUS);
}

static void set(struct weft__cancel_cb *c, struct weft__group *g, unsigned status)
{
    atomic_store_explicit(&c->group_status, (uintptr_t)g | status, memory_order_relaxed);
}

static weft_runtime *runtime_of(struct weft__group *g)
{
    return g->owner_thread->rt;
}

static bool is_cancelled(struct weft__group *g)
{
    uint32_t r = weft__cancel_reason_of(atomic_load_explicit(&g->cancel, memory_order_acquire));
    return r != 0 && r != WEFT__GROUP_DEAD;
}

/* c was marked running under the lock: run it, then mark it done. */
static void run_one(weft_runtime *rt, struct weft__group *g, struct weft__cancel_cb *c)
{
    struct running frame = {c, running_here};
    running_here = &frame;
    c->fn(c->arg);
    running_here = frame.outer;
    pthread_mutex_lock(&rt->cb_lock);
    set(c, g, CB_IDLE);
    pthread_cond_broadcast(&rt->cb_done);
    pthread_mutex_unlock(&rt->cb_lock);
}

int weft_on_cancel(weft_task *self, weft_cancel_cb *cbp, void (*fn)(void *arg), void *arg)
{
    struct weft__cancel_cb *c = impl(cbp);
    if (c != NULL)
        set(c, NULL, CB_IDLE); /* a remove after a refused registration is harmless */
    if (self == NULL || c == NULL || fn == NULL)
        return EINVAL;
    c->fn = fn;
    c->arg = arg;
    c->next = NULL;
    struct weft__group *g = self->group;
    if (g->owner_thread == NULL) {
        set(c, NULL, CB_IDLE); /* a root's scope is never cancelled */
        return 0;
    }
    weft_runtime *rt = runtime_of(g);
    pthread_mutex_lock(&rt->cb_lock);
    if (is_cancelled(g)) {
        set(c, g, CB_RUNNING);
        pthread_mutex_unlock(&rt->cb_lock);
        run_one(rt, g, c); /* already cancelled: at once, on this thread */
        return 0;
    }
    c->next = atomic_load_explicit(&g->callbacks, memory_order_relaxed);
    atomic_store_explicit(&g->callbacks, c, memory_order_relaxed);
    /* sticky for the life: the join then takes weft__group_end_slow */
    g->end_work |= WEFT__END_CALLBACKS;
    set(c, g, CB_REGISTERED);
    pthread_mutex_unlock(&rt->cb_lock);
    return 0;
}

/* Under cb_lock: take c off g's list. */
static void unlink_locked(struct weft__group *g, struct weft__cancel_cb *c)
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

/* Under rt's cb_lock. */
static void remove_locked(weft_runtime *rt, struct weft__cancel_cb *c)
{
    struct weft__group *g =
        group_of(atomic_load_explicit(&c->group_status, memory_order_relaxed));
    if (g == NULL)
        return; /* never registered, or forgotten */
    if (status_of(c) == CB_REGISTERED) {
        unlink_locked(g, c);
        set(c, g, CB_IDLE);
    } else if (!running_on_this_thread(c)) { /* from inside fn, maybe nested: at once */
        while (status_of(c) == CB_RUNNING)
            pthread_cond_wait(&rt->cb_done, &rt->cb_lock);
    }
}

void weft_on_cancel_remove(weft_cancel_cb *cbp)
{
    struct weft__cancel_cb *c = impl(cbp);
    if (c == NULL)
        return;
    struct weft__group *g =
        group_of(atomic_load_explicit(&c->group_status, memory_order_relaxed));
    if (g == NULL)
        return; /* never registered anywhere, or forgotten */
    weft_runtime *rt = runtime_of(g);
    pthread_mutex_lock(&rt->cb_lock);
    remove_locked(rt, c);
    pthread_mutex_unlock(&rt->cb_lock);
}

void weft__cancel_cb_remove(weft_runtime *rt, weft_cancel_cb *cbp)
{
    pthread_mutex_lock(&rt->cb_lock);
    remove_locked(rt, impl(cbp)); /* the group is read under the lock its forget took */
    pthread_mutex_unlock(&rt->cb_lock);
}

void weft__cancel_cb_run_all(weft_runtime *rt, struct weft__group *g, uint32_t gen)
{
    for (;;) {
        pthread_mutex_lock(&rt->cb_lock);
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
            set(c, g, CB_RUNNING);
        }
        pthread_mutex_unlock(&rt->cb_lock);
        if (c == NULL)
            return;
        run_one(rt, g, c);
    }
}

void weft__cancel_cb_forget(weft_runtime *rt, struct weft__group *g)
{
    pthread_mutex_lock(&rt->cb_lock);
    struct weft__cancel_cb *c = atomic_load_explicit(&g->callbacks, memory_order_relaxed);
    atomic_store_explicit(&g->callbacks, NULL, memory_order_relaxed);
    for (; c != NULL; c = c->next)
        set(c, NULL, CB_IDLE);
    pthread_mutex_unlock(&rt->cb_lock);
}
