/*
 * Group states: a per-thread pool, so weft_group_init does not call malloc in
 * steady state and tasks never point into a task's stack frame.
 *
 * A group is initialised and joined by one task, which never leaves its
 * thread, so the pool is the thread's own: a plain LIFO free list (the state
 * just released by a join is the one the next init gets, still in cache).
 * Memory comes in chunks kept until the runtime is destroyed: the states are
 * type-stable, which lets a thread that finished a group's last task read a
 * field it loaded before without a use-after-free, lets the task epilogue
 * find the groups a task left unjoined by scanning its thread's chunks, and
 * lets cancel scans (cancel.c) read any thread's states at any time.
 */
#include "config.h"

#include <string.h>

#include "runtime/alloc.h"
#include "runtime/internal.h"

/* 31 states of 2 lines: just under 4 KiB a chunk */
#define CHUNK_GROUPS WEFT__GROUP_CHUNK_STATES

struct weft__group_chunk {
    struct weft__group_chunk *next;
    struct weft__group groups[CHUNK_GROUPS];
};

bool weft__group_pool_grow(struct weft__thread *thr)
{
    struct weft__group_chunk *c = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *c);
    if (c == NULL)
        return false;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CHUNK_GROUPS; i++) {
        struct weft__group *g = &c->groups[i];
        g->owner_thread = thr;
        atomic_init(&g->cancel, WEFT__GROUP_DEAD); /* gen 0, pooled */
        atomic_init(&g->owner, weft__group_pooled_owner(g));
        g->next_free = i + 1 < CHUNK_GROUPS ? &c->groups[i + 1] : thr->group_free;
    }
    thr->group_free = &c->groups[0];
    c->next = atomic_load_explicit(&thr->group_chunks, memory_order_relaxed);
    /* release: a scanner that finds the chunk sees its states' DEAD words */
    atomic_store_explicit(&thr->group_chunks, c, memory_order_release);
    return true;
}

struct weft__group_chunk *weft__group_pool_first(struct weft__thread *thr)
{
    return atomic_load_explicit(&thr->group_chunks, memory_order_acquire);
}

struct weft__group_chunk *weft__group_pool_next(struct weft__group_chunk *c)
{
    return c->next;
}

struct weft__group *weft__group_pool_at(struct weft__group_chunk *c, size_t i)
{
    return &c->groups[i];
}

struct weft__group *weft__group_find_open(struct weft__thread *thr, const struct weft_task *t)
{
    for (struct weft__group_chunk *c = weft__group_pool_first(thr); c != NULL; c = c->next)
        for (size_t i = 0; i < CHUNK_GROUPS; i++)
            if (atomic_load_explicit(&c->groups[i].owner, memory_order_relaxed) == t)
                return &c->groups[i];
    return NULL;
}

bool weft__group_open_below(struct weft__thread *thr, const struct weft_task *t,
                            const struct weft__group *ps)
{
    for (struct weft__group_chunk *c = weft__group_pool_first(thr); c != NULL; c = c->next)
        for (size_t i = 0; i < CHUNK_GROUPS; i++)
            if (atomic_load_explicit(&c->groups[i].owner, memory_order_relaxed) == t &&
                atomic_load_explicit(&c->groups[i].parent, memory_order_relaxed) == ps)
                return true;
    return false;
}

void weft__group_pool_destroy(struct weft__thread *thr)
{
    for (struct weft__group_chunk *c = weft__group_pool_first(thr), *next; c != NULL; c = next) {
        next = c->next;
        weft__free(c);
    }
    atomic_store_explicit(&thr->group_chunks, NULL, memory_order_relaxed);
    thr->group_free = NULL;
}
