/*
 * Frame deques (internal): weft's two deques with a task's frame in each
 * slot instead of a pointer to a descriptor (issue 20; Lace and Cilk keep
 * their frames in the deque the same way).
 *
 * How the runtime uses it (sched/sched.h, union weft__task_frame)
 *   A frame is four machine words, 32 bytes: fn, arg, scope and a tag.
 *   - spawn of a plain task (no options, no stream, not detached) pushes
 *     {fn, arg, scope, NULL} by value: no descriptor, no free list, one
 *     slot written. A task that needs more (options, a name, a cleanup, a
 *     deadline, a stream, detached, a root) has a descriptor, and its
 *     frame carries it as the tag.
 *   - pop and steal copy the frame out of the slot, and the runner calls a
 *     plain task's fn from a descriptor it fills on its own stack: `self`
 *     is that copy. It must be a copy: while the task runs, the owner
 *     pushes into the same slot (its next spawn) and growth moves slots,
 *     so nothing may point into the deque.
 *   - the deque never interprets the words: what they mean, and that a
 *     NULL tag marks a plain task, is the runtime's convention. A frame
 *     whose words are all NULL is a valid item (emptiness is the bool
 *     that pop returns, not a NULL item).
 *   - memory: 32 bytes per queued plain task, in the deque's buffer (a
 *     pointer deque holds 8 bytes plus a 64-byte descriptor).
 *
 * What it guarantees
 *   Everything deque/deque.h says for pointers (every item returned once,
 *   by pop or by one steal; push fails only with ENOMEM), and that a frame
 *   comes out whole: a pop that returns true or a steal that returns OK
 *   gives exactly the four words one push put in, never words of two
 *   frames. A thief copies the words before its CAS (after it the owner
 *   may reuse the slot), so its copy can be torn; it is kept only when the
 *   CAS succeeds, and then it is not (the argument is under "Items of
 *   several words" in chase_lev.h and split.h). pop and steal leave the
 *   caller's frame untouched when they return nothing.
 *
 * One implementation
 *   The algorithms are those of chase_lev.h and split.h, written once
 *   with the slot's word count as a parameter (*_words); the pointer API
 *   passes 1, this one WEFT__DEQUE_FRAME_WORDS. Each frame deque is its
 *   own type wrapping the pointer deque's, so a pointer deque cannot be
 *   handed to a frame operation by mistake (its slots are one word wide).
 *   As in deque/deque.h, WEFT_SPLIT_DEQUE picks the one behind the
 *   unsuffixed names `weft__deque_frames*`.
 */
#ifndef WEFT_DEQUE_FRAME_H
#define WEFT_DEQUE_FRAME_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "deque/chase_lev.h"
#include "deque/common.h"
#include "deque/split.h"

#define WEFT__DEQUE_FRAME_WORDS 4

/* What a slot holds: four words, opaque to the deque. */
typedef struct weft__deque_frame {
    void *w[WEFT__DEQUE_FRAME_WORDS];
} weft__deque_frame;

_Static_assert(WEFT__DEQUE_FRAME_WORDS <= WEFT__DEQUE_MAX_WORDS,
               "a frame fits the deques' widest slot");
_Static_assert(sizeof(weft__deque_frame) == WEFT__DEQUE_FRAME_WORDS * sizeof(void *),
               "a frame is its words, no padding");

/* A split deque of frames (deque/split.h). Embed it aligned to a cache line
 * or allocate it with weft__alloc_aligned(WEFT__CACHE_LINE, sizeof ...). */
typedef struct weft__deque_frames_split {
    weft__deque_split dq;
} weft__deque_frames_split;

/* A Chase-Lev deque of frames (deque/chase_lev.h), likewise. */
typedef struct weft__deque_frames_cl {
    weft__deque_cl dq;
} weft__deque_frames_cl;

/* ---- the split deque of frames ---- */

/* Room for `capacity` frames (rounded up to a power of two, at least 2):
 * 0 or ENOMEM; EINVAL for NULL or a capacity above the maximum. */
static inline int weft__deque_frames_split_init(weft__deque_frames_split *fd, size_t capacity)
{
    return fd == NULL ? EINVAL
                      : weft__deque_split_init_words(&fd->dq, capacity, WEFT__DEQUE_FRAME_WORDS);
}

/* Free the buffers. No other thread may use the deque any more. */
static inline void weft__deque_frames_split_destroy(weft__deque_frames_split *fd)
{
    if (fd != NULL)
        weft__deque_split_destroy(&fd->dq);
}

