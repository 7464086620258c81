/*
 * The scheduler (sched/): task descriptors, slots, threads, stealing, the
 * injection queue, the aside lists, parking and the slot hand-off.
 *
 * A slot is what a worker needs to run tasks: its deque, its free list of
 * task descriptors, its counters. A thread is an OS thread that runs tasks
 * while it holds a slot. The runtime starts `workers` threads holding the
 * `workers` base slots; a thread entering a timed wait hands its slot to a
 * spare thread, which the runtime starts on demand together with one extra
 * slot, so there are always as many slots as threads (slots.c).
 *
 * The scheduler runs frames and knows no kind of task: what a kind does
 * around its function is in the layer that makes such tasks
 * (weft__task_kind_ops). A task's scope is a pointer it carries for the
 * layers above and compares, never reads.
 *
 * Deques hold frames, not pointers (union weft__task_frame): a plain
 * spawn's task is its fn, arg and scope in the slot, with no descriptor,
 * and whoever takes it runs it from a descriptor on its own stack
 * (weft__task_of_frame). Only a task that needs more than those three
 * words (options, a stream, a detached or a root task, one set aside or
 * injected) has a descriptor of its own, which its frame carries.
 */
#ifndef WEFT_SCHED_SCHED_H
#define WEFT_SCHED_SCHED_H

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "base/base.h"
#include "base/cpu_list.h"
#include "base/trace_log.h"
#include "deque/deque.h"
#include "deque/frame.h"

struct weft__scope;          /* scope/scope.h: the scope a task runs in */
struct weft__group;          /* group/group.h: the per-thread pool of group states */
struct weft__scope_chunk;    /* scope/scope.h */
struct weft__run_wait;       /* runtime.c: whom a root tells */
struct weft__task_kind_ops;

/* The kinds of task, one number per making layer, which sched uses only
 * to index weft__sched's kinds[]. */
enum weft__task_kind {
    WEFT__TASK_GROUP = 0,   /* spawned into a group, no options: the fast path */
    WEFT__TASK_GROUP_OPTS,  /* spawned into a group with a name or a cleanup */
    WEFT__TASK_GROUP_TIMED, /* ... and a deadline tighter than its group's: runs in a scope */
    WEFT__TASK_GROUP_UNSCOPED, /* a TIMED task whose scope could not be made (ENOMEM, EAGAIN) */
    WEFT__TASK_ROOT,        /* weft_run's task; `run` says whom to tell */
    WEFT__TASK_DETACHED,    /* weft_spawn_detached */
    WEFT__TASK_JOB          /* a blocking job's self (job.h): never queued on a worker */
};

/* The kind is in kind's low byte; flags of the layers above are or'ed
 * into the rest. */
enum { WEFT__TASK_KIND_MASK = 0xffu };
/* Or'ed into kind at spawn: its kind's start runs before fn (a TIMED task's scope). */
enum { WEFT__TASK_STARTS = 1u << 12 };
enum { WEFT__TASK_KINDS = WEFT__TASK_JOB + 1 };

/* A task descriptor: one cache line, recycled through per-slot free lists;
 * or, for a plain spawn's frame, filled on the runner's stack for the run
 * (home WEFT__TASK_ON_STACK, weft__task_of_frame). */
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
    struct weft__slot *home; /* free list it returns to; NULL: heap; WEFT__TASK_ON_STACK */
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

/* A queued task as a deque slot holds it (deque/frame.h's four words). A
 * plain spawn's frame has no descriptor (`desc` NULL): fn, arg and scope
 * are the task. Any other carries its descriptor in `desc`, and its fn,
 * arg and scope word beside it, so that a look at `scope` needs no load of
 * the descriptor. */
union weft__task_frame {
    weft__deque_frame words;
    struct {
        weft_fn fn;
        void *arg;
        struct weft__scope *scope; /* the descriptor's scope word while queued */
        struct weft_task *desc;
    } f;
};
_Static_assert(sizeof(union weft__task_frame) == sizeof(weft__deque_frame),
               "a task's frame is the deque's four words");

