/*
 * Deque stress, for either deque: one owner pushes and pops in random bursts
 * (and now and then shares everything, or takes a batch of its oldest items
 * as a thief's batch) while thieves steal; every item must be taken exactly
 * once. Each round uses a fresh deque of capacity 2, so
 * growth races with stealing over and over (the crossbeam-deque
 * CVE-2021-32810 shape). Size: $WEFT_STRESS_ITEMS (default 20,000,000;
 * `make check-stress` runs 10^8). Seeded: $WEFT_TEST_SEED.
 *
 * A template: the including file defines DQ_T (the deque type), DQ(op) (its
 * operation `op`), DQ_STRESS_SUITE and DQ_STRESS_NAME (the suite's function
 * and name), and includes its deque's header and this file once. With
 * DQ_FRAMES defined the deque holds frames (deque/frame.h) whose words are
 * all derived from the item's number, and every copy that comes out must
 * be whole: a torn one (words of two frames) fails the test.
 * DQ_STRESS_ITEMS sets the default size.
 *
 * Old deques are freed while thieves run, guarded by one hazard pointer per
 * thief: a thief announces the deque it will use and re-checks that it is
 * still current; the owner frees a retired deque only when no thief
 * announces it. All seq_cst, so either the owner's scan sees the
 * announcement or the thief's re-check sees the new deque.
 */
#ifndef WEFT_TESTS_DEQUE_STRESS_H
#define WEFT_TESTS_DEQUE_STRESS_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/alloc.h"
#include "tests/suites.h"

enum { THIEVES = 3, ROUND_ITEMS = 4096, MAX_RETIRED = 64 };

#ifndef DQ_STRESS_ITEMS
#define DQ_STRESS_ITEMS 20000000
#endif

/* Item i (1..items) goes in and comes out as a number; 0 for a copy that is
 * no item (a torn frame). */
#ifdef DQ_FRAMES
static int dq_push(DQ_T *dq, uint64_t i)
{
    weft__deque_frame f;
    for (unsigned k = 0; k < WEFT__DEQUE_FRAME_WORDS; k++)
        f.w[k] = (void *)(uintptr_t)(i * WEFT__DEQUE_FRAME_WORDS + k);
    return DQ(push_owner)(dq, &f);
}

static uint64_t dq_number(const weft__deque_frame *f)
{
    uint64_t i = (uintptr_t)f->w[0] / WEFT__DEQUE_FRAME_WORDS;
    for (unsigned k = 0; k < WEFT__DEQUE_FRAME_WORDS; k++)
        if ((uintptr_t)f->w[k] != i * WEFT__DEQUE_FRAME_WORDS + k)
            return 0;
    return i;
}

/* 0 when empty, else the number of the frame popped */
static int dq_pop(DQ_T *dq, uint64_t *i)
{
    weft__deque_frame f;
    if (!DQ(pop_owner)(dq, &f))
        return 0;
    *i = dq_number(&f);
    return 1;
}

/* The owner's batch of at most max of the oldest frames out to numbers[]. */
static size_t dq_take_oldest(DQ_T *dq, uint64_t *numbers, size_t max)
{
    weft__deque_frame batch[64];
    size_t n = DQ(take_oldest_owner)(dq, batch, max < 64 ? max : 64);
    for (size_t k = 0; k < n; k++)
        numbers[k] = dq_number(&batch[k]);
    return n;
}

static weft__steal_status dq_steal(DQ_T *dq, uint64_t *i)
{
    weft__deque_frame f;
    weft__steal_status st = DQ(steal)(dq, &f);
    if (st == WEFT__STEAL_OK)
        *i = dq_number(&f);
    return st;
}
#else
static int dq_push(DQ_T *dq, uint64_t i)
{
    return DQ(push_owner)(dq, (void *)(uintptr_t)i);
}

static int dq_pop(DQ_T *dq, uint64_t *i)
{
    void *item = DQ(pop_owner)(dq);
    *i = (uintptr_t)item;
    return item != NULL;
}

static size_t dq_take_oldest(DQ_T *dq, uint64_t *numbers, size_t max)
{
    void *batch[64];
    size_t n = DQ(take_oldest_owner)(dq, batch, max < 64 ? max : 64);
    for (size_t k = 0; k < n; k++)
        numbers[k] = (uintptr_t)batch[k];
    return n;
}