/* Owner only. Copy *f in: 0, or ENOMEM when growing failed (unchanged). */
static inline int weft__deque_frames_split_push_owner(weft__deque_frames_split *fd,
                                                      const weft__deque_frame *f)
{
    return weft__deque_split_push_words(&fd->dq, f->w, WEFT__DEQUE_FRAME_WORDS);
}

/* Owner only. Push when room is certain without looking at top; false (the
 * deque unchanged) when push_owner must look or grow. */
static inline bool weft__deque_frames_split_try_push_owner(weft__deque_frames_split *fd,
                                                           const weft__deque_frame *f)
{
    return weft__deque_split_try_push_words(&fd->dq, f->w, WEFT__DEQUE_FRAME_WORDS);
}

/* Owner only. Copy the most recently pushed frame out to *out: true, or
 * false (*out untouched) when empty. */
static inline bool weft__deque_frames_split_pop_owner(weft__deque_frames_split *fd,
                                                      weft__deque_frame *out)
{
    return weft__deque_split_pop_words(&fd->dq, out->w, WEFT__DEQUE_FRAME_WORDS);
}

/* Any thread. Copy the oldest public frame out to *out (untouched unless
 * OK); the statuses of deque/deque.h. */
static inline weft__steal_status weft__deque_frames_split_steal(weft__deque_frames_split *fd,
                                                                weft__deque_frame *out)
{
    return weft__deque_split_steal_words(&fd->dq, out->w, WEFT__DEQUE_FRAME_WORDS);
}

/* Owner only. Make every frame stealable (deque/deque.h says when). */
static inline void weft__deque_frames_split_share_owner(weft__deque_frames_split *fd)
{
    weft__deque_split_share_owner(&fd->dq);
}

/* Owner: the thieves' epochs (deque/common.h); replaced buffers are then
 * freed when no thief holds one. */
static inline void weft__deque_frames_split_set_readers(weft__deque_frames_split *fd,
                                                        const weft__deque_readers *readers)
{
    weft__deque_split_set_readers(&fd->dq, readers);
}

/* Owner: free the replaced buffers unless a thief may hold one. */
static inline bool weft__deque_frames_split_reclaim_owner(weft__deque_frames_split *fd)
{
    return weft__deque_split_reclaim_owner(&fd->dq);
}

/* Owner only. Up to `max` of the oldest frames (at most half of those
 * queued) out to dst[], oldest first, with one CAS (deque/deque.h). */
static inline size_t weft__deque_frames_split_take_oldest_owner(weft__deque_frames_split *fd,
                                                                weft__deque_frame *dst,
                                                                size_t max)
{
    return weft__deque_split_take_oldest_words(&fd->dq, (void **)(void *)dst, max, WEFT__DEQUE_FRAME_WORDS);
}

/* Frames in the deque at some recent instant, private ones included. */
static inline size_t weft__deque_frames_split_size(weft__deque_frames_split *fd)
{
    return weft__deque_split_size(&fd->dq);
}

/* Current capacity in frames (owner only; for tests). */
static inline size_t weft__deque_frames_split_capacity(weft__deque_frames_split *fd)
{
    return weft__deque_split_capacity(&fd->dq);
}

/* ---- the Chase-Lev deque of frames: the same operations ---- */

static inline int weft__deque_frames_cl_init(weft__deque_frames_cl *fd, size_t capacity)
{
    return fd == NULL ? EINVAL
                      : weft__deque_cl_init_words(&fd->dq, capacity, WEFT__DEQUE_FRAME_WORDS);
}

static inline void weft__deque_frames_cl_destroy(weft__deque_frames_cl *fd)
{
    if (fd != NULL)
        weft__deque_cl_destroy(&fd->dq);
}

static inline int weft__deque_frames_cl_push_owner(weft__deque_frames_cl *fd,
                                                   const weft__deque_frame *f)
{
    return weft__deque_cl_push_words(&fd->dq, f->w, WEFT__DEQUE_FRAME_WORDS);
}

static inline bool weft__deque_frames_cl_try_push_owner(weft__deque_frames_cl *fd,
                                                        const weft__deque_frame *f)
{
    return weft__deque_cl_try_push_words(&fd->dq, f->w, WEFT__DEQUE_FRAME_WORDS);
}

