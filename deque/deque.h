/*
 * The runtime's work-stealing deque (internal): one owner thread pushes and
 * pops at the bottom (LIFO), any thread steals at the top (FIFO). Items are
 * non-NULL pointers. Two implementations stand behind these names:
 *
 *   chase_lev.h  the growable Chase-Lev deque (the default): every item is
 *                stealable at once; the owner's pop pays a store-load
 *                barrier (xchg on x86) and a CAS for the last item.
 *   split.h      the split deque (built with WEFT_SPLIT_DEQUE defined): the
 *                owner's newer items are private, pushed and popped with no
 *                RMW and no fence, and shared only when a thief asks
 *                (WEFT__STEAL_ASKED) or when the owner calls
 *                weft__deque_share_owner.
 *
 * Contract of both: every pushed item is returned exactly once, by
 * pop_owner or by one steal. push_owner fails only with ENOMEM (nothing
 * changed); try_push_owner never calls out and refuses when room is not
 * certain. steal returns OK, EMPTY, LOST (another taker won; retry) or, on
 * the split deque only, ASKED: items exist but only the owner holds them;
 * it has been asked to share some at its next push or pop, so retry soon
 * and do not treat the victim as idle. An owner about to stop pushing and
 * popping for a while (a blocking wait, a long task) must call
 * weft__deque_share_owner first, or a thief may wait on items no one runs
 * (a no-op on Chase-Lev).
 *
 * The runtime runs on the split deque only when configured with
 * --enable-split-deque, which is experimental: the scheduler shares before
 * every park, timed wait, sleep and slot hand-off, and at a push while a
 * thread looks for work, but a task that spins in its own code (no weft
 * call) for a task it spawned while every other worker was busy keeps that
 * task private until it pushes, pops or stops. Tests that wait so fail
 * on that build (one full run: cancel's nested cancels, join_park's deep
 * joiner, slots' short sleeps; join_nest's set-aside wake in another).
 *
 * The two headers can be included side by side (tests, bench/deque_bench.c
 * and models/genmc/ use both by their own names); a file that shares a
 * `weft__deque` with another (sched/sched.h's slot) must be built with the
 * same choice as the library, which the build makes uniform.
 */
#ifndef WEFT_DEQUE_DEQUE_H
#define WEFT_DEQUE_DEQUE_H

#include <stdbool.h>
#include <stddef.h>

#include "deque/common.h"

#ifdef WEFT_SPLIT_DEQUE
#include "deque/split.h"
typedef weft__deque_split weft__deque;
#define WEFT__DEQUE_OP(op) weft__deque_split_##op
#else
#include "deque/chase_lev.h"
typedef weft__deque_cl weft__deque;
#define WEFT__DEQUE_OP(op) weft__deque_cl_##op
#endif

/*
 * Embed it (aligned to a cache line) or allocate it with
 * weft__alloc_aligned(WEFT__CACHE_LINE, sizeof(weft__deque)). Initialise
 * with room for `capacity` items (rounded up to a power of two, at least 2):
 * 0 or ENOMEM; EINVAL for NULL or a capacity above the maximum.
 */
static inline int weft__deque_init(weft__deque *dq, size_t capacity)
{
    return WEFT__DEQUE_OP(init)(dq, capacity);
}

/* Free the buffers. No other thread may use the deque any more. */
static inline void weft__deque_destroy(weft__deque *dq)
{
    WEFT__DEQUE_OP(destroy)(dq);
}

/* Owner, before any thief steals: the epochs its thieves keep while they
 * steal (deque/common.h), so that buffers replaced by growth are freed as
 * soon as no thief holds one, not at destroy. */
static inline void weft__deque_set_readers(weft__deque *dq, const weft__deque_readers *readers)
{
    WEFT__DEQUE_OP(set_readers)(dq, readers);
}

/* Owner only. 0, or ENOMEM when growing failed (the deque is unchanged). */
static inline int weft__deque_push_owner(weft__deque *dq, void *item)
{
    return WEFT__DEQUE_OP(push_owner)(dq, item);
}

/* Owner only. Push when room is certain without looking at top; false (the
 * deque unchanged) when push_owner must look or grow. Calls nothing. */
static inline bool weft__deque_try_push_owner(weft__deque *dq, void *item)
{
    return WEFT__DEQUE_OP(try_push_owner)(dq, item);
}

/* Owner only. The most recently pushed item, or NULL when empty. */
static inline void *weft__deque_pop_owner(weft__deque *dq)
{
    return WEFT__DEQUE_OP(pop_owner)(dq);
}

/* Any thread. Takes the oldest stealable item. */
static inline weft__steal_status weft__deque_steal(weft__deque *dq, void **item)
{
    return WEFT__DEQUE_OP(steal)(dq, item);
}

/* Owner only. Up to `max` of the oldest items, at most half of those
 * queued, out to dst (oldest first): how many; 0 when fewer than two are
 * queued or a thief took the oldest meanwhile. A batch for a thief: the
 * owner claims it, a thief could not (chase_lev.h says why). */
static inline size_t weft__deque_take_oldest_owner(weft__deque *dq, void **dst, size_t max)
{
    return WEFT__DEQUE_OP(take_oldest_owner)(dq, dst, max);
}

/* Owner only. Make every item stealable (see above). */
static inline void weft__deque_share_owner(weft__deque *dq)
{
    WEFT__DEQUE_OP(share_owner)(dq);
}

/* Items in the deque at some recent instant, private ones included; exact
 * for the owner when no thief runs. */
static inline size_t weft__deque_size(weft__deque *dq)
{
    return WEFT__DEQUE_OP(size)(dq);
}

/* Current capacity of the buffer (owner only; for tests). */
static inline size_t weft__deque_capacity(weft__deque *dq)
{
    return WEFT__DEQUE_OP(capacity)(dq);
}

#endif
