/*
 * Group states: a per-thread pool, so weft_group_init does not call malloc in
 * steady state and queued tasks never point into a task's stack frame (a
 * group's owner may be a descriptor on a runner's stack, sched.h, but it is
 * only compared, never read).
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

#include "base/alloc.h"
#include "group/group.h"

/* 31 states of 5 lines: just under 10 KiB a chunk */
enum { CHUNK_GROUPS = WEFT__GROUP_CHUNK_STATES };

struct group_chunk {
    struct weft__scope_chunk head; /* listed for cancel scans: a state begins with its scope */
    struct weft__group groups[CHUNK_GROUPS];
};

bool weft__group_pool_grow(struct weft__thread *thr)
{
    struct group_chunk *c = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *c);
    if (c == NULL)
        return false;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CHUNK_GROUPS; i++) {
        struct weft__group *g = &c->groups[i];
        weft__scope_init_pooled(&g->scope, weft__scopes_of(thr->sched), thr);
        g->owner_thread = thr;
        atomic_init(&g->owner, weft__group_pooled_owner(g));
        g->next_free = i + 1 < CHUNK_GROUPS ? &c->groups[i + 1] : thr->group_free;
    }
    thr->group_free = &c->groups[0];
    weft__scope_chunk_describe(&c->head, c->groups, sizeof c->groups[0], CHUNK_GROUPS);
    weft__scope_chunk_list(thr, &c->head);
    return true;
}

_Static_assert(sizeof(struct weft__group) != sizeof(struct weft__scope),
               "a chunk's stride tells group states from scopes of their own");

/* A group of thr's pool owned by t (initialised, not joined). */
struct weft__group *weft__group_find_open(struct weft__thread *thr, const struct weft_task *t)
{
    struct weft__scope_iter it = {weft__scope_chunks_first(thr), 0};
    for (struct weft__scope *x; (x = weft__scope_iter_next(&it)) != NULL;) {
        if (it.chunk->stride != sizeof(struct weft__group))
            continue; /* scopes of their own have no owner */
        struct weft__group *g = weft__group_of(x);
        if (atomic_load_explicit(&g->owner, memory_order_relaxed) == t)
            return g;
    }
    return NULL;
}
