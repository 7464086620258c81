/*
 * Aside lists: where a join puts tasks it popped but may not run nested.
 *
 * A join runs from its own deque what its group needs, and anything else
 * only while its thread's stack has room (weft__stack_room); past that line
 * it sets the task aside in its slot's list, which any thread with room
 * drains: the same thread once its joins have unwound, or a thief. So
 * helping nests at most down to the line, whatever the program spawns
 * (oneTBB calls this isolation). Rare by design: only joins deep in the
 * stack come here, so a mutex is enough, and `count` lets every reader that
 * finds the list empty pass it with one load and no lock.
 *
 * Who takes what:
 *  - the slot's holder, with stack room: any task, newest first (its
 *    worker loop drains the list before it steals);
 *  - a thief with stack room: any task, oldest first, from any slot,
 *    whether held or not (steal_any);
 *  - a join without room: tasks of its own group, from any slot. A deeper
 *    join on its own thread, or a join on another thread, may have set
 *    them aside, and this join may be the only frame able to run them.
 *
 * Progress. A task set aside stays visible: weft__work_visible counts the
 * lists, and the put wakes an idle worker as a push does (same Dekker pair,
 * park.c). A joiner without room parks unlisted and takes only tasks of its
 * group, so a put of such a task wakes it by name: the put's seq_cst count
 * store then its load of the owner's `parked`, against the parker's seq_cst
 * store of `parked` then its look (weft__aside_holds): one of them sees the
 * other.
 *
 * The list is a ring of pointers, oldest first, not a chain through the
 * descriptors: a queued TIMED task's `next` word holds its deadline. A
 * task popped from a frame without a descriptor gets one when set aside. It
 * grows by doubling under the lock; without memory the put fails and the
 * joiner runs the task nested after all (past the line, but nothing lost).
 * Workers exit only when no list holds a task (weft__work_visible), so a
 * list is empty when its slot is freed.
 */
#include "config.h"

#include "base/alloc.h"
#include "sched/sched.h"

enum { INITIAL_CAPACITY = 64 };

void weft__aside_init(struct weft__aside *a)
{
    pthread_mutex_init(&a->lock, NULL);
    a->buf = NULL;
    a->cap = 0;
    a->head = 0;
    atomic_init(&a->count, 0);
}

void weft__aside_fini(struct weft__aside *a)
{
    pthread_mutex_destroy(&a->lock);
    weft__free(a->buf);
    a->buf = NULL;
}

