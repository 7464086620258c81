/*
 * Workers: where a thread finds its next task, how it runs one, and the
 * worker loop (find, spin, park).
 *
 * Order of search: the thread's own deque (LIFO: the freshest, cache-warm
 * task), its aside list, then stealing (FIFO: the oldest, usually biggest,
 * task of a random victim's deque, then of any aside list), then the
 * injection queue of tasks from outside. Every 61 tasks a worker looks at
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

#include "runtime/alloc.h"
#include "runtime/backoff.h"
#include "runtime/internal.h"
#include "runtime/utf8.h"

__thread struct weft__thread *weft__self_thread __attribute__((tls_model("initial-exec")));

enum { INJECT_EVERY = 61, STEAL_RETRIES = 4 };

int weft__submit(weft_runtime *rt, struct weft__thread *thr, struct weft_task *t)
{
    if (thr != NULL && thr->rt == rt && thr->slot != NULL) {
        if (weft__deque_push_owner(&thr->slot->deque, t) != 0)
            return ENOMEM;
        weft__notify_work(rt);
        return 0;
    }
    return weft__inject_push(rt, t);
}

/* thr took a task from victim's deque or aside list. */
static void count_steal(struct weft__thread *thr, struct weft__slot *victim)
{
    weft__count(&thr->slot->stats.steals);
    if (WEFT__UNLIKELY(thr->trace != NULL))
        weft__trace_append(thr->rt->trace_log, thr->trace, WEFT__TR_STEAL, NULL, weft_now(), -1, 0,
                           (int)victim->id);
}

static struct weft_task *steal_from(struct weft__thread *thr, struct weft__slot *victim)
{
    struct weft__slot *mine = thr->slot;
    for (int tries = 0; tries < STEAL_RETRIES; tries++) {
        weft__count(&mine->stats.steal_attempts);
        void *item;
        weft__steal_status st = weft__deque_steal(&victim->deque, &item);
        if (st == WEFT__STEAL_OK) {
            struct weft_task *t = item;
            count_steal(thr, victim);
            /* not started: t->scope is its group's */
            if (WEFT__TASK_IN_GROUP(t->kind & WEFT__TASK_KIND_MASK))
                weft__group_note_thief(weft__group_of(t->scope), mine);
            return t;
        }
        if (st == WEFT__STEAL_EMPTY)
            return NULL;
    }
    return NULL;
}

static struct weft_task *steal_any(struct weft__thread *thr, struct weft__slot *prefer)
{
    weft_runtime *rt = thr->rt;
    struct weft__slot *mine = thr->slot;
    struct weft_task *t;
    if (prefer != NULL && prefer != mine && (t = steal_from(thr, prefer)) != NULL)
        return t;
    unsigned n = weft__nthreads(rt);
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(weft__rng_next(&thr->rng) % n);
    for (unsigned i = 0; i < n; i++) {
        struct weft__slot *victim = rt->slots[(start + i) % n];
        if (victim != mine && weft__deque_size(&victim->deque) != 0 &&
            (t = steal_from(thr, victim)) != NULL)
            return t;
    }
    /* tasks set aside by deep joins: rare, one load per slot to pass */
    for (unsigned i = 0; i < n; i++) {
        struct weft__slot *victim = rt->slots[(start + i) % n];
        if (victim != mine && (t = weft__aside_take(victim, NULL, false)) != NULL) {
            weft__count(&mine->stats.steal_attempts); /* one that could not lose */
            count_steal(thr, victim);
            return t;
        }
    }
    return NULL;
}

struct weft_task *weft__find_work(struct weft__thread *thr, struct weft__group *need,
                                  struct weft__slot *prefer, bool room)
{
    struct weft__slot *mine = thr->slot;
    struct weft_task *t;
    while ((t = weft__deque_pop_owner(&mine->deque)) != NULL) {
        /* not started: t->scope is its group's */
        if (room || weft__task_of_group(t, need) || !weft__aside_put(thr, t))
            return t;
    }
    if (!room)
        return need != NULL ? weft__aside_take_group(thr, need) : NULL;
    if ((t = weft__aside_take(mine, NULL, true)) != NULL)
        return t;
    if ((t = steal_any(thr, prefer)) != NULL)
        return t;
    return weft__inject_pop(thr->rt);
}

