/*
 * The Chase-Lev deque: initialisation, growth and destruction. The
 * operations, and the design essay that argues their correctness, are inline
 * in chase_lev.h.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "deque/chase_lev.h"

int weft__deque_cl_init(weft__deque_cl *dq, size_t capacity)
{
    return weft__deque_cl_init_words(dq, capacity, 1);
}

int weft__deque_cl_init_words(weft__deque_cl *dq, size_t capacity, unsigned words)
{
    size_t cap = weft__deque_buf_capacity(capacity);
    if (dq == NULL || cap == 0 || words == 0 || words > WEFT__DEQUE_MAX_WORDS)
        return EINVAL;
    weft__deque_buf *b = weft__deque_buf_new(cap, words);
    if (b == NULL)
        return ENOMEM;
    atomic_init(&dq->top, 0);
    atomic_init(&dq->bottom, 0);
    atomic_init(&dq->buf, b);
    dq->top_seen = 0;
    dq->retired = NULL;
    dq->readers = NULL;
    return 0;
}

void weft__deque_cl_destroy(weft__deque_cl *dq)
{
    if (dq == NULL)
        return;
    weft__deque_buf_free(atomic_load_explicit(&dq->buf, memory_order_relaxed), dq->retired);
    dq->retired = NULL;
    atomic_store_explicit(&dq->buf, NULL, memory_order_relaxed);
}

weft__deque_buf *weft__deque_cl_grow(weft__deque_cl *dq, weft__deque_buf *old, int64_t t,
                                     int64_t b)
{
    weft__deque_buf *nb = weft__deque_buf_grow(old, t, b, &dq->retired);
    if (nb == NULL)
        return NULL;
    /* release: publishes the copied slots to a thief that acquires buf */
    atomic_store_explicit(&dq->buf, nb, memory_order_release);
    weft__deque_buf_reclaim(&dq->retired, dq->readers);
    return nb;
}

void weft__deque_cl_set_readers(weft__deque_cl *dq, const weft__deque_readers *readers)
{
    dq->readers = readers;
}

