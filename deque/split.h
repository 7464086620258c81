/*
 * The split work-stealing deque in C11 atomics (internal; the runtime
 * reaches it through deque/deque.h when built with WEFT_SPLIT_DEQUE). One
 * owner thread pushes and pops at the bottom (LIFO); any thread steals at
 * the top (FIFO). Items are non-NULL pointers, or frames of several words
 * (deque/frame.h) through the same code. The owner's operations are
 * inline: they are the spawn and join fast path.
 *
 * The idea is Lace's (van Dijk and van de Pol, "Lace: non-blocking split
 * deque for work-stealing", Euro-Par 2014 workshops): the items
 * [top, bottom) are cut at `split` into a public part [top, split), which
 * thieves take from, and a private part [split, bottom), which only the
 * owner touches. The owner pushes and pops its private part with plain
 * loads and stores: no RMW, no fence. The split moves only when a thief
 * asks for work (through `request`), when the owner's private part runs
 * out, or when the owner shares everything (weft__deque_split_share_owner).
 *
 * Fields
 *   top      shared: the oldest public item; only ever grows, by CAS (a
 *            thief's steal, or the owner's race for the last public item).
 *   split    shared: written by the owner only, read by every steal. All
 *            stores at least release: a thief that reads a value of split
 *            sees every slot below it that the owner wrote before.
 *   buf      shared: the ring buffer; replaced (release) by growth.
 *   request  shared: NONE; ASKED, set by a thief (CAS from NONE) that
 *            found the public part empty and bottom above top; or
 *            OWNER_EMPTY, stored by the owner when it found the whole deque
 *            empty, so that thieves answer EMPTY without asking until its
 *            next push. The owner reads it on every push and pop; any value
 *            but NONE sends it to its slow path, which answers a request
 *            (sharing, then NONE) or leaves OWNER_EMPTY (NONE).
 *   bottom   written by the owner only (relaxed); thieves read it only as a
 *            hint (does private work exist, weft__deque_size), once per
 *            request at most.
 *   own_split, own_buf, top_seen, retired: the owner's alone.
 *
 * What the owner does
 *   push   writes the slot at bottom, bottom + 1. If ASKED: publishes the
 *          older half (rounded up) of its private part by raising split
 *          (release store), then stores NONE.
 *   pop    if the private part is not empty, takes the slot at bottom - 1.
 *          If ASKED and at least two private items are left, first
 *          publishes half of those below the one it takes. If the private
 *          part is empty, it takes back the newer half of the public part
 *          (rounded up): store split = ns (seq_cst), load top (seq_cst),
 *          then, with t the top it read and s the old split,
 *            t < ns         [ns, s) is private now;
 *            ns <= t < s-1  (t, s) is private; split = t + 1 (slot t stays
 *                           public; a thief may be about to take it);
 *            t == s-1       one item left: owner and thieves race for it
 *                           with a CAS on top; split = s;
 *            t == s         everything was stolen; split = s.
 *          This is the only place where the owner fences, and it is paid
 *          once per half of the public part, not per pop. A pop that finds
 *          (or leaves) the deque empty this way stores OWNER_EMPTY.
 *   share_owner  raises split to bottom (release store): all public.
 *
 * What a thief does
 *   Loads top, then split (both seq_cst). If top < split it reads the slot
 *   at top (from the buffer it loads with acquire after split) and takes
 *   it with a CAS on top: OK, or LOST when another taker moved top first.
 *   If the public part is empty it reads `request`: ASKED (a request is
 *   pending) gives WEFT__STEAL_ASKED ("work exists: retry soon");
 *   OWNER_EMPTY gives WEFT__STEAL_EMPTY; NONE makes it load bottom, and
 *   when bottom > top, ask (CAS NONE -> ASKED) and return ASKED, else
 *   EMPTY. So a thief that keeps finding the public part empty reads only
 *   lines the owner rarely writes, never bottom's. Both answers are hints
 *   (relaxed loads): the items an ASKED saw may be popped before the owner
 *   looks, and an EMPTY may miss a push that is just landing. ASKED cannot
 *   outlive the owner's next pop: a pop that finds the deque empty stores
 *   OWNER_EMPTY over it (and the thief's CAS cannot undo that).
 *
 * Why it is correct
 *   Raising split publishes only slots the owner wrote before (release
 *   store against the thief's seq_cst, so acquire, load of split). Lowering
 *   it is the Chase-Lev pop (Chase and Lev, SPAA 2005; C11 orderings of Le
 *   et al., PPoPP 2013) with split in the role of bottom: the owner's
 *   seq_cst store of split then seq_cst load of top, against the thief's
 *   seq_cst load of top then of split. A thief that read a split from
 *   before the store read, in the seq_cst order, a top no newer than the
 *   owner's t, so it can only take slots <= t: the owner keeps the slots
 *   above t, and settles slot t, when it wants it, by CAS. Thieves that
 *   read split from after the store take only slots below it. So no slot
 *   the owner holds privately is ever taken by a thief's CAS, and a thief's
 *   CAS succeeds only on a slot no one else took (top only grows).
 *   Growth copies [top, bottom) into a buffer whose slots start NULL and
 *   publishes it with a release store; a thief loads the buffer after
 *   split, so any slot it may take is in the buffer it reads. A thief reads
 *   its slot before its CAS: after the CAS the owner may reuse the slot.
 *   models/genmc/ checks all of this in the C11 model (RC11 and IMM) with
 *   bad variants that must fail; tests/deque/ stresses it (10^8 items in
 *   `make check-stress`).
 *
 * Items of several words (frames: deque/frame.h)
 *   A slot's words are stored and loaded one by one (relaxed atomics), so a
 *   thief may copy a torn item: words of two pushes into the same slot. It
 *   keeps its copy only when its CAS moves top from t to t + 1, and then
 *   the copy is exactly the item pushed at index t (Lace's argument):
 *   - the thief read split > t, synchronising with the release store of
 *     split that published slot t, so it sees the words of the push of t
 *     (or newer ones); growth's copy it sees through the acquire load of
 *     buf, and it reads every word from the one buffer it loaded;
 *   - newer words in that slot come either from a push of t + capacity or
 *     more, which first loads (acquire) a top above t, i.e. the thief's
 *     successful CAS or a later one, so the thief's copy happens before
 *     those stores and cannot read them; or from a push of t again after
 *     the owner made t private and popped it. The owner makes t private
 *     only in a take-back whose seq_cst load of top saw top < t (t above
 *     the top it read) after its seq_cst store of a split <= t; a thief
 *     that read the older split read a top no newer than that one, so its
 *     CAS at t fails; a thief that read the newer split (or a later one)
 *     sees t public again only through a share's release store after the
 *     re-push, and copies the new item. Slot t itself, when it is the top
 *     the owner read, stays public or is settled by CAS (one winner).
 *   - a buffer replaced by growth is never written again.
 *   The owner races nobody on a slot's words: it writes a slot while it is
 *   private, before the release store of split that publishes it, and
 *   reads only slots it holds (the last public one after its CAS won).
 *   models/genmc/ checks this with frames whose words all derive from one
 *   value, and variants that copy after the CAS or write the words after
 *   the share, which it must reject.
 *
 * What it does not
 *   It never shrinks. Only the owner may push or pop. Private items are
 *   invisible to thieves until the owner next pushes or pops: an owner
 *   that runs a long task shares nothing meanwhile (Lace's trade-off).
 *   Buffers replaced by growth are kept until destroy: a thief may still
 *   be reading one. Their total size is below that of the live buffer, so
 *   this costs at most 2x.
 */
