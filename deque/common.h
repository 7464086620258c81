/*
 * What weft's two deques (chase_lev.h, split.h) share: the statuses of a
 * steal and the growable ring buffer of slots. deque/deque.h picks the
 * runtime's deque; see it for the operations' contract.
 *
 * A slot holds an item of `words` machine words, fixed per deque: 1 for the
 * pointer deques (deque.h), WEFT__DEQUE_FRAME_WORDS for the frame deques
 * (frame.h). Each deque's algorithm is written once, with the word count a
 * parameter that every caller passes as a constant, so the compiler keeps
 * one copy per word count and the pointer deque's code is what it was.
 */
#ifndef WEFT_DEQUE_COMMON_H
#define WEFT_DEQUE_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef enum weft__steal_status {
    WEFT__STEAL_OK,    /* *item holds the stolen item */
    WEFT__STEAL_EMPTY, /* no item was seen */
    WEFT__STEAL_LOST,  /* another thread took the top item first; may retry */
    WEFT__STEAL_ASKED  /* split deque: no public item, but the owner holds
                          private ones; it was asked to share: retry soon */
} weft__steal_status;

/* Largest capacity a deque grows to (items); a push beyond it fails. */
#define WEFT__DEQUE_MAX_CAPACITY ((size_t)1 << 28)
/* Most words an item may have (a frame's). */
#define WEFT__DEQUE_MAX_WORDS 4

typedef struct weft__deque_buf weft__deque_buf;
struct weft__deque_buf {
    int64_t mask;          /* capacity - 1, capacity a power of two */
    unsigned words;        /* words per item */
    weft__deque_buf *next; /* chain of retired buffers */
    /* (mask + 1) * words: item i in words [(i & mask) * words, + words).
     * Atomic (relaxed) so that a thief racing the owner on a slot reads
     * some value of each word rather than making a data race; it may see
     * words of two different items, and each deque's steal explains why
     * it keeps only an item whose words all came from the push it takes. */
    _Atomic(void *) slots[];
};

/* The first word of item `i`'s slot in `b`, whose items have `words` words. */
static inline _Atomic(void *) *weft__deque_buf_slot(weft__deque_buf *b, int64_t i,
                                                    unsigned words)
{
    return &b->slots[(size_t)(i & b->mask) * words];
}

/* Copy an item's words into a slot (owner), relaxed: the store that
 * publishes the slot (bottom, or split) is the release. Written out rather
 * than looped: `words` is a constant at every call, the tests fold away,
 * and gcc -O2 does not unroll a loop of atomic accesses. */
static inline void weft__deque_slot_store(_Atomic(void *) *slot, void *const *src,
                                          unsigned words)
{
    atomic_store_explicit(&slot[0], src[0], memory_order_relaxed);
    if (words > 1)
        atomic_store_explicit(&slot[1], src[1], memory_order_relaxed);
    if (words > 2)
        atomic_store_explicit(&slot[2], src[2], memory_order_relaxed);
    if (words > 3)
        atomic_store_explicit(&slot[3], src[3], memory_order_relaxed);
}

/* Copy a slot's words out, relaxed: the load of bottom, split or buf that
 * made the slot visible was the acquire. */
static inline void weft__deque_slot_load(_Atomic(void *) *slot, void **dst, unsigned words)
{
    dst[0] = atomic_load_explicit(&slot[0], memory_order_relaxed);
    if (words > 1)
        dst[1] = atomic_load_explicit(&slot[1], memory_order_relaxed);
    if (words > 2)
        dst[2] = atomic_load_explicit(&slot[2], memory_order_relaxed);
    if (words > 3)
        dst[3] = atomic_load_explicit(&slot[3], memory_order_relaxed);
}

/* Copy an item's words between two places only this thread sees (a
 * thief's copy to its caller's). Not memcpy: GenMC (models/genmc/) runs
 * this code unoptimised, where the length is not a constant. */
static inline void weft__deque_words_copy(void **dst, void *const *src, unsigned words)
{
    dst[0] = src[0];
    if (words > 1)
        dst[1] = src[1];
    if (words > 2)
        dst[2] = src[2];
    if (words > 3)
        dst[3] = src[3];
}

