/*
 * Where a thread finds its next task, and how it runs one (the worker
 * loop, which searches, spins and parks, is in slots.c with the slots it
 * holds).
 *
 * Order of search: the thread's own deque (LIFO: the freshest, cache-warm
 * task), then its own batch that no thief took (batch.c), its aside list,
 * then stealing (a victim's batch, else FIFO: the oldest, usually biggest,
 * task of a random victim's deque, or a batch of them for a thief of flat
 * spawns; then any aside list), then the injection queue of tasks from
 * outside. Every 61 tasks a worker looks at
 * the injection queue first, so roots submitted from outside are not
 * starved by a worker that always has local work (Go does the same).
 *
 * Nesting is bounded. A thread that waits (a join, an endless wait that
 * helps) runs the tasks it finds on top of the waiting frame. Those of the
 * group it waits for are the program's own recursion and always run. Any
 * other task (a steal, a detached task, a task of another group left on
 * its own deque by an outer frame or by a nested task that returned) runs
 * there only while weft__stack_room holds, that is while the frame is above
 * `stack_lo`, which keeps half of the worker's stack below it; past the
 * line such a task is set aside (aside.c) for a frame with room, the
 * worker loop included, or a thief. So helping nests at most down to the
 * line, and below it only the program's own joins nest, as deep as its own
 * recursion. A waiter past the line still takes its group's tasks from
 * every aside list, since it may be the only frame that can run them.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "base/alloc.h"
#include "base/backoff.h"
#include "sched/sched.h"
#include "base/utf8.h"

__thread struct weft__thread *weft__self_thread __attribute__((tls_model("initial-exec")));
_Thread_local void *weft_inline_self_ __attribute__((tls_model("initial-exec")));

/* A thief whose batch did not come waits again only after 2^misses single
 * steals, misses at most BATCH_MISSES_MAX. */
enum { STEAL_RETRIES = 4, BATCH_MISSES_MAX = 6 };

int weft__submit(struct weft__sched *sched, struct weft__thread *thr, struct weft_task *t)
{
    if (thr != NULL && thr->sched == sched && thr->slot != NULL) {
        union weft__task_frame q = {.f = {t->fn, t->arg, t->scope, t}};
        if (weft__slot_push(thr->slot, &q) != 0)
            return ENOMEM;
        weft__notify_push(thr->slot);
        return 0;
    }
    return weft__inject_push(sched, t);
}

/* thr took a task from victim's deque or aside list. */
static void count_steal(struct weft__thread *thr, struct weft__slot *victim)
{
    weft__count(&thr->slot->stats.steals);
    if (WEFT__UNLIKELY(thr->trace != NULL))
        weft__trace_append(thr->sched->trace_log, thr->trace, WEFT__TR_STEAL, NULL, weft_now(), -1, 0,
                           (int)victim->id);
}

/* What thr->steal_mark holds right after a steal by thr. */
static uint64_t steal_mark(struct weft__thread *thr)
{
    return 1 + atomic_load_explicit(&thr->slot->stats.spawns, memory_order_relaxed);
}

static struct weft_task *steal_from(struct weft__thread *thr, struct weft__slot *victim,
                                    struct weft_task *scratch)
{
    struct weft__slot *mine = thr->slot;
    if (weft__batch_ready(victim)) {
        weft__count(&mine->stats.steal_attempts);
        struct weft_task *t = weft__batch_take(thr, victim, scratch);
        if (t != NULL) {
            thr->steal_mark = steal_mark(thr);
            return t;
        }
    }
    /* what it stole last spawned nothing (flat spawns) and the victim has
     * enough queued to shed at once: a batch, rather than a steal per task */
    if (thr->steal_mark == steal_mark(thr) &&
        weft__deque_frames_size(&victim->deque) >= WEFT__BATCH_SHED_MIN) {
        if (thr->batch_skip > 0) {
            thr->batch_skip--;
        } else {
            struct weft_task *t = weft__batch_wait(thr, victim, scratch);
            if (t != NULL) {
                thr->batch_misses = 0;
                thr->steal_mark = steal_mark(thr);
                return t;
            }
            /* its holder did not answer (in a long task, or its slot is
             * held by nobody): single steals for a while, longer each time */
            if (thr->batch_misses < BATCH_MISSES_MAX)
                thr->batch_misses++;
            thr->batch_skip = 1u << thr->batch_misses;
        }
    }
    for (int tries = 0; tries < STEAL_RETRIES; tries++) {
        weft__count(&mine->stats.steal_attempts);
        union weft__task_frame q;
        weft__steal_status st = weft__deque_frames_steal(&victim->deque, &q.words);
        if (st == WEFT__STEAL_OK) {
            struct weft_task *t = weft__task_of_frame(&q, scratch);
            thr->steal_mark = steal_mark(thr);
            count_steal(thr, victim);
            const struct weft__task_kind_ops *kind = weft__task_kind_of(thr, t);
            if (kind->stolen != NULL)
                kind->stolen(t, mine);
            return t;
        }
        if (st == WEFT__STEAL_EMPTY)
            return NULL;
        if (st == WEFT__STEAL_ASKED) {
            /* the owner shares at its next push or pop, not sooner: look
             * elsewhere, and come back before parking (park.c). Unless the
             * request outlived the tasks (the owner popped the last one,
             * or a stale bottom made a thief ask) */
            if (weft__deque_frames_size(&victim->deque) != 0)
                thr->asked = true;
            return NULL;
        }
    }
    return NULL;
}

