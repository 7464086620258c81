/*
 * What weft's two deques (chase_lev.h, split.h) share: the statuses of a
 * steal and the growable ring buffer of slots. deque/deque.h picks the
 * runtime's deque; see it for the operations' contract.
 */
#ifndef WEFT_DEQUE_COMMON_H
#define WEFT_DEQUE_COMMON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum weft__steal_status {
    WEFT__STEAL_OK,    /* *item holds the stolen item */
    WEFT__STEAL_EMPTY, /* no item was seen */
    WEFT__STEAL_LOST,  /* another thread took the top item first; may retry */
    WEFT__STEAL_ASKED  /* split deque: no public item, but the owner holds
                          private ones; it was asked to share: retry soon */
} weft__steal_status;

/* Largest capacity a deque grows to (items); a push beyond it fails. */
#define WEFT__DEQUE_MAX_CAPACITY ((size_t)1 << 28)

typedef struct weft__deque_buf weft__deque_buf;
struct weft__deque_buf {
    int64_t mask;          /* capacity - 1, capacity a power of two */
    weft__deque_buf *next; /* chain of retired buffers */
    _Atomic(void *) slots[];
};

/* A buffer of `capacity` slots (a power of two), every slot NULL; NULL when
 * out of memory. */
weft__deque_buf *weft__deque_buf_new(size_t capacity);
/* Owner only: a buffer twice the size of `old` holding its items [t, b),
 * and `old` put on the `retired` chain; NULL (nothing changed) when out of
 * memory or at the maximum capacity. The caller publishes the new buffer
 * with a release store. */
weft__deque_buf *weft__deque_buf_grow(weft__deque_buf *old, int64_t t, int64_t b,
                                      weft__deque_buf **retired);
/* Free `live` and every buffer on the `retired` chain. */
void weft__deque_buf_free(weft__deque_buf *live, weft__deque_buf *retired);
/* The capacity `capacity` rounds up to (a power of two, at least 2), or 0
 * when it is above the maximum. */
size_t weft__deque_buf_capacity(size_t capacity);

#endif
