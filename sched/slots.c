/*
 * Worker threads and the slots they hold: the worker loop (find, spin,
 * park), thread starts, and the slot hand-off by which timed waits keep the
 * pool's parallelism.
 *
 * A worker about to wait for a while (weft_sleep; later job waits, timed
 * group waits, retry back-off) cannot run tasks meanwhile, and its stack
 * holds the waiting task, so the thread cannot move on. What can move is
 * its slot (deque, descriptor free list, counters): the waiter hands it to
 * a spare thread, which runs the worker loop with it, the waiter's queued
 * children included. Go hands its P to another M at a blocking syscall;
 * Java's ManagedBlocker starts a compensating thread.
 *
 * Invariants, all under slot_lock:
 *  - As many slots as threads. A spare thread is started together with one
 *    new extra slot (index >= workers). So a thread without a slot always
 *    finds one free: a waiter that wakes takes one at once and returns on
 *    time, instead of waiting for a worker to reach a task boundary.
 *  - A slot is held by at most one thread. Base slots (ids 0..workers-1)
 *    are what weft_worker_id reports, so two running tasks never share an
 *    id. A task running on an extra slot sees -1.
 *  - Threads holding a slot: R = (workers - n_base_free) + n_extra_held.
 *    A lend lowers R by one; when R would fall below workers, a spare takes
 *    a base slot. A reclaim may lift R above workers: a short
 *    over-subscription, bounded by the waiters waking at once.
 *    `rebalance` is set while R > workers. A thread between tasks, with an
 *    empty deque, then gives up its slot; a thread holding an extra slot
 *    does so whenever it is between tasks, or swaps it for a free base one.
 *    The spawn path never looks at any of this. The check is one relaxed
 *    load per top-level task.
 *  - Nothing runs under slot_lock but this bookkeeping, and a thread's start.
 *
 * A slot nobody holds may still have tasks in its deque or its aside list
 * (aside.c), which belongs to the slot like the deque (a waiter's queued
 * children when no spare was needed). Thieves see every slot, an idle worker
 * is woken for them, and the waiter takes its own slot back first if it is
 * still free.
 *
 * Threads are started at most WEFT__SPARE_MAX times beyond `workers` and
 * live until destroy. Past that, a waiter keeps its slot: the pool runs one
 * worker short while it waits, as it would without any of this.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/backoff.h"
#include "base/thread.h"
#include "sched/sched.h"

enum { INITIAL_DEQUE_CAPACITY = 256 };

void weft__slot_delete(struct weft__slot *s)
{
    if (s == NULL)
        return;
    weft__deque_frames_destroy(&s->deque);
    weft__aside_fini(&s->aside);
    weft__slot_pool_destroy(s);
    weft__free(s);
}

struct weft__slot *weft__slot_new(struct weft__sched *sched, unsigned id)
{
    struct weft__slot *s = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *s);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof *s);
    if (weft__deque_frames_init(&s->deque, INITIAL_DEQUE_CAPACITY) != 0) {
        weft__free(s);
        return NULL;
    }
    weft__deque_frames_set_readers(&s->deque, &sched->readers);
    s->id = id;
    s->sched = sched;
    atomic_init(&s->remote_free, NULL);
    weft__aside_init(&s->aside);
    return s;
}

static bool is_base(struct weft__sched *sched, const struct weft__slot *s)
{
    return s->id < sched->workers;
}

/* Under slot_lock: more threads hold a slot than `workers` (an extra holder
 * checks its own slot's id instead). */
static void update_rebalance(struct weft__sched *sched)
{
    atomic_store_explicit(&sched->rebalance, sched->n_extra_held > sched->n_base_free,
                          memory_order_relaxed);
}

/* Under slot_lock: s is held no more. */
static void put_free(struct weft__sched *sched, struct weft__slot *s)
{
    struct weft__slot **list = is_base(sched, s) ? &sched->base_free : &sched->extra_free;
    s->free_next = *list;
    *list = s;
    s->is_free = true;
    if (is_base(sched, s))
        sched->n_base_free++;
    else
        sched->n_extra_held--;
}