static struct weft_task *steal_any_of(struct weft__thread *thr, struct weft__slot *prefer,
                                      struct weft_task *scratch)
{
    struct weft__sched *sched = thr->sched;
    struct weft__slot *mine = thr->slot;
    struct weft_task *t;
    thr->asked = false;
    if (prefer != NULL && prefer != mine && (t = steal_from(thr, prefer, scratch)) != NULL)
        return t;
    unsigned n = weft__nthreads(sched);
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(weft__rng_next(&thr->rng) % n);
    for (unsigned i = 0; i < n; i++) {
        struct weft__slot *victim = sched->slots[(start + i) % n];
        if (victim != mine &&
            (weft__deque_frames_size(&victim->deque) != 0 || weft__batch_ready(victim)) &&
            (t = steal_from(thr, victim, scratch)) != NULL)
            return t;
    }
    /* tasks set aside by deep joins: rare, one load per slot to pass */
    for (unsigned i = 0; i < n; i++) {
        struct weft__slot *victim = sched->slots[(start + i) % n];
        if (victim != mine && (t = weft__aside_take(victim, NULL, false)) != NULL) {
            weft__count(&mine->stats.steal_attempts); /* one that could not lose */
            count_steal(thr, victim);
            return t;
        }
    }
    return NULL;
}

/* A steal from any slot, inside the epoch that keeps the victims' deque
 * buffers alive (deque/common.h). */
static struct weft_task *steal_any(struct weft__thread *thr, struct weft__slot *prefer,
                                   struct weft_task *scratch)
{
    weft__deque_reader_enter(&thr->steal_epoch);
    struct weft_task *t = steal_any_of(thr, prefer, scratch);
    weft__deque_reader_exit(&thr->steal_epoch);
    return t;
}

struct weft_task *weft__find_work(struct weft__thread *thr, const struct weft__scope *need,
                                  struct weft__slot *prefer, bool room,
                                  struct weft_task *scratch)
{
    struct weft__slot *mine = thr->slot;
    struct weft_task *t;
    union weft__task_frame q;
    /* its pops answer a thief's request as pushes and join pops do */
    if (WEFT__UNLIKELY(weft__batch_wanted(mine)))
        weft__batch_shed(mine);
    for (;;) {
        while (weft__deque_frames_pop_owner(&mine->deque, &q.words)) {
            t = weft__task_of_frame(&q, scratch);
            if (room || weft__task_in(t, need) || !weft__aside_put(thr, t))
                return t;
        }
        /* its own batch, which no thief took: back to its deque */
        if (!weft__batch_ready(mine) || (t = weft__batch_take(thr, mine, scratch)) == NULL)
            break;
        if (room || weft__task_in(t, need) || !weft__aside_put(thr, t))
            return t;
    }
    /* its deque is empty: a good time to free the buffers growth replaced */
    weft__deque_frames_reclaim_owner(&mine->deque);
    if (!room)
        return need != NULL ? weft__aside_take_of(thr, need) : NULL;
    if ((t = weft__aside_take(mine, NULL, true)) != NULL)
        return t;
    if ((t = steal_any(thr, prefer, scratch)) != NULL)
        return t;
    return weft__inject_pop(thr->sched);
}

void weft__frame_run_traced(struct weft__thread *thr, struct weft_task *t,
                            int (*body)(struct weft__thread *thr, struct weft_task *t))
{
    const struct weft__task_kind_ops *k = weft__task_kind_of(thr, t);
    int kind = (int)(t->kind & WEFT__TASK_KIND_MASK);
    /* the name now: the task's cleanup may free it, and t is recycled */
    char name[WEFT__TRACE_NAME_LEN];
    weft__utf8_copy(name, sizeof name, k->name != NULL ? k->name(t) : NULL);
    weft_time begin = weft_now();
    int rc = body(thr, t);
    weft__trace_append(thr->sched->trace_log, thr->trace, WEFT__TR_TASK, name, begin,
                       weft_now() - begin, rc, kind);
}

int weft__frame_run_body(struct weft__thread *thr, struct weft_task *t)
{
    int rc = weft__frame_call(thr, t);
    return weft__task_kind_of(thr, t)->end(thr, t, rc);
}
