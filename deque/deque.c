/*
 * The Chase-Lev deque: initialisation, growth and destruction. The
 * operations, and the design essay that argues their correctness, are inline
 * in deque.h.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "deque/deque.h"
#include "base/alloc.h"

static weft__deque_buf *buf_new(size_t capacity)
{
    weft__deque_buf *b =
        weft__alloc(sizeof(weft__deque_buf) + capacity * sizeof(_Atomic(void *)));
    if (b == NULL)
        return NULL;
    b->mask = (int64_t)capacity - 1;
    b->next = NULL;
    /* A thief holding an old top may read a slot growth did not copy (the
     * item was taken before); its CAS then fails and drops the value, but it
     * must read a value: uninitialised memory is indeterminate in C11. */
    for (size_t i = 0; i < capacity; i++)
        atomic_init(&b->slots[i], NULL);
    return b;
}

int weft__deque_init(weft__deque *dq, size_t capacity)
{
    if (dq == NULL || capacity > WEFT__DEQUE_MAX_CAPACITY)
        return EINVAL;
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    weft__deque_buf *b = buf_new(cap);
    if (b == NULL)
        return ENOMEM;
    atomic_init(&dq->top, 0);
    atomic_init(&dq->bottom, 0);
    atomic_init(&dq->buf, b);
    dq->top_seen = 0;
    dq->retired = NULL;
    return 0;
}

void weft__deque_destroy(weft__deque *dq)
{
    if (dq == NULL)
        return;
    weft__free(atomic_load_explicit(&dq->buf, memory_order_relaxed));
    for (weft__deque_buf *b = dq->retired, *next; b != NULL; b = next) {
        next = b->next;
        weft__free(b);
    }
    dq->retired = NULL;
    atomic_store_explicit(&dq->buf, NULL, memory_order_relaxed);
}

weft__deque_buf *weft__deque_grow(weft__deque *dq, weft__deque_buf *old, int64_t t, int64_t b)
{
    size_t cap = (size_t)old->mask + 1;
    if (cap >= WEFT__DEQUE_MAX_CAPACITY)
        return NULL;
    weft__deque_buf *nb = buf_new(cap * 2);
    if (nb == NULL)
        return NULL;
    for (int64_t i = t; i < b; i++) {
        void *item = atomic_load_explicit(&old->slots[i & old->mask], memory_order_relaxed);
        atomic_store_explicit(&nb->slots[i & nb->mask], item, memory_order_relaxed);
    }
    old->next = dq->retired;
    dq->retired = old;
    /* release: publishes the copied slots to a thief that acquires buf */
    atomic_store_explicit(&dq->buf, nb, memory_order_release);
    return nb;
}

