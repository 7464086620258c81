/*
 * weft_sleep: a timed wait that ends early when the task's scope is
 * cancelled, and at the task's effective deadline at the latest.
 *
 * The sleeper waits on a futex word of its own (absolute CLOCK_MONOTONIC
 * timeout, FUTEX_WAIT_BITSET); a cancel callback (cancel_cb.c) sets the word
 * and wakes it. weft_on_cancel_remove returns only when that callback is not
 * running, so the word, on this stack, outlives every wake.
 *
 * A sleep longer than WEFT__HANDOFF_MIN on a worker is a timed wait (weft(7)): the
 * worker hands its slot to a spare thread first and takes a slot back when
 * it wakes (slots.c), so the pool keeps running `workers` threads' worth of
 * tasks meanwhile, and the sleeper returns on time rather than when a slot
 * frees up. Shorter sleeps keep the slot: a hand-off costs a few
 * microseconds and a wake-up of another thread.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>

#include <weft/weft.h>

#include "runtime/runtime.h"

/* Until *word != 0 or `until` (absolute, CLOCK_MONOTONIC) passed. */
static void wait_until(_Atomic uint32_t *word, weft_time until)
{
    while (atomic_load_explicit(word, memory_order_acquire) == 0) {
        if (weft_now() >= until)
            return;
        weft__futex_wait_until(word, 0, until);
    }
}

int weft_sleep(weft_task *self, weft_time until)
{
    if (self == NULL)
        return EINVAL;
    weft_time deadline = weft_deadline(self);
    weft_time end = until < deadline ? until : deadline;
    if (!weft_cancelled(self) && end > weft_now()) {
        _Atomic uint32_t woken = 0;
        weft_cancel_cb cb;
        weft_on_cancel(self, &cb, weft__futex_post, &woken);
        struct weft__thread *thr = weft__self_thread;
        bool mine = thr != NULL && thr->current == self;
        if (mine) /* what ends the sleep may be a task it queued: a thief must see it */
            weft__slot_share(thr);
        weft_time begin = mine && thr->trace != NULL ? weft_now() : 0;
        bool lent = mine && end - weft_now() > WEFT__HANDOFF_MIN && weft__slot_lend(thr);
        wait_until(&woken, end);
        if (lent)
            weft__slot_reclaim(thr);
        weft_on_cancel_remove(&cb);
        if (begin != 0)
            weft__trace_emit(thr->sched->trace_log, WEFT__TR_WAIT, "sleep", begin, weft_now() - begin,
                             weft_cancel_reason(self), 0);
    }
    if (until >= deadline) /* slept to the deadline: the flag goes up before the return */
        weft__cancel_at_deadline(self);
    int reason = weft_cancel_reason(self);
    if (reason != 0)
        return reason;
    return until >= deadline ? ETIMEDOUT : 0;
}