/* Under slot_lock: s (free) is held from now on. */
static void take(struct weft__sched *sched, struct weft__slot *s)
{
    struct weft__slot **p = is_base(sched, s) ? &sched->base_free : &sched->extra_free;
    while (*p != s)
        p = &(*p)->free_next;
    *p = s->free_next;
    s->free_next = NULL;
    s->is_free = false;
    if (is_base(sched, s))
        sched->n_base_free--;
    else
        sched->n_extra_held++;
}

/* Under slot_lock: register thread i with a new extra slot, free. */
static bool add_thread(struct weft__sched *sched, unsigned i)
{
    struct weft__slot *s = weft__slot_new(sched, i);
    if (s == NULL)
        return false;
    struct weft__thread *t = &sched->threads[i];
    t->sched = sched;
    t->rng = 0x9e3779b97f4a7c15ULL * (i + 1);
    sched->slots[i] = s;
    s->free_next = sched->extra_free;
    sched->extra_free = s;
    s->is_free = true;
    /* under grow_lock: a scan of every thread's state (a cancel's) holding
     * it either covers thread i, or ended before it was added, and then
     * thread i's tasks see what the scan did (the lock orders them) */
    pthread_mutex_lock(&sched->grow_lock);
    atomic_store_explicit(&sched->nthreads, i + 1, memory_order_release);
    pthread_mutex_unlock(&sched->grow_lock);
    return true;
}

/*
 * Under slot_lock: give the free base slot s to a spare thread, parked or
 * new. False when none can be had (limit reached, no memory, or the thread
 * would not start); s is then left as it was. *woken: a parked spare to
 * wake once the lock is dropped.
 */
static bool hand_to_spare(struct weft__sched *sched, struct weft__slot *s, struct weft__thread **woken)
{
    struct weft__thread *sp = sched->spares;
    if (sp != NULL) {
        sched->spares = sp->spare_next;
        take(sched, s);
        sp->slot = s;
        *woken = sp;
        return true;
    }
    /* a thread registered earlier whose start failed is tried again */
    unsigned n = atomic_load_explicit(&sched->nthreads, memory_order_relaxed);
    unsigned i = n;
    for (unsigned k = sched->workers; k < n; k++)
        if (!sched->threads[k].started) {
            i = k;
            break;
        }
    if (i == n && (n >= sched->max_threads || !add_thread(sched, n)))
        return false;
    take(sched, s);
    sched->threads[i].slot = s;
    if (weft__sched_start_thread(sched, i) != 0) {
        sched->threads[i].slot = NULL;
        put_free(sched, s);
        return false;
    }
    return true;
}

static void wake_spare(struct weft__thread *sp)
{
    /* release: the slot assignment, made under slot_lock, is re-read under it
     * anyway; the bump makes a futex_wait after the spare's check return */
    atomic_fetch_add_explicit(&sp->wake_seq, 1, memory_order_release);
    weft__futex_wake(&sp->wake_seq);
}

/* Traced (thr->trace set): a slot event of thr's, naming the slot. */
static void trace_slot(struct weft__thread *thr, enum weft__trace_kind kind,
                       const struct weft__slot *slot)
{
    weft__trace_append(thr->sched->trace_log, thr->trace, kind, NULL, weft_now(), -1, 0,
                       (int)slot->id);
}

bool weft__slot_lend(struct weft__thread *thr)
{
    struct weft__sched *sched = thr->sched;
    struct weft__slot *mine = thr->slot;
    if (mine == NULL)
        return false;
    /* the slot may stay unheld a while: its owners get their descriptors
     * now, and thieves its tasks (nobody pops a private one meanwhile) */
    weft__task_flush_returns(mine);
    weft__slot_share(thr);
    struct weft__thread *woken = NULL;
    pthread_mutex_lock(&sched->slot_lock);
    put_free(sched, mine);
    if (sched->n_base_free > sched->n_extra_held) {
        /* fewer than `workers` threads would hold a slot: a spare takes a
         * base one, ours first (its deque holds our queued children) */
        struct weft__slot *s = is_base(sched, mine) ? mine : sched->base_free;
        if (!hand_to_spare(sched, s, &woken)) {
            take(sched, mine);
            pthread_mutex_unlock(&sched->slot_lock);
            return false; /* wait holding it */
        }
    }
    thr->slot = NULL;
    thr->lent = mine;
    bool stranded = mine->is_free && (weft__deque_frames_size(&mine->deque) != 0 ||
                                      !weft__aside_empty(mine) || weft__batch_ready(mine));
    update_rebalance(sched);
    pthread_mutex_unlock(&sched->slot_lock);
    if (woken != NULL)
        wake_spare(woken);
    if (thr->trace != NULL)
        trace_slot(thr, WEFT__TR_LEND, mine);
    /* queued tasks in a slot nobody holds: thieves must go and look, since
     * the owner that would have popped them is gone */
    if (stranded && atomic_load_explicit(&sched->n_idle, memory_order_seq_cst) != 0)
        weft__wake_one(sched);
    return true;
}