/* The `home` of a descriptor on a runner's stack, filled from a frame
 * without one (weft__task_of_frame): nothing to free at its end. Never
 * dereferenced. */
#define WEFT__TASK_ON_STACK ((struct weft__slot *)(uintptr_t)1)

/* The task of frame q, taken from a deque to run: its descriptor, or for a
 * plain spawn *scratch, a descriptor on the taker's stack filled from the
 * frame. scratch must outlive the run: a task's `self` is its descriptor. */
static inline struct weft_task *weft__task_of_frame(const union weft__task_frame *q,
                                                    struct weft_task *scratch)
{
    if (q->f.desc != NULL)
        return q->f.desc;
    scratch->fn = q->f.fn;
    scratch->arg = q->f.arg;
    scratch->scope = q->f.scope;
    scratch->home = WEFT__TASK_ON_STACK;
    scratch->kind = WEFT__TASK_GROUP; /* only a group's plain spawn has no descriptor */
    scratch->open_groups = 0;
    return scratch;
}

/* The frame that queues t, not started (the inverse of weft__task_of_frame). */
static inline union weft__task_frame weft__frame_of_task(struct weft_task *t)
{
    union weft__task_frame q = {
        .f = {t->fn, t->arg, t->scope, t->home == WEFT__TASK_ON_STACK ? NULL : t}};
    return q;
}

/* Tasks a join popped but may not run nested (aside.c): a ring of
 * pointers, oldest first, under `lock`; `count` is written under it and
 * read without it. */
struct weft__aside {
    pthread_mutex_t lock;
    struct weft_task **buf; /* cap entries (a power of two, or 0) from head */
    size_t cap, head;
    _Atomic size_t count;
};

/* Tasks a slot's holder took from the top of its own deque for a thief
 * that asked (batch.c): handed over whole, so a thief of many small tasks
 * pays one handshake for up to WEFT__BATCH_MAX of them, not a steal each.
 * `count`: 0 empty, n > 0 the frames ready in frames[0..n), oldest first,
 * WEFT__BATCH_CLAIMED while a taker moves them out. */
enum { WEFT__BATCH_MAX = 512, WEFT__BATCH_CLAIMED = -1 };
/* A holder answers a request once it has this many tasks queued. */
enum { WEFT__BATCH_SHED_MIN = 32 };
struct weft__batch {
    _Atomic int count;
    atomic_bool wanted; /* a thief asked; the holder sheds at a push or pop */
    union weft__task_frame frames[WEFT__BATCH_MAX];
};

/* Per-slot counters (single writer: the thread holding the slot). */
struct weft__slot_stats {
    weft__counter tasks_run, spawns, steals, steal_attempts, parks;
    weft__counter batch_steals; /* of the steals: tasks taken in batches */
};

struct weft__slot {
    weft__deque_frames deque; /* aligned to a cache line */
    /* owner's line */
    unsigned id; /* its index in sched->slots: < sched->workers for a base slot */
    struct weft__sched *sched;
    struct weft__slot *free_next; /* held by no thread: sched's free list (slots.c) */
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
    /* read by every thief's look, written once a batch: lines of its own */
    alignas(WEFT__CACHE_LINE) struct weft__batch batch;
};

/* Owner only: queue q on slot's deque; 0 or ENOMEM. */
static inline int weft__slot_push(struct weft__slot *slot, const union weft__task_frame *q)
{
    return weft__deque_frames_push_owner(&slot->deque, &q->words);
}

/* Cache-line aligned: `current` is written at every task, and neighbours in
 * sched->threads must not share that line. */
