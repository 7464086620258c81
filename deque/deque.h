/*
 * The Chase-Lev work-stealing deque (internal). One owner thread pushes and
 * pops at the bottom (LIFO); any thread steals at the top (FIFO). Items are
 * non-NULL pointers. See deque.c for the design and the correctness argument.
 */
#ifndef WEFT_DEQUE_DEQUE_H
#define WEFT_DEQUE_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT__CACHE_LINE 64

typedef struct weft__deque_buf weft__deque_buf;

/*
 * Embed it (aligned to a cache line) or allocate it with
 * weft__alloc_aligned(WEFT__CACHE_LINE, sizeof(weft__deque)).
 * `top` is written by thieves; `bottom`, `buf` and `retired` by the owner
 * only: they live on separate cache lines so stealing does not bounce the
 * owner's line.
 */
typedef struct weft__deque {
    alignas(WEFT__CACHE_LINE) _Atomic int64_t top;
    alignas(WEFT__CACHE_LINE) _Atomic int64_t bottom;
    _Atomic(weft__deque_buf *) buf;
    weft__deque_buf *retired; /* buffers replaced by growth, freed at destroy */
} weft__deque;

typedef enum weft__steal_status {
    WEFT__STEAL_OK,    /* *item holds the stolen item */
    WEFT__STEAL_EMPTY, /* the deque was empty */
    WEFT__STEAL_LOST   /* another thread took the top item first; may retry */
} weft__steal_status;

/* Largest capacity the deque grows to (items); a push beyond it fails. */
#define WEFT__DEQUE_MAX_CAPACITY ((size_t)1 << 28)

/*
 * Initialise with room for `capacity` items (rounded up to a power of two,
 * at least 2). 0 or ENOMEM; EINVAL for NULL or a capacity above the maximum.
 */
int weft__deque_init(weft__deque *dq, size_t capacity);
/* Free the buffers. No other thread may use the deque any more. */
void weft__deque_destroy(weft__deque *dq);

/* Owner only. 0, or ENOMEM when growing failed (the deque is unchanged). */
int weft__deque_push_owner(weft__deque *dq, void *item);
/* Owner only. The most recently pushed item, or NULL when empty. */
void *weft__deque_pop_owner(weft__deque *dq);
/* Any thread. Takes the oldest item. */
weft__steal_status weft__deque_steal(weft__deque *dq, void **item);

/* Items in the deque at some recent instant; exact for the owner when no thief runs. */
size_t weft__deque_size(weft__deque *dq);
/* Current capacity of the buffer (owner only; for tests). */
size_t weft__deque_capacity(weft__deque *dq);

#endif
