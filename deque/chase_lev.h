/*
 * The Chase-Lev work-stealing deque in C11 atomics (internal; the runtime
 * reaches it through deque/deque.h). One owner thread pushes and pops at
 * the bottom (LIFO); any thread steals at the top (FIFO). Items are
 * non-NULL pointers, or frames of several words (deque/frame.h) through
 * the same code. The operations are inline: they are the spawn and join
 * fast path.
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
 *     may already be overwriting that slot;
 *   - a new buffer's slots start NULL: a thief holding an old top may read
 *     a slot growth did not copy (its CAS then fails), and must read a
 *     value, not uninitialised memory (found by GenMC: models/genmc/).
 *   The one store-load pair that needs a full barrier, pop's store of bottom
 *   before its load of top (against steal's load of top before its load of
 *   bottom), uses seq_cst accesses on both sides instead of standalone
 *   fences: the same instructions on x86 (xchg), and ThreadSanitizer
 *   understands them (it reports a correct fence + relaxed pair as a race).
 *   The race for the last item is settled by a CAS on top, by owner and
 *   thief alike.
 *
 * Items of several words (frames: deque/frame.h)
 *   A slot's words are stored and loaded one by one (relaxed atomics), so a
 *   thief may copy a torn item: words of two pushes into the same slot. It
 *   keeps its copy only when its CAS moves top from t to t + 1, and then
 *   the copy is exactly the item pushed at index t (Lace's argument: van
 *   Dijk and van de Pol, Euro-Par 2014 workshops):
 *   - the thief read bottom > t, synchronising with the release store of
 *     bottom after the push of t (or a later one), so it sees that push's
 *     words or newer ones; and the slot copied by growth, through the
 *     acquire load of buf, in the one buffer it reads all words from;
 *   - newer words in that slot come from a push of t + capacity (or more),
 *     which first loads (acquire) a top above t: the successful CAS or a
 *     later one, so the thief's copy, before its CAS, happens before those
 *     stores and cannot read them; or from a push of t again after the
 *     owner popped t, which it does without a CAS only when it saw top < t
 *     after its seq_cst claim of bottom: a thief that later reads top == t
 *     reads, later still in the seq_cst order, that claim or the release
 *     store of the new push (so it copies the new item), and a pop that
 *     sees top == t settles slot t by CAS: only one of the two CASes wins;
 *   - a buffer replaced by growth is never written again.
 *   The owner races nobody on a slot's words: it writes a slot before
 *   publishing it and reads only slots it holds (the last one after its
 *   CAS won). models/genmc/ checks this with frames whose words all derive
 *   from one value, and variants that copy after the CAS or write the
 *   words after bottom, which it must reject.
 */
#ifndef WEFT_DEQUE_CHASE_LEV_H
#define WEFT_DEQUE_CHASE_LEV_H

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "deque/common.h"

/*
 * Embed it (aligned to a cache line) or allocate it with
 * weft__alloc_aligned(WEFT__CACHE_LINE, sizeof(weft__deque_cl)).
 * `top` is written by thieves; `bottom`, `buf` and `retired` by the owner
 * only: they live on separate cache lines so stealing does not bounce the
 * owner's line.
 */
typedef struct weft__deque_cl {
    alignas(WEFT__CACHE_LINE) _Atomic int64_t top;
    alignas(WEFT__CACHE_LINE) _Atomic int64_t bottom;
    _Atomic(weft__deque_buf *) buf;
    int64_t top_seen;         /* owner: a past value of top, <= top */
    /* buffers replaced by growth, freed once no reader holds them (common.h) */
    weft__deque_buf *retired;
    const weft__deque_readers *readers; /* its thieves; NULL: free at destroy */
} weft__deque_cl;

/*
 * Initialise with room for `capacity` items (rounded up to a power of two,
 * at least 2). 0 or ENOMEM; EINVAL for NULL or a capacity above the maximum.
 */
int weft__deque_cl_init(weft__deque_cl *dq, size_t capacity);
/* The same for items of `words` words (1..WEFT__DEQUE_MAX_WORDS, else
 * EINVAL); every push, pop and steal must then pass that `words`. */
