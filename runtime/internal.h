/*
 * The runtime's internal structures, shared by the files of runtime/.
 *
 * A runtime has `nslots` worker slots. A slot is what a worker needs to run
 * tasks: its deque, its free list of task descriptors, its counters. A
 * thread is an OS thread that runs tasks while it holds a slot. Today each
 * worker thread holds one slot for life; the split lets a thread about to
 * block hand its slot to a spare thread later (timed waits) without moving
 * any task.
 */
#ifndef WEFT_RUNTIME_INTERNAL_H
#define WEFT_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weft/weft.h>

#include "deque/deque.h"

#define WEFT__LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT__UNLIKELY(x) __builtin_expect(!!(x), 0)

struct weft__slot;
struct weft__thread;
struct weft__group;

/* Single-writer counter: plain increment on x86, yet readable from any thread. */
typedef _Atomic uint64_t weft__counter;
static inline void weft__count(weft__counter *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

enum weft__task_kind {
    WEFT__TASK_GROUP = 0,  /* spawned into a group, no options: the fast path */
    WEFT__TASK_GROUP_OPTS, /* spawned into a group with a name or a cleanup */
    WEFT__TASK_ROOT,       /* weft_run's task; `run` says whom to tell */
    WEFT__TASK_DETACHED    /* weft_spawn_detached */
};

struct weft__run_wait; /* runtime.c */

/* A task descriptor: one cache line, recycled through per-slot free lists. */
struct weft_task {
    weft_fn fn;
    void *arg;
    union {
        struct weft__group *group;  /* WEFT__TASK_GROUP, WEFT__TASK_GROUP_OPTS */
        struct weft__run_wait *run; /* WEFT__TASK_ROOT */
    };
    struct weft__slot *home; /* free list it returns to; NULL: heap */
    struct weft_task *next;  /* free list / injection queue link */
    const char *name;           /* WEFT__TASK_GROUP_OPTS, WEFT__TASK_DETACHED only */
    void (*cleanup)(void *arg); /* WEFT__TASK_GROUP_OPTS only */
    uint32_t kind;
    uint32_t open_groups; /* groups this task initialised and has not joined */
};
_Static_assert(sizeof(struct weft_task) <= WEFT__CACHE_LINE, "a task descriptor fits a cache line");

/* Per-slot counters (single writer: the thread holding the slot). */
struct weft__slot_stats {
    weft__counter tasks_run, spawns, steals, steal_attempts, parks;
};

struct weft__slot {
    weft__deque deque; /* aligned to a cache line */
    /* owner's line */
    unsigned id;
    weft_runtime *rt;
    struct weft_task *free;     /* local free list (owner) */
    struct weft__chunk *chunks; /* descriptor memory, freed at destroy */
    /* descriptors of another slot freed here, returned to it in batches */
    struct weft__slot *ret_home;
    struct weft_task *ret_head, *ret_tail;
    unsigned ret_count;
    struct weft__slot_stats stats;
    /* descriptors freed by other threads, on a line of its own */
    alignas(WEFT__CACHE_LINE) _Atomic(struct weft_task *) remote_free;
};

/* Cache-line aligned: `current` is written at every task, and neighbours in
 * rt->threads must not share that line. */
struct weft__thread {
    alignas(WEFT__CACHE_LINE) weft_runtime *rt;
    struct weft__slot *slot; /* the slot held, NULL while parked without one */
    struct weft_task *current; /* the task running on this thread, NULL between tasks */
    pthread_t tid;
    uint64_t rng;
    uintptr_t stack_lo; /* steal while joining only while the stack pointer is above */
    /* parking, on a line of its own (finishers elsewhere read `parked`):
     * futex word bumped by every wake; parked under rt->idle_lock */
    alignas(WEFT__CACHE_LINE) _Atomic uint32_t wake_seq;
    atomic_bool parked;
    bool in_idle_list;
    bool joining;   /* listed from a join: wake_one's last choice */
    bool searching; /* counted in rt->n_searching */
    struct weft__thread *idle_next;
    unsigned local_runs; /* tasks run since the last look at the injection queue */
};

/* The injection queue: tasks from non-worker threads (MPMC, mutex-protected). */
struct weft__inject {
    pthread_mutex_t lock;
    struct weft_task *head, *tail;
    _Atomic size_t count; /* checked without the lock before locking */
};

struct weft_runtime {
    unsigned nslots;
    struct weft__slot **slots;
    struct weft__thread *threads; /* one per slot */
    size_t stack_size;
    bool print_stats;
    void (*on_unhandled)(const struct weft_error *err, void *arg);
    void *on_unhandled_arg;

    struct weft__inject inject;

    /* idle protocol (park.c) */
    _Atomic unsigned n_idle;      /* threads in the idle list */
    _Atomic unsigned n_searching; /* awake threads looking for work */
    pthread_mutex_t idle_lock;
    struct weft__thread *idle_list;
    bool use_membarrier; /* else spawners pay a seq_cst fence */

    /* lifecycle */
    atomic_bool stopping;           /* workers exit when they find no work */
    atomic_bool shutting_down;      /* destroy began: no new roots or detached tasks */
    _Atomic uint64_t active_runs;   /* weft_run calls in progress */
    _Atomic uint64_t detached_live; /* detached tasks not finished */
    pthread_mutex_t life_lock;
    pthread_cond_t life_cond; /* signalled when detached_live reaches 0 */

    _Atomic uint64_t unhandled_errors;
};

/* The thread running this code, NULL outside any runtime's workers. */
extern __thread struct weft__thread *weft__self_thread __attribute__((tls_model("initial-exec")));

/* ---- task descriptors (task_pool.c) ---- */
struct weft_task *weft__task_alloc_slow(struct weft__slot *slot);
static inline struct weft_task *weft__task_alloc(struct weft__slot *slot)
{
    struct weft_task *t = slot->free;
    if (WEFT__LIKELY(t != NULL)) {
        slot->free = t->next;
        return t;
    }
    return weft__task_alloc_slow(slot);
}
/* A filled descriptor for a task that thr (NULL off the workers) is about to
 * queue: from thr's slot pool on a worker of rt, else from the heap. */
struct weft_task *weft__task_new(weft_runtime *rt, struct weft__thread *thr, weft_fn fn,
                                 void *arg, uint32_t kind);
/* Give back a descriptor from weft__task_new that was never queued. */
void weft__task_discard(struct weft__thread *thr, struct weft_task *t);
void weft__task_free_remote(struct weft__slot *mine, struct weft_task *t);
/* Return the batch of another slot's descriptors now (before parking). */
void weft__task_flush_returns(struct weft__slot *mine);
static inline void weft__task_free(struct weft__slot *mine, struct weft_task *t)
{
    if (WEFT__LIKELY(t->home == mine)) {
        t->next = mine->free;
        mine->free = t;
        return;
    }
    weft__task_free_remote(mine, t);
}
void weft__slot_pool_destroy(struct weft__slot *slot);

/* ---- groups (group.c) ---- */

/*
 * A group's state inside the caller's weft_group. Counters are split by
 * writer (see group.c): the owner's thread counts in `local` without
 * atomics; other threads use the atomic pair.
 */
struct weft__group {
    /* written by the owner's thread */
    uint32_t magic;
    uint32_t flags;
    struct weft_task *owner;
    struct weft__thread *owner_thread;
    int64_t local; /* owner's thread only: spawns minus completions there */
    const char *name;
    /* weft_group is only 8-byte aligned: 64 bytes of gap keep the fields
     * other threads write off every cache line the owner's fields touch */
    char gap_[64];
    /* written by other threads */
    _Atomic int64_t spawned_remote;
    _Atomic int64_t done_remote;
    _Atomic int first_error;
    _Atomic(struct weft__slot *) thief; /* last slot that stole one of our tasks */
};

/* A failed task of g: keep the earliest code. */
void weft__group_record_failure(struct weft__group *g, int rc);
/* A task of g finished on a thread other than the owner's. */
void weft__group_remote_done(struct weft__group *g);
/* A thief took a task of g: remember it for leapfrogging. */
static inline void weft__group_note_thief(struct weft__group *g, struct weft__slot *thief)
{
    atomic_store_explicit(&g->thief, thief, memory_order_relaxed);
}

/* A task of group g ended with rc on thread thr. */
static inline void weft__group_task_done(struct weft__group *g, struct weft__thread *thr, int rc)
{
    if (WEFT__UNLIKELY(rc != 0))
        weft__group_record_failure(g, rc);
    if (WEFT__LIKELY(g->owner_thread == thr))
        g->local--;
    else
        weft__group_remote_done(g);
}

/* ---- scheduler (scheduler.c) ---- */
void *weft__worker_main(void *arg);
/* One unit of work for a thread that waits (join): own deque, then steal.
 * `prefer`: a slot to steal from first (the thief of the joiner's tasks). */
struct weft_task *weft__find_work(struct weft__thread *thr, struct weft__slot *prefer,
                                  bool may_steal);
/* Queue a task: own deque on a worker, the injection queue elsewhere. */
int weft__submit(weft_runtime *rt, struct weft__thread *thr, struct weft_task *t);
void weft__inject_push(weft_runtime *rt, struct weft_task *t);
/* The rare endings of run_task: options, roots, detached tasks, diagnostics. */
void weft__run_task_tail(struct weft__thread *thr, struct weft_task *t, int rc);

/* Runs t to completion on this thread and signals whoever waits for it. */
static inline void weft__run_task(struct weft__thread *thr, struct weft_task *t)
{
    struct weft_task *outer = thr->current;
    thr->current = t;
    int rc = t->fn(t, t->arg);
    thr->current = outer;
    if (WEFT__UNLIKELY((t->kind | t->open_groups) != 0)) {
        weft__run_task_tail(thr, t, rc);
        return;
    }
    /* free first: once completion is signalled the group may be gone */
    struct weft__group *g = t->group;
    struct weft__slot *slot = thr->slot;
    weft__count(&slot->stats.tasks_run);
    weft__task_free(slot, t);
    weft__group_task_done(g, thr, rc);
}

/* ---- idle protocol (park.c) ---- */
#if defined(__SANITIZE_THREAD__)
#define WEFT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT__TSAN 1
#endif
#endif

/* A full (store-load) barrier. ThreadSanitizer does not model standalone
 * fences (gcc refuses them), so its builds use a seq_cst RMW, which is a full
 * barrier on every target TSan supports. */
static inline void weft__full_fence(void)
{
#ifdef WEFT__TSAN
    static _Atomic int fence_word;
    atomic_fetch_add_explicit(&fence_word, 0, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

void weft__park_init(weft_runtime *rt);
void weft__wake_one(weft_runtime *rt);
/* After making work visible: wake a parked thread if nobody is searching. */
static inline void weft__notify_work(weft_runtime *rt)
{
    if (!rt->use_membarrier)
        weft__full_fence();
    else
        atomic_signal_fence(memory_order_seq_cst); /* compiler only: the parker pays */
    if (WEFT__UNLIKELY(atomic_load_explicit(&rt->n_idle, memory_order_relaxed) != 0) &&
        atomic_load_explicit(&rt->n_searching, memory_order_relaxed) == 0)
        weft__wake_one(rt);
}
void weft__wake_all(weft_runtime *rt);
/* Wake thr if it is parked (e.g. its group's last task just finished elsewhere). */
void weft__wake_thread(weft_runtime *rt, struct weft__thread *thr);
/* An idle worker parks until woken, unless `ready(arg)` or any visible work.
 * Counts a park. */
void weft__park(struct weft__thread *thr, bool (*ready)(void *arg), void *arg);
/* A joiner parks until woken, unless `ready(arg)`. One that may steal is
 * listed like an idle worker (and returns early on visible work); one that
 * may not is unlisted: only weft__wake_thread wakes it, so `ready` must
 * become true only through a wake by name. */
void weft__park_joiner(struct weft__thread *thr, bool may_steal, bool (*ready)(void *arg),
                       void *arg);
/* thr looks for work: spawners need not wake anyone meanwhile. */
void weft__searching_begin(struct weft__thread *thr);
/* thr found work (or stops looking); the last searcher wakes a parked thread. */
void weft__searching_end(struct weft__thread *thr);
bool weft__work_visible(weft_runtime *rt);

/* ---- runtime (runtime.c) ---- */
void weft__root_done(struct weft__run_wait *w, int rc);
void weft__detached_done(weft_runtime *rt, const char *name, int rc);
/* The runtime's settings from weft_config, the environment and defaults (config.c). */
struct weft__settings {
    unsigned workers;
    size_t stack_size;
    bool print_stats;
};
int weft__settings_resolve(const weft_config *cfg, struct weft__settings *out);
/* pthread_create with async signals blocked, a name, a stack size (thread.c).
 * Tests can make the Nth creation fail (weft__thread_fail_from). */
int weft__thread_start(pthread_t *tid, size_t stack_size, const char *name,
                       void *(*fn)(void *), void *arg);
void weft__thread_fail_from(unsigned long n);

#endif
