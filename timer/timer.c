/*
 * The deadline timer: one thread, a binary min-heap of intrusive entries, a
 * mutex, and two condition variables. Its one user is scope_deadline.c:
 * each entry cancels a scope whose own deadline passed (a group's, a
 * task's, an entered scope's, a job's, a detached task's). Timed waits
 * (sleeps, retry back-offs) sleep on their own futex until their end and
 * are woken early by that cancel.
 *
 * What it guarantees
 *   - An entry fires at most once per add, on the timer thread, never before
 *     its deadline (the thread reads weft_now() after waking and fires only
 *     entries whose deadline is <= now), earliest deadline first, equal
 *     deadlines in add order.
 *   - Nothing polls the clock. The thread sleeps in pthread_cond_timedwait on
 *     a CLOCK_MONOTONIC condvar (weft_now()'s clock) until the earliest
 *     deadline; an add that becomes the new earliest signals it, so an entry
 *     added while the thread sleeps toward a later one fires on time. On an
 *     idle machine a fire is late by the wake-up latency (tens of µs) plus
 *     the fire callbacks queued before it: callbacks must be short.
 *   - remove is exact against fire. The thread takes an entry out of the heap
 *     and records it in `firing` in one critical section, so remove (which
 *     looks at both under the same lock) sees the entry either queued, and
 *     takes it out (true: it will not fire), or taken by the thread (false:
 *     its fire runs or ran), never both, never neither.
 *   - When remove returns, e's fire is not running and e is not queued, so
 *     the caller may free e. If e is firing, remove waits on `fired`, which
 *     the thread broadcasts after every callback that a remover waits for.
 *     `fire_gen` counts fires so a remover waits for the fire it saw, not for
 *     a later fire of the same entry re-added meanwhile by someone else.
 *     While a remover waits, an add of the firing entry (a periodic fire
 *     re-adding itself) is dropped: the remover linearises after that add.
 *     Without this a fire re-adding itself with a past deadline would be
 *     fired again by the thread before the remover got the lock, forever.
 *   - remove from inside e's own fire (the timer thread, seen by a
 *     thread-local pointer to the timer it runs) does not wait: waiting for
 *     yourself is a deadlock. It returns false, or true if the fire had
 *     re-added e.
 *
 * What it does not
 *   - No lock-free path: every add and remove takes the timer's mutex. Timers
 *     are set per group or per sleep, not per spawn.
 *   - Precision is the kernel's: a loaded machine delays the thread. A
 *     deadline earlier than the callbacks before it fires after them.
 *   - The heap never shrinks. destroy drops queued entries without firing
 *     them; it must not run concurrently with add or remove, nor from a fire.
 *   - An entry's deadline must not change while it is queued (the heap's
 *     order reads it under the lock; the caller writes it without).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <weft/weft.h>

#include "base/alloc.h"
#include "base/thread.h"
#include "timer/timer.h"

enum {
    INITIAL_CAPACITY = 16,
    TIMER_STACK = 64 << 10 /* fire callbacks are short */
};

struct weft__timer {
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t wake;  /* the thread: a new earliest entry, or stop (CLOCK_MONOTONIC) */
    pthread_cond_t fired; /* removers: the firing entry's callback returned */
    struct weft__timer_entry **heap;
    size_t n, cap;
    uint64_t next_seq;
    struct weft__timer_entry *firing; /* callback running now, or NULL */
    uint64_t fire_gen;                /* fires begun */
    bool firing_cancelled;            /* a remover waits: drop re-adds of `firing` */
    unsigned removers_waiting;
    bool stopping;
    pthread_t thread;
};

/* The timer whose thread this is; NULL on every other thread. */
static __thread const struct weft__timer *timer_self;

/* ---- the heap (lock held) ---- */

static bool earlier(const struct weft__timer_entry *a, const struct weft__timer_entry *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(struct weft__timer *t, size_t i, struct weft__timer_entry *e)
{
    t->heap[i] = e;
    e->heap_index = i;
}

static void sift_up(struct weft__timer *t, size_t i)
{
    struct weft__timer_entry *e = t->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(e, t->heap[parent]))
            break;
        place(t, i, t->heap[parent]);
        i = parent;
    }
    place(t, i, e);
}

static void sift_down(struct weft__timer *t, size_t i)
{
    struct weft__timer_entry *e = t->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= t->n)
            break;
        if (child + 1 < t->n && earlier(t->heap[child + 1], t->heap[child]))
            child++;
        if (!earlier(t->heap[child], e))
            break;
        place(t, i, t->heap[child]);
        i = child;
    }
    place(t, i, e);
}

static bool queued(const struct weft__timer *t, const struct weft__timer_entry *e)
{
    return e->heap_index < t->n && t->heap[e->heap_index] == e;
}

static void heap_delete(struct weft__timer *t, struct weft__timer_entry *e)
{
    size_t i = e->heap_index;
    e->heap_index = WEFT__TIMER_NOT_QUEUED;
    struct weft__timer_entry *last = t->heap[--t->n];
    if (i == t->n)
        return;
    place(t, i, last);
    if (i > 0 && earlier(last, t->heap[(i - 1) / 2]))
        sift_up(t, i);
    else
        sift_down(t, i);
}