#ifndef WEFT_DEQUE_SPLIT_H
#define WEFT_DEQUE_SPLIT_H

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "deque/common.h"

/* What `request` holds. */
enum { WEFT__SPLIT_NONE, WEFT__SPLIT_ASKED, WEFT__SPLIT_OWNER_EMPTY };

/*
 * Embed it (aligned to a cache line) or allocate it with
 * weft__alloc_aligned(WEFT__CACHE_LINE, sizeof(weft__deque_split)). Four
 * cache lines, by who writes them how often: thieves (top); the owner
 * rarely, read by every steal (split, buf); thieves and owner rarely, read
 * by every push and pop (request); the owner on every push and pop (bottom
 * and the owner's own fields).
 */
typedef struct weft__deque_split {
    alignas(WEFT__CACHE_LINE) _Atomic int64_t top;
    alignas(WEFT__CACHE_LINE) _Atomic int64_t split;
    _Atomic(weft__deque_buf *) buf;
    alignas(WEFT__CACHE_LINE) _Atomic int request;
    alignas(WEFT__CACHE_LINE) _Atomic int64_t bottom;
    int64_t own_split;         /* owner: the split it last stored */
    weft__deque_buf *own_buf;  /* owner: the buffer it last stored */
    int64_t top_seen;          /* owner: a past value of top, <= top */
    /* buffers replaced by growth, freed once no reader holds them (common.h) */
    weft__deque_buf *retired;
    const weft__deque_readers *readers; /* its thieves; NULL: free at destroy */
} weft__deque_split;