struct weft__thread {
    alignas(WEFT__CACHE_LINE) struct weft__sched *sched;
    struct weft__slot *slot; /* the slot held, NULL while parked without one */
    struct weft_task *current; /* the task running on this thread, NULL between tasks */
    /* odd while it steals: owners free the deque buffers they replaced
     * only while no thread steals (deque/common.h, sched->readers) */
    _Atomic uint64_t steal_epoch;
    /* its WEFT_TRACE buffer, NULL when untraced: the hot paths' one test,
     * on the line they write anyway (trace.c) */
    struct weft__trace_buf *trace;
    pthread_t tid;
    uint64_t rng;
    /* 1 + its slot's spawn count at its last steal (0: none yet): if the
     * count is unchanged at the next steal, what it stole spawned nothing,
     * and a batch is worth waiting for */
    uint64_t steal_mark;
    /* batches its victims did not answer in time lately (at most
     * scheduler.c's BATCH_MISSES_MAX), and the single steals left before
     * it waits for one again */
    unsigned batch_misses, batch_skip;
    /* a join steals, or runs a task its group does not need, only while
     * its frame is above this line (weft__stack_room) */
    uintptr_t stack_lo;
    /* sched's, copied at start, cleared for good by a failed membarrier
     * (park.c): group init reads it with one relaxed load */
    atomic_bool use_membarrier;
    /* its last steals found a victim whose owner holds private tasks and
     * was asked to share some (split deque): it retries, it does not park */
    bool asked;
    /* parking, on a line of its own (finishers elsewhere read `parked`):
     * futex word bumped by every wake; parked under sched->idle_lock */
    alignas(WEFT__CACHE_LINE) _Atomic uint32_t wake_seq;
    atomic_bool parked;
    bool in_idle_list;
    bool joining;   /* listed from a join: wake_one's last choice */
    bool searching; /* counted in sched->n_searching */
    bool looking; /* counted in sched->n_looking */
    struct weft__thread *idle_next;
    unsigned local_runs; /* tasks run since the last look at the injection queue */
    /* the per-thread pools of the layers above, one load from the running
     * thread: the group states and scopes this thread's tasks begin
     * (group_pool.c, scope_pool.c), from chunks listed for cancel scans */
    struct weft__group *group_free;
    struct weft__scope *scope_free;
    _Atomic(struct weft__scope_chunk *) scope_chunks;
    /* slot hand-off (slots.c), under sched->slot_lock */
    struct weft__thread *spare_next; /* sched->spares: parked without a slot */
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

/* The parker's half of the Dekker pair with a spawner's wake check (the
 * header comment of park.c). */
enum weft__park_mode {
    WEFT__PARK_RECHECK,    /* fence, look, a short nap, look again: no IPI (the default) */
    WEFT__PARK_MEMBARRIER, /* membarrier, look (before issue 21) */
    WEFT__PARK_FENCE,      /* fence, look; spawners fence too */
};

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
    /* every thread's steal_epoch: the thieves of every slot's deque */
    weft__deque_readers readers;
    size_t stack_size;
    /* WEFT_AFFINITY: where each thread starts (slots.c); NULL: unpinned */
    struct weft__placement *placement;
    struct weft__trace_log *trace_log; /* WEFT_TRACE's log, which every layer records into; NULL: untraced */
    struct weft__inject inject;
    /* what each kind of task does around its function (weft__task_kind_ops) */
    const struct weft__task_kind_ops *kinds[WEFT__TASK_KINDS];
    /* an upcall the runtime installs: a worker thread left its loop */
    void (*worker_exit)(struct weft__sched *sched);

