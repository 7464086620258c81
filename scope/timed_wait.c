/*
 * The timed wait of a running task on a worker (weft(7), timed waits), for
 * waits that other threads end by waking the thread by name: the group waits
 * of group_wait.c (a finishing task wakes its group's owner when it sees it
 * `parked`, group.c), later job waits.
 *
 * It returns at the first of: the condition holds, the task's scope is
 * cancelled (a cancel callback wakes it), or the wait's end, which is never
 * after the task's effective deadline. A wait that ended at that deadline
 * cancels the task's scope with ETIMEDOUT before it returns, as the timer
 * is about to: a caller that then polls weft_cancelled must not run on
 * until the timer thread gets round to it. A wait that may be long hands the
 * thread's slot to a spare thread first (slots.c), so nothing runs nested
 * in it and it returns on time. An endless wait whose slot could not be
 * lent (no spare thread to be had) helps run tasks instead of sleeping: the
 * tasks it waits for may sit in its own deque. It helps as a join does
 * (scheduler.c): the tasks of the group it waits for at any depth, others
 * only while its stack has room.
 *
 * No wake-up is lost, in C11 terms. The waiter reads wake_seq, stores
 * `parked`, tests ready(), then sleeps while wake_seq is unchanged. Two
 * kinds of waker end the wait:
 *  - a waker that wakes only when it sees `parked` (a group's finisher,
 *    group.c and group_wait.c) forms a store-buffering pair with the
 *    waiter: it publishes with a seq_cst write, then loads `parked` seq_cst;
 *    the waiter stores `parked` seq_cst, then ready() loads seq_cst. All
 *    four in one total order: either ready() sees the write or the waker
 *    sees `parked`. An acquire load in ready() would not do (group_wait.c);
 *  - a waker that wakes by name whatever it sees (the job's end, job.c;
 *    the cancel callback below) publishes, then bumps wake_seq with a
 *    release RMW (park.c wake_locked): if the waiter's acquire load of
 *    wake_seq read the bump, ready() or the cancel test sees what came
 *    before it; if not, the futex wait returns at once on the changed word.
 * The deadline needs no waker: the futex wait has a timeout.
 */
#include "config.h"

#include <errno.h>

#include "scope/scope.h"

static void wake_waiter(void *arg)
{
    struct weft__thread *thr = arg;
    weft__wake_thread(thr->sched, thr);
}

static int wait_for(struct weft__thread *thr, weft_task *self, weft_time until,
                    bool (*ready)(void *arg), void *arg, const struct weft__scope *need)
{
    weft_time deadline = weft_deadline(self);
    weft_time end = until < deadline ? until : deadline;
    weft_cancel_cb cb;
    bool watched = weft_on_cancel(self, &cb, wake_waiter, thr) == 0;
    /* what it waits for may be a task it queued: a thief must see it */
    weft__slot_share(thr);
    bool lent = end - weft_now() > WEFT__HANDOFF_MIN && weft__slot_lend(thr);
    for (;;) {
        bool helps = !lent && end == WEFT_NEVER;
        if (helps) {
            struct weft_task scratch;
            struct weft_task *t = weft__find_work(thr, need, NULL, weft__stack_room(thr), &scratch);
            if (t != NULL) {
                weft__frame_run(thr, t);
                if (ready(arg) || weft_cancelled(self))
                    break;
                continue;
            }
        }
        uint32_t seq = atomic_load_explicit(&thr->wake_seq, memory_order_acquire);
        /* seq_cst: before ready()'s seq_cst loads, against a finisher's
         * seq_cst push or counter RMW then load of `parked` (the header
         * comment), and an aside put's count store then load of it
         * (aside.c); a waker bumps wake_seq after our load above */
        atomic_store_explicit(&thr->parked, true, memory_order_seq_cst);
        if (ready(arg) || weft_cancelled(self) || weft_now() >= end)
            break;
        if (helps && need != NULL && weft__aside_holds(thr->sched, need)) {
            atomic_store_explicit(&thr->parked, false, memory_order_relaxed);
            continue; /* a deeper frame set a task of need aside: take it */
        }
        weft__futex_wait_until(&thr->wake_seq, seq, end);
        atomic_store_explicit(&thr->parked, false, memory_order_relaxed);
    }
    atomic_store_explicit(&thr->parked, false, memory_order_relaxed);
    if (lent)
        weft__slot_reclaim(thr);
    if (watched)
        weft_on_cancel_remove(&cb);
    if (ready(arg))
        return 0;
    weft__cancel_at_deadline(self); /* ended at the deadline: the flag goes up first */
    int reason = weft_cancel_reason(self);
    return reason != 0 ? reason : ETIMEDOUT;
}

static int timed_wait(struct weft__thread *thr, weft_task *self, weft_time until,
                      bool (*ready)(void *arg), void *arg, const struct weft__scope *need)
{
    if (ready(arg))
        return 0;
    weft_time begin = thr->trace != NULL ? weft_now() : 0;
    int rc = wait_for(thr, self, until, ready, arg, need);
    if (thr->trace != NULL)
        weft__trace_emit(thr->sched->trace_log, WEFT__TR_WAIT, NULL, begin, weft_now() - begin, rc, 0);
    return rc;
}

int weft__timed_wait(struct weft__thread *thr, weft_task *self, weft_time until,
                     bool (*ready)(void *arg), void *arg)
{
    return timed_wait(thr, self, until, ready, arg, NULL);
}

int weft__timed_wait_tasks(struct weft__thread *thr, weft_task *self, weft_time until,
                           bool (*ready)(void *arg), void *arg, const struct weft__scope *need)
{
    return timed_wait(thr, self, until, ready, arg, need);
}