_Static_assert(WEFT__DEQUE_MAX_WORDS == 4, "the copies above copy up to 4 words");

/* Owner: how many of the oldest of n queued items its batch takes: at most
 * `max` and half of them; 0 below two. */
static inline size_t weft__deque_batch_size(int64_t n, size_t max)
{
    if (n < 2)
        return 0;
    return (size_t)n / 2 < max ? (size_t)n / 2 : max;
}

/* Owner: copy the k items (of `words` words) from index t of buf out to dst, oldest
 * first, and claim them as a thief claims one, by a CAS moving *top from t
 * to t + k; *top_seen follows. k, or 0 when a thief moved top first (dst
 * then means nothing). Only the owner writes slots, so they hold what it
 * pushed; t + k must not pass what thieves may take (bottom, or split). */
static inline size_t weft__deque_claim_oldest(_Atomic int64_t *top, int64_t *top_seen,
                                              weft__deque_buf *buf, int64_t t, size_t k,
                                              void **dst, unsigned words)
{
    for (size_t i = 0; i < k; i++)
        weft__deque_slot_load(weft__deque_buf_slot(buf, t + (int64_t)i, words), &dst[i * words],
                              words);
    /* seq_cst like every RMW of top: one order of takers */
    if (!atomic_compare_exchange_strong_explicit(top, &t, t + (int64_t)k, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return 0;
    *top_seen = t + (int64_t)k;
    return k;
}

/*
 * Freeing the buffers growth replaced. A thief loads a deque's buffer
 * pointer and then reads a slot of it, so a buffer the owner replaced
 * stays readable until every thief that may hold it has finished that
 * steal. A deque that knows its possible thieves (weft__deque_readers: one
 * epoch word each, odd while it steals) frees its replaced buffers as soon
 * as the owner, after publishing the new buffer, sees no thief inside a
 * steal: a store-buffering pair of seq_cst fences.
 *   thief: epoch odd; fence; load buf ... read a slot; epoch even (release)
 *   owner: store buf (the new one); fence; load every epoch (acquire)
 * If the owner's load misses a thief's odd epoch, that thief's load of buf
 * comes after the owner's store in the fences' order and sees the new
 * buffer; an even epoch it sees was stored after the thief's last read of
 * an old buffer (release, acquire). So with every epoch even the replaced
 * buffers are unreachable. Without readers a deque keeps them until
 * destroy. models/genmc/ checks this with the deques' own code.
 */
typedef struct weft__deque_readers {
    _Atomic uint64_t *first; /* reader 0's epoch */
    size_t stride;           /* bytes from one reader's epoch to the next */
    unsigned count;          /* readers (an unused one's epoch stays even) */
} weft__deque_readers;

/* A thief is about to steal (read the buffers of deques it does not own). */
static inline void weft__deque_reader_enter(_Atomic uint64_t *epoch)
{
    uint64_t e = atomic_load_explicit(epoch, memory_order_relaxed);
    atomic_store_explicit(epoch, e + 1, memory_order_relaxed);
    weft__full_fence(); /* before its loads of buf */
}

/* The thief's steals are over: it holds no buffer any more. */
static inline void weft__deque_reader_exit(_Atomic uint64_t *epoch)
{
    uint64_t e = atomic_load_explicit(epoch, memory_order_relaxed);
    /* release: its reads of slots happen before an owner frees their buffer */
    atomic_store_explicit(epoch, e + 1, memory_order_release);
}

/* Owner, after publishing its buffer: free the `retired` chain unless a
 * reader is inside a steal; true when the chain is empty after. */
bool weft__deque_buf_reclaim(weft__deque_buf **retired, const weft__deque_readers *readers);

/* A buffer of `capacity` items (a power of two) of `words` words each
 * (1..WEFT__DEQUE_MAX_WORDS), every word NULL; NULL when out of memory. */
weft__deque_buf *weft__deque_buf_new(size_t capacity, unsigned words);
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
