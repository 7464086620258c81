/* The deques' last-item race tests: each side waits for the other's round. */
#ifndef WEFT_TESTS_DEQUE_RACE_WAIT_H
#define WEFT_TESTS_DEQUE_RACE_WAIT_H

#include <sched.h>
#include <stdatomic.h>

/* Spin until *v >= want, yielding after a while: both sides spinning keep
 * the race tight when each has a core, and the yield lets an oversubscribed
 * machine (or TSan) run the other side instead of waiting out a slice. */
static inline void race_wait_until_at_least(atomic_int *v, int want)
{
    for (unsigned spins = 0; atomic_load_explicit(v, memory_order_acquire) < want; spins++)
        if (spins >= (1u << 18)) /* about a millisecond */
            sched_yield();
}

#endif
