/*
 * GenMC client for weft's deques (deque/deque.h: Chase-Lev, or the split
 * deque with WEFT_SPLIT_DEQUE defined): every item is taken exactly once,
 * under every execution the memory model (RC11, IMM) allows. Built by
 * models/genmc/run.sh, which supplies the configuration:
 *
 *   CAP     initial capacity (2 makes the pushes grow the buffer)
 *   PUSH1   items the owner pushes first; with SHARE it then makes them
 *           all public (weft__deque_share_owner; split deque), so its pops
 *           take the public part back against the thieves; then POP1 pops,
 *   PUSH2   then more pushes (they reuse slots the pops freed), then POP2 pops
 *   TAKE    after PUSH1 (and SHARE), the owner takes a batch of at most
 *           TAKE of the oldest items (weft__deque_take_oldest_owner: at
 *           most half of those queued) against the thieves, pointer
 *           deques only
 *   THIEVES threads that each make STEALS steal attempts; on the split
 *           deque an attempt that finds only private items asks the owner
 *           to share, and the owner's next push or pop does
 *
 *   READERS the thieves keep epochs (deque/common.h: odd while they steal)
 *           and the owner's growth frees the buffer it replaced when no
 *           thief is inside a steal; a read of a freed buffer is an error
 *
 *   FRAMES  the deques of frames (deque/frame.h): item i is a frame of four
 *           words, word k holding (i + 1) * 4 + k, and every frame that a
 *           pop or a steal hands out must be whole (each word from the
 *           same push): a thief copies before its CAS and may read a torn
 *           frame, which it must never keep
 *
 * Each item is distinct (an address, or a frame's words); taking one bumps
 * its counter, which must never pass 1. After every thread ended: if the
 * owner's last pop found the deque empty, a steal must answer EMPTY (not
 * ASKED: a request must not outlive the owner's pop that found nothing);
 * then the owner drains the deque alone and every counter must be exactly
 * 1: nothing duplicated, nothing lost.
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "deque/deque.h"
#ifdef FRAMES
#include "deque/frame.h"
#endif
#include "deque/common.c"
#ifdef WEFT_SPLIT_DEQUE
#include "deque/split.c"
#else
#include "deque/chase_lev.c"
#endif

#ifndef CAP
#define CAP 2
#endif
#ifndef PUSH1
#define PUSH1 3
#endif
#ifndef POP1
#define POP1 2
#endif
#ifndef PUSH2
#define PUSH2 0
#endif
#ifndef POP2
#define POP2 0
#endif
#ifndef TAKE
#define TAKE 0
#endif
#ifndef THIEVES
#define THIEVES 1
#endif
#ifndef STEALS
#define STEALS 2
#endif

#define ITEMS (PUSH1 + PUSH2)

static atomic_int taken[ITEMS];
static int last_pop_empty; /* the owner's last pop found nothing */

static void take(int i)
{
    assert(i >= 0 && i < ITEMS);
    int before = atomic_fetch_add_explicit(&taken[i], 1, memory_order_relaxed);
    assert(before == 0); /* never twice */
}

/* The deque under test behind push(i), pop(&i) and steal(&i). */
#ifdef FRAMES
static weft__deque_frames dq;

static int dq_init(void)
{
    return weft__deque_frames_init(&dq, CAP);
}

static int push(int i)
{
    weft__deque_frame f;
    for (int k = 0; k < WEFT__DEQUE_FRAME_WORDS; k++)
        f.w[k] = (void *)(uintptr_t)((i + 1) * WEFT__DEQUE_FRAME_WORDS + k);
    return weft__deque_frames_push_owner(&dq, &f);
}

/* The item whose frame `f` is; asserts it is whole. */
static int item_of(const weft__deque_frame *f)
{
    int v = (int)((uintptr_t)f->w[0] / WEFT__DEQUE_FRAME_WORDS);
    for (int k = 0; k < WEFT__DEQUE_FRAME_WORDS; k++)
        assert((uintptr_t)f->w[k] == (uintptr_t)(v * WEFT__DEQUE_FRAME_WORDS + k)); /* whole */
    return v - 1;
}