/* The worker loop's search: like find_work, but fair to the injection queue. */
static struct weft_task *next_task(struct weft__thread *thr)
{
    if (++thr->local_runs >= INJECT_EVERY) {
        thr->local_runs = 0;
        struct weft_task *t = weft__inject_pop(thr->rt);
        if (t != NULL)
            return t;
    }
    return weft__find_work(thr, NULL, NULL, true);
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
    weft__trace_append(thr->rt->trace_log, thr->trace, WEFT__TR_TASK, name, begin,
                       weft_now() - begin, rc, kind);
}

int weft__frame_run_body(struct weft__thread *thr, struct weft_task *t)
{
    int rc = weft__frame_call(thr, t);
    return weft__task_kind_of(thr, t)->end(thr, t, rc);
}

static bool stopping(void *arg)
{
    weft_runtime *rt = arg;
    return atomic_load_explicit(&rt->stopping, memory_order_acquire);
}

static void trace_slot(struct weft__thread *thr, enum weft__trace_kind kind)
{
    weft__trace_append(thr->rt->trace_log, thr->trace, kind, NULL, weft_now(), -1, 0,
                       (int)thr->slot->id);
}

/* Traced: this thread's buffer; a spare says which slot it starts with. */
static void trace_start(struct weft__thread *thr)
{
    unsigned index = (unsigned)(thr - thr->rt->threads);
    char name[16];
    snprintf(name, sizeof name, "weft-w%u", index & 0xffffu); /* as slots.c names it */
    thr->trace = weft__trace_thread_buf(thr->rt->trace_log, (int)index + 1, name);
    if (thr->trace != NULL && index >= thr->rt->workers)
        trace_slot(thr, WEFT__TR_TAKE);
}

void *weft__worker_main(void *arg)
{
    struct weft__thread *thr = arg;
    weft_runtime *rt = thr->rt;
    weft__park_thread_start(thr);
    weft__self_thread = thr;
    /* helping while joining nests tasks on this stack: keep half of it for
     * the program's own recursion (the frame, not a local: see
     * weft__stack_room) */
    thr->stack_lo = (uintptr_t)__builtin_frame_address(0) - rt->stack_size / 2;
    if (WEFT__UNLIKELY(rt->trace_log != NULL))
        trace_start(thr);

    for (;;) {
        struct weft__slot *slot = thr->slot;
        if (WEFT__UNLIKELY(slot->id >= rt->workers ||
                           atomic_load_explicit(&rt->rebalance, memory_order_relaxed)) &&
            weft__deque_size(&slot->deque) == 0 && weft__aside_empty(slot)) {
            if (weft__slot_rebalance(thr)) {
                /* a thread woken by wake_one comes here counted as searching:
                 * a spare must drop that, or spawners would wake nobody */
                weft__searching_end(thr);
                if (!weft__spare_wait(thr))
                    break;
                if (WEFT__UNLIKELY(thr->trace != NULL))
                    trace_slot(thr, WEFT__TR_TAKE);
            }
        }
        struct weft_task *t = next_task(thr);
        if (t == NULL) {
            weft__searching_begin(thr);
            weft__backoff b;
            weft__backoff_init(&b);
            while (t == NULL && weft__backoff_wait(&b))
                t = weft__find_work(thr, NULL, NULL, true);
        }
        if (t != NULL) {
            weft__searching_end(thr);
            weft__frame_run(thr, t);
            continue;
        }
        if (stopping(rt) && !weft__work_visible(rt))
            break;
        weft__park(thr, stopping, rt);
    }
    weft__searching_end(thr);
    weft__self_thread = NULL;
    rt->worker_exit(rt); /* last: an abandoned runtime may be freed there */
    return NULL;
}

int weft__thread_launch(weft_runtime *rt, unsigned i)
{
    char name[16];
    snprintf(name, sizeof name, "weft-w%u", i & 0xffffu); /* fits 15 chars */
    struct weft__thread *thr = &rt->threads[i];
    int rc = weft__thread_start(&thr->tid, rt->stack_size, name, weft__worker_main, thr);
    thr->started = rc == 0;
    return rc;
}
