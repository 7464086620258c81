/*
 * Cancel scopes (scope/): the scope's structure and lives, cancellation and
 * its propagation, weft_on_cancel callbacks, deadlines, timed waits, and a
 * task's failure records.
 */
#ifndef WEFT_SCOPE_SCOPE_H
#define WEFT_SCOPE_SCOPE_H

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "base/base.h"
#include "errors/errors.h"
#include "sched/sched.h"
#include "timer/timer.h"

struct weft__cancel_cb;

/* Or'ed into a task's kind by weft_fail (fail.c): `failure` holds a
 * record, and the task's end goes through its kind's end. */
enum { WEFT__TASK_FAILED = 1u << 8 };

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
     * by weft_on_cancel, from any task in the scope, under scopes->cb_lock.
     * Read and cleared at the end, after every task completed. Plain, not
     * atomic: each of those accesses happens-before the next (spawn, the
     * lock, completion), so no two race. */
    uint8_t end_work;
    /* weft_on_cancel callbacks of its tasks, under scopes->cb_lock (cancel_cb.c) */
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
    uint64_t scan_epoch; /* cancel.c's scanner only, under scopes->cancel_lock */
    uint64_t scan_word;  /* the same: the word its walk up saw (settle) */
    struct weft__scope *next_free; /* a pooled scope of its own: its thread's free list */
    struct weft__timer_entry timer; /* scope_deadline.c; only with a deadline of its own */
};
_Static_assert(offsetof(struct weft__scope, scopes) == WEFT__CACHE_LINE,
               "what inits, tasks and joins read fills line 0, the rest is apart");

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
/* c describes `count` states of `stride` bytes from `first` (each begins
 * with its scope, initialised), before it is listed. */
static inline void weft__scope_chunk_describe(struct weft__scope_chunk *c, void *first,
                                              size_t stride, size_t count)
{
    c->first = first;
    c->stride = stride;
    c->count = count;
}
/* Every scope of a list of chunks, in one loop:
 *   struct weft__scope_iter it = {first_chunk, 0};
 *   for (struct weft__scope *x; (x = weft__scope_iter_next(&it)) != NULL;) ...
 * it.chunk is the chunk x is in. */
struct weft__scope_iter {
    const struct weft__scope_chunk *chunk;
    size_t i;
};
static inline struct weft__scope *weft__scope_iter_next(struct weft__scope_iter *it)
{
    while (it->chunk != NULL) {
        if (it->i < it->chunk->count)
            return weft__scope_chunk_at(it->chunk, it->i++);
        it->chunk = it->chunk->next;
        it->i = 0;
    }
    return NULL;
}
/* A scope's memory, once: pooled (gen 0, DEAD), of scopes, ended by `home`. */
void weft__scope_init_pooled(struct weft__scope *s, struct weft__scopes *scopes,
                             const struct weft__thread *home);
/* List c (its states initialised) on thr: scans see its states from now. */
void weft__scope_chunk_list(struct weft__thread *thr, struct weft__scope_chunk *c);
/* List c on scopes, not on a thread: scopes that cancel scans never visit
 * (they have no parent: a blocking job's), known as its scopes all the same. */
void weft__scope_chunk_list_loose(struct weft__scopes *scopes, struct weft__scope_chunk *c);
/* Whether s is a scope of scopes: of a thread's chunks (only while its
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
/* s's task is about to run in s (it left a scope below, weft_scope_exit):
 * if an ancestor of s is cancelled, s is cancelled too before this
 * returns, though that ancestor's push-down may not have got there yet. */
void weft__cancel_inherit(struct weft__scope *s);
/* Tests only (base/race_point.h): every cancel scan's read of a state's
 * links calls fn(arg, state) between those loads and the re-read of the
 * state's word that validates them; NULL disarms. */
void weft__cancel_race_arm(void (*fn)(void *arg, const void *state), void *arg);
/* Run the callbacks of s (cancelled) that are still registered (cancel_cb.c). */
void weft__cancel_cb_run_all(struct weft__scopes *scopes, struct weft__scope *s, uint32_t gen);
/* weft_on_cancel_remove for a callback registered in scopes, safe even after
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

/* Deadlines (scope_deadline.c): when s just began with its own deadline
 * and that is its effective one, still ahead, arm it in the runtime's timer,
 * which cancels that life with ETIMEDOUT (an inherited one comes from the
 * ancestor that armed it); 0 or ENOMEM / thread errors. */
int weft__deadline_arm_own(struct weft__scopes *scopes, struct weft__scope *s, weft_time own_deadline);
/* The runtime's timer, started at first use: 0, or ENOMEM / thread errors. */
int weft__deadline_timer(struct weft__scopes *scopes, struct weft__timer **out);
/* Disarm it; returns when its fire is not running. */
void weft__deadline_disarm(struct weft__scopes *scopes, struct weft__scope *s);
/* Stop the timer thread (destroy). */
void weft__deadline_stop(struct weft__scopes *scopes);
enum { WEFT__END_TIMER = 1, WEFT__END_CALLBACKS = 2, WEFT__END_STREAM = 4 };

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

/* ---- failures (fail.c) ---- */
/* The task's record at its end, with its final rc and t's arg: the pending
 * one from weft_fail (or kept causes) brought up to date, or a new one; NULL
 * for rc == 0 (a pending one is freed) or without memory. */
struct weft_error *weft__task_failure(struct weft_task *t, const char *name, int rc);
/* self when it is the task running on this thread (a CPU task or a blocking
 * job's self), else NULL. */
struct weft_task *weft__task_running(weft_task *self);
/* The task running on this thread off the workers (a blocking job's self,
 * while its function runs) and its runtime's scopes, set by job.c, for the
 * task calls that work on a job's self; NULL elsewhere (fail.c). */
extern __thread struct weft_task *weft__off_worker_task __attribute__((tls_model("initial-exec")));
extern __thread struct weft__scopes *weft__off_worker_scopes __attribute__((tls_model("initial-exec")));
/* Takes t's pending record (NULL if none) off t, untouched: t has none after. */
struct weft_error *weft__task_take_pending(struct weft_task *t);
/* rec (if not NULL) becomes t's pending record, as weft_fail makes it: an
 * older pending record is dropped and its causes move over to rec. */
void weft__task_put_pending(struct weft_task *t, struct weft_error *rec);
/* weft__task_failure named as t's own failures are: what one call of a
 * function running as t left (retry.c). */
struct weft_error *weft__task_attempt_failure(struct weft_task *t, int rc);

/* Errors of a group the task joined without taking them: kept as the cause
 * of the task's failure, should it fail (taken). */
void weft__task_keep_cause(struct weft_task *t, weft_errors *errs);

#endif