/*
 * Initialise with room for `capacity` items (rounded up to a power of two,
 * at least 2). 0 or ENOMEM; EINVAL for NULL or a capacity above the maximum.
 */
int weft__deque_split_init(weft__deque_split *dq, size_t capacity);
/* The same for items of `words` words (1..WEFT__DEQUE_MAX_WORDS, else
 * EINVAL); every push, pop and steal must then pass that `words`. */
int weft__deque_split_init_words(weft__deque_split *dq, size_t capacity, unsigned words);
/* Free the buffers. No other thread may use the deque any more. */
void weft__deque_split_destroy(weft__deque_split *dq);
/* Owner: as weft__deque_cl_set_readers and weft__deque_cl_reclaim_owner. */
void weft__deque_split_set_readers(weft__deque_split *dq, const weft__deque_readers *readers);
static inline bool weft__deque_split_reclaim_owner(weft__deque_split *dq)
{
    return dq->retired == NULL || weft__deque_buf_reclaim(&dq->retired, dq->readers);
}

/* Owner only: make room for the slot at bottom `b` (look at top, grow when
 * full). 0 or ENOMEM (the deque unchanged). */
int weft__deque_split_reserve(weft__deque_split *dq, int64_t b);
/* Owner only: pop (copy to `dst`, true; false when empty) when the private
 * part is empty or `request` is not NONE. */
bool weft__deque_split_pop_slow(weft__deque_split *dq, void **dst, unsigned words);
/* Owner only: after a push that found `request` not NONE. */
void weft__deque_split_push_slow(weft__deque_split *dq);

#define WEFT__SPLIT_APART(a, b) \
    (offsetof(weft__deque_split, b) - offsetof(weft__deque_split, a) >= WEFT__CACHE_LINE)
_Static_assert(WEFT__SPLIT_APART(top, split) && WEFT__SPLIT_APART(split, request) &&
                   WEFT__SPLIT_APART(request, bottom),
               "top, split, request and bottom must each have a cache line of their own");
#undef WEFT__SPLIT_APART

/* Owner: publish the private items below `ns` (own_split < ns <= bottom). */
static inline void weft__deque_split_share(weft__deque_split *dq, int64_t ns)
{
    dq->own_split = ns;
    /* release: publishes the slots below ns, written before, to a thief that
     * loads split */
    atomic_store_explicit(&dq->split, ns, memory_order_release);
    /* relaxed: a thief asks again whenever it finds the public part empty
     * and no request pending */
    atomic_store_explicit(&dq->request, WEFT__SPLIT_NONE, memory_order_relaxed);
}

/*
 * The operations on items of `words` words. Every caller passes `words` as
 * a constant equal to the deque's (1 for the pointer API below, frames in
 * deque/frame.h), so each word count compiles to straight-line code.
 */

/* Owner: copy the item at `src` to `b`, which has room, and move bottom
 * past it. */
