/*
 * Scope deadlines: a scope with a deadline of its own (tighter than the one
 * it inherits) arms an entry of the runtime's timer (timer.c); when it fires,
 * that life of the scope is cancelled with ETIMEDOUT, which cancel.c pushes
 * down to everything below. A scope that only inherits a deadline arms
 * nothing: the ancestor that armed it cancels it. Nothing polls the clock.
 *
 * The timer thread starts at the first armed deadline, so a program that
 * never uses deadlines never pays for it.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "scope/scope.h"
#include "timer/timer.h"

static void deadline_fired(struct weft__timer_entry *e)
{
    struct weft__scope *s =
        (struct weft__scope *)(void *)((char *)e - offsetof(struct weft__scope, timer));
    /* a no-op if that life was cancelled already; the end of the life
     * disarms first, so the scope is not recycled under this call */
    weft__cancel(s, s->timer_gen, ETIMEDOUT, WEFT__BY_DEADLINE);
}

int weft__deadline_timer(struct weft__scopes *scopes, struct weft__timer **out)
{
    struct weft__timer *t = atomic_load_explicit(&scopes->timer, memory_order_acquire);
    int rc = 0;
    if (t == NULL) {
        pthread_mutex_lock(&scopes->timer_lock);
        t = atomic_load_explicit(&scopes->timer, memory_order_relaxed);
        if (t == NULL && (rc = weft__timer_create(&t)) == 0)
            atomic_store_explicit(&scopes->timer, t, memory_order_release);
        pthread_mutex_unlock(&scopes->timer_lock);
    }
    *out = t;
    return rc;
}

int weft__deadline_arm_own(struct weft__scopes *scopes, struct weft__scope *s, weft_time own_deadline)
{
    uint64_t w = atomic_load_explicit(&s->cancel, memory_order_relaxed);
    if (own_deadline == WEFT_NEVER || s->deadline != own_deadline ||
        weft__cancel_reason_of(w) != 0)
        return 0;
    struct weft__timer *t;
    int rc = weft__deadline_timer(scopes, &t);
    if (rc != 0)
        return rc;
    s->timer_gen = weft__cancel_gen(w);
    s->timer.deadline = s->deadline;
    s->timer.fire = deadline_fired;
    if ((rc = weft__timer_add(t, &s->timer)) != 0)
        return rc;
    s->end_work |= WEFT__END_TIMER;
    return 0;
}

void weft__deadline_disarm(struct weft__scopes *scopes, struct weft__scope *s)
{
    weft__timer_remove(atomic_load_explicit(&scopes->timer, memory_order_acquire), &s->timer);
}

void weft__deadline_stop(struct weft__scopes *scopes)
{
    struct weft__timer *t = atomic_load_explicit(&scopes->timer, memory_order_acquire);
    if (t != NULL)
        weft__timer_destroy(t);
    atomic_store_explicit(&scopes->timer, NULL, memory_order_relaxed);
}
