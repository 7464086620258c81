/*
 * Groups (group/): the group state, its pool, spawn and join, the
 * completions of WEFT_STREAM groups, waits and failures.
 */
#ifndef WEFT_GROUP_GROUP_H
#define WEFT_GROUP_GROUP_H

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "scope/scope.h"


#define WEFT__TASK_IN_GROUP(kind) ((kind) <= WEFT__TASK_GROUP_UNSCOPED)

/* Or'ed into kind at spawn into a WEFT_STREAM group: at its end the
 * descriptor, with its status, goes to the group's completions (its `next`
 * links them) instead of the free list; weft_group_next frees it. */
enum { WEFT__TASK_STREAM = 1u << 9 };
/* Or'ed into kind with WEFT__TASK_GROUP_UNSCOPED when the scope failed for
 * want of the timer's thread, not of memory: the task ends with EAGAIN. */
enum { WEFT__TASK_NO_TIMER_THREAD = 1u << 10 };

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

/* The group whose scope s is (s must be a group's). */
static inline struct weft__group *weft__group_of(struct weft__scope *s)
{
    return (struct weft__group *)(void *)s;
}

static inline unsigned weft__group_flags(const struct weft__group *g)
{
    return weft__scope_flags(&g->scope);
}

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

/* t, a plain task that returned 0 on thr, is counted and freed. */
static inline void weft__group_plain_free(struct weft__thread *thr, struct weft_task *t)
{
    struct weft__slot *slot = thr->slot;
    weft__count(&slot->stats.tasks_run);
    weft__task_free(slot, t);
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
    weft__group_plain_free(thr, t);
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

/* After the last task of g ended: detach what g's life registered (callbacks
 * left behind), then back to the pool. */
void weft__group_end_slow(struct weft__thread *thr, struct weft__group *g);

static inline void weft__group_end(struct weft__thread *thr, struct weft__group *g)
{
    if (WEFT__UNLIKELY(g->scope.end_work != 0))
        weft__group_end_slow(thr, g);
    else
        weft__group_release(thr, g);
}

#endif