static weft__steal_status dq_steal(DQ_T *dq, uint64_t *i)
{
    void *item;
    weft__steal_status st = DQ(steal)(dq, &item);
    if (st == WEFT__STEAL_OK)
        *i = (uintptr_t)item;
    return st;
}
#endif

struct stress {
    uint64_t items;
    _Atomic unsigned char *taken;   /* per item: how many times it was taken */
    atomic_ullong torn;             /* copies that were no item (frames) */
    _Atomic(DQ_T *) current;
    _Atomic(DQ_T *) hazard[THIEVES];
    /* the thieves' steal epochs: growth frees a replaced buffer early
     * (deque/common.h), and a thief reading a freed one is ASan's to find */
    struct {
        alignas(64) _Atomic uint64_t epoch;
    } epochs[THIEVES];
    weft__deque_readers readers;
    atomic_bool done;
    uint64_t stolen[THIEVES], lost[THIEVES], asked[THIEVES];
};

struct thief_arg {
    struct stress *st;
    int id;
};

static void take(struct stress *st, uint64_t number)
{
    if (number == 0) {
        atomic_fetch_add_explicit(&st->torn, 1, memory_order_relaxed);
        return;
    }
    uint64_t i = number - 1;
    /* an index out of range is counted as a duplicate of item 0: the check fails */
    atomic_fetch_add_explicit(&st->taken[i < st->items ? i : 0], i < st->items ? 1 : 2,
                              memory_order_relaxed);
}

static DQ_T *protect(struct stress *st, int id)
{
    DQ_T *dq = atomic_load(&st->current);
    for (;;) {
        atomic_store(&st->hazard[id], dq);
        DQ_T *again = atomic_load(&st->current);
        if (again == dq)
            return dq;
        dq = again;
    }
}

static void *thief(void *p)
{
    struct thief_arg *a = p;
    struct stress *st = a->st;
    while (!atomic_load_explicit(&st->done, memory_order_acquire)) {
        DQ_T *dq = protect(st, a->id);
        if (dq == NULL)
            continue;
        uint64_t item;
        weft__deque_reader_enter(&st->epochs[a->id].epoch);
        weft__steal_status status = dq_steal(dq, &item);
        weft__deque_reader_exit(&st->epochs[a->id].epoch);
        switch (status) {
        case WEFT__STEAL_OK:
            take(st, item);
            st->stolen[a->id]++;
            break;
        case WEFT__STEAL_LOST:
            st->lost[a->id]++;
            break;
        case WEFT__STEAL_ASKED:
            st->asked[a->id]++;
            break;
        case WEFT__STEAL_EMPTY:
            break;
        }
    }
    atomic_store(&st->hazard[a->id], NULL);
    return NULL;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int announced(struct stress *st, DQ_T *dq)
{
    for (int i = 0; i < THIEVES; i++)
        if (atomic_load(&st->hazard[i]) == dq)
            return 1;
    return 0;
}

/* Free the retired deques no thief announces; returns how many are left. */
static int reclaim(struct stress *st, DQ_T **retired, int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (announced(st, retired[i])) {
            retired[kept++] = retired[i];
        } else {
            DQ(destroy)(retired[i]);
            weft__free(retired[i]);
        }
    }
    return kept;
}