/* Under the lock: double the ring (a power of two), keeping the order. */
static bool grow_locked(struct weft__aside *a)
{
    size_t cap = a->cap != 0 ? 2 * a->cap : INITIAL_CAPACITY;
    struct weft_task **buf = weft__alloc(cap * sizeof *buf);
    if (buf == NULL)
        return false;
    size_t n = atomic_load_explicit(&a->count, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        buf[i] = a->buf[(a->head + i) & (a->cap - 1)];
    weft__free(a->buf);
    a->buf = buf;
    a->cap = cap;
    a->head = 0;
    return true;
}

/* t came from a frame without a descriptor: the copy on the caller's stack
 * cannot wait in a list, so it gets a descriptor (NULL: no memory). */
static struct weft_task *descriptor_for(struct weft__slot *slot, struct weft_task *t)
{
    if (t->home != WEFT__TASK_ON_STACK)
        return t;
    struct weft_task *d = weft__task_alloc(slot);
    if (d != NULL) {
        d->fn = t->fn;
        d->arg = t->arg;
        d->scope = t->scope;
        d->kind = t->kind;
        d->open_groups = 0;
    }
    return d;
}

bool weft__aside_put(struct weft__thread *thr, struct weft_task *t)
{
    struct weft__sched *sched = thr->sched;
    struct weft__aside *a = &thr->slot->aside;
    struct weft_task *given = t;
    t = descriptor_for(thr->slot, t);
    if (t == NULL)
        return false;
    /* read before t is visible: a thief may run it and end its group */
    const struct weft__task_kind_ops *kind = weft__task_kind_of(thr, t);
    struct weft__thread *owner = kind->waiter != NULL ? kind->waiter(t) : NULL;
    pthread_mutex_lock(&a->lock);
    size_t n = atomic_load_explicit(&a->count, memory_order_relaxed);
    if (n == a->cap && !grow_locked(a)) {
        pthread_mutex_unlock(&a->lock);
        if (t != given)
            weft__task_free(thr->slot, t); /* the caller runs its own copy */
        return false;
    }
    a->buf[(a->head + n) & (a->cap - 1)] = t;
    /* seq_cst: against a parked owner's store of `parked` then its look
     * (weft__aside_holds), paired with the load of `parked` below */
    atomic_store_explicit(&a->count, n + 1, memory_order_seq_cst);
    pthread_mutex_unlock(&a->lock);
    weft__notify_work(sched); /* as a push: an idle worker may take it */
    if (owner != NULL && owner != thr && atomic_load_explicit(&owner->parked, memory_order_seq_cst))
        weft__wake_thread(sched, owner); /* a waiter without room takes only the tasks it waits for */
    return true;
}

/* Under the lock: remove entry i (0: the oldest) of n, closing the gap. */
static struct weft_task *remove_locked(struct weft__aside *a, size_t i, size_t n)
{
    size_t mask = a->cap - 1;
    struct weft_task *t = a->buf[(a->head + i) & mask];
    if (i == 0) {
        a->head = (a->head + 1) & mask;
    } else {
        for (size_t j = i; j + 1 < n; j++)
            a->buf[(a->head + j) & mask] = a->buf[(a->head + j + 1) & mask];
    }
    atomic_store_explicit(&a->count, n - 1, memory_order_relaxed);
    return t;
}

struct weft_task *weft__aside_take(struct weft__slot *s, const struct weft__scope *need,
                                   bool newest)
{
    struct weft__aside *a = &s->aside;
    if (atomic_load_explicit(&a->count, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&a->lock);
    size_t n = atomic_load_explicit(&a->count, memory_order_relaxed);
    struct weft_task *t = NULL;
    if (n != 0 && need == NULL) {
        t = remove_locked(a, newest ? n - 1 : 0, n);
    } else if (n != 0) {
        /* newest first: a scope's tasks were set aside after the outer ones */
        for (size_t i = n; i-- > 0;) {
            if (weft__task_in(a->buf[(a->head + i) & (a->cap - 1)], need)) {
                t = remove_locked(a, i, n);
                break;
            }
        }
    }
    pthread_mutex_unlock(&a->lock);
    return t;
}

struct weft_task *weft__aside_take_of(struct weft__thread *thr, const struct weft__scope *need)
{
    struct weft_task *t = weft__aside_take(thr->slot, need, true);
    if (t != NULL)
        return t;
    struct weft__sched *sched = thr->sched;
    unsigned n = weft__nthreads(sched);
    for (unsigned i = 0; i < n; i++)
        if (sched->slots[i] != thr->slot && (t = weft__aside_take(sched->slots[i], need, true)) != NULL)
            return t;
    return NULL;
}

bool weft__aside_holds(struct weft__sched *sched, const struct weft__scope *need)
{
    unsigned n = weft__nthreads(sched);
    for (unsigned i = 0; i < n; i++) {
        struct weft__aside *a = &sched->slots[i]->aside;
        /* seq_cst: the parker's half of the pair in weft__aside_put */
        if (atomic_load_explicit(&a->count, memory_order_seq_cst) == 0)
            continue;
        pthread_mutex_lock(&a->lock);
        size_t k = atomic_load_explicit(&a->count, memory_order_relaxed);
        bool found = false;
        for (size_t j = 0; j < k && !found; j++)
            found = weft__task_in(a->buf[(a->head + j) & (a->cap - 1)], need);
        pthread_mutex_unlock(&a->lock);
        if (found)
            return true;
    }
    return false;
}
