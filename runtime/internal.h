/*
 * The runtime's internal structures, shared by the files of runtime/.
 *
 * A slot is what a worker needs to run tasks: its deque, its free list of
 * task descriptors, its counters. A thread is an OS thread that runs tasks
 * while it holds a slot. The runtime starts `workers` threads holding the
 * `workers` base slots; a thread entering a timed wait hands its slot to a
 * spare thread, which the runtime starts on demand together with one extra
 * slot, so there are always as many slots as threads (slots.c).
 */
#ifndef WEFT_RUNTIME_INTERNAL_H
#define WEFT_RUNTIME_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "deque/deque.h"
#include "job/blocking.h"
#include "timer/timer.h"
#include "base/base.h"
#include "base/thread.h"
#include "base/trace_log.h"

struct weft__slot;
struct weft__thread;
struct weft__scope;
struct weft__group;
struct weft__sched;
struct weft__scopes;
struct weft__jobs;
struct weft__scope_chunk;
struct weft__cancel_cb;

enum weft__task_kind {
    WEFT__TASK_GROUP = 0,   /* spawned into a group, no options: the fast path */
    WEFT__TASK_GROUP_OPTS,  /* spawned into a group with a name or a cleanup */
    WEFT__TASK_GROUP_TIMED, /* ... and a deadline tighter than its group's: runs in a scope */
    WEFT__TASK_GROUP_UNSCOPED, /* a TIMED task whose scope could not be made (ENOMEM, EAGAIN) */
    WEFT__TASK_ROOT,        /* weft_run's task; `run` says whom to tell */
    WEFT__TASK_DETACHED,    /* weft_spawn_detached */
    WEFT__TASK_JOB          /* a blocking job's self (job.h): never queued on a worker */
};
#define WEFT__TASK_IN_GROUP(kind) ((kind) <= WEFT__TASK_GROUP_UNSCOPED)
/* Or'ed into kind by weft_fail (fail.c): `failure` holds a record, and the
 * task's end goes through run_task's tail. */
enum { WEFT__TASK_FAILED = 1u << 8, WEFT__TASK_KIND_MASK = 0xffu };
/* Or'ed into kind at spawn into a WEFT_STREAM group: at its end the
 * descriptor, with its status, goes to the group's completions (its `next`
 * links them) instead of the free list; weft_group_next frees it. */
enum { WEFT__TASK_STREAM = 1u << 9 };
/* Or'ed into kind with WEFT__TASK_GROUP_UNSCOPED when the scope failed for
 * want of the timer's thread, not of memory: the task ends with EAGAIN. */
enum { WEFT__TASK_NO_TIMER_THREAD = 1u << 10 };
/* Or'ed into kind by a WEFT__TASK_DETACHED task's start when no memory was
 * left for its deadline: it runs without, and ends with ENOMEM. */
enum { WEFT__TASK_DEADLINE_LOST = 1u << 11 };
/* Or'ed into kind at spawn: its kind's start runs before fn (a TIMED task's scope). */
enum { WEFT__TASK_STARTS = 1u << 12 };
enum { WEFT__TASK_KINDS = WEFT__TASK_JOB + 1 };
struct weft__task_kind_ops;

struct weft__run_wait; /* runtime.c */
struct weft__detached; /* detached.c */
struct weft__detached_chunk;

/* A task descriptor: one cache line, recycled through per-slot free lists. */
struct weft_task {
    weft_fn fn;
    void *arg;
    union {
        /* the scope it runs in: its group's (weft__group_of), from its start
         * a scope of its own while it has its own deadline or is inside
         * weft_scope_enter, for roots the runtime's never-cancelled scope,
         * for a detached task, once started, the scope of its record
         * (detached.c): weft_cancelled reads this pointer, then the
         * scope's cancel word */
        struct weft__scope *scope;
        /* WEFT__TASK_DETACHED, from spawn to start: the task's function,
         * `fn` being detached.c's start, which makes its scope */
        weft_fn detached_fn;
    };
    struct weft__slot *home; /* free list it returns to; NULL: heap */
    union {
        struct weft_task *next;     /* free lists */
        weft_time deadline;         /* ..._GROUP_TIMED and _DETACHED, from spawn to start */
        struct weft_error *failure; /* while it runs, with WEFT__TASK_FAILED */
    };
    const char *name; /* WEFT__TASK_GROUP_OPTS..UNSCOPED, WEFT__TASK_DETACHED */
    union {
        void (*cleanup)(void *arg); /* WEFT__TASK_GROUP_OPTS..UNSCOPED, _DETACHED */
        struct weft__run_wait *run; /* WEFT__TASK_ROOT */
    };
    uint32_t kind;
    union {
        uint32_t open_groups; /* groups this task initialised and has not joined */
        int status;           /* ended, in a WEFT_STREAM group: what fn returned */
    };
};
_Static_assert(sizeof(struct weft_task) <= WEFT__CACHE_LINE, "a task descriptor fits a cache line");

/* Tasks a join popped but may not run nested (aside.c): a ring of
 * pointers, oldest first, under `lock`; `count` is written under it and
 * read without it. */
struct weft__aside {
    pthread_mutex_t lock;
    struct weft_task **buf; /* cap entries (a power of two, or 0) from head */
    size_t cap, head;
    _Atomic size_t count;
};

/* Per-slot counters (single writer: the thread holding the slot). */
struct weft__slot_stats {
    weft__counter tasks_run, spawns, steals, steal_attempts, parks;
};

struct weft__slot {
    weft__deque deque; /* aligned to a cache line */
    /* owner's line */
    unsigned id; /* its index in rt->slots: < rt->workers for a base slot */
    struct weft__sched *sched;
    struct weft__slot *free_next; /* held by no thread: rt's free list (slots.c) */
    bool is_free;
    struct weft_task *free;     /* local free list (owner) */
    struct weft__chunk *chunks; /* descriptor memory, freed at destroy */
    /* descriptors of another slot freed here, returned to it in batches */
    struct weft__slot *ret_home;
    struct weft_task *ret_head, *ret_tail;
    unsigned ret_count;
    struct weft__slot_stats stats;
    /* descriptors freed by other threads, on a line of its own */
    alignas(WEFT__CACHE_LINE) _Atomic(struct weft_task *) remote_free;
    /* tasks set aside by deep joins (rare), on a line of its own */
    alignas(WEFT__CACHE_LINE) struct weft__aside aside;
};

/* Cache-line aligned: `current` is written at every task, and neighbours in
 * rt->threads must not share that line. */
