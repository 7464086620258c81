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
 *   THIEVES threads that each make STEALS steal attempts; on the split
 *           deque an attempt that finds only private items asks the owner
 *           to share, and the owner's next push or pop does
 *
 * Each item is a distinct address; taking one bumps its counter, which must
 * never pass 1. After every thread ended: if the owner's last pop found the
 * deque empty, a steal must answer EMPTY (not ASKED: a request must not
 * outlive the owner's pop that found nothing); then the owner drains the
 * deque alone and every counter must be exactly 1: nothing duplicated,
 * nothing lost.
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "deque/deque.h"
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
#ifndef THIEVES
#define THIEVES 1
#endif
#ifndef STEALS
#define STEALS 2
#endif

#define ITEMS (PUSH1 + PUSH2)

static weft__deque dq;
static int item[ITEMS];
static atomic_int taken[ITEMS];
static int last_pop_empty; /* the owner's last pop returned NULL */

static void take(void *p)
{
    int i = (int)((int *)p - item);
    assert(i >= 0 && i < ITEMS);
    int before = atomic_fetch_add_explicit(&taken[i], 1, memory_order_relaxed);
    assert(before == 0); /* never twice */
}

static void pop_some(int n)
{
    for (int k = 0; k < n; k++) {
        void *p = weft__deque_pop_owner(&dq);
        last_pop_empty = p == NULL;
        if (p != NULL)
            take(p);
    }
}

static void *owner(void *arg)
{
    (void)arg;
    for (int i = 0; i < PUSH1; i++)
        assert(weft__deque_push_owner(&dq, &item[i]) == 0);
#ifdef SHARE
    weft__deque_share_owner(&dq);
#endif
    pop_some(POP1);
    for (int i = PUSH1; i < ITEMS; i++)
        assert(weft__deque_push_owner(&dq, &item[i]) == 0);
    if (PUSH2 > 0)
        last_pop_empty = 0;
    pop_some(POP2);
    return NULL;
}

static void *thief(void *arg)
{
    (void)arg;
    for (int k = 0; k < STEALS; k++) {
        void *p = NULL;
        if (weft__deque_steal(&dq, &p) == WEFT__STEAL_OK)
            take(p);
    }
    return NULL;
}

int main(void)
{
    assert(weft__deque_init(&dq, CAP) == 0);
    pthread_t o, t[THIEVES];
    pthread_create(&o, NULL, owner, NULL);
    for (int i = 0; i < THIEVES; i++)
        pthread_create(&t[i], NULL, thief, NULL);
    pthread_join(o, NULL);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(t[i], NULL);
    if (last_pop_empty) {
        void *p = NULL;
        assert(weft__deque_steal(&dq, &p) == WEFT__STEAL_EMPTY);
    }
    /* the owner alone now: whatever is left comes out of pop */
    for (void *p; (p = weft__deque_pop_owner(&dq)) != NULL;)
        take(p);
    for (int i = 0; i < ITEMS; i++)
        assert(atomic_load_explicit(&taken[i], memory_order_relaxed) == 1); /* none lost */
    weft__deque_destroy(&dq);
    return 0;
}