static int heap_grow(struct weft__timer *t)
{
    if (t->cap > SIZE_MAX / 2 / sizeof *t->heap)
        return ENOMEM;
    struct weft__timer_entry **bigger = weft__alloc(2 * t->cap * sizeof *bigger);
    if (bigger == NULL)
        return ENOMEM;
    memcpy(bigger, t->heap, t->n * sizeof *bigger);
    weft__free(t->heap);
    t->heap = bigger;
    t->cap *= 2;
    return 0;
}

/* ---- the thread ---- */

static void sleep_until(struct weft__timer *t, weft_time deadline)
{
    if (deadline == WEFT_NEVER) {
        pthread_cond_wait(&t->wake, &t->lock);
        return;
    }
    struct timespec ts = {.tv_sec = deadline / WEFT_SEC, .tv_nsec = deadline % WEFT_SEC};
    pthread_cond_timedwait(&t->wake, &t->lock, &ts); /* 0 or ETIMEDOUT: look again */
}

static void *timer_main(void *arg)
{
    struct weft__timer *t = arg;
    timer_self = t;
    /* it names itself, before anything can read its name (the trace) */
    pthread_setname_np(pthread_self(), "weft-timer"); /* best effort */
    /* this thread only: the default 50 us of slack doubled the median lateness
     * (about 100 us to 50 us on the 2-core CI machine); best effort */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        if (t->n == 0) {
            pthread_cond_wait(&t->wake, &t->lock);
            continue;
        }
        struct weft__timer_entry *e = t->heap[0];
        if (e->deadline > weft_now()) {
            sleep_until(t, e->deadline);
            continue;
        }
        /* one critical section: remove sees e queued or firing, never neither */
        heap_delete(t, e);
        t->firing = e;
        t->fire_gen++;
        t->firing_cancelled = false;
        pthread_mutex_unlock(&t->lock);
        e->fire(e);
        pthread_mutex_lock(&t->lock);
        t->firing = NULL;
        if (t->removers_waiting != 0)
            pthread_cond_broadcast(&t->fired);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- the API ---- */

int weft__timer_create(struct weft__timer **out)
{
    struct weft__timer *t = weft__alloc_zeroed(sizeof *t);
    if (t == NULL)
        return ENOMEM;
    int rc = ENOMEM;
    t->heap = weft__alloc(INITIAL_CAPACITY * sizeof *t->heap);
    if (t->heap == NULL)
        goto fail_heap;
    t->cap = INITIAL_CAPACITY;

    pthread_condattr_t attr;
    if ((rc = pthread_mutex_init(&t->lock, NULL)) != 0)
        goto fail_lock;
    if ((rc = pthread_condattr_init(&attr)) != 0)
        goto fail_attr;
    if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0 ||
        (rc = pthread_cond_init(&t->wake, &attr)) != 0)
        goto fail_wake;
    if ((rc = pthread_cond_init(&t->fired, NULL)) != 0)
        goto fail_fired;
    if ((rc = weft__thread_start(&t->thread, TIMER_STACK, NULL, timer_main, t)) != 0)
        goto fail_thread;
    pthread_condattr_destroy(&attr);
    *out = t;
    return 0;

fail_thread:
    pthread_cond_destroy(&t->fired);
fail_fired:
    pthread_cond_destroy(&t->wake);
fail_wake:
    pthread_condattr_destroy(&attr);
fail_attr:
    pthread_mutex_destroy(&t->lock);
fail_lock:
    weft__free(t->heap);
fail_heap:
    weft__free(t);
    return rc;
}

void weft__timer_destroy(struct weft__timer *t)
{
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);

    for (size_t i = 0; i < t->n; i++)
        t->heap[i]->heap_index = WEFT__TIMER_NOT_QUEUED; /* dropped, may be re-added elsewhere */
    weft__free(t->heap);
    pthread_cond_destroy(&t->fired);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    weft__free(t);
}

int weft__timer_add(struct weft__timer *t, struct weft__timer_entry *e)
{
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    if (queued(t, e)) {
        rc = EBUSY;
    } else if (e == t->firing && t->firing_cancelled) {
        /* a remover waits for this fire to end: it linearises after this add */
        e->heap_index = WEFT__TIMER_NOT_QUEUED;
    } else if (t->n < t->cap || (rc = heap_grow(t)) == 0) {
        e->seq = t->next_seq++;
        place(t, t->n++, e);
        sift_up(t, t->n - 1);
        if (e->heap_index == 0)
            pthread_cond_signal(&t->wake); /* new earliest: the thread sleeps too long */
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

bool weft__timer_remove(struct weft__timer *t, struct weft__timer_entry *e)
{
    bool removed = false;
    pthread_mutex_lock(&t->lock);
    if (queued(t, e)) {
        heap_delete(t, e);
        removed = true;
    }
    if (t->firing == e && timer_self != t) {
        uint64_t gen = t->fire_gen;
        t->firing_cancelled = true;
        t->removers_waiting++;
        while (t->firing == e && t->fire_gen == gen)
            pthread_cond_wait(&t->fired, &t->lock);
        t->removers_waiting--;
    }
    pthread_mutex_unlock(&t->lock);
    return removed;
}