    /* idle protocol (park.c) */
    _Atomic unsigned n_idle;      /* threads in the idle list */
    _Atomic unsigned n_searching; /* awake threads looking for work */
    /* split deque: threads out of work, parked or not, joiners that may
     * steal, threads starting (weft__looking_begin) */
    _Atomic unsigned n_looking;
    pthread_mutex_t idle_lock;
    struct weft__thread *idle_list;
    /* how parkers close the race with a spawner's wake check (park.c) */
    enum weft__park_mode park_mode;
    /* spawners fence before their wake check (WEFT__PARK_FENCE, or
     * WEFT__PARK_MEMBARRIER once membarrier failed); else a compiler barrier */
    atomic_bool spawner_fences;
    /* cancels' heavy side is a membarrier; else the light sides (a scope's
     * begin) fence. Cleared for good by the first membarrier that fails
     * (park.c), which sets membarrier_off_at */
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

/* Slots (and threads) started so far; stealers and scans cover them all. */
static inline unsigned weft__nthreads(struct weft__sched *sched)
{
    /* acquire: the slot and thread at each index are initialised first */
    return atomic_load_explicit(&sched->nthreads, memory_order_acquire);
}

/* The thread running this code, NULL outside any runtime's workers. */
extern __thread struct weft__thread *weft__self_thread __attribute__((tls_model("initial-exec")));
/* The same for programs' inline spawns, which compare a group's owner
 * with it: <weft/inline.h>'s declaration. Not included here: every file
 * built with that header refers to the layout symbol group.c defines. */
WEFT_API extern _Thread_local void *weft_inline_self_ __attribute__((tls_model("initial-exec")));
/* thr's thread starts (or, NULL, stops) running tasks: it is the thread
 * for the runtime's calls and for programs' inline spawns. */
static inline void weft__self_thread_set(struct weft__thread *thr)
{
    weft__self_thread = thr;
    weft_inline_self_ = thr;
}

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
/* The end of t's descriptor: back to its pool, or nothing for one on a
 * runner's stack (WEFT__TASK_ON_STACK). */
static inline void weft__task_free(struct weft__slot *mine, struct weft_task *t)
{
    if (WEFT__LIKELY(t->home == WEFT__TASK_ON_STACK))
        return;
    if (WEFT__LIKELY(t->home == mine)) {
        t->next = mine->free;
        mine->free = t;
        return;
    }
    weft__task_free_remote(mine, t);
}
void weft__slot_pool_destroy(struct weft__slot *slot);

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
 * any aside list. Its own batch no thief took (batch.c) counts as its
 * deque, a victim's batch as a steal. NULL when it found nothing. A task
 * taken from a frame without a descriptor is *scratch
 * (weft__task_of_frame): run it before scratch goes out of scope. */
struct weft_task *weft__find_work(struct weft__thread *thr, const struct weft__scope *need,
                                  struct weft__slot *prefer, bool room,
                                  struct weft_task *scratch);
/* Queue a task with a descriptor: own deque on a worker, the injection
 * queue elsewhere. */
int weft__submit(struct weft__sched *sched, struct weft__thread *thr, struct weft_task *t);
/* The injection queue (inject.c): push is 0 or ENOMEM. */
int weft__inject_push(struct weft__sched *sched, struct weft_task *t);
struct weft_task *weft__inject_pop(struct weft__sched *sched);
void weft__inject_destroy(struct weft__sched *sched);

/* What a kind of task does around its function: defined by the layer that
 * makes such tasks (group.c, runtime.c, detached.c) and listed by the
 * runtime at create (sched->kinds), so the scheduler runs frames and knows no
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
 * t meanwhile and `outer` (thr->current before) after; returns what fn
 * returned. A caller that knows the running task passes it, and keeps
 * no copy of thr->current alive across the call. */
static inline int weft__frame_call_from(struct weft__thread *thr, struct weft_task *t,
                                        struct weft_task *outer)
{
    thr->current = t;
    if (WEFT__UNLIKELY(t->kind & WEFT__TASK_STARTS))
        weft__task_kind_of(thr, t)->start(thr, t);
    int rc = t->fn(t, t->arg);
    thr->current = outer;
    return rc;
}
static inline int weft__frame_call(struct weft__thread *thr, struct weft_task *t)
{
    return weft__frame_call_from(thr, t, thr->current);
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

/* ---- batched steals (batch.c) ---- */
/* A thief asked slot's holder for a batch (relaxed: a hint). */
static inline bool weft__batch_wanted(struct weft__slot *slot)
{
    return atomic_load_explicit(&slot->batch.wanted, memory_order_relaxed);
}
/* slot holds a batch ready to take. */
static inline bool weft__batch_ready(struct weft__slot *slot)
{
    return atomic_load_explicit(&slot->batch.count, memory_order_relaxed) > 0;
}
/* slot's holder, asked: move up to half of its deque's oldest frames (at
 * most WEFT__BATCH_MAX) into its batch once WEFT__BATCH_SHED_MIN are
 * queued and the last batch is gone; the request stands until then. */
void weft__batch_shed(struct weft__slot *slot);
/* thr, whose last stolen task spawned nothing, found victim's deque busy:
 * ask for a batch and wait a little for it, watching the batch's line
 * only. The task (in *scratch when a plain frame), or NULL. */
struct weft_task *weft__batch_wait(struct weft__thread *thr, struct weft__slot *victim,
                                   struct weft_task *scratch);
/* Take from's batch: its oldest task is returned (in *scratch when a plain
 * frame), the others pushed on thr's deque (left in the batch if that push
 * runs out of memory). NULL when empty or another taker won. A thief's
 * takes count as steals; from may be thr's own slot. */
struct weft_task *weft__batch_take(struct weft__thread *thr, struct weft__slot *from,
                                   struct weft_task *scratch);

/* ---- idle protocol (park.c) ---- */
/* For benchmarks and tests: runtimes created from now on use `mode`. */
void weft__park_mode_force(enum weft__park_mode mode);
void weft__park_init(struct weft__sched *sched);
/* A starting thread takes its copy of sched->use_membarrier (worker_main). */
void weft__park_thread_start(struct weft__thread *thr);
/* A full barrier executed by every running thread of the process before this
 * returns (membarrier), or a fence where the kernel has none or membarrier
 * failed once: the heavy side of an asymmetric Dekker pair whose light side
 * is weft__cancel_init_barrier's compiler barrier (a fence once membarrier
 * is off), and under WEFT__PARK_MEMBARRIER weft__notify_work's too. */
void weft__full_barrier_everywhere(struct weft__sched *sched);
/* Tests make expedited membarrier calls fail (fault_point.h), from the Nth
 * and every later one, or the Nth only; 0 disarms. Calls since arming. */
void weft__membarrier_fail_from(unsigned long n);
void weft__membarrier_fail_nth(unsigned long n);
unsigned long weft__membarrier_calls(void);
void weft__wake_one(struct weft__sched *sched);
/* The spawners' half of the barrier pair of park.c's header comment. */
static inline void weft__spawner_barrier(struct weft__sched *sched)
{
    if (WEFT__UNLIKELY(atomic_load_explicit(&sched->spawner_fences, memory_order_relaxed)))
        weft__full_fence();
    else
        atomic_signal_fence(memory_order_seq_cst); /* compiler only: the parker pays */
}
/* After making work visible: whether a parked thread must be woken (one is
 * parked and nobody is searching). Apart from weft__notify_work so that the
 * spawn fast path can make the rare wake a tail call and stay a leaf. */
static inline bool weft__wake_wanted(struct weft__sched *sched)
{
    weft__spawner_barrier(sched);
    return WEFT__UNLIKELY(atomic_load_explicit(&sched->n_idle, memory_order_relaxed) != 0) &&
           atomic_load_explicit(&sched->n_searching, memory_order_relaxed) == 0;
}
/* thr may take a task from any deque from now until weft__looking_end: a
 * worker out of work (searching, parking, parked), a joiner that may steal,
 * a thread about to start. On the split deque spawners share their private
 * tasks while anyone looks, so that a task such a thread could run does
 * not stay private in a spawner that runs on without pushing or popping
 * (n_idle and n_searching alone miss a thread between the two, or a
 * joiner). Nothing on Chase-Lev, where every task is stealable anyway. */
static inline void weft__looking_begin(struct weft__thread *thr)
{
#ifdef WEFT_SPLIT_DEQUE
    if (!thr->looking) {
        thr->looking = true;
        /* relaxed: a hint to spawners, which share when they see it */
        atomic_fetch_add_explicit(&thr->sched->n_looking, 1, memory_order_relaxed);
    }
#else
    (void)thr;
#endif
}
static inline void weft__looking_end(struct weft__thread *thr)
{
#ifdef WEFT_SPLIT_DEQUE
    if (thr->looking) {
        thr->looking = false;
        atomic_fetch_sub_explicit(&thr->sched->n_looking, 1, memory_order_relaxed);
    }
#else
    (void)thr;
#endif
}
/* After making work visible: wake a parked thread if nobody is searching. */
static inline void weft__notify_work(struct weft__sched *sched)
{
    if (weft__wake_wanted(sched))
        weft__wake_one(sched);
}
/* After the owner pushed onto its own deque: whether weft__pushed must run.
 * On Chase-Lev the task is stealable already, and this is
 * weft__wake_wanted. On the split deque it is private, and a thief could
 * use it now when a thread is parked (it is woken for it) or searching:
 * then it is shared too. */
static inline bool weft__push_wanted(struct weft__sched *sched)
{
#ifdef WEFT_SPLIT_DEQUE
    weft__spawner_barrier(sched);
    return WEFT__UNLIKELY((atomic_load_explicit(&sched->n_idle, memory_order_relaxed) |
                           atomic_load_explicit(&sched->n_searching, memory_order_relaxed) |
                           atomic_load_explicit(&sched->n_looking, memory_order_relaxed)) != 0);
#else
    return weft__wake_wanted(sched);
#endif
}
/* weft__push_wanted held for slot's holder, which just pushed: share its
 * private tasks (split deque), then wake a parked thread if nobody is
 * searching. Out of line: the spawn fast path makes it a tail call. */
void weft__pushed(struct weft__slot *slot);
/* After the owner pushed onto slot's deque: make the task's thieves see it. */
static inline void weft__notify_push(struct weft__slot *slot)
{
    if (WEFT__UNLIKELY(weft__batch_wanted(slot)))
        weft__batch_shed(slot);
    if (weft__push_wanted(slot->sched))
        weft__pushed(slot);
}
/* thr is about to stop pushing and popping for a while (a park, a wait, a
 * hand-off of its slot, a wait for a lock or a thread): its private tasks
 * become stealable, or a thief that asked for them would wait until it
 * pushes or pops again (deque/deque.h). A no-op on Chase-Lev, and without
 * a slot. The tasks' thieves are searching already: a thread that looked
 * before parking counted the private tasks as work (weft__work_visible). */
static inline void weft__slot_share(struct weft__thread *thr)
{
    if (thr != NULL && thr->slot != NULL)
        weft__deque_frames_share_owner(&thr->slot->deque);
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

/* ---- slot hand-off (slots.c) ---- */
enum { WEFT__SPARE_MAX = 256 }; /* threads beyond `workers`, started on demand */
/* thr is about to wait for a while on a worker of sched: give its slot to a
 * spare thread so `workers` threads keep running tasks. False when thr holds
 * no slot, or no spare could be had (thr then waits holding it). */
bool weft__slot_lend(struct weft__thread *thr);
/* After weft__slot_lend: take a slot again (one is always free). */
void weft__slot_reclaim(struct weft__thread *thr);
/* Between tasks, with an empty deque, while sched->rebalance or holding an
 * extra slot: give up or swap the slot so that at most `workers` threads
 * hold one, base slots first. True when thr became a spare (then call
 * weft__spare_wait). */
bool weft__slot_rebalance(struct weft__thread *thr);
/* A thread without a slot parks until it is handed one (true) or the
 * runtime stops (false). */
bool weft__spare_wait(struct weft__thread *thr);
/* Start thread `i` (its struct and slot initialised): the worker loop. */
int weft__sched_start_thread(struct weft__sched *sched, unsigned i);
/* A new slot with index id (runtime.c); NULL: ENOMEM. */
struct weft__slot *weft__slot_new(struct weft__sched *sched, unsigned id);
void weft__slot_delete(struct weft__slot *s);
/* Destroy: wake every spare so it sees sched->stopping. */
void weft__spares_wake_all(struct weft__sched *sched);

#endif
