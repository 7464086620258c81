/*
 * The ring buffer both deques share: allocation, growth, release.
 */
#include "config.h"

#include <stddef.h>

#include "deque/common.h"
#include "base/alloc.h"

weft__deque_buf *weft__deque_buf_new(size_t capacity)
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

size_t weft__deque_buf_capacity(size_t capacity)
{
    if (capacity > WEFT__DEQUE_MAX_CAPACITY)
        return 0;
    size_t cap = 2;
    while (cap < capacity)
        cap <<= 1;
    return cap;
}

weft__deque_buf *weft__deque_buf_grow(weft__deque_buf *old, int64_t t, int64_t b,
                                      weft__deque_buf **retired)
{
    size_t cap = (size_t)old->mask + 1;
    if (cap >= WEFT__DEQUE_MAX_CAPACITY)
        return NULL;
    weft__deque_buf *nb = weft__deque_buf_new(cap * 2);
    if (nb == NULL)
        return NULL;
    for (int64_t i = t; i < b; i++) {
        void *item = atomic_load_explicit(&old->slots[i & old->mask], memory_order_relaxed);
        atomic_store_explicit(&nb->slots[i & nb->mask], item, memory_order_relaxed);
    }
    old->next = *retired;
    *retired = old;
    return nb;
}

void weft__deque_buf_free(weft__deque_buf *live, weft__deque_buf *retired)
{
    weft__free(live);
    for (weft__deque_buf *b = retired, *next; b != NULL; b = next) {
        next = b->next;
        weft__free(b);
    }
}