struct weft__thread {
    alignas(WEFT__CACHE_LINE) struct weft__sched *sched;
    struct weft__slot *slot; /* the slot held, NULL while parked without one */
    struct weft_task *current; /* the task running on this thread, NULL between tasks */
    /* its WEFT_TRACE buffer, NULL when untraced: the hot paths' one test,
     * on the line they write anyway (trace.c) */
    struct weft__trace_buf *trace;
    pthread_t tid;
    uint64_t rng;
    /* a join steals, or runs a task its group does not need, only while
     * its frame is above this line (weft__stack_room) */
    uintptr_t stack_lo;
    /* rt's, copied at start, cleared for good by a failed membarrier
     * (park.c): group init reads it with one relaxed load */
    atomic_bool use_membarrier;
    /* parking, on a line of its own (finishers elsewhere read `parked`):
     * futex word bumped by every wake; parked under rt->idle_lock */
    alignas(WEFT__CACHE_LINE) _Atomic uint32_t wake_seq;
    atomic_bool parked;
    bool in_idle_list;
    bool joining;   /* listed from a join: wake_one's last choice */
    bool searching; /* counted in rt->n_searching */
    struct weft__thread *idle_next;
    unsigned local_runs; /* tasks run since the last look at the injection queue */
    /* group states and scopes this thread's tasks begin (group_pool.c,
     * scope_pool.c), from chunks listed for cancel scans */
    struct weft__group *group_free;
    struct weft__scope *scope_free;
    _Atomic(struct weft__scope_chunk *) scope_chunks;
    /* slot hand-off (slots.c), under rt->slot_lock */
    struct weft__thread *spare_next; /* rt->spares: parked without a slot */
    struct weft__slot *lent;         /* the slot it gave up for a timed wait */
    bool started;                    /* its OS thread runs (destroy joins it) */
};
_Static_assert(offsetof(struct weft__thread, trace) / WEFT__CACHE_LINE ==
                   offsetof(struct weft__thread, current) / WEFT__CACHE_LINE,
               "the trace test reads the line a run of a task writes");

/* The injection queue: tasks from non-worker threads (inject.c). */
struct weft__inject {
    pthread_mutex_t lock;
    struct weft_task **buf; /* a ring of cap entries from head */
    size_t cap, head;
    _Atomic size_t count; /* checked without the lock before locking */
};

/*
 * A cancel scope: the cancel word, the link to the enclosing scope, the
 * effective deadline, the weft_on_cancel callbacks, the deadline's timer
 * entry and a name. Every task runs in one (t->scope): a group's tasks in
 * their group's (a group has a scope, its first member), a task with its
 * own deadline or inside weft_scope_enter in a scope of its own, a blocking
 * job or a detached task in one of its job or record, roots in the
 * runtime's never-cancelled one. cancel.c pushes cancels down the parent
 * links; the scopes it scans live in type-stable pools (group_pool.c,
 * scope_pool.c), so a late reader of a recycled one reads junk, never
 * unmapped memory.
 *
 * Line 0 is what every init, task and join reads; the rest is cold.
 */
struct weft__scope {
    /* gen << 32 | reason: reason 0 while live and not cancelled, ECANCELED
     * or ETIMEDOUT once cancelled, WEFT__GROUP_DEAD while pooled. gen is
     * bumped at every begin; it tells a stale handle or parent link. */
    alignas(WEFT__CACHE_LINE) _Atomic uint64_t cancel;
    _Atomic(struct weft__scope *) parent; /* NULL for none */
    /* the parent's gen in the low half, the WEFT_* flags in the high half:
     * the upward link takes one store (weft__scope_up) */
    _Atomic uint64_t up;
    weft_time deadline; /* effective: min(own, parent's unless shielded) */
    weft_time started;  /* with a deadline of its own: when this life began, else 0 */
    /* the gen of the last life of this scope below which a scope began:
     * a cancel of life G scans only if it reads G (cancel.c) */
    _Atomic uint32_t children_gen;
    /* what ending this life must undo (WEFT__END_*), or 0, the common case,
     * for which a join tests this one byte. Set during the life: TIMER by
     * the begin, before any task, and STREAM by a group's init; CALLBACKS
     * by weft_on_cancel, from any task in the scope, under rt->cb_lock.
     * Read and cleared at the end, after every task completed. Plain, not
     * atomic: each of those accesses happens-before the next (spawn, the
     * lock, completion), so no two race. */
    uint8_t end_work;
    /* weft_on_cancel callbacks of its tasks, under rt->cb_lock (cancel_cb.c) */
    _Atomic(struct weft__cancel_cb *) callbacks;
    const char *name;
    /* cold: set once, or written by cancellers and the timer */
    struct weft__scopes *scopes; /* NULL only for a runtime's never-cancelled scope */
    /* the thread whose pool holds it (it ends every life), NULL for none */
    const struct weft__thread *home;
    /* the gen of the last life whose cancel was pushed down all the way:
     * a weft_group_cancel that lost the race to it need not redo that */
    _Atomic uint32_t pushed_gen;
    uint32_t timer_gen; /* the life its timer entry cancels */
    /* who cancelled a life: its gen << 32 | weft__cancel_by + 1, stored by
     * the cancel that won, after its CAS; a note of another gen (a late
     * store of an earlier life's winner) tells nothing (cancel_cause.c) */
    _Atomic uint64_t cancel_note;
    uint64_t scan_epoch; /* cancel.c's scanner only, under rt->cancel_lock */
    uint64_t scan_word;  /* the same: the word its walk up saw (settle) */
    struct weft__scope *next_free; /* a pooled scope of its own: its thread's free list */
    struct weft__timer_entry timer; /* scope_deadline.c; only with a deadline of its own */
};
_Static_assert(offsetof(struct weft__scope, scopes) == WEFT__CACHE_LINE,
               "what inits, tasks and joins read fills line 0, the rest is apart");

/*
 * A group's state. It lives in a pool of the owner's thread, not in the
 * caller's weft_group (which only holds a handle to it): tasks point at their
 * group's scope, and a task that returns without joining its group must not
 * leave them pointing into a dead stack frame. Counters are split by writer
 * (see group.c).
 */
struct weft__group {
    struct weft__scope scope; /* first: a task's scope is its group's */
    /* the owner's line: others read only `owner` */
    alignas(WEFT__CACHE_LINE) _Atomic(struct weft_task *) owner; /* pooled: weft__group_pooled_owner */
    struct weft__group *next_free; /* the thread's free list */
    int64_t local; /* owner's thread only: its spawns minus its completions */
    /* WEFT_STREAM: completions handed out next, oldest first (owner only) */
    struct weft_task *stream_head, *stream_tail;
    /* written by other threads. The counters are never reset: the group is
     * finished when local + spawned_remote == done_remote, which holds at
     * every reuse since it held at the join that released the state.
     * owner_thread, set once, sits here: every completion reads it, a
     * remote one next to its RMW, and the owner reads this line anyway */
    alignas(WEFT__CACHE_LINE) struct weft__thread *owner_thread; /* the pool's thread */
    _Atomic int64_t spawned_remote;
    _Atomic int64_t done_remote;
    _Atomic int first_error; /* reset by the join that reads it */
    /* the failures' records, newest first (errors.h), and the failures that
     * got none; non-empty only when first_error is set, taken by the join */
    _Atomic(struct weft_error *) errors;
    _Atomic uint64_t errors_lost;
    /* WEFT_STREAM: ended tasks, newest first (group_wait.c) */
    _Atomic(struct weft_task *) completed;
    _Atomic(struct weft__slot *) thief; /* a hint only: may be a former life's */
};

/* A queued task (not started) of group g (NULL: none): its scope is g's. */
static inline bool weft__task_of_group(const struct weft_task *t, const struct weft__group *g)
{
    return g != NULL && t->scope == &g->scope;
}

/* The group whose scope s is (s must be a group's). */
static inline struct weft__group *weft__group_of(struct weft__scope *s)
{
    return (struct weft__group *)(void *)s;
}

