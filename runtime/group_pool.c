/*
 * Group states: a per-thread pool, so weft_group_init does not call malloc in
 * steady state and tasks never point into a task's stack frame.
 *
 * A group is initialised and joined by one task, which never leaves its
 * thread, so the pool is the thread's own: a plain LIFO free list (the state
 * just released by a join is the one the next init gets, still in cache).
 * Memory comes in chunks kept until the runtime is destroyed: the states are
 * type-stable, which lets a thread that finished a group's last task read a
 * field it loaded before without a use-after-free, and lets the task epilogue
 * find the groups a task left unjoined by scanning its thread's chunks.
 */
#include "config.h"

#include <string.h>

#include "runtime/alloc.h"
#include "runtime/internal.h"

enum { CHUNK_GROUPS = 31 }; /* 31 states of 2 lines: just under 4 KiB a chunk */

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
    c->next = thr->group_chunks;
    thr->group_chunks = c;
    for (size_t i = 0; i < CHUNK_GROUPS; i++) {
        c->groups[i].owner_thread = thr;
        c->groups[i].next_free = i + 1 < CHUNK_GROUPS ? &c->groups[i + 1] : thr->group_free;
    }
    thr->group_free = &c->groups[0];
    return true;
}

struct weft__group *weft__group_find_open(struct weft__thread *thr, const struct weft_task *t)
{
    for (struct weft__group_chunk *c = thr->group_chunks; c != NULL; c = c->next)
        for (size_t i = 0; i < CHUNK_GROUPS; i++)
            if (c->groups[i].owner == t)
                return &c->groups[i];
    return NULL;
}

void weft__group_pool_destroy(struct weft__thread *thr)
{
    for (struct weft__group_chunk *c = thr->group_chunks, *next; c != NULL; c = next) {
        next = c->next;
        weft__free(c);
    }
    thr->group_chunks = NULL;
    thr->group_free = NULL;
}