int weft__deque_cl_init_words(weft__deque_cl *dq, size_t capacity, unsigned words);
/* Free the buffers. No other thread may use the deque any more. */
void weft__deque_cl_destroy(weft__deque_cl *dq);
/* Owner, before any thief steals: the epochs its thieves keep (common.h),
 * so that buffers growth replaces are freed early (NULL: at destroy). */
void weft__deque_cl_set_readers(weft__deque_cl *dq, const weft__deque_readers *readers);
/* Owner: free the replaced buffers if no reader holds one now; true when
 * none is left. */
static inline bool weft__deque_cl_reclaim_owner(weft__deque_cl *dq)
{
    return dq->retired == NULL || weft__deque_buf_reclaim(&dq->retired, dq->readers);
}

/* Owner only: double the buffer, copying the live items [t, b); NULL when
 * out of memory or at the maximum capacity. */
weft__deque_buf *weft__deque_cl_grow(weft__deque_cl *dq, weft__deque_buf *old, int64_t t,
                                     int64_t b);

_Static_assert(offsetof(weft__deque_cl, bottom) - offsetof(weft__deque_cl, top) >=
                   WEFT__CACHE_LINE,
               "thief-written top and owner-written bottom must not share a cache line");

/*
 * The operations on items of `words` words. Every caller passes `words` as
 * a constant equal to the deque's (1 for the pointer API below, frames in
 * deque/frame.h), so each word count compiles to straight-line code.
 */

/* Owner only. Copy the item at `src` in: 0, or ENOMEM when growing failed
 * (the deque is unchanged). */
static inline int weft__deque_cl_push_words(weft__deque_cl *dq, void *const *src,
                                            unsigned words)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    weft__deque_buf *buf = atomic_load_explicit(&dq->buf, memory_order_relaxed);
    /* Room is checked against top_seen, a value of top loaded (acquire) in
     * the past: top only grows, so this errs towards "full", and it spares
     * the owner a read of the thieves' line on every push. */
    if (b - dq->top_seen > buf->mask) {
        /* acquire: a thief's read of a slot we may now overwrite happened
         * before its CAS moved top past it */
        int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
        dq->top_seen = t;
        if (b - t > buf->mask) {
            buf = weft__deque_cl_grow(dq, buf, t, b);
            if (buf == NULL)
                return ENOMEM;
        }
    }
    weft__deque_slot_store(weft__deque_buf_slot(buf, b, words), src, words);
    /* release: publishes the slot before a thief can see bottom move */
    atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
    return 0;
}

/* Owner only. Push when room is certain from top_seen alone; false (the
 * deque unchanged) when push must look at top or grow. It calls nothing,
 * so a caller's fast path can stay a leaf function. api/weft/inline.h's
 * weft_inline_spawn repeats it for frames, inside programs: a change here
 * changes that copy and bumps WEFT_INLINE_LAYOUT. */
static inline bool weft__deque_cl_try_push_words(weft__deque_cl *dq, void *const *src,
                                                 unsigned words)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    weft__deque_buf *buf = atomic_load_explicit(&dq->buf, memory_order_relaxed);
    if (b - dq->top_seen > buf->mask)
        return false;
    weft__deque_slot_store(weft__deque_buf_slot(buf, b, words), src, words);
    /* release: publishes the slot before a thief can see bottom move */
    atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
    return true;
}

/* Owner only. Copy the most recently pushed item out to `dst`: true, or
 * false (dst untouched) when the deque is empty. */
static inline bool weft__deque_cl_pop_words(weft__deque_cl *dq, void **dst, unsigned words)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed) - 1;
    weft__deque_buf *buf = atomic_load_explicit(&dq->buf, memory_order_relaxed);
    /* seq_cst store then seq_cst load of top: the store-load barrier that
     * pairs with steal's load of top before bottom (claims slot b first) */
    atomic_store_explicit(&dq->bottom, b, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
    dq->top_seen = t;
    if (t > b) {
        /* empty: undo the claim; release keeps every bottom store publishing */
        atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
        return false;
    }
    if (t == b) {
        /* last item: race the thieves for it on top */
        bool won = atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1,
                                                           memory_order_seq_cst,
                                                           memory_order_relaxed);
        atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
        if (!won)
            return false;
    }
    /* The owner is the only writer of slots, and slot b is its own now
     * (below every thief's reach, or won by the CAS): reading it after the
     * CAS is safe, and a lost race leaves dst untouched. */
    weft__deque_slot_load(weft__deque_buf_slot(buf, b, words), dst, words);
    return true;
}