static inline bool weft__deque_frames_cl_pop_owner(weft__deque_frames_cl *fd,
                                                   weft__deque_frame *out)
{
    return weft__deque_cl_pop_words(&fd->dq, out->w, WEFT__DEQUE_FRAME_WORDS);
}

static inline weft__steal_status weft__deque_frames_cl_steal(weft__deque_frames_cl *fd,
                                                             weft__deque_frame *out)
{
    return weft__deque_cl_steal_words(&fd->dq, out->w, WEFT__DEQUE_FRAME_WORDS);
}

static inline void weft__deque_frames_cl_share_owner(weft__deque_frames_cl *fd)
{
    weft__deque_cl_share_owner(&fd->dq);
}

static inline void weft__deque_frames_cl_set_readers(weft__deque_frames_cl *fd,
                                                     const weft__deque_readers *readers)
{
    weft__deque_cl_set_readers(&fd->dq, readers);
}

static inline bool weft__deque_frames_cl_reclaim_owner(weft__deque_frames_cl *fd)
{
    return weft__deque_cl_reclaim_owner(&fd->dq);
}

static inline size_t weft__deque_frames_cl_take_oldest_owner(weft__deque_frames_cl *fd,
                                                             weft__deque_frame *dst, size_t max)
{
    return weft__deque_cl_take_oldest_words(&fd->dq, (void **)(void *)dst, max, WEFT__DEQUE_FRAME_WORDS);
}

static inline size_t weft__deque_frames_cl_size(weft__deque_frames_cl *fd)
{
    return weft__deque_cl_size(&fd->dq);
}

static inline size_t weft__deque_frames_cl_capacity(weft__deque_frames_cl *fd)
{
    return weft__deque_cl_capacity(&fd->dq);
}

/* ---- the runtime's choice, as in deque/deque.h ---- */

#ifdef WEFT_SPLIT_DEQUE
typedef weft__deque_frames_split weft__deque_frames;
#define WEFT__DEQUE_FRAMES_OP(op) weft__deque_frames_split_##op
#else
typedef weft__deque_frames_cl weft__deque_frames;
#define WEFT__DEQUE_FRAMES_OP(op) weft__deque_frames_cl_##op
#endif

static inline int weft__deque_frames_init(weft__deque_frames *fd, size_t capacity)
{
    return WEFT__DEQUE_FRAMES_OP(init)(fd, capacity);
}

static inline void weft__deque_frames_destroy(weft__deque_frames *fd)
{
    WEFT__DEQUE_FRAMES_OP(destroy)(fd);
}

static inline int weft__deque_frames_push_owner(weft__deque_frames *fd,
                                                const weft__deque_frame *f)
{
    return WEFT__DEQUE_FRAMES_OP(push_owner)(fd, f);
}

static inline bool weft__deque_frames_try_push_owner(weft__deque_frames *fd,
                                                     const weft__deque_frame *f)
{
    return WEFT__DEQUE_FRAMES_OP(try_push_owner)(fd, f);
}

static inline bool weft__deque_frames_pop_owner(weft__deque_frames *fd, weft__deque_frame *out)
{
    return WEFT__DEQUE_FRAMES_OP(pop_owner)(fd, out);
}

static inline weft__steal_status weft__deque_frames_steal(weft__deque_frames *fd,
                                                          weft__deque_frame *out)
{
    return WEFT__DEQUE_FRAMES_OP(steal)(fd, out);
}

static inline void weft__deque_frames_share_owner(weft__deque_frames *fd)
{
    WEFT__DEQUE_FRAMES_OP(share_owner)(fd);
}

static inline void weft__deque_frames_set_readers(weft__deque_frames *fd,
                                                  const weft__deque_readers *readers)
{
    WEFT__DEQUE_FRAMES_OP(set_readers)(fd, readers);
}

static inline bool weft__deque_frames_reclaim_owner(weft__deque_frames *fd)
{
    return WEFT__DEQUE_FRAMES_OP(reclaim_owner)(fd);
}

static inline size_t weft__deque_frames_take_oldest_owner(weft__deque_frames *fd,
                                                          weft__deque_frame *dst, size_t max)
{
    return WEFT__DEQUE_FRAMES_OP(take_oldest_owner)(fd, dst, max);
}

static inline size_t weft__deque_frames_size(weft__deque_frames *fd)
{
    return WEFT__DEQUE_FRAMES_OP(size)(fd);
}

static inline size_t weft__deque_frames_capacity(weft__deque_frames *fd)
{
    return WEFT__DEQUE_FRAMES_OP(capacity)(fd);
}

#endif
