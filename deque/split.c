/*
 * The split deque: initialisation, growth, the owner's slow pop and
 * destruction. The fast operations, and the design essay that argues their
 * correctness, are inline in split.h.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "deque/split.h"

int weft__deque_split_init(weft__deque_split *dq, size_t capacity)
{
    return weft__deque_split_init_words(dq, capacity, 1);
}

int weft__deque_split_init_words(weft__deque_split *dq, size_t capacity, unsigned words)
{
    size_t cap = weft__deque_buf_capacity(capacity);
    if (dq == NULL || cap == 0 || words == 0 || words > WEFT__DEQUE_MAX_WORDS)
        return EINVAL;
    weft__deque_buf *b = weft__deque_buf_new(cap, words);
    if (b == NULL)
        return ENOMEM;
    atomic_init(&dq->top, 0);
    atomic_init(&dq->split, 0);
    atomic_init(&dq->buf, b);
    atomic_init(&dq->request, WEFT__SPLIT_NONE);
    atomic_init(&dq->bottom, 0);
    dq->own_split = 0;
    dq->own_buf = b;
    dq->top_seen = 0;
    dq->retired = NULL;
    dq->readers = NULL;
    return 0;
}

void weft__deque_split_destroy(weft__deque_split *dq)
{
    if (dq == NULL)
        return;
    weft__deque_buf_free(dq->own_buf, dq->retired);
    dq->retired = NULL;
    dq->own_buf = NULL;
    atomic_store_explicit(&dq->buf, NULL, memory_order_relaxed);
}

int weft__deque_split_reserve(weft__deque_split *dq, int64_t b)
{
    weft__deque_buf *old = dq->own_buf;
    /* acquire: a thief's read of a slot we may now overwrite happened
     * before its CAS moved top past it */
    int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
    dq->top_seen = t;
    if (b - t <= old->mask)
        return 0;
    weft__deque_buf *nb = weft__deque_buf_grow(old, t, b, &dq->retired);
    if (nb == NULL)
        return ENOMEM;
    dq->own_buf = nb;
    /* release: publishes the copied slots to a thief that acquires buf */
    atomic_store_explicit(&dq->buf, nb, memory_order_release);
    weft__deque_buf_reclaim(&dq->retired, dq->readers);
    return 0;
}

void weft__deque_split_set_readers(weft__deque_split *dq, const weft__deque_readers *readers)
{
    dq->readers = readers;
}

/* Owner: copy the slot below bottom `b` (private) out and move bottom to it. */
static bool take_private(weft__deque_split *dq, int64_t b, void **dst, unsigned words)
{
    b--;
    weft__deque_slot_load(weft__deque_buf_slot(dq->own_buf, b, words), dst, words);
    atomic_store_explicit(&dq->bottom, b, memory_order_relaxed);
    return true;
}

void weft__deque_split_push_slow(weft__deque_split *dq)
{
    if (atomic_load_explicit(&dq->request, memory_order_relaxed) == WEFT__SPLIT_OWNER_EMPTY) {
        /* relaxed: thieves may ask again (before this store lands, they
         * answer EMPTY: a hint that missed a push) */
        atomic_store_explicit(&dq->request, WEFT__SPLIT_NONE, memory_order_relaxed);
        return;
    }
    /* share the older half of the private part, rounded up */
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    weft__deque_split_share(dq, dq->own_split + (b + 1 - dq->own_split) / 2);
}

/* Owner: the deque is empty (top == bottom == `t`): thieves answer EMPTY
 * without asking until the next push, and a request still standing is
 * withdrawn. */
static void now_empty(weft__deque_split *dq, int64_t t)
{
    dq->top_seen = t;
    if (atomic_load_explicit(&dq->request, memory_order_relaxed) != WEFT__SPLIT_OWNER_EMPTY)
        atomic_store_explicit(&dq->request, WEFT__SPLIT_OWNER_EMPTY, memory_order_relaxed);
}

bool weft__deque_split_pop_slow(weft__deque_split *dq, void **dst, unsigned words)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    int64_t s = dq->own_split;
    if (b > s) {
        /* A thief asked: share half of what stays private after this pop.
         * (OWNER_EMPTY cannot stand here: a push cleared it.) */
        if (b - s >= 2)
            weft__deque_split_share(dq, s + (b - s) / 2);
        return take_private(dq, b, dst, words);
    }
    /* The private part is empty (b == s): take back the newer half of the
     * public part, rounded up. relaxed: only a guess; the seq_cst load below
     * decides. */
    int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
    if (t >= s) {
        now_empty(dq, t);
        return false;
    }
    int64_t ns = t + (s - t) / 2;
    dq->own_split = ns;
    /* seq_cst store then seq_cst load of top: the store-load barrier that
     * pairs with steal's load of top before split. A thief that read the
     * old split read a top <= the t loaded here. */
    atomic_store_explicit(&dq->split, ns, memory_order_seq_cst);
    t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
    dq->top_seen = t;
    if (t < ns)
        return take_private(dq, b, dst, words); /* [ns, s) is ours */
    if (t < s - 1) {
        /* (t, s) is ours; slot t stays public, a thief may be taking it.
         * release: republishes slot t's item (written before) */
        dq->own_split = t + 1;
        atomic_store_explicit(&dq->split, t + 1, memory_order_release);
        return take_private(dq, b, dst, words);
    }
    bool won = false;
    if (t == s - 1) {
        /* the last item: race the thieves for it on top */
        won = atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1, memory_order_seq_cst,
                                                      memory_order_relaxed);
        /* the owner is the only writer of slots and slot s - 1 is its own
         * now: read after the CAS, so a lost race leaves dst untouched */
        if (won)
            weft__deque_slot_load(weft__deque_buf_slot(dq->own_buf, s - 1, words), dst, words);
    }
    /* top == s now: public and private parts are empty. release: keeps
     * every split store publishing */
    dq->own_split = s;
    atomic_store_explicit(&dq->split, s, memory_order_release);
    now_empty(dq, s);
    return won;
}
