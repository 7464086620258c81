/*
 * Waiting on a group without ending it: weft_group_wait (all of its tasks,
 * up to a deadline: asyncio's wait(timeout=)), and weft_group_next for a
 * WEFT_STREAM group (one completion at a time, in completion order:
 * as_completed, FIRST_COMPLETED, FIRST_EXCEPTION). Neither cancels
 * anything; the group must still be joined.
 *
 * A STREAM task's descriptor is its completion record: at its end it goes,
 * with its status, onto the group's `completed` stack (a Treiber stack,
 * newest first). The owner takes the whole stack when its own queue is
 * empty and reverses it, so it hands completions out oldest first; the
 * order is that of the pushes, which is the order in which tasks ended.
 * With a finite deadline both are timed waits (timed_wait.c).
 *
 * Waking the owner. weft_group_next sleeps until a completion is pushed or
 * the group ends; the task that ends wakes the owner only if it sees
 * `parked` (weft__group_remote_done). That is a store-buffering (Dekker)
 * pair, and every access in it is seq_cst:
 *   owner:    store parked = true         then load completed, done_remote
 *   finisher: CAS completed (push), RMW done_remote   then load parked
 * (timed_wait.c, weft__stream_push, group.c). Seq_cst accesses lie in one
 * total order S that agrees with program order. If the finisher's load of
 * parked read false, it comes before the owner's store in S, so its push
 * does too, and the owner's seq_cst load of `completed` after that store
 * reads the push (or a later push: only the owner takes the stack). So
 * either the owner sees a completion or the finisher sees it parked and
 * wakes it. With an acquire load of `completed` and a release push, as
 * before, C11 orders nothing: the load may read the stack as it was before
 * the push even though it follows the seq_cst store (ARMv8 compiles it to
 * LDAPR, which may complete before an earlier STLR), and the owner slept
 * past a completion until the next one, or its deadline (issue 17, hole 3;
 * x86 hides it: its seq_cst store is an xchg, a full barrier). No test can
 * fail on x86; models/park.pml's -DSTREAM variants check the protocol and
 * reject the acquire load's reordering.
 */
#include "config.h"

#include <errno.h>

#include "group/group.h"

static bool all_ended(void *g)
{
    return weft__group_finished(g);
}

int weft_group_wait(weft_group *gp, weft_time deadline)
{
    struct weft__thread *thr = weft__self_thread;
    struct weft__group *g = weft__group_of_owner(gp, thr);
    if (g == NULL)
        return EINVAL; /* not a live group, or not its owner */
    /* A timed wait even with no limit: a cancel of the caller must end it
     * at once, and helping as join does would run until g's tasks end,
     * which a task that does not poll weft_cancelled, or a shielded g,
     * delays at will. The slot goes to a spare meanwhile, which runs g's
     * queued tasks; without one the wait helps (timed_wait.c). */
    return weft__timed_wait_tasks(thr, thr->current, deadline, all_ended, g, &g->scope);
}

static bool completion_or_end(void *g)
{
    struct weft__group *s = g;
    /* seq_cst: after the waiter's store of `parked`, against the push then
     * load of `parked` of a finisher (the header comment) */
    return s->stream_head != NULL ||
           atomic_load_explicit(&s->completed, memory_order_seq_cst) != NULL ||
           weft__group_finished(s);
}

int weft_group_next(weft_group *gp, weft_time deadline, void **arg, int *status)
{
    struct weft__thread *thr = weft__self_thread;
    struct weft__group *g = weft__group_of_owner(gp, thr);
    if (g == NULL || (weft__group_flags(g) & WEFT_STREAM) == 0)
        return EINVAL;
    weft_task *self = thr->current;
    int rc = weft__timed_wait_tasks(thr, self, deadline, completion_or_end, g, &g->scope);
    /* finished first, then the stack: a task pushes before it counts as ended */
    bool ended = weft__group_finished(g);
    struct weft_task *t = weft__stream_pop(g);
    if (t == NULL)
        return ended ? ENOENT : rc;
    if (arg != NULL)
        *arg = t->arg;
    if (status != NULL)
        *status = t->status;
    weft__task_free(thr->slot, t);
    return 0;
}
