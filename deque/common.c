/*
 * The ring buffer both deques share: allocation, growth, release.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "deque/common.h"
#include "base/alloc.h"

weft__deque_buf *weft__deque_buf_new(size_t capacity, unsigned words)
{
    if (capacity > (SIZE_MAX - sizeof(weft__deque_buf)) / sizeof(_Atomic(void *)) / words)
        return NULL;
    size_t nwords = capacity * words;
    weft__deque_buf *b =
        weft__alloc_bulk(sizeof(weft__deque_buf) + nwords * sizeof(_Atomic(void *)));
    if (b == NULL)
        return NULL;
    b->mask = (int64_t)capacity - 1;
    b->words = words;
    b->next = NULL;
    /* A thief holding an old top may read a slot growth did not copy (the
     * item was taken before); its CAS then fails and drops the value, but it
     * must read a value: uninitialised memory is indeterminate in C11. */
    for (size_t i = 0; i < nwords; i++)
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
    unsigned words = old->words;
    weft__deque_buf *nb = weft__deque_buf_new(cap * 2, words);
    if (nb == NULL)
        return NULL;
    /* relaxed: only the owner writes slots, and it reads its own writes;
     * the caller's release store of the buffer publishes the copies */
    for (int64_t i = t; i < b; i++) {
        void *item[WEFT__DEQUE_MAX_WORDS];
        weft__deque_slot_load(weft__deque_buf_slot(old, i, words), item, words);
        weft__deque_slot_store(weft__deque_buf_slot(nb, i, words), item, words);
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
