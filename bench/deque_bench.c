/*
 * Deque micro-benchmarks (and the first demo): uncontended owner push+pop,
 * uncontended steal, and steal throughput with the owner pushing while thieves
 * take. Every run also checks that each item came out exactly once.
 *
 *   deque-bench [items]        the Chase-Lev deque (default 20,000,000 items)
 *   deque-bench-split [items]  the same program built with WEFT_SPLIT_DEQUE
 * whichever deque configure chose for the workers (--enable-split-deque).
 *
 * For instruction counts, the measured loops are functions of their own:
 *   valgrind --tool=callgrind --toggle-collect='push_pop_loop*' bench/deque-bench 1000000
 * (likewise 'steal_loop*'), divided by the items.
 */
#include "config.h"

/* deque-bench measures Chase-Lev even when config.h picks the split deque:
 * it shares no deque with the library */
#ifdef WEFT_DEQUE_BENCH_CHASE_LEV
#undef WEFT_SPLIT_DEQUE
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/weft.h>

#include "deque/deque.h"
#include "base/alloc.h"

#define ITEM(i) ((void *)(uintptr_t)((i) + 1))

static weft__deque *new_deque(void)
{
    weft__deque *dq = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *dq);
    if (dq == NULL || weft__deque_init(dq, 1024) != 0) {
        fprintf(stderr, "deque-bench: out of memory\n");
        exit(1);
    }
    return dq;
}

static void free_deque(weft__deque *dq)
{
    weft__deque_destroy(dq);
    weft__free(dq);
}

#ifdef WEFT_SPLIT_DEQUE
#define DEQUE_NAME "split deque"
#else
#define DEQUE_NAME "Chase-Lev deque"
#endif

__attribute__((noinline)) static uint64_t push_pop_loop(weft__deque *dq, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        weft__deque_push_owner(dq, ITEM(i));
        sum += (uintptr_t)weft__deque_pop_owner(dq);
    }
    return sum;
}

__attribute__((noinline)) static uint64_t steal_loop(weft__deque *dq, uint64_t *got)
{
    uint64_t sum = 0;
    void *item;
    while (weft__deque_steal(dq, &item) == WEFT__STEAL_OK) {
        sum += (uintptr_t)item;
        ++*got;
    }
    return sum;
}

/* Owner alone: push one, pop one; the fork-join fast path. */
static void bench_push_pop(uint64_t n)
{
    weft__deque *dq = new_deque();
    weft_time t0 = weft_now();
    uint64_t sum = push_pop_loop(dq, n);
    weft_time t1 = weft_now();
    int ok = sum == n * (n + 1) / 2;
    printf("push+pop (owner alone)   %6.2f ns per pair   %s\n", (double)(t1 - t0) / (double)n,
           ok ? "exactly once" : "WRONG");
    free_deque(dq);
}

/* One thread steals a prefilled deque: the cost of the CAS path. */
static void bench_steal_alone(uint64_t n)
{
    weft__deque *dq = new_deque();
    for (uint64_t i = 0; i < n; i++)
        weft__deque_push_owner(dq, ITEM(i));
    weft__deque_share_owner(dq); /* the split deque's items were private */
    uint64_t got = 0;
    weft_time t0 = weft_now();
    uint64_t sum = steal_loop(dq, &got);
    weft_time t1 = weft_now();
    int ok = got == n && sum == n * (n + 1) / 2;
    printf("steal (uncontended)      %6.2f ns per steal  %s\n", (double)(t1 - t0) / (double)n,
           ok ? "exactly once" : "WRONG");
    free_deque(dq);
}

struct shared {
    weft__deque *dq;
    atomic_bool done;
    uint64_t sum[2], got[2], lost[2], asked[2];
};

struct thief_arg {
    struct shared *sh;
    int id;
};

static void *thief(void *p)
{
    struct thief_arg *a = p;
    struct shared *sh = a->sh;
    void *item;
    for (;;) {
        weft__steal_status st = weft__deque_steal(sh->dq, &item);
        if (st == WEFT__STEAL_OK) {
            sh->sum[a->id] += (uintptr_t)item;
            sh->got[a->id]++;
        } else if (st == WEFT__STEAL_LOST) {
            sh->lost[a->id]++;
        } else if (st == WEFT__STEAL_ASKED) {
            sh->asked[a->id]++;
        } else if (atomic_load_explicit(&sh->done, memory_order_acquire)) {
            break;
        }
    }
    return NULL;
}

/* The owner pushes n items (popping every 4th back) while `thieves` steal. */
static void bench_contended(uint64_t n, int thieves)
{
    struct shared sh = {.dq = new_deque()};
    struct thief_arg args[2];
    pthread_t tid[2];
    uint64_t sum = 0, got = 0;
    weft_time t0 = weft_now();
    for (int i = 0; i < thieves; i++) {
        args[i] = (struct thief_arg){&sh, i};
        pthread_create(&tid[i], NULL, thief, &args[i]);
    }
    for (uint64_t i = 0; i < n; i++) {
        while (weft__deque_push_owner(sh.dq, ITEM(i)) != 0)
            ;
        if ((i & 3) == 3) {
            void *item = weft__deque_pop_owner(sh.dq);
            if (item != NULL) {
                sum += (uintptr_t)item;
                got++;
            }
        }
    }
    for (void *item; (item = weft__deque_pop_owner(sh.dq)) != NULL; got++)
        sum += (uintptr_t)item;
    atomic_store_explicit(&sh.done, 1, memory_order_release);
    for (int i = 0; i < thieves; i++)
        pthread_join(tid[i], NULL);
    weft_time t1 = weft_now();
    uint64_t stolen = 0, lost = 0, asked = 0;
    for (int i = 0; i < thieves; i++) {
        sum += sh.sum[i];
        stolen += sh.got[i];
        lost += sh.lost[i];
        asked += sh.asked[i];
    }
    got += stolen;
    int ok = got == n && sum == n * (n + 1) / 2;
    double secs = (double)(t1 - t0) / 1e9;
    printf("owner + %d thie%s        %6.2f M items/s, %.1f M steals/s, %llu lost races, "
           "%llu asked  %s\n",
           thieves, thieves > 1 ? "ves" : "f  ", (double)n / secs / 1e6,
           (double)stolen / secs / 1e6, (unsigned long long)lost, (unsigned long long)asked,
           ok ? "exactly once" : "WRONG");
    free_deque(sh.dq);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    if (n == 0) {
        fprintf(stderr, "usage: deque-bench [items]\n");
        return 2;
    }
    printf("weft %s: %s, %llu items per run\n", weft_version(), DEQUE_NAME,
           (unsigned long long)n);
    bench_push_pop(n);
    bench_steal_alone(n);
    bench_contended(n, 1);
    bench_contended(n, 2);
    return 0;
}