void weft__slot_reclaim(struct weft__thread *thr)
{
    struct weft__sched *sched = thr->sched;
    pthread_mutex_lock(&sched->slot_lock);
    struct weft__slot *s = thr->lent;
    if (s == NULL || !s->is_free)
        s = sched->base_free != NULL ? sched->base_free : sched->extra_free;
    /* never NULL: as many slots as threads, and thr holds none */
    take(sched, s);
    thr->slot = s;
    thr->lent = NULL;
    update_rebalance(sched);
    pthread_mutex_unlock(&sched->slot_lock);
    if (thr->trace != NULL)
        trace_slot(thr, WEFT__TR_RECLAIM, s);
}

bool weft__slot_rebalance(struct weft__thread *thr)
{
    struct weft__sched *sched = thr->sched;
    struct weft__slot *s = thr->slot;
    weft__task_flush_returns(s);
    pthread_mutex_lock(&sched->slot_lock);
    if (!is_base(sched, s)) {
        put_free(sched, s);
        /* a base slot is free: swap; else R > workers without us: retire */
        thr->slot = sched->base_free;
        if (thr->slot != NULL)
            take(sched, thr->slot);
    } else if (sched->n_extra_held > sched->n_base_free) {
        put_free(sched, s); /* R > workers: the extra holder swaps to it later */
        thr->slot = NULL;
    }
    /* once listed, a lender may hand thr a slot at any time: from here on
     * thr->slot is read under the lock only (weft__spare_wait) */
    bool spare = thr->slot == NULL;
    if (spare) {
        thr->spare_next = sched->spares;
        sched->spares = thr;
    }
    update_rebalance(sched);
    pthread_mutex_unlock(&sched->slot_lock);
    return spare;
}

bool weft__spare_wait(struct weft__thread *thr)
{
    struct weft__sched *sched = thr->sched;
    for (;;) {
        uint32_t seq = atomic_load_explicit(&thr->wake_seq, memory_order_acquire);
        pthread_mutex_lock(&sched->slot_lock);
        bool has_slot = thr->slot != NULL;
        pthread_mutex_unlock(&sched->slot_lock);
        if (has_slot)
            return true;
        /* destroy sets stopping, then bumps every spare's wake_seq */
        if (atomic_load_explicit(&sched->stopping, memory_order_acquire))
            return false;
        if (thr->trace != NULL)
            weft__park_traced(thr, WEFT__TR_SPARE_IDLE, seq);
        else
            weft__futex_wait(&thr->wake_seq, seq);
    }
}

void weft__spares_wake_all(struct weft__sched *sched)
{
    pthread_mutex_lock(&sched->slot_lock);
    for (struct weft__thread *sp = sched->spares; sp != NULL; sp = sp->spare_next)
        wake_spare(sp);
    pthread_mutex_unlock(&sched->slot_lock);
}

/* ---- the worker loop, which a spare runs too ---- */

/* Every INJECT_EVERY tasks a worker looks at the injection queue first, so
 * roots submitted from outside are not starved by a worker that always has
 * local work (Go does the same). */
enum { INJECT_EVERY = 61 };

/* The worker loop's search: like find_work, but fair to the injection queue. */
static struct weft_task *next_task(struct weft__thread *thr, struct weft_task *scratch)
{
    if (++thr->local_runs >= INJECT_EVERY) {
        thr->local_runs = 0;
        struct weft_task *t = weft__inject_pop(thr->sched);
        if (t != NULL)
            return t;
    }
    return weft__find_work(thr, NULL, NULL, true, scratch);
}

