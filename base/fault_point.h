/*
 * A fault-injection point: a process-wide counter of calls, of which the
 * ones numbered from..until since the last arming fail (from 0: none).
 * base/alloc.c has one for allocations, base/thread.c one for thread
 * creations; the tests walk them (tests/runtime/test_faults.c).
 *
 * Relaxed, as tests arm a point before starting the workload, and the
 * counter's fetch_add hands each number to one call only, so "exactly the
 * Nth" fails exactly one call even with several threads calling. `until` is
 * read only once a failure is possible: disarmed, a call costs the add and
 * one relaxed load.
 */
#ifndef WEFT_RUNTIME_FAULT_POINT_H
#define WEFT_RUNTIME_FAULT_POINT_H

#include <stdatomic.h>
#include <stdbool.h>

struct weft__fault_point {
    atomic_ulong from, until, counted;
};

static inline void weft__fault_arm(struct weft__fault_point *p, unsigned long from,
                                   unsigned long until)
{
    atomic_store_explicit(&p->from, 0, memory_order_relaxed);
    atomic_store_explicit(&p->counted, 0, memory_order_relaxed);
    atomic_store_explicit(&p->until, until, memory_order_relaxed);
    /* release: a call that sees the new `from` sees its `until` */
    atomic_store_explicit(&p->from, from, memory_order_release);
}

/* Counts one call; true when it must fail. */
static inline bool weft__fault_hit(struct weft__fault_point *p)
{
    unsigned long n = atomic_fetch_add_explicit(&p->counted, 1, memory_order_relaxed) + 1;
    unsigned long from = atomic_load_explicit(&p->from, memory_order_relaxed);
    if (from == 0 || n < from)
        return false;
    /* armed only: the acquire re-read pairs with weft__fault_arm's release
     * (gcc's TSan refuses a standalone acquire fence) */
    from = atomic_load_explicit(&p->from, memory_order_acquire);
    return from != 0 && n >= from && n <= atomic_load_explicit(&p->until, memory_order_relaxed);
}

static inline unsigned long weft__fault_calls(struct weft__fault_point *p)
{
    return atomic_load_explicit(&p->counted, memory_order_relaxed);
}

#endif
