/*
 * The ring buffer both deques share: allocation, growth, release.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "deque/common.h"
#include "base/alloc.h"

static size_t buf_bytes(size_t capacity, unsigned words)
{
    return sizeof(weft__deque_buf) + capacity * words * sizeof(_Atomic(void *));
}

weft__deque_buf *weft__deque_buf_new(size_t capacity, unsigned words)
{
    if (capacity > (SIZE_MAX - sizeof(weft__deque_buf)) / sizeof(_Atomic(void *)) / words)
        return NULL;
    /* Zero-filled (weft__alloc_bulk), so every slot holds NULL: a thief
     * holding an old top may read a slot growth did not copy (the item was
     * taken before); its CAS then fails and drops the value, but it must
     * read a value, and uninitialised memory is indeterminate in C11. From
     * 2 MiB on the zeros are the kernel's, so the pages of a large buffer
     * whose most slots a deque never uses cost nothing until written. */
    weft__deque_buf *b = weft__alloc_bulk(buf_bytes(capacity, words));
    if (b == NULL)
        return NULL;
    b->mask = (int64_t)capacity - 1;
    b->words = words;
    b->next = NULL;
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
    if (live != NULL)
        weft__free_bulk(live, buf_bytes((size_t)live->mask + 1, live->words));
    for (weft__deque_buf *b = retired, *next; b != NULL; b = next) {
        next = b->next;
        weft__free_bulk(b, buf_bytes((size_t)b->mask + 1, b->words));
    }
}

bool weft__deque_buf_reclaim(weft__deque_buf **retired, const weft__deque_readers *readers)
{
    if (*retired == NULL)
        return true;
    if (readers == NULL)
        return false;
    /* after the caller's store of its buffer: the owner's half of the pair */
    weft__full_fence();
    for (unsigned i = 0; i < readers->count; i++) {
        _Atomic uint64_t *epoch =
            (_Atomic uint64_t *)(void *)((char *)readers->first + i * readers->stride);
        if (atomic_load_explicit(epoch, memory_order_acquire) & 1)
            return false; /* inside a steal: it may hold a replaced buffer */
    }
    weft__deque_buf_free(NULL, *retired);
    *retired = NULL;
    return true;
}