/* Any thread. Copy the oldest item out to `dst` (untouched unless OK). */
static inline weft__steal_status weft__deque_cl_steal_words(weft__deque_cl *dq, void **dst,
                                                            unsigned words)
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
    /* Copy before the CAS: once top moves the owner may reuse the slot. The
     * copy may be torn (words of two pushes) only when the CAS then fails:
     * see "Items of several words" above. */
    /* initialised for gcc's -Wmaybe-uninitialized, which cannot follow
     * `words` from the load to the copy (TSan builds) */
    void *copy[WEFT__DEQUE_MAX_WORDS] = {NULL};
    weft__deque_slot_load(weft__deque_buf_slot(buf, t, words), copy, words);
    if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return WEFT__STEAL_LOST;
    weft__deque_words_copy(dst, copy, words);
    return WEFT__STEAL_OK;
}

/* Owner only. Take the oldest items, at most `max` and at most half of
 * those in the deque, out to `dst`, oldest first: how many (0 when fewer
 * than two are queued, or when a thief moved top meanwhile). The owner
 * claims them as a thief claims one, by a CAS moving top past them; it
 * knows bottom exactly (it is the only writer), and no pop of its own runs
 * meanwhile, so the range is its alone once the CAS wins. A thief taking
 * several items itself could not know that: the owner may pop into its
 * range without a CAS between the thief's read of bottom and its CAS. */
static inline size_t weft__deque_cl_take_oldest_words(weft__deque_cl *dq, void **dst, size_t max,
                                                       unsigned words)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    /* acquire, as push's look at top: a thief's copy of a slot happened
     * before its CAS moved top past it */
    int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
    dq->top_seen = t;
    size_t k = weft__deque_batch_size(b - t, max);
    if (k == 0)
        return 0;
    return weft__deque_claim_oldest(&dq->top, &dq->top_seen,
                                    atomic_load_explicit(&dq->buf, memory_order_relaxed), t, k,
                                    dst, words);
}

/* The same for pointer items. */
static inline size_t weft__deque_cl_take_oldest_owner(weft__deque_cl *dq, void **dst, size_t max)
{
    return weft__deque_cl_take_oldest_words(dq, dst, max, 1);
}

/* The pointer API (deque/deque.h): items are non-NULL pointers. */

/* Owner only. 0, or ENOMEM when growing failed (the deque is unchanged). */
static inline int weft__deque_cl_push_owner(weft__deque_cl *dq, void *item)
{
    return weft__deque_cl_push_words(dq, &item, 1);
}

/* Owner only. Push when room is certain from top_seen alone; false (the
 * deque unchanged) when push_owner must look at top or grow. Calls nothing. */
static inline bool weft__deque_cl_try_push_owner(weft__deque_cl *dq, void *item)
{
    return weft__deque_cl_try_push_words(dq, &item, 1);
}

/* Owner only. The most recently pushed item, or NULL when empty. */
static inline void *weft__deque_cl_pop_owner(weft__deque_cl *dq)
{
    void *item;
    return weft__deque_cl_pop_words(dq, &item, 1) ? item : NULL;
}

/* Any thread. Takes the oldest item (*item untouched unless OK). */
static inline weft__steal_status weft__deque_cl_steal(weft__deque_cl *dq, void **item)
{
    return weft__deque_cl_steal_words(dq, item, 1);
}

/* Owner only. Nothing to do: every item is stealable as soon as it is
 * pushed (the split deque's weft__deque_split_share_owner is not free). */
static inline void weft__deque_cl_share_owner(weft__deque_cl *dq)
{
    (void)dq;
}

/* Items in the deque at some recent instant; exact for the owner when no thief runs. */
static inline size_t weft__deque_cl_size(weft__deque_cl *dq)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

/* Current capacity of the buffer (owner only; for tests). */
static inline size_t weft__deque_cl_capacity(weft__deque_cl *dq)
{
    return (size_t)atomic_load_explicit(&dq->buf, memory_order_relaxed)->mask + 1;
}

#endif
