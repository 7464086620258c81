/*
 * Task descriptors, for the tasks a frame cannot hold alone (options,
 * streams, detached and root tasks, tasks set aside: sched.h): per-slot
 * free lists, so spawning does not call malloc in steady state. A descriptor belongs to the slot that allocated it (`home`).
 * Freed on its home slot it goes back on the plain local list; freed
 * elsewhere (a stolen task) it is pushed on the home slot's remote_free
 * stack, which the home slot takes whole with one exchange when its local
 * list runs dry. Remote frees are batched per home slot (RETURN_BATCH at a
 * time, and before the freeing thread parks), so a thief that runs many
 * stolen tasks does not bounce the home slot's line once per task. Only whole-list takes pop, so the push CAS has no ABA.
 * Memory comes in chunks that live until the runtime is destroyed.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "base/alloc.h"
#include "sched/sched.h"

/* A pool's chunks double from CHUNK_FIRST to CHUNK_LAST bytes. */
enum { CHUNK_FIRST = 4096, CHUNK_LAST = 4 << 20, RETURN_BATCH = 32 };

struct weft__chunk {
    struct weft__chunk *next;
    size_t bytes;
    alignas(WEFT__CACHE_LINE) struct weft_task tasks[];
};

struct weft_task *weft__task_alloc_slow(struct weft__slot *slot)
{
    /* acquire: the remote frees' writes to `next` */
    struct weft_task *t = atomic_exchange_explicit(&slot->remote_free, NULL, memory_order_acquire);
    if (t != NULL) {
        slot->free = t->next;
        return t;
    }
    /* a pool that grows to millions of queued tasks asks for memory a few
     * hundred times, and in huge pages, not a 4 KiB page per 63 tasks: the
     * first run of a large flat spawn is mostly page faults */
    size_t bytes = slot->chunks == NULL ? CHUNK_FIRST
                   : slot->chunks->bytes < CHUNK_LAST ? 2 * slot->chunks->bytes
                                                      : CHUNK_LAST;
    struct weft__chunk *c = weft__alloc_bulk(bytes);
    if (c == NULL)
        return NULL;
    c->next = slot->chunks;
    c->bytes = bytes;
    slot->chunks = c;
    size_t n = (bytes - offsetof(struct weft__chunk, tasks)) / sizeof(struct weft_task);
    for (size_t i = 1; i < n; i++) {
        c->tasks[i].home = slot;
        c->tasks[i].next = i + 1 < n ? &c->tasks[i + 1] : NULL;
    }
    slot->free = &c->tasks[1];
    c->tasks[0].home = slot;
    return &c->tasks[0];
}

/* A descriptor for a non-worker thread (heap; home NULL). */
static struct weft_task *task_alloc_heap(void)
{
    struct weft_task *t = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *t);
    if (t != NULL)
        t->home = NULL;
    return t;
}

/* thr holds a slot of sched: its pool (and deque) can be used. */
static bool on_worker_of(struct weft__sched *sched, struct weft__thread *thr)
{
    return thr != NULL && thr->sched == sched && thr->slot != NULL;
}

struct weft_task *weft__task_new(struct weft__sched *sched, struct weft__thread *thr, weft_fn fn,
                                 void *arg, uint32_t kind)
{
    struct weft_task *t =
        on_worker_of(sched, thr) ? weft__task_alloc(thr->slot) : task_alloc_heap();
    if (t == NULL)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    t->name = NULL;
    t->cleanup = NULL;
    t->kind = kind;
    t->open_groups = 0;
    return t;
}

void weft__task_discard(struct weft__thread *thr, struct weft_task *t)
{
    if (t->home == NULL)
        weft__free(t);
    else
        weft__task_free(thr->slot, t); /* a pooled descriptor came from thr's slot */
}

void weft__task_flush_returns(struct weft__slot *mine)
{
    struct weft__slot *home = mine->ret_home;
    if (home == NULL)
        return;
    struct weft_task *head = atomic_load_explicit(&home->remote_free, memory_order_relaxed);
    do
        mine->ret_tail->next = head;
    /* release: publishes the batch's `next` links to the home slot's exchange */
    while (!atomic_compare_exchange_weak_explicit(&home->remote_free, &head, mine->ret_head,
                                                  memory_order_release, memory_order_relaxed));
    mine->ret_home = NULL;
    mine->ret_head = mine->ret_tail = NULL;
    mine->ret_count = 0;
}

void weft__task_free_remote(struct weft__slot *mine, struct weft_task *t)
{
    struct weft__slot *home = t->home;
    if (home == NULL) {
        weft__free(t);
        return;
    }
    /* batch by home slot: one CAS on the home's line per RETURN_BATCH frees */
    if (mine->ret_home != home) {
        weft__task_flush_returns(mine);
        mine->ret_home = home;
        mine->ret_tail = t;
    }
    t->next = mine->ret_head;
    mine->ret_head = t;
    if (++mine->ret_count >= RETURN_BATCH)
        weft__task_flush_returns(mine);
}

void weft__slot_pool_destroy(struct weft__slot *slot)
{
    for (struct weft__chunk *c = slot->chunks, *next; c != NULL; c = next) {
        next = c->next;
        weft__free_bulk(c, c->bytes);
    }
    slot->chunks = NULL;
    slot->free = NULL;
    slot->ret_home = NULL;
    slot->ret_head = slot->ret_tail = NULL;
    slot->ret_count = 0;
    atomic_store_explicit(&slot->remote_free, NULL, memory_order_relaxed);
}