static inline void weft__deque_split_put(weft__deque_split *dq, int64_t b, void *const *src,
                                         unsigned words)
{
    /* relaxed: the slot is private; a later release store of split (a
     * share, possibly in push_slow just below) publishes it */
    weft__deque_slot_store(weft__deque_buf_slot(dq->own_buf, b, words), src, words);
    /* relaxed: bottom is a hint to thieves; slots are published by split */
    atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
    /* relaxed: a hint too; the split store that answers it is the release */
    if (WEFT__UNLIKELY(atomic_load_explicit(&dq->request, memory_order_relaxed) !=
                       WEFT__SPLIT_NONE))
        weft__deque_split_push_slow(dq);
}

/* Owner only. Push when room is certain from top_seen alone; false (the
 * deque unchanged) when push must look at top or grow. It calls nothing
 * (but the rare answer to a request), so a caller's fast path can stay a
 * leaf function. */
static inline bool weft__deque_split_try_push_words(weft__deque_split *dq, void *const *src,
                                                    unsigned words)
{
    /* relaxed: only this thread stores bottom */
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    if (b - dq->top_seen > dq->own_buf->mask)
        return false;
    weft__deque_split_put(dq, b, src, words);
    return true;
}

/* Owner only. Copy the item at `src` in: 0, or ENOMEM when growing failed
 * (the deque is unchanged). */
static inline int weft__deque_split_push_words(weft__deque_split *dq, void *const *src,
                                               unsigned words)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    /* Room is checked against top_seen, a value of top loaded in the past:
     * top only grows, so this errs towards "full", and it spares the owner a
     * read of the thieves' line on every push. */
    if (WEFT__UNLIKELY(b - dq->top_seen > dq->own_buf->mask) &&
        weft__deque_split_reserve(dq, b) != 0)
        return ENOMEM;
    weft__deque_split_put(dq, b, src, words);
    return 0;
}

/* Owner: the common pop. Copy the newest item out to `dst` when it is
 * private and no thief asked: true; false (dst untouched) when pop_slow
 * must decide. */
static inline bool weft__deque_split_pop_private(weft__deque_split *dq, void **dst,
                                                 unsigned words)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    if (WEFT__LIKELY(b > dq->own_split) &&
        WEFT__LIKELY(atomic_load_explicit(&dq->request, memory_order_relaxed) ==
                     WEFT__SPLIT_NONE)) {
        /* private: no thief takes a slot at or above split */
        b--;
        weft__deque_slot_load(weft__deque_buf_slot(dq->own_buf, b, words), dst, words);
        atomic_store_explicit(&dq->bottom, b, memory_order_relaxed);
        return true;
    }
    return false;
}

/* Owner only. Copy the most recently pushed item out to `dst`: true, or
 * false (dst untouched) when the deque is empty. */
static inline bool weft__deque_split_pop_words(weft__deque_split *dq, void **dst,
                                               unsigned words)
{
    return weft__deque_split_pop_private(dq, dst, words) ||
           weft__deque_split_pop_slow(dq, dst, words);
}

/* Any thread. Copy the oldest public item out to `dst` (untouched unless
 * OK). */
static inline weft__steal_status weft__deque_split_steal_words(weft__deque_split *dq,
                                                               void **dst, unsigned words)
{
    /* seq_cst load of top, then of split: pairs with the owner's seq_cst
     * store of split then load of top when it takes public items back */
    int64_t t = atomic_load_explicit(&dq->top, memory_order_seq_cst);
    /* seq_cst (so acquire): the slots below split and the buffer they were
     * written in are visible */
    int64_t s = atomic_load_explicit(&dq->split, memory_order_seq_cst);
    if (t >= s) {
        /* relaxed, all three: hints; nothing is read on their strength */
        int r = atomic_load_explicit(&dq->request, memory_order_relaxed);
        if (r == WEFT__SPLIT_NONE) {
            /* bottom's line is the one the owner writes on every push and
             * pop: read it once per request, not on every retry */
            if (atomic_load_explicit(&dq->bottom, memory_order_relaxed) <= t)
                return WEFT__STEAL_EMPTY;
            /* a CAS, not a store: it must not undo OWNER_EMPTY */
            if (atomic_compare_exchange_strong_explicit(&dq->request, &r, WEFT__SPLIT_ASKED,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed))
                return WEFT__STEAL_ASKED;
        }
        return r == WEFT__SPLIT_ASKED ? WEFT__STEAL_ASKED : WEFT__STEAL_EMPTY;
    }
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

/* Owner only. Make every item public: for an owner about to stop pushing
 * and popping for a while (a long task, a blocking wait), whose private
 * items no thief could take meanwhile. No fence: one release store. */
static inline void weft__deque_split_share_owner(weft__deque_split *dq)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    if (b > dq->own_split)
        weft__deque_split_share(dq, b);
}