static bool stopping(void *arg)
{
    struct weft__sched *sched = arg;
    return atomic_load_explicit(&sched->stopping, memory_order_acquire);
}

/* Worker thread i's name, its OS thread's and its trace track's: fits 15 chars. */
static void worker_name(char name[16], unsigned i)
{
    snprintf(name, 16, "weft-w%u", i & 0xffffu);
}

/* Traced: this thread's buffer; a spare says which slot it starts with. */
static void trace_start(struct weft__thread *thr)
{
    unsigned index = (unsigned)(thr - thr->sched->threads);
    char name[16];
    worker_name(name, index);
    thr->trace = weft__trace_thread_buf(thr->sched->trace_log, (int)index + 1, name);
    if (thr->trace != NULL && index >= thr->sched->workers)
        trace_slot(thr, WEFT__TR_TAKE, thr->slot);
}

static void *worker_main(void *arg)
{
    struct weft__thread *thr = arg;
    struct weft__sched *sched = thr->sched;
    weft__park_thread_start(thr);
    weft__self_thread_set(thr);
    if (sched->placement != NULL) /* its blocking and timer threads are not pinned */
        weft__thread_children_on(&sched->placement->allowed);
    /* helping while joining nests tasks on this stack: keep half of it for
     * the program's own recursion (the frame, not a local: see
     * weft__stack_room) */
    thr->stack_lo = (uintptr_t)__builtin_frame_address(0) - sched->stack_size / 2;
    if (WEFT__UNLIKELY(sched->trace_log != NULL))
        trace_start(thr);

    for (;;) {
        struct weft__slot *slot = thr->slot;
        if (WEFT__UNLIKELY(slot->id >= sched->workers ||
                           atomic_load_explicit(&sched->rebalance, memory_order_relaxed)) &&
            weft__deque_frames_size(&slot->deque) == 0 && weft__aside_empty(slot) &&
            !weft__batch_ready(slot)) {
            if (weft__slot_rebalance(thr)) {
                /* a thread woken by wake_one comes here counted as searching:
                 * a spare must drop that, or spawners would wake nobody */
                weft__searching_end(thr);
                weft__looking_end(thr); /* without a slot it steals nothing */
                if (!weft__spare_wait(thr))
                    break;
                if (WEFT__UNLIKELY(thr->trace != NULL))
                    trace_slot(thr, WEFT__TR_TAKE, thr->slot);
            }
        }
        struct weft_task scratch; /* the running task's, when it came from a plain frame */
        struct weft_task *t = next_task(thr, &scratch);
        if (t == NULL) {
            weft__looking_begin(thr);
            weft__searching_begin(thr);
            weft__backoff b;
            weft__backoff_init(&b);
            while (t == NULL && weft__backoff_wait(&b))
                t = weft__find_work(thr, NULL, NULL, true, &scratch);
        }
        if (t != NULL) {
            weft__looking_end(thr);
            weft__searching_end(thr);
            weft__frame_run(thr, t);
            continue;
        }
        if (stopping(sched) && !weft__work_visible(sched))
            break;
        weft__park(thr, stopping, sched);
    }
    weft__looking_end(thr);
    weft__searching_end(thr);
    weft__self_thread_set(NULL);
    sched->worker_exit(sched); /* last: an abandoned runtime may be freed there */
    return NULL;
}

int weft__sched_start_thread(struct weft__sched *sched, unsigned i)
{
    char name[16];
    worker_name(name, i);
    struct weft__thread *thr = &sched->threads[i];
    /* it looks for work as soon as it runs */
    weft__looking_begin(thr);
    /* pinned before its first task: worker i on its CPU, a spare (or an
     * unpinned worker) over the placement's spread */
    const cpu_set_t *cpus = NULL;
    cpu_set_t one;
    struct weft__placement *pl = sched->placement;
    if (pl != NULL) {
        cpus = &pl->spread;
        if (i < pl->workers && pl->cpu[i] >= 0) {
            CPU_ZERO(&one);
            CPU_SET((unsigned)pl->cpu[i], &one);
            cpus = &one;
        }
    }
    int rc = weft__thread_start_on(&thr->tid, sched->stack_size, name, worker_main, thr, cpus);
    thr->started = rc == 0;
    if (rc != 0)
        weft__looking_end(thr);
    return rc;
}
