/*
 * A WEFT_STREAM group's completions, on the owner's side: a STREAM task's
 * descriptor is its completion record, pushed at its end onto the group's
 * `completed` stack (weft__stream_push, newest first); the owner takes the
 * whole stack when its own queue is empty and reverses it, so it hands
 * completions out oldest first (weft_group_next, group_wait.c), and frees
 * those nobody took when the group ends (group.c).
 */
#include "config.h"

#include "group/group.h"

struct weft_task *weft__stream_pop(struct weft__group *g)
{
    if (g->stream_head == NULL) {
        /* acquire: the status and links pushed with release */
        struct weft_task *t = atomic_exchange_explicit(&g->completed, NULL, memory_order_acquire);
        struct weft_task *oldest = NULL, *newest = t;
        while (t != NULL) { /* reverse: oldest first */
            struct weft_task *next = t->next;
            t->next = oldest;
            oldest = t;
            t = next;
        }
        g->stream_head = oldest;
        g->stream_tail = newest;
    }
    struct weft_task *t = g->stream_head;
    if (t != NULL) {
        g->stream_head = t->next;
        if (g->stream_head == NULL)
            g->stream_tail = NULL;
    }
    return t;
}

void weft__stream_drain(struct weft__thread *thr, struct weft__group *g)
{
    struct weft_task *t;
    while ((t = weft__stream_pop(g)) != NULL)
        weft__task_free(thr->slot, t);
}