#define WEFT__GROUP_DEAD 0xffffffffu
static inline uint32_t weft__cancel_gen(uint64_t word)
{
    return (uint32_t)(word >> 32);
}
static inline uint32_t weft__cancel_reason_of(uint64_t word)
{
    return (uint32_t)word;
}
_Static_assert(WEFT__GROUP_DEAD == UINT32_MAX,
               "a pooled word + 1 is the next life's word: (gen + 1) << 32 | 0");
static inline uint64_t weft__scope_up(uint32_t parent_gen, unsigned flags)
{
    return (uint64_t)flags << 32 | parent_gen;
}
static inline uint32_t weft__scope_parent_gen(uint64_t up)
{
    return (uint32_t)up;
}
static inline unsigned weft__scope_flags(const struct weft__scope *s)
{
    return (unsigned)(atomic_load_explicit(&s->up, memory_order_relaxed) >> 32);
}
static inline unsigned weft__group_flags(const struct weft__group *g)
{
    return weft__scope_flags(&g->scope);
}

/* The scheduler's part of a runtime (sched/): workers, slots, threads,
 * the injection queue, the idle protocol and the slot hand-off. */
struct weft__sched {
    unsigned workers;     /* base slots: at most this many threads run tasks for long */
    unsigned max_threads; /* capacity of slots[] and threads[] */
    /* threads started, each with one slot of the same index (slots.c):
     * published with release under grow_lock, only ever grows */
    _Atomic unsigned nthreads;
    /* held while nthreads grows: a holder sees a fixed set of threads, and
     * a thread added after it let go starts after what the holder did */
    pthread_mutex_t grow_lock;
    struct weft__slot **slots;
    struct weft__thread *threads;
    size_t stack_size;
    struct weft__trace_log *trace_log; /* WEFT_TRACE's log, which every layer records into; NULL: untraced */
    struct weft__inject inject;
    /* what each kind of task does around its function (weft__task_kind_ops) */
    const struct weft__task_kind_ops *kinds[WEFT__TASK_KINDS];
    /* an upcall the runtime installs: a worker thread left its loop */
    void (*worker_exit)(struct weft__sched *sched);

    /* idle protocol (park.c) */
    _Atomic unsigned n_idle;      /* threads in the idle list */
    _Atomic unsigned n_searching; /* awake threads looking for work */
    pthread_mutex_t idle_lock;
    struct weft__thread *idle_list;
    /* else spawners pay a seq_cst fence; cleared for good by the first
     * membarrier that fails (park.c), which sets membarrier_off_at */
    atomic_bool use_membarrier;
    _Atomic weft_time membarrier_off_at; /* 0: never; -1: switching; else when */
    atomic_bool stopping; /* workers exit when they find no work */

    /* slot hand-off (slots.c) */
    pthread_mutex_t slot_lock;
    struct weft__slot *base_free, *extra_free; /* slots nobody holds */
    unsigned n_base_free, n_extra_held;
    struct weft__thread *spares; /* threads parked without a slot */
    atomic_bool rebalance; /* R > workers: threads between tasks give up slots */
};

/* The scopes' part (scope/): cancel scans, callbacks, deadlines. */
struct weft__scopes {
    struct weft__sched sched;
    _Atomic(struct weft__scope_chunk *) loose_scope_chunks; /* weft__scope_chunk_list_loose */
    pthread_mutex_t cancel_lock; /* one propagation scan at a time */
    uint64_t scan_epoch;
    struct weft__scope never_cancelled; /* the scope of roots */
    pthread_mutex_t cb_lock; /* every scope's callback list; never held while one runs */
    pthread_cond_t cb_done;  /* a callback finished: for removers that wait */
    struct weft__cancel_cb *cb_running; /* callbacks running now, under cb_lock */
    /* deadlines (scope_deadline.c): the timer thread starts at first use */
    _Atomic(struct weft__timer *) timer;
    pthread_mutex_t timer_lock;
};
static inline struct weft__scopes *weft__scopes_of(struct weft__sched *sched)
{
    return (struct weft__scopes *)(void *)((char *)sched - offsetof(struct weft__scopes, sched));
}

/* The blocking jobs' part (job/). */
struct weft__jobs {
    struct weft__scopes scopes;
    struct weft__blocking blocking;
    /* upcalls the runtime installs: the last user of an abandoned runtime
     * frees it (weft__runtime_free); a failure nobody can observe is
     * reported (weft__unhandled) */
    void (*free_runtime)(struct weft__jobs *jobs);
    void (*unhandled)(struct weft__jobs *jobs, const char *what, const char *name, int rc,
                      struct weft_error *rec);
};
static inline struct weft__jobs *weft__jobs_of(struct weft__scopes *scopes)
{
    return (struct weft__jobs *)(void *)((char *)scopes - offsetof(struct weft__jobs, scopes));
}

struct weft_runtime {
    struct weft__jobs jobs; /* first: and in it the scopes' and scheduler's parts */
    bool print_stats;
    struct weft__trace *trace; /* WEFT_TRACE (trace.c); NULL: untraced */
    void (*on_unhandled)(const struct weft_error *err, void *arg);
    void *on_unhandled_arg;
    /* the last detached task of an abandoned runtime ended: stop the
     * workers (detached.c calls it, runtime.c calls detached.c) */
    void (*stop_abandoned)(weft_runtime *rt);

    /* lifecycle */
    atomic_bool shutting_down;      /* destroy began: no new roots or detached tasks */
    _Atomic uint64_t active_runs;   /* weft_run calls in progress */
    _Atomic uint64_t detached_live; /* detached tasks not finished */
    pthread_mutex_t life_lock;
    pthread_cond_t life_cond; /* signalled when detached_live reaches 0 (CLOCK_MONOTONIC) */
    /* the records of detached tasks that run (detached.c), under life_lock */
    struct weft__detached *detached_list;         /* started, not ended */
    struct weft__detached *detached_free;
    struct weft__detached_chunk *detached_chunks; /* freed with the runtime */
    /* the scope of a detached task that started without memory for a
     * record, and how many run in it: cancelled by destroy as records are */
    struct weft__scope detached_fallback;
    unsigned detached_fallback_users;
    /* destroy returned while detached tasks still ran: the last of them
     * stops the workers, and the last thread to leave frees the runtime
     * (weft__workers_stop_abandoned); set under life_lock */
    atomic_bool workers_abandoned;
    _Atomic unsigned threads_left; /* then: the threads yet to leave, and the stopper */

    _Atomic uint64_t unhandled_errors;
};
static inline weft_runtime *weft__runtime_of(struct weft__jobs *jobs)
{
    return (weft_runtime *)(void *)((char *)jobs - offsetof(weft_runtime, jobs));
}
static inline weft_runtime *weft__runtime_of_sched(struct weft__sched *sched)
{
    return weft__runtime_of(weft__jobs_of(weft__scopes_of(sched)));
}
static inline struct weft__sched *weft__runtime_sched(weft_runtime *rt)
{
    return &rt->jobs.scopes.sched;
}
static inline struct weft__scopes *weft__runtime_scopes(weft_runtime *rt)
{
    return &rt->jobs.scopes;
}

/* Slots (and threads) started so far; stealers and scans cover them all. */
static inline unsigned weft__nthreads(struct weft__sched *sched)
{
    /* acquire: the slot and thread at each index are initialised first */
    return atomic_load_explicit(&sched->nthreads, memory_order_acquire);
}

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
 * queue: from thr's slot pool on a worker of sched, else from the heap. Its
 * scope is the caller's to set. */
