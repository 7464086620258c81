/*
 * The injection queue: tasks submitted from outside the workers (weft_run's
 * roots, detached tasks and spawns from non-worker threads), taken by any
 * worker. A FIFO ring of descriptor pointers under a mutex: this is not the
 * spawn hot path, and a ring rather than a list through the descriptors
 * leaves their `next` word to a queued task's own deadline (sched.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "base/alloc.h"
#include "sched/sched.h"

enum { INITIAL_CAPACITY = 64 };

/* Under the lock: double the ring, keeping the order. */
static bool grow_locked(struct weft__inject *q)
{
    size_t cap = q->cap != 0 ? 2 * q->cap : INITIAL_CAPACITY;
    struct weft_task **buf = weft__alloc(cap * sizeof *buf);
    if (buf == NULL)
        return false;
    size_t n = atomic_load_explicit(&q->count, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        buf[i] = q->buf[(q->head + i) % q->cap];
    weft__free(q->buf);
    q->buf = buf;
    q->cap = cap;
    q->head = 0;
    return true;
}

int weft__inject_push(struct weft__sched *sched, struct weft_task *t)
{
    struct weft__inject *q = &sched->inject;
    pthread_mutex_lock(&q->lock);
    size_t n = atomic_load_explicit(&q->count, memory_order_relaxed);
    if (n == q->cap && !grow_locked(q)) {
        pthread_mutex_unlock(&q->lock);
        return ENOMEM;
    }
    q->buf[(q->head + n) % q->cap] = t;
    atomic_store_explicit(&q->count, n + 1, memory_order_relaxed);
    pthread_mutex_unlock(&q->lock);
    weft__notify_work(sched);
    return 0;
}

struct weft_task *weft__inject_pop(struct weft__sched *sched)
{
    struct weft__inject *q = &sched->inject;
    if (atomic_load_explicit(&q->count, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&q->lock);
    struct weft_task *t = NULL;
    size_t n = atomic_load_explicit(&q->count, memory_order_relaxed);
    if (n != 0) {
        t = q->buf[q->head];
        q->head = (q->head + 1) % q->cap;
        atomic_store_explicit(&q->count, n - 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&q->lock);
    return t;
}

void weft__inject_destroy(struct weft__sched *sched)
{
    pthread_mutex_destroy(&sched->inject.lock);
    weft__free(sched->inject.buf);
    sched->inject.buf = NULL;
}