static int pop(int *i)
{
    weft__deque_frame f;
    if (!weft__deque_frames_pop_owner(&dq, &f))
        return 0;
    *i = item_of(&f);
    return 1;
}

static weft__steal_status steal(int *i)
{
    weft__deque_frame f;
    weft__steal_status st = weft__deque_frames_steal(&dq, &f);
    if (st == WEFT__STEAL_OK)
        *i = item_of(&f);
    return st;
}

static inline void share(void)
{
    weft__deque_frames_share_owner(&dq);
}

static void dq_destroy(void)
{
    weft__deque_frames_destroy(&dq);
}
#else
static weft__deque dq;
static int item[ITEMS];

static int dq_init(void)
{
    return weft__deque_init(&dq, CAP);
}

static int push(int i)
{
    return weft__deque_push_owner(&dq, &item[i]);
}

static int pop(int *i)
{
    int *p = weft__deque_pop_owner(&dq);
    if (p == NULL)
        return 0;
    *i = (int)(p - item);
    return 1;
}

static weft__steal_status steal(int *i)
{
    void *p = NULL;
    weft__steal_status st = weft__deque_steal(&dq, &p);
    if (st == WEFT__STEAL_OK)
        *i = (int)((int *)p - item);
    return st;
}

static inline void share(void)
{
    weft__deque_share_owner(&dq);
}

/* The owner's batch of the oldest items; each is taken. */
static void take_oldest(void)
{
    void *batch[TAKE + 1];
    size_t n = weft__deque_take_oldest_owner(&dq, batch, TAKE);
    assert(n <= TAKE);
    for (size_t k = 0; k < n; k++)
        take((int)((int *)batch[k] - item));
}

static void dq_destroy(void)
{
    weft__deque_destroy(&dq);
}
#endif

static void pop_some(int n)
{
    for (int k = 0; k < n; k++) {
        int i;
        last_pop_empty = !pop(&i);
        if (!last_pop_empty)
            take(i);
    }
}

static void *owner(void *arg)
{
    (void)arg;
    for (int i = 0; i < PUSH1; i++)
        assert(push(i) == 0);
#ifdef SHARE
    share();
#endif
#if TAKE > 0
    take_oldest();
#endif
    pop_some(POP1);
    for (int i = PUSH1; i < ITEMS; i++)
        assert(push(i) == 0);
    if (PUSH2 > 0)
        last_pop_empty = 0;
    pop_some(POP2);
    return NULL;
}

#ifdef READERS
/* each thief's epoch, a stride apart as a runtime's threads keep them */
static struct {
    _Atomic uint64_t epoch;
    int pad;
} epochs[THIEVES];
static const weft__deque_readers readers = {&epochs[0].epoch, sizeof epochs[0], THIEVES};
#endif
static void *thief(void *arg)
{
    (void)arg;
    for (int k = 0; k < STEALS; k++) {
        int i;
#ifdef READERS
        _Atomic uint64_t *epoch = &epochs[(intptr_t)arg].epoch;
        weft__deque_reader_enter(epoch);
        weft__steal_status st = steal(&i);
        weft__deque_reader_exit(epoch);
#else
        weft__steal_status st = steal(&i);
#endif
        if (st == WEFT__STEAL_OK)
            take(i);
    }
    return NULL;
}

int main(void)
{
    assert(dq_init() == 0);
#ifdef READERS
#ifdef FRAMES
    weft__deque_frames_set_readers(&dq, &readers);
#else
    weft__deque_set_readers(&dq, &readers);
#endif
#endif
    pthread_t o, t[THIEVES];
    pthread_create(&o, NULL, owner, NULL);
    for (int i = 0; i < THIEVES; i++)
        pthread_create(&t[i], NULL, thief, (void *)(intptr_t)i);
    pthread_join(o, NULL);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(t[i], NULL);
    if (last_pop_empty) {
        int i;
        assert(steal(&i) == WEFT__STEAL_EMPTY);
    }
    /* the owner alone now: whatever is left comes out of pop */
    for (int i; pop(&i);)
        take(i);
    for (int i = 0; i < ITEMS; i++)
        assert(atomic_load_explicit(&taken[i], memory_order_relaxed) == 1); /* none lost */
    dq_destroy();
    return 0;
}