struct weft_task *weft__task_new(struct weft__sched *sched, struct weft__thread *thr, weft_fn fn,
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

/* ---- scope memory and lives (scope_pool.c, scope_deadline.c) ---- */

/* Internal flag in a scope's `up` (beside WEFT_SHIELD and a group's flags):
 * entered by weft_scope_enter (scope.c). */
enum { WEFT__SCOPE_ENTERED = 1u << 30 };
/* States that begin with a scope, in memory kept until destroy: `count` of
 * `stride` bytes from `first`. Each thread lists its chunks (its groups' and
 * its own scopes') for cancel scans, which read any state at any time. */
struct weft__scope_chunk {
    struct weft__scope_chunk *next;
    size_t stride, count;
    unsigned char *first;
};
static inline struct weft__scope *weft__scope_chunk_at(const struct weft__scope_chunk *c,
                                                       size_t i)
{
    return (struct weft__scope *)(void *)(c->first + i * c->stride);
}
/* A scope's memory, once: pooled (gen 0, DEAD), of rt, ended by `home`. */
void weft__scope_init_pooled(struct weft__scope *s, struct weft__scopes *scopes,
                             const struct weft__thread *home);
/* List c (its states initialised) on thr: scans see its states from now. */
void weft__scope_chunk_list(struct weft__thread *thr, struct weft__scope_chunk *c);
/* List c on rt, not on a thread: scopes that cancel scans never visit
 * (they have no parent: a blocking job's), known as rt's all the same. */
void weft__scope_chunk_list_loose(struct weft__scopes *scopes, struct weft__scope_chunk *c);
/* Whether s is a scope of rt: of a thread's chunks (only while rt's
 * workers live: call it from one of them) or a loose chunk (cancel_cb.c). */
bool weft__scope_is_of(struct weft__scopes *scopes, const struct weft__scope *s, bool workers_live);
/* The chunks listed on thr, newest first (any thread). */
static inline struct weft__scope_chunk *weft__scope_chunks_first(const struct weft__thread *thr)
{
    /* acquire: the states of a chunk listed with release are initialised */
    return atomic_load_explicit(&thr->scope_chunks, memory_order_acquire);
}
/* Whether a scope of thr's chunks lives (begun, not ended) under s: a
 * group or scope that thr's task began inside s and did not end. */
bool weft__scope_has_live_child(const struct weft__thread *thr, const struct weft__scope *s);
/* Free thr's chunks (destroy, after the thread ended). */
void weft__scope_chunks_free(struct weft__thread *thr);
/* A life of s ends, w being its word, read after its last task ended:
 * only its gen is used, which nobody but the thread ending it changes (a
 * late cancel may still set the reason, which DEAD overwrites either way). */
static inline void weft__scope_release_word(struct weft__scope *s, uint64_t w)
{
    /* seqlock: the next life stores its links with release (weft__scope_begin),
     * so a scanner (cancel.c) that read this life's word and then a link of
     * the next life re-reads the word and sees DEAD or later */
    atomic_store_explicit(&s->cancel, (w & ~(uint64_t)UINT32_MAX) | WEFT__GROUP_DEAD,
                          memory_order_relaxed);
}
/* What s's life registered (its timer entry, callbacks left behind: links
 * move up) is undone; its end_work is cleared (the caller's bits too). */
void weft__scope_end_work(struct weft__scopes *scopes, struct weft__scope *s);

/* ---- groups (group.c, group_pool.c) ---- */

/* Adds a chunk of WEFT__GROUP_CHUNK_STATES states to thr's pool; false: ENOMEM. */
enum { WEFT__GROUP_CHUNK_STATES = 31 };
bool weft__group_pool_grow(struct weft__thread *thr);
/* A pooled state's owner: the state's own address, never dereferenced. No
 * task is there, and unlike NULL it never equals a thread's current task
 * between tasks, so join's owner test alone rejects a pooled state. */
static inline struct weft_task *weft__group_pooled_owner(struct weft__group *g)
{
    return (struct weft_task *)(void *)g;
}
/* Back to the pool of thr, the thread that allocated it; w is g's word. */
static inline void weft__group_release_word(struct weft__thread *thr, struct weft__group *g,
                                            uint64_t w)
{
    weft__scope_release_word(&g->scope, w);
    atomic_store_explicit(&g->owner, weft__group_pooled_owner(g), memory_order_relaxed);
    g->next_free = thr->group_free;
    thr->group_free = g;
}
/* The same, reading the word. */
static inline void weft__group_release(struct weft__thread *thr, struct weft__group *g)
{
    weft__group_release_word(thr, g,
                             atomic_load_explicit(&g->scope.cancel, memory_order_relaxed));
}
/* The first group of thr's pool still owned by t (initialised, not joined), or NULL. */
struct weft__group *weft__group_find_open(struct weft__thread *thr, const struct weft_task *t);
/* Help run tasks on thr until every task of g ended (g's owner's thread). */
void weft__group_wait_all(struct weft__thread *thr, struct weft__group *g);
/* Every task of g ended. */
bool weft__group_finished(struct weft__group *g);
/* g's live state when thr's running task initialised it, else NULL. */
struct weft__group *weft__group_of_owner(weft_group *gp, struct weft__thread *thr);
/* A WEFT_STREAM task ended (its status set): queue it for weft_group_next. */
static inline void weft__stream_push(struct weft__group *g, struct weft_task *t)
{
    struct weft_task *head = atomic_load_explicit(&g->completed, memory_order_relaxed);
    do
        t->next = head;
    /* seq_cst: release for its status and arg (the owner's acquire
     * exchange), and the push half of the Dekker pair with a waiting owner
     * (group_wait.c): it precedes the finisher's load of `parked` in S */
    while (!atomic_compare_exchange_weak_explicit(&g->completed, &head, t, memory_order_seq_cst,
                                                  memory_order_relaxed));
}
/* The oldest completion not handed out yet, or NULL (owner's thread). */
struct weft_task *weft__stream_pop(struct weft__group *g);
/* g ends: free the completions nobody asked for (owner's thread). */
void weft__stream_drain(struct weft__thread *thr, struct weft__group *g);

/* Whether rc != 0 from a task in s only says that s was cancelled (the
 * task returned ECANCELED or s's reason): then it is no failure. */
static inline bool weft__scope_excuses(struct weft__scope *s, int rc)
{
    uint32_t reason = weft__cancel_reason_of(atomic_load_explicit(&s->cancel, memory_order_relaxed));
    return reason != 0 && (rc == ECANCELED || rc == (int)reason);
}
static inline bool weft__group_excuses(struct weft__group *g, int rc)
{
    return weft__scope_excuses(&g->scope, rc);
}
/* A task of g returned rc != 0: list its record `rec` (NULL: make one
 * without a name), keep the earliest code, and cancel g unless it collects.
 * A task that returned its cancellation is no failure: rec is dropped. */
void weft__group_record_failure(struct weft__group *g, int rc, struct weft_error *rec);
/* A task of g finished on a thread other than the owner's. */
void weft__group_remote_done(struct weft__group *g);
/* A thief took a task of g: remember it for leapfrogging. */
static inline void weft__group_note_thief(struct weft__group *g, struct weft__slot *thief)
{
    atomic_store_explicit(&g->thief, thief, memory_order_relaxed);
}

/* The end of the tasks of groups (every WEFT__TASK_IN_GROUP kind), and
 * their start (a TIMED task's scope) (group.c). */
extern const struct weft__task_kind_ops weft__group_task_kind;
/* t returned without joining every group it initialised, or inside a scope
 * it entered: join and end them; returns rc, or EINVAL if rc was 0. */
int weft__task_join_abandoned(struct weft__thread *thr, struct weft_task *t, int rc);

/* A task of group g ended with rc on thread thr; rec: its failure's record
 * (NULL: none made yet), freed or listed. */
static inline void weft__group_task_done(struct weft__group *g, struct weft__thread *thr, int rc,
                                         struct weft_error *rec)
{
    if (WEFT__UNLIKELY(rc != 0))
        weft__group_record_failure(g, rc, rec);
    if (WEFT__LIKELY(g->owner_thread == thr))
        g->local--;
    else
        weft__group_remote_done(g);
}

/* ---- scheduler (scheduler.c) ---- */
/* Whether the running frame of thr may nest a task it does not need (a
 * stolen one, or one of another group): its stack is above the line that
 * keeps half of the worker's stack for the program's own recursion. */
static inline __attribute__((always_inline)) bool weft__stack_room(const struct weft__thread *thr)
{
    /* the frame, not a local's address: ASan may move locals to the heap */
    return (uintptr_t)__builtin_frame_address(0) > thr->stack_lo;
}
/* A queued task (not started) whose scope is need (NULL: none): sched
 * compares the scope a task was queued in, which it never reads. */
static inline bool weft__task_in(const struct weft_task *t, const struct weft__scope *need)
{
    return need != NULL && t->scope == need;
}
/* One unit of work for a thread that waits (join, endless wait) for the
 * tasks queued in scope `need` (NULL: none). From its own deque: one of them, else
 * any while `room` (weft__stack_room), setting aside those it may not run.
 * Then, with room: its aside list, steals (from `prefer` first: the thief
 * of the joiner's tasks), the injection queue; without: need's tasks from
 * any aside list. NULL when it found nothing. */
struct weft_task *weft__find_work(struct weft__thread *thr, const struct weft__scope *need,
                                  struct weft__slot *prefer, bool room);
/* Queue a task: own deque on a worker, the injection queue elsewhere. */
int weft__submit(struct weft__sched *sched, struct weft__thread *thr, struct weft_task *t);
/* The injection queue (inject.c): push is 0 or ENOMEM. */
int weft__inject_push(struct weft__sched *sched, struct weft_task *t);
struct weft_task *weft__inject_pop(struct weft__sched *sched);
void weft__inject_destroy(struct weft__sched *sched);
/* A scope of thr's pool begins a life under ps, its own deadline armed (a
 * task's own deadline, weft_scope_enter): 0, or ENOMEM / the timer's error
 * (nothing begun) (scope_pool.c). */
int weft__scope_open(struct weft__thread *thr, struct weft__scope *ps, unsigned flags,
                     const char *name, weft_time own_deadline, struct weft__scope **out);
/* Its life ends (its tasks and groups ended): back to thr's pool. */
void weft__scope_close(struct weft__thread *thr, struct weft__scope *s);
/* t returned inside scopes it entered (weft_scope_enter) and never exited:
 * end them, innermost first, pointing t at its group again (scope.c). */
void weft__scope_unwind(struct weft__thread *thr, struct weft_task *t);

/* What a kind of task does around its function: defined by the layer that
 * makes such tasks (group.c, runtime.c, detached.c) and listed by the
 * runtime at create (rt->kinds), so the scheduler runs frames and knows no
 * kind. */
struct weft__task_kind_ops {
    /* before fn, for a task spawned with WEFT__TASK_STARTS */
    void (*start)(struct weft__thread *thr, struct weft_task *t);
    /* after fn returned rc: the task's end, which frees t and tells whoever
     * waits for it; returns the task's final status */
    int (*end)(struct weft__thread *thr, struct weft_task *t, int rc);
    /* the name it was spawned with, for the trace (NULL: none) */
    const char *(*name)(const struct weft_task *t);
    /* queued t was stolen by thief (NULL: nothing to do) */
    void (*stolen)(struct weft_task *t, struct weft__slot *thief);
    /* the thread that waits for queued t and may take it from an aside
     * list only, to be woken when t is set aside (NULL: none) */
    struct weft__thread *(*waiter)(const struct weft_task *t);
};
static inline const struct weft__task_kind_ops *weft__task_kind_of(const struct weft__thread *thr,
                                                               const struct weft_task *t)
{
    return thr->sched->kinds[t->kind & WEFT__TASK_KIND_MASK];
}
/* Call t's function on thr, its kind's start first, thr->current set to
 * t meanwhile; returns what fn returned. */
static inline int weft__frame_call(struct weft__thread *thr, struct weft_task *t)
{
    struct weft_task *outer = thr->current;
    thr->current = t;
    if (WEFT__UNLIKELY(t->kind & WEFT__TASK_STARTS))
        weft__task_kind_of(thr, t)->start(thr, t);
    int rc = t->fn(t, t->arg);
    thr->current = outer;
    return rc;
}
/* Runs t to its end on thr: its function, then its kind's end; returns its
 * final status (scheduler.c). */
int weft__frame_run_body(struct weft__thread *thr, struct weft_task *t);
/* The traced twin of a run of t: body(thr, t), recorded as a task event
 * with its duration, status and name (scheduler.c). */
void weft__frame_run_traced(struct weft__thread *thr, struct weft_task *t,
                            int (*body)(struct weft__thread *thr, struct weft_task *t));
/* The same as weft__frame_run_body, traced when thr is: one branch when not. */
static inline void weft__frame_run(struct weft__thread *thr, struct weft_task *t)
{
    if (WEFT__UNLIKELY(thr->trace != NULL)) {
        weft__frame_run_traced(thr, t, weft__frame_run_body);
        return;
    }
    weft__frame_run_body(thr, t);
}

/* A join runs t, popped from its deque: a plain task of a group (no
 * options, no failure, every group joined) ends inline, the fork-join fast
 * path; any other through its kind's end. Returns its final status. */
static inline int weft__group_run_body(struct weft__thread *thr, struct weft_task *t)
{
    int rc = weft__frame_call(thr, t);
    /* a failure too takes the kind's end: its record names t's arg */
    if (WEFT__UNLIKELY((t->kind | t->open_groups | (uint32_t)rc) != 0))
        return weft__task_kind_of(thr, t)->end(thr, t, rc);
    /* free first: once completion is signalled the group may be gone */
    struct weft__group *g = weft__group_of(t->scope);
    struct weft__slot *slot = thr->slot;
    weft__count(&slot->stats.tasks_run);
    weft__task_free(slot, t);
    weft__group_task_done(g, thr, 0, NULL);
    return 0;
}
/* The same out of line, for the trace (group.c). */
int weft__group_run_traced(struct weft__thread *thr, struct weft_task *t);
static inline void weft__group_run(struct weft__thread *thr, struct weft_task *t)
{
    if (WEFT__UNLIKELY(thr->trace != NULL)) {
        weft__frame_run_traced(thr, t, weft__group_run_traced);
        return;
    }
    weft__group_run_body(thr, t);
}

/* ---- aside lists (aside.c) ---- */
void weft__aside_init(struct weft__aside *a);
/* Free the ring (the list is empty: workers drain every list before exiting). */
void weft__aside_fini(struct weft__aside *a);
/* thr's join popped t and may not run it nested: keep it in thr's slot's
 * list, wake an idle worker and, if parked, its group's joiner. False
 * without memory for the list: the caller runs t. */
bool weft__aside_put(struct weft__thread *thr, struct weft_task *t);
/* A task from s's list (NULL: none): in scope need (NULL: any), the newest
 * (the holder) or the oldest (a thief) of those. */
struct weft_task *weft__aside_take(struct weft__slot *s, const struct weft__scope *need,
                                   bool newest);
/* A task of need from any list, thr's own first. */
struct weft_task *weft__aside_take_of(struct weft__thread *thr, const struct weft__scope *need);
/* Some list holds a task in scope need (a joiner's look before it sleeps). */
bool weft__aside_holds(struct weft__sched *sched, const struct weft__scope *need);
static inline bool weft__aside_empty(struct weft__slot *s)
{
    return atomic_load_explicit(&s->aside.count, memory_order_relaxed) == 0;
}

/* ---- idle protocol (park.c) ---- */
void weft__park_init(struct weft__sched *sched);
/* A starting thread takes its copy of rt->use_membarrier (worker_main). */
void weft__park_thread_start(struct weft__thread *thr);
/* A full barrier executed by every running thread of the process before this
 * returns (membarrier), or a fence where the kernel has none or membarrier
 * failed once: the heavy side of an asymmetric Dekker pair whose light side
 * is weft__notify_work's or weft__cancel_init_barrier's compiler barrier
 * (a fence once membarrier is off). */
void weft__full_barrier_everywhere(struct weft__sched *sched);
/* Tests make expedited membarrier calls fail (fault_point.h), from the Nth
 * and every later one, or the Nth only; 0 disarms. Calls since arming. */
void weft__membarrier_fail_from(unsigned long n);
void weft__membarrier_fail_nth(unsigned long n);
unsigned long weft__membarrier_calls(void);
void weft__wake_one(struct weft__sched *sched);
/* After making work visible: whether a parked thread must be woken (one is
 * parked and nobody is searching). Apart from weft__notify_work so that the
 * spawn fast path can make the rare wake a tail call and stay a leaf. */
static inline bool weft__wake_wanted(struct weft__sched *sched)
{
    if (!atomic_load_explicit(&sched->use_membarrier, memory_order_relaxed))
        weft__full_fence();
    else
        atomic_signal_fence(memory_order_seq_cst); /* compiler only: the parker pays */
    return WEFT__UNLIKELY(atomic_load_explicit(&sched->n_idle, memory_order_relaxed) != 0) &&
           atomic_load_explicit(&sched->n_searching, memory_order_relaxed) == 0;
}
/* After making work visible: wake a parked thread if nobody is searching. */
static inline void weft__notify_work(struct weft__sched *sched)
{
    if (weft__wake_wanted(sched))
        weft__wake_one(sched);
}
void weft__wake_all(struct weft__sched *sched);
/* The traced futex sleep of a parking thread (`kind`: PARK, PARK_JOIN or
 * SPARE_IDLE): weft__futex_wait(&thr->wake_seq, seq) and its duration. */
void weft__park_traced(struct weft__thread *thr, enum weft__trace_kind kind, uint32_t seq);
/* Sleep while *word == expected (spurious returns: callers re-check); wake one. */
void weft__futex_wait(_Atomic uint32_t *word, uint32_t expected);
/* The same, until `until` (absolute, weft_now's clock) at the latest. */
void weft__futex_wait_until(_Atomic uint32_t *word, uint32_t expected, weft_time until);
void weft__futex_wake(_Atomic uint32_t *word);
/* Set the (_Atomic uint32_t) word to 1, with release, and wake its waiter:
 * a one-shot event, usable as a weft_on_cancel callback. */
void weft__futex_post(void *word);
/* Wake thr if it is parked (e.g. its group's last task just finished elsewhere). */
void weft__wake_thread(struct weft__sched *sched, struct weft__thread *thr);
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
bool weft__work_visible(struct weft__sched *sched);

/* ---- cancellation (cancel.c) ---- */

/* Who cancels, for the trace (WEFT_TRACE), which also names the group
 * when that is safe: g's name is stable while the caller is a task of g, its
 * owner thread, or g's deadline fire (disarming waits for it), but a thread
 * outside g may race with the join that ends the life and frees the name. */
enum weft__cancel_by {
    WEFT__BY_CALL,     /* weft_group_cancel, from any thread */
    WEFT__BY_FAILURE,  /* fail-fast: a task of g failed */
    WEFT__BY_DEADLINE, /* g's deadline passed (its fire, or at init) */
    WEFT__BY_ANCESTOR, /* a cancelled ancestor's, pushed down (cancel.c, group init) */
    WEFT__BY_SHUTDOWN, /* destroy, of a detached task's scope, whose name is its record's copy */
    WEFT__BY_SCOPE_CALL /* weft_scope_cancel, from any thread */
};
/* The record a join hands out when g's life (word w, its reason set) ended
 * cancelled without a failure of its own: why it was cancelled, naming the
 * group, or the ancestor whose cancel reached it, and that one's reason
 * (cancel_cause.c). NULL without memory. */
weft_errors *weft__cancel_record(struct weft__scope *s, uint64_t w);
/* The winner of the cancel of s's life `gen` says who it was. */
static inline void weft__cancel_note(struct weft__scope *s, uint32_t gen, enum weft__cancel_by by)
{
    atomic_store_explicit(&s->cancel_note, (uint64_t)gen << 32 | ((uint32_t)by + 1),
                          memory_order_relaxed);
}
/* Cancel s's life `gen` with `reason` and every scope below it. False when it
 * was cancelled already, or that life ended. Not from a signal handler. */
bool weft__cancel(struct weft__scope *s, uint32_t gen, int reason, enum weft__cancel_by by);
/* A timed wait of self (running) returns ETIMEDOUT: when self's effective
 * deadline has passed, cancel its scope with ETIMEDOUT now, as the timer is
 * about to, so the flag is up before the wait returns (a task that then
 * polls weft_cancelled must not run on past its deadline). */
void weft__cancel_at_deadline(weft_task *self);
/* Tests only (base/race_point.h): every cancel scan's read of a state's
 * links calls fn(arg, state) between those loads and the re-read of the
 * state's word that validates them; NULL disarms. */
void weft__cancel_race_arm(void (*fn)(void *arg, const void *state), void *arg);
/* Run the callbacks of s (cancelled) that are still registered (cancel_cb.c). */
void weft__cancel_cb_run_all(struct weft__scopes *scopes, struct weft__scope *s, uint32_t gen);
/* weft_on_cancel_remove for a callback registered in rt, safe even after
 * its group forgot it and the group's memory was freed. */
void weft__cancel_cb_remove(struct weft__scopes *scopes, weft_cancel_cb *cb);
/* weft_on_cancel for a link of something that may outlive self's scope (a
 * blocking job): when that scope ends, the link moves up to its live parent
 * (unless a shield stands between), so the job keeps inheriting cancels. */
int weft__cancel_cb_link(weft_task *self, weft_cancel_cb *cb, void (*fn)(void *arg), void *arg);
/* From a callback's fn: ETIMEDOUT when the scope whose cancel runs it
 * was cancelled with ETIMEDOUT, else ECANCELED. */
int weft__cancel_cb_reason(weft_cancel_cb *cb);
/* s ends: drop callbacks left registered, so a later life never runs
 * them; links (weft__cancel_cb_link) move up instead. */
void weft__cancel_cb_forget(struct weft__scopes *scopes, struct weft__scope *s);
/* After the last task of g ended: detach what g's life registered (callbacks
 * left behind), then back to the pool. */
void weft__group_end_slow(struct weft__thread *thr, struct weft__group *g);
/* Deadlines (scope_deadline.c): when s just began with its own deadline
 * and that is its effective one, still ahead, arm it in the runtime's timer,
 * which cancels that life with ETIMEDOUT (an inherited one comes from the
 * ancestor that armed it); 0 or ENOMEM / thread errors. */
int weft__deadline_arm_own(struct weft__scopes *scopes, struct weft__scope *s, weft_time own_deadline);
/* The runtime's timer, started at first use: 0, or ENOMEM / thread errors. */
int weft__timer_of(struct weft__scopes *scopes, struct weft__timer **out);
/* Disarm it; returns when its fire is not running. */
void weft__deadline_disarm(struct weft__scopes *scopes, struct weft__scope *s);
/* Stop the timer thread (destroy). */
void weft__deadline_stop(struct weft__scopes *scopes);
enum { WEFT__END_TIMER = 1, WEFT__END_CALLBACKS = 2, WEFT__END_STREAM = 4 };
static inline void weft__group_end(struct weft__thread *thr, struct weft__group *g)
{
    if (WEFT__UNLIKELY(g->scope.end_work != 0))
        weft__group_end_slow(thr, g);
    else
        weft__group_release(thr, g);
}
/* For a scope's begin: orders its publication before the read of its
 * parent's word, against a canceller's barrier (see cancel.c). */
static inline void weft__cancel_init_barrier(struct weft__thread *thr)
{
    if (!atomic_load_explicit(&thr->use_membarrier, memory_order_relaxed))
        weft__full_fence();
    else
        atomic_signal_fence(memory_order_seq_cst); /* compiler only: the canceller pays */
}

/* Begin a life of s, pooled (DEAD) on thr, under ps, whose life cannot end
 * meanwhile (the running task is in it). Returns its gen << 32, its word
 * before any cancel. Inlined so that the plain group init (no options)
 * folds the deadline and shield work away. */
static inline __attribute__((always_inline)) uint64_t
weft__scope_begin(struct weft__thread *thr, struct weft__scope *s, struct weft__scope *ps,
                  unsigned flags, const char *name, weft_time own_deadline)
{
    /* ps's gen read now is the gen read after the barrier below, and a
     * cancel of that life is the only change the second read can see */
    uint32_t pgen = weft__cancel_gen(atomic_load_explicit(&ps->cancel, memory_order_relaxed));
    bool shielded = (flags & WEFT_SHIELD) != 0;
    weft_time inherited = shielded ? WEFT_NEVER : ps->deadline;
    /* pooled, the word is (gen, DEAD) (no cancel's CAS matches a DEAD word),
     * and DEAD is all ones: + 1 is (gen + 1, 0) */
    uint64_t word = atomic_load_explicit(&s->cancel, memory_order_relaxed) + 1;
    /* release (free on x86): each is ordered after the DEAD word the last
     * release stored, which a scanner's seqlock read relies on (cancel.c) */
    atomic_store_explicit(&s->parent, ps, memory_order_release);
    atomic_store_explicit(&s->up, weft__scope_up(pgen, flags), memory_order_release);
    s->deadline = own_deadline < inherited ? own_deadline : inherited;
    s->started = own_deadline != WEFT_NEVER ? weft_now() : 0;
    s->name = name;
    /* release: a scanner that reads this word sees the fields above */
    atomic_store_explicit(&s->cancel, word, memory_order_release);
    /* every child stores it, though the first of a life stored the same
     * value: the canceller's read after its barrier must see a store of
     * this begin's own, the Dekker pair's write (cancel.c). Skipping the
     * store when an earlier child's was seen relied on multi-copy atomicity
     * (issue 17, hole 4); the store costs fib nothing measurable
     * (bench/RESULTS.md) */
    atomic_store_explicit(&ps->children_gen, pgen, memory_order_relaxed);
    /* publish, then read the parent's word: pairs with a canceller's barrier */
    weft__cancel_init_barrier(thr);
    uint32_t reason = weft__cancel_reason_of(atomic_load_explicit(&ps->cancel, memory_order_relaxed));
    if (WEFT__UNLIKELY(reason != 0) && !shielded &&
        atomic_compare_exchange_strong_explicit(&s->cancel, &(uint64_t){word}, word | reason,
                                                memory_order_relaxed, memory_order_relaxed))
        weft__cancel_note(s, weft__cancel_gen(word), WEFT__BY_ANCESTOR);
    if (WEFT__UNLIKELY(own_deadline != WEFT_NEVER) && own_deadline <= weft_now())
        weft__cancel(s, weft__cancel_gen(word), ETIMEDOUT, WEFT__BY_DEADLINE); /* in the past: at once */
    return word;
}
/* The scope s inherits from: its parent, when s is not shielded and the
 * parent is still in the life s began under, else NULL; *word (if not
 * NULL) gets the parent's word. The one walk up for callers below s, whose
 * ancestors are live (a scan, which is not, reads links as cancel.c does). */
static inline struct weft__scope *weft__scope_enclosing(const struct weft__scope *s,
                                                        uint64_t *word)
{
    struct weft__scope *p = atomic_load_explicit(&s->parent, memory_order_relaxed);
    uint64_t up = atomic_load_explicit(&s->up, memory_order_relaxed);
    if (p == NULL || ((up >> 32) & WEFT_SHIELD) != 0)
        return NULL;
    /* acquire: what the parent's canceller wrote before its CAS (its note) */
    uint64_t pw = atomic_load_explicit(&p->cancel, memory_order_acquire);
    if (weft__cancel_gen(pw) != weft__scope_parent_gen(up) ||
        weft__cancel_reason_of(pw) == WEFT__GROUP_DEAD)
        return NULL;
    if (word != NULL)
        *word = pw;
    return p;
}
/* Begin a life of s, a scope no pool holds (a blocking job's, a detached
 * task's record's), with no parent: it is linked to its parent's cancel
 * through a callback, if at all. Returns the life's gen. */
uint32_t weft__scope_begin_unparented(struct weft__scope *s, const char *name,
                                      weft_time deadline);

/* ---- timed waits (timed_wait.c) ---- */
/* A wait shorter than this keeps the slot: a hand-off costs a few us and a
 * wake-up of another thread. */
enum { WEFT__HANDOFF_MIN = 50 * 1000 };
/* The running task self on thr waits until ready(arg) (0), its scope is
 * cancelled (the reason) or min(until, its deadline) (ETIMEDOUT). Wakers
 * call weft__wake_thread when they see thr->parked: such a waker must
 * publish what ready() tests with a seq_cst write before its seq_cst load
 * of `parked`, and ready() must read it with a seq_cst load (timed_wait.c). */
int weft__timed_wait(struct weft__thread *thr, weft_task *self, weft_time until,
                     bool (*ready)(void *arg), void *arg);
/* The same, for a wait on the tasks queued in scope `need` (the scope of
 * a group the caller owns): an endless wait that helps runs them at any
 * depth (weft__find_work). */
int weft__timed_wait_tasks(struct weft__thread *thr, weft_task *self, weft_time until,
                           bool (*ready)(void *arg), void *arg, const struct weft__scope *need);

/* ---- slot hand-off (slots.c) ---- */
enum { WEFT__SPARE_MAX = 256 }; /* threads beyond `workers`, started on demand */
/* thr is about to wait for a while on a worker of rt: give its slot to a
 * spare thread so `workers` threads keep running tasks. False when thr holds
 * no slot, or no spare could be had (thr then waits holding it). */
bool weft__slot_lend(struct weft__thread *thr);
/* After weft__slot_lend: take a slot again (one is always free). */
void weft__slot_reclaim(struct weft__thread *thr);
/* Between tasks, with an empty deque, while rt->rebalance or holding an
 * extra slot: give up or swap the slot so that at most `workers` threads
 * hold one, base slots first. True when thr became a spare (then call
 * weft__spare_wait). */
bool weft__slot_rebalance(struct weft__thread *thr);
/* A thread without a slot parks until it is handed one (true) or the
 * runtime stops (false). */
bool weft__spare_wait(struct weft__thread *thr);
/* Start thread `i` (its struct and slot initialised): the worker loop. */
int weft__thread_launch(struct weft__sched *sched, unsigned i);
/* A new slot with index id (runtime.c); NULL: ENOMEM. */
struct weft__slot *weft__slot_new(struct weft__sched *sched, unsigned id);
void weft__slot_delete(struct weft__slot *s);
/* Destroy: wake every spare so it sees rt->stopping. */
void weft__spares_wake_all(struct weft__sched *sched);

/* ---- detached tasks (detached.c) ---- */
/* At create, before any thread: the fallback scope begins its life. */
void weft__detached_init(weft_runtime *rt);
/* The end of a detached task: its groups joined, its scope ended, its
 * cleanup run, a failure reported, counted ended (detached.c). */
extern const struct weft__task_kind_ops weft__detached_task_kind;
/* Destroy (shutting_down set): cancel every detached task running with
 * ECANCELED: its flag, its callbacks, the groups below it. One that starts
 * from now on cancels itself. */
void weft__detached_cancel_all(weft_runtime *rt);
/* Then: wait until every detached task ended, or `until`; true when all did. */
bool weft__detached_wait(weft_runtime *rt, weft_time until);
/* Then: name each one still running (on_unhandled, else stderr), and
 * report those not started as unnamed; how many. */
unsigned weft__detached_name_stragglers(weft_runtime *rt);
/* Then: true when some still run, and from now on the last of them stops
 * the workers (rt may be freed once this returned); false when all ended. */
bool weft__detached_abandon(weft_runtime *rt);
/* The records' memory (weft__runtime_free). */
void weft__detached_free_all(weft_runtime *rt);

/* A failure nobody can observe (detached task, released job): counted, then
 * given to on_unhandled, or printed on one line (unhandled.c) naming `what`
 * ("detached task", "blocking job"). rec (NULL: none could be made) is taken. */
void weft__unhandled(weft_runtime *rt, const char *what, const char *name, int rc,
                     struct weft_error *rec);
/* A detached task named `name` ("": unnamed) still ran when destroy gave up
 * on it: counted like a failure, then given to on_unhandled as an ETIMEDOUT
 * record, or printed on one line. */
void weft__unhandled_straggler(weft_runtime *rt, const char *name);
/* Free what is left of rt once no worker runs: the timer, the blocking
 * pool's memory, the locks, rt itself. */
void weft__runtime_free(weft_runtime *rt);
/* Runtimes freed so far: tests see an abandoned runtime's memory go. */
extern _Atomic unsigned long weft__runtimes_freed;

/* ---- blocking pool (blocking_pool.c) ---- */
/* ops: what the pool does with a job (weft__job_ops, job.c). */
void weft__blocking_init(struct weft__jobs *jobs, const struct weft__job_ops *ops, unsigned max,
                         weft_time idle, weft_time shutdown_timeout, size_t stack_size);
/* Destroy: refuse new jobs, cancel the running ones (flag and callbacks);
 * queued ones start cancelled. */
void weft__blocking_cancel_all(struct weft__jobs *jobs);
/* Then: wait until `until` for every blocking thread to exit: 0, or ETIMEDOUT. */
int weft__blocking_wait_idle(struct weft__jobs *jobs, weft_time until);
/* Then: each job that ended failing, whose handle is held and which no wait
 * saw, goes to on_unhandled now, once (its release reports nothing more). */
void weft__blocking_report_unobserved(struct weft__jobs *jobs);
/* After the workers stopped: true when rt may be freed now; else the pool's
 * last user frees it (weft__runtime_free). */
bool weft__blocking_orphan(struct weft__jobs *jobs);
/* The pool's memory and locks (from weft__runtime_free). */
void weft__blocking_fini(struct weft__jobs *jobs);
void weft__blocking_stats(struct weft__jobs *jobs, weft_stats *out);

/* ---- failures (fail.c) ---- */
/* The task's record at its end, with its final rc and t's arg: the pending
 * one from weft_fail (or kept causes) brought up to date, or a new one; NULL
 * for rc == 0 (a pending one is freed) or without memory. */
struct weft_error *weft__task_failure(struct weft_task *t, const char *name, int rc);
/* self when it is the task running on this thread (a CPU task or a blocking
 * job's self), else NULL. */
struct weft_task *weft__task_running(weft_task *self);
/* On a blocking thread while a job's function runs: the job's self and its
 * runtime (set by job.c), for the task calls that work on a job's self;
 * NULL elsewhere (fail.c). */
extern __thread struct weft_task *weft__job_task __attribute__((tls_model("initial-exec")));
extern __thread struct weft__scopes *weft__job_scopes __attribute__((tls_model("initial-exec")));
/* Takes t's pending record (NULL if none) off t, untouched: t has none after. */
struct weft_error *weft__task_take_pending(struct weft_task *t);
/* rec (if not NULL) becomes t's pending record, as weft_fail makes it: an
 * older pending record is dropped and its causes move over to rec. */
void weft__task_put_pending(struct weft_task *t, struct weft_error *rec);
/* weft__task_failure named as t's own failures are: what one call of a
 * function running as t left (retry.c). */
struct weft_error *weft__task_attempt_failure(struct weft_task *t, int rc);
/* The wait weft_retry_run makes before try k+2 under `policy` (jitter drawn;
 * WEFT_NEVER when it would not fit), or -1 for a policy it refuses (retry.c). */
weft_time weft__retry_delay(const weft_retry *policy, unsigned k);
/* Errors of a group the task joined without taking them: kept as the cause
 * of the task's failure, should it fail (taken). */
void weft__task_keep_cause(struct weft_task *t, weft_errors *errs);
/* The runtime's settings from weft_config, the environment and defaults (config.c). */
struct weft__settings {
    unsigned workers;
    size_t stack_size;
    bool print_stats;
    const char *trace_path; /* NULL: no trace */
    unsigned blocking_max;
    weft_time blocking_idle, shutdown_timeout;
};
int weft__settings_resolve(const weft_config *cfg, struct weft__settings *out);

#endif
