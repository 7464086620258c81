/*
 * A race point: a place in a protocol where a test may hold up the thread
 * that passes it, so that another thread's step lands in a window that is
 * otherwise a few instructions wide. base/fault_point.h makes calls fail;
 * this only runs a function the test supplies, which may wait for the other
 * thread and then returns. cancel.c has one (weft__cancel_race_arm).
 *
 * Disarmed, as it always is outside the tests, a pass is one load and a
 * branch; points sit on slow paths only. The function runs on the passing
 * thread with whatever locks it holds there, so it must not call into the
 * runtime; it sees `at`, the object the point is about.
 */
#ifndef WEFT_RUNTIME_RACE_POINT_H
#define WEFT_RUNTIME_RACE_POINT_H

#include <stdatomic.h>
#include <stddef.h>

typedef void (*weft__race_fn)(void *arg, const void *at);

struct weft__race_point {
    _Atomic(weft__race_fn) fn;
    _Atomic(void *) arg;
};

/* fn NULL disarms. Arm before the workload starts, disarm after it ended. */
static inline void weft__race_arm(struct weft__race_point *p, weft__race_fn fn, void *arg)
{
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    /* release: a pass that sees fn sees its arg */
    atomic_store_explicit(&p->fn, fn, memory_order_release);
}

static inline void weft__race_pass(struct weft__race_point *p, const void *at)
{
    /* acquire: pairs with weft__race_arm's release (a plain load on x86) */
    weft__race_fn fn = atomic_load_explicit(&p->fn, memory_order_acquire);
    if (__builtin_expect(fn != NULL, 0))
        fn(atomic_load_explicit(&p->arg, memory_order_relaxed), at);
}

#endif
