/*
 * Batched steals. A thief of many small tasks (flat spawns: each stolen
 * task ends without spawning) pays a steal per task, and every steal moves
 * the victim's bottom and a slot across cores while the victim keeps
 * pushing; a thief that keeps up that way keeps the deque shallow and both
 * threads slow. So such a thief, finding WEFT__BATCH_SHED_MIN queued,
 * asks instead, and waits a little watching only the victim's batch,
 * while the victim's holder, at its next push or pop, takes up to half of
 * its oldest frames at once (weft__deque_frames_take_oldest_
 * owner: one CAS) into its slot's batch, which one taker empties with one
 * CAS and pushes on its own deque: steal-half, as Go's runtime and Tokio
 * do, but claimed by the owner, who alone knows bottom exactly (a thief's
 * claim of several items races the owner's fence-free pops:
 * deque/chase_lev.h).
 *
 * A batch is work like a queued task: weft__work_visible counts it (a
 * parker does not sleep past it), a slot holding one is not given up,
 * thieves take it, and its holder takes it back when its own deque runs
 * dry (weft__find_work), so a join waiting for tasks of its group that
 * sit there never depends on a thief. While the holder moves frames in,
 * and while a taker moves them out, they are in no deque and no ready
 * batch: each of those threads is awake and runs or queues them next.
 *
 * The array is reused: the holder writes it only when `count` is 0, which
 * a taker stores (release) after it copied the frames out (acquire load by
 * the holder); the holder publishes it with a release store of the count,
 * which a taker's acquiring CAS reads. Only the holder turns 0 into n, so
 * no two writers meet in the array.
 */
#include "config.h"

#include <ck_pr.h>

#include "sched/sched.h"

/* A waiting thief looks at the batch every POLL_SPINS pauses, at most
 * WAIT_POLLS times: 256 pauses, some 5 us on this project's machines (a
 * pause is 10-20 ns), in which a holder that pushes or pops answers (it
 * has WEFT__BATCH_SHED_MIN queued when asked). A holder in a long task
 * does not: the thief falls back to single steals (scheduler.c). */
enum { WAIT_POLLS = 16, POLL_SPINS = 16 };

void weft__batch_shed(struct weft__slot *slot)
{
    struct weft__batch *b = &slot->batch;
    /* acquire: the last taker's copy of the array happened before its
     * store of 0, so the writes below cannot reach it */
    if (atomic_load_explicit(&b->count, memory_order_acquire) != 0) {
        /* the last batch is still there, or being taken: that answers it */
        atomic_store_explicit(&b->wanted, false, memory_order_relaxed);
        return;
    }
    if (weft__deque_frames_size(&slot->deque) < WEFT__BATCH_SHED_MIN)
        return; /* the request stands: asked again at the next push */
    atomic_store_explicit(&b->wanted, false, memory_order_relaxed);
    size_t n = weft__deque_frames_take_oldest_owner(&slot->deque, &b->frames[0].words,
                                                    WEFT__BATCH_MAX);
    /* release: publishes the array */
    if (n > 0)
        atomic_store_explicit(&b->count, (int)n, memory_order_release);
}

/* thr took the frames [0, n) of another slot's batch: what their steals
 * record, once per group in a row of the same (a hint for its joiner).
 * Before they are pushed: from then on another thief may take them. */
static void note_stolen(struct weft__thread *thr, const union weft__task_frame *frames, int n)
{
    weft__count_add(&thr->slot->stats.steals, (uint64_t)n);
    weft__count_add(&thr->slot->stats.batch_steals, (uint64_t)n);
    const struct weft__scope *last = NULL;
    for (int i = 0; i < n; i++) {
        if (frames[i].f.desc == NULL && frames[i].f.scope == last)
            continue;
        last = frames[i].f.scope;
        struct weft_task scratch;
        struct weft_task *t = weft__task_of_frame(&frames[i], &scratch);
        const struct weft__task_kind_ops *kind = weft__task_kind_of(thr, t);
        if (kind->stolen != NULL)
            kind->stolen(t, thr->slot);
    }
}

struct weft_task *weft__batch_take(struct weft__thread *thr, struct weft__slot *from,
                                   struct weft_task *scratch)
{
    struct weft__batch *b = &from->batch;
    int n = atomic_load_explicit(&b->count, memory_order_relaxed);
    /* acquire: the holder's writes of the array before its release store of n */
    if (n <= 0 || !atomic_compare_exchange_strong_explicit(&b->count, &n, WEFT__BATCH_CLAIMED,
                                                           memory_order_acquire,
                                                           memory_order_relaxed))
        return NULL;
    struct weft__slot *mine = thr->slot;
    if (from != mine)
        note_stolen(thr, b->frames, n);
    union weft__task_frame first = b->frames[0];
    int i = 1;
    for (; i < n; i++)
        if (weft__slot_push(mine, &b->frames[i]) != 0)
            break; /* out of memory: the rest stays in the batch */
    int left = n - i;
    for (int k = 0; k < left; k++)
        b->frames[k] = b->frames[i + k];
    /* release: the copies above happened before; the holder may reuse the
     * array (or a taker take the rest) once it reads this */
    atomic_store_explicit(&b->count, left, memory_order_release);
    if (i > 1)
        weft__notify_push(mine);
    return weft__task_of_frame(&first, scratch);
}

struct weft_task *weft__batch_wait(struct weft__thread *thr, struct weft__slot *victim,
                                   struct weft_task *scratch)
{
    struct weft__batch *b = &victim->batch;
    /* a store only when needed, so the holder's copy of the line stays valid */
    if (!atomic_load_explicit(&b->wanted, memory_order_relaxed))
        atomic_store_explicit(&b->wanted, true, memory_order_relaxed);
    for (unsigned i = 0; i < WAIT_POLLS; i++) {
        if (weft__batch_ready(victim)) {
            struct weft_task *t = weft__batch_take(thr, victim, scratch);
            if (t != NULL)
                return t;
        }
        for (unsigned k = 0; k < POLL_SPINS; k++)
            ck_pr_stall();
    }
    return NULL;
}
