/*
 * The Chase-Lev work-stealing deque in C11 atomics.
 *
 * What it guarantees
 *   Every pushed item is returned exactly once, by pop_owner or by one
 *   steal. The owner pops LIFO at `bottom`; thieves take FIFO at `top`.
 *   push and pop are wait-free except for growth; steal is lock-free (it
 *   fails with WEFT__STEAL_LOST only when another taker made progress).
 *
 * What it does not
 *   It never shrinks. Only the owner may push or pop. Buffers replaced by
 *   growth are kept until destroy: a thief may still be reading one. Their
 *   total size is below that of the live buffer, so this costs at most 2x.
 *
 * Why it is correct
 *   The algorithm is Chase and Lev (SPAA 2005) with the C11 orderings of
 *   Le, Pop, Cohen and Zappa Nardelli, "Correct and efficient work-stealing
 *   for weak memory models" (PPoPP 2013), plus the fixes found later by
 *   model checking (CDSChecker):
 *   - push writes into the buffer that growth returned, never the old one;
 *   - steal loads the buffer with acquire, after loading bottom, so a slot
 *     copied by growth is visible;
 *   - every store of bottom is at least release, so any value of bottom a
 *     thief reads publishes the slots written before it (a relaxed store in
 *     pop would break the proof under C++20 release sequences);
 *   - steal reads the slot before its CAS on top: after the CAS the owner
 *     may already be overwriting that slot.
 *   The one store-load pair that needs a full barrier, pop's store of bottom
 *   before its load of top (against steal's load of top before its load of
 *   bottom), uses seq_cst accesses on both sides instead of standalone
 *   fences: the same instructions on x86 (xchg), and ThreadSanitizer
 *   understands them (it reports a correct fence + relaxed pair as a race).
 *   The race for the last item is settled by a CAS on top, by owner and
 *   thief alike.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "deque/deque.h"
#include "runtime/alloc.h"

_Static_assert(offsetof(weft__deque, bottom) - offsetof(weft__deque, top) >= WEFT__CACHE_LINE,
               "thief-written top and owner-written bottom must not share a cache line");

struct weft__deque_buf {
    int64_t mask;          /* capacity - 1, capacity a power of two */
    weft__deque_buf *next; /* chain of retired buffers */
    _Atomic(void *) slots[];
};

static weft__deque_buf *buf_new(size_t capacity)
{
    weft__deque_buf *b =
        weft__alloc(sizeof(weft__deque_buf) + capacity * sizeof(_Atomic(void *)));
    if (b == NULL)
        return NULL;
    b->mask = (int64_t)capacity - 1;
    b->next = NULL;
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

/* Owner only: double the buffer, copying the live items [t, b). */
static weft__deque_buf *grow(weft__deque *dq, weft__deque_buf *old, int64_t t, int64_t b)
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

int weft__deque_push_owner(weft__deque *dq, void *item)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    /* acquire: a thief's read of the slot we may overwrite happened before its CAS */
    int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
    weft__deque_buf *buf = atomic_load_explicit(&dq->buf, memory_order_relaxed);
    if (b - t > buf->mask) {
        buf = grow(dq, buf, t, b);
        if (buf == NULL)
            return ENOMEM;
    }
    atomic_store_explicit(&buf->slots[b & buf->mask], item, memory_order_relaxed);
    /* release: publishes the slot before a thief can see bottom move */
    atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
    return 0;
}

void *weft__deque_pop_owner(weft__deque *dq)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed) - 1;
    weft__deque_buf *buf = atomic_load_explicit(&dq->buf, memory_order_relaxed);
    /* seq_cst store then seq_cst load of top: the store-load barrier that
     * pairs with steal's load of top before bottom (claims slot b first) */
    atomic_store_explicit(&dq->bottom, b, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
    if (t > b) {
        /* empty: undo the claim; release keeps every bottom store publishing */
        atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
        return NULL;
    }
    void *item = atomic_load_explicit(&buf->slots[b & buf->mask], memory_order_relaxed);
    if (t == b) {
        /* last item: race the thieves for it on top */
        if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            item = NULL;
        atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
    }
    return item;
}

weft__steal_status weft__deque_steal(weft__deque *dq, void **item)
{
    /* seq_cst load of top, then of bottom: pairs with pop's store-load pair */
    int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
    /* seq_cst (at least acquire): synchronises with the release store of
     * bottom, so the slot and the buffer it was written in are visible */
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_seq_cst);
    if (t >= b)
        return WEFT__STEAL_EMPTY;
    /* acquire: sees the slots growth copied before publishing the buffer */
    weft__deque_buf *buf = atomic_load_explicit(&dq->buf, memory_order_acquire);
    /* read before the CAS: once top moves the owner may reuse the slot */
    void *it = atomic_load_explicit(&buf->slots[t & buf->mask], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return WEFT__STEAL_LOST;
    *item = it;
    return WEFT__STEAL_OK;
}

size_t weft__deque_size(weft__deque *dq)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

size_t weft__deque_capacity(weft__deque *dq)
{
    return (size_t)atomic_load_explicit(&dq->buf, memory_order_relaxed)->mask + 1;
}