/* Owner only. Take the oldest items, at most `max` and at most half of
 * those in the deque (private ones included), out to `dst`, oldest first:
 * how many (0 when fewer than two are queued, or when a thief moved top
 * meanwhile). Items it wants that are private are shared first, then it
 * claims them as a thief claims one, by a CAS moving top past them: it
 * knows split and bottom exactly, and no pop of its own runs meanwhile. */
static inline size_t weft__deque_split_take_oldest_words(weft__deque_split *dq, void **dst,
                                                         size_t max,
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
    /* top never passes split: make the range public first (a thief may
     * take some of it meanwhile; then the claim's CAS fails) */
    if (dq->own_split < t + (int64_t)k)
        weft__deque_split_share(dq, t + (int64_t)k);
    return weft__deque_claim_oldest(&dq->top, &dq->top_seen, dq->own_buf, t, k, dst, words);
}

/* The same for pointer items. */
static inline size_t weft__deque_split_take_oldest_owner(weft__deque_split *dq, void **dst, size_t max)
{
    return weft__deque_split_take_oldest_words(dq, dst, max, 1);
}

/* The pointer API (deque/deque.h): items are non-NULL pointers. */

/* Owner only. Push when room is certain from top_seen alone; false (the
 * deque unchanged) when push_owner must look at top or grow. It calls
 * nothing, so a caller's fast path can stay a leaf function. */
static inline bool weft__deque_split_try_push_owner(weft__deque_split *dq, void *item)
{
    return weft__deque_split_try_push_words(dq, &item, 1);
}

/* Owner only. 0, or ENOMEM when growing failed (the deque is unchanged). */
static inline int weft__deque_split_push_owner(weft__deque_split *dq, void *item)
{
    return weft__deque_split_push_words(dq, &item, 1);
}

/* Owner only. The most recently pushed item, or NULL when empty. */
static inline void *weft__deque_split_pop_owner(weft__deque_split *dq)
{
    void *item;
    if (WEFT__LIKELY(weft__deque_split_pop_private(dq, &item, 1)))
        return item;
    /* a local of its own: the call takes its address, and so `item` can
     * stay in a register on the common path */
    void *slow;
    return weft__deque_split_pop_slow(dq, &slow, 1) ? slow : NULL;
}

/* Any thread. Takes the oldest public item (*item untouched unless OK). */
static inline weft__steal_status weft__deque_split_steal(weft__deque_split *dq, void **item)
{
    return weft__deque_split_steal_words(dq, item, 1);
}

/* Items in the deque, public and private, at some recent instant; exact for
 * the owner when no thief runs. */
static inline size_t weft__deque_split_size(weft__deque_split *dq)
{
    int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
    return b > t ? (size_t)(b - t) : 0;
}

/* Items a thief could take now (owner only; for tests). */
static inline size_t weft__deque_split_public_size(weft__deque_split *dq)
{
    int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
    return dq->own_split > t ? (size_t)(dq->own_split - t) : 0;
}

/* Current capacity of the buffer (owner only; for tests). */
static inline size_t weft__deque_split_capacity(weft__deque_split *dq)
{
    return (size_t)dq->own_buf->mask + 1;
}

#endif
