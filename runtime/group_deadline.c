/*
 * Group deadlines: a group with a deadline of its own (tighter than the one
 * it inherits) arms an entry of the runtime's timer (timer.c); when it fires,
 * that life of the group is cancelled with ETIMEDOUT, which cancel.c pushes
 * down to everything below. A group that only inherits a deadline arms
 * nothing: the ancestor that armed it cancels it. Nothing polls the clock.
 *
 * The timer thread starts at the first armed deadline, so a program that
 * never uses deadlines never pays for it.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "runtime/internal.h"
#include "runtime/timer.h"

static void deadline_fired(struct weft__timer_entry *e)
{
    struct weft__group *g =
        (struct weft__group *)(void *)((char *)e - offsetof(struct weft__group, timer));
    /* a no-op if that life was cancelled already; the join that ends the
     * life disarms first, so the state is not recycled under this call */
    weft__cancel(g, g->timer_gen, ETIMEDOUT, WEFT__BY_DEADLINE);
}

int weft__timer_of(weft_runtime *rt, struct weft__timer **out)
{
    struct weft__timer *t = atomic_load_explicit(&rt->timer, memory_order_acquire);
    int rc = 0;
    if (t == NULL) {
        pthread_mutex_lock(&rt->timer_lock);
        t = atomic_load_explicit(&rt->timer, memory_order_relaxed);
        if (t == NULL && (rc = weft__timer_create(&t)) == 0)
            atomic_store_explicit(&rt->timer, t, memory_order_release);
        pthread_mutex_unlock(&rt->timer_lock);
    }
    *out = t;
    return rc;
}

int weft__deadline_arm(weft_runtime *rt, struct weft__group *g, uint32_t gen)
{
    struct weft__timer *t;
    int rc = weft__timer_of(rt, &t);
    if (rc != 0)
        return rc;
    g->timer_gen = gen;
    g->timer.deadline = g->deadline;
    g->timer.fire = deadline_fired;
    if ((rc = weft__timer_add(t, &g->timer)) != 0)
        return rc;
    g->end_work |= WEFT__END_TIMER;
    return 0;
}

void weft__deadline_disarm(weft_runtime *rt, struct weft__group *g)
{
    weft__timer_remove(atomic_load_explicit(&rt->timer, memory_order_acquire), &g->timer);
}

void weft__deadline_stop(weft_runtime *rt)
{
    struct weft__timer *t = atomic_load_explicit(&rt->timer, memory_order_acquire);
    if (t != NULL)
        weft__timer_destroy(t);
    atomic_store_explicit(&rt->timer, NULL, memory_order_relaxed);
}