START_TEST(test_stress_every_item_taken_exactly_once)
{
    struct stress *st = calloc(1, sizeof *st);
    ck_assert_ptr_nonnull(st);
    st->items = weft_test_env_u64("WEFT_STRESS_ITEMS", DQ_STRESS_ITEMS);
    st->taken = calloc(st->items, 1);
    ck_assert_ptr_nonnull(st->taken);
    uint64_t rng = weft_test_seed() | 1;
    st->readers = (weft__deque_readers){&st->epochs[0].epoch, sizeof st->epochs[0], THIEVES};

    pthread_t tids[THIEVES];
    struct thief_arg args[THIEVES];
    for (int i = 0; i < THIEVES; i++) {
        args[i] = (struct thief_arg){st, i};
        ck_assert_int_eq(pthread_create(&tids[i], NULL, thief, &args[i]), 0);
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    DQ_T *retired[MAX_RETIRED];
    int nretired = 0, push_errors = 0;
    uint64_t popped = 0, next = 0, batched = 0;
    while (next < st->items) {
        DQ_T *dq = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *dq);
        ck_assert_ptr_nonnull(dq);
        ck_assert_int_eq(DQ(init)(dq, 2), 0);
        DQ(set_readers)(dq, &st->readers);
        atomic_store(&st->current, dq);
        uint64_t round_end = next + ROUND_ITEMS < st->items ? next + ROUND_ITEMS : st->items;
        while (next < round_end) {
            uint64_t r = rng_next(&rng);
            /* mostly short bursts, sometimes long ones that grow the buffer */
            uint64_t burst = (r & 7) == 0 ? 1 + (r >> 8) % 1024 : 1 + (r >> 8) % 8;
            for (uint64_t k = 0; k < burst && next < round_end; k++)
                push_errors += dq_push(dq, ++next) != 0;
            /* now and then everything public: pops take it back by halves */
            if ((r & 0xf0) == 0)
                DQ(share_owner)(dq);
            /* now and then a batch of the oldest for a thief, against the
             * thieves' steals of the oldest */
            if ((r & 0xf00) == 0) {
                uint64_t batch[64];
                size_t n = dq_take_oldest(dq, batch, 1 + (r >> 16) % 64);
                for (size_t k = 0; k < n; k++)
                    take(st, batch[k]);
                popped += n;
                batched += n;
            }
            uint64_t pops = (r >> 32) % (burst + 2);
            for (uint64_t k = 0; k < pops; k++) {
                uint64_t item;
                if (!dq_pop(dq, &item))
                    break;
                take(st, item);
                popped++;
            }
        }
        for (uint64_t item; dq_pop(dq, &item); popped++)
            take(st, item);
        /* retire: thieves may still hold it; free when no hazard names it */
        nretired = reclaim(st, retired, nretired);
        ck_assert_int_lt(nretired, MAX_RETIRED);
        retired[nretired++] = dq;
    }
    atomic_store(&st->current, NULL);
    atomic_store_explicit(&st->done, 1, memory_order_release);
    for (int i = 0; i < THIEVES; i++)
        pthread_join(tids[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nretired = reclaim(st, retired, nretired);

    uint64_t missing = 0, duplicated = 0, stolen = 0, lost = 0, asked = 0;
    for (uint64_t i = 0; i < st->items; i++) {
        unsigned char n = atomic_load_explicit(&st->taken[i], memory_order_relaxed);
        missing += n == 0;
        duplicated += n > 1;
    }
    for (int i = 0; i < THIEVES; i++) {
        stolen += st->stolen[i];
        lost += st->lost[i];
        asked += st->asked[i];
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    unsigned long long torn = atomic_load(&st->torn);
    printf("%s: %llu items in %.2f s: %llu popped (%llu in batches), %llu stolen, "
           "%llu lost races, %llu asked, %llu missing, %llu duplicated%s\n",
           DQ_STRESS_NAME, (unsigned long long)st->items, secs, (unsigned long long)popped,
           (unsigned long long)batched,
           (unsigned long long)stolen, (unsigned long long)lost, (unsigned long long)asked,
           (unsigned long long)missing, (unsigned long long)duplicated,
#ifdef DQ_FRAMES
           torn == 0 ? ", every frame whole" : ", TORN FRAMES TAKEN"
#else
           ""
#endif
    );
    fflush(stdout);
    ck_assert_int_eq(push_errors, 0);
    ck_assert_int_eq(nretired, 0);
    ck_assert_uint_eq(missing, 0);
    ck_assert_uint_eq(duplicated, 0);
    ck_assert_uint_eq(torn, 0);
    ck_assert_uint_eq(popped + stolen, st->items);
    free((void *)st->taken);
    free(st);
}
END_TEST

Suite *DQ_STRESS_SUITE(void)
{
    Suite *s = suite_create(DQ_STRESS_NAME);
    TCase *tc = tcase_create("stress");
    /* the size is bounded by $WEFT_STRESS_ITEMS; the timeout only catches a hang */
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_stress_every_item_taken_exactly_once);
    suite_add_tcase(s, tc);
    return s;
}

#endif
