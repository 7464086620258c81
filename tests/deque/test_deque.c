/* The Chase-Lev deque (deque/chase_lev.h): every edge, one thread or two at a time. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "deque/chase_lev.h"
#include "base/alloc.h"
#include "tests/deque/race_wait.h"
#include "tests/suites.h"

/* Items are non-NULL pointers; encode small integers as 1-based pointers. */
#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((uintptr_t)(p) - 1)

static weft__deque_cl *new_deque(size_t capacity)
{
    weft__deque_cl *dq = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *dq);
    ck_assert_ptr_nonnull(dq);
    ck_assert_int_eq(weft__deque_cl_init(dq, capacity), 0);
    return dq;
}

static void free_deque(weft__deque_cl *dq)
{
    weft__deque_cl_destroy(dq);
    weft__free(dq);
}

START_TEST(test_init_rejects_null_and_oversized_capacity)
{
    weft__deque_cl dq;
    ck_assert_int_eq(weft__deque_cl_init(NULL, 16), EINVAL);
    ck_assert_int_eq(weft__deque_cl_init(&dq, WEFT__DEQUE_MAX_CAPACITY + 1), EINVAL);
    weft__deque_cl_destroy(NULL); /* harmless */
}
END_TEST

START_TEST(test_init_rounds_capacity_to_power_of_two)
{
    weft__deque_cl *dq = new_deque(0);
    ck_assert_uint_eq(weft__deque_cl_capacity(dq), 2);
    free_deque(dq);
    dq = new_deque(100);
    ck_assert_uint_eq(weft__deque_cl_capacity(dq), 128);
    free_deque(dq);
}
END_TEST

START_TEST(test_init_reports_enomem)
{
    weft__deque_cl dq;
    weft__alloc_fail_from(1);
    int rc = weft__deque_cl_init(&dq, 16);
    weft__alloc_fail_from(0);
    ck_assert_int_eq(rc, ENOMEM);
}
END_TEST

START_TEST(test_pop_from_empty_deque_returns_null)
{
    weft__deque_cl *dq = new_deque(4);
    ck_assert_ptr_null(weft__deque_cl_pop_owner(dq));
    ck_assert_ptr_null(weft__deque_cl_pop_owner(dq)); /* twice: bottom restored */
    ck_assert_uint_eq(weft__deque_cl_size(dq), 0);
    ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(7)), 0);
    ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(7));
    free_deque(dq);
}
END_TEST

START_TEST(test_steal_from_empty_deque_returns_empty)
{
    weft__deque_cl *dq = new_deque(4);
    void *item = ITEM(99);
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_EMPTY);
    ck_assert_ptr_eq(item, ITEM(99)); /* untouched */
    free_deque(dq);
}
END_TEST

START_TEST(test_one_item_is_taken_once)
{
    weft__deque_cl *dq = new_deque(4);
    void *item = NULL;
    ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(1)), 0);
    ck_assert_uint_eq(weft__deque_cl_size(dq), 1);
    ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(1));
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_EMPTY);

    ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(2)), 0);
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
    ck_assert_ptr_eq(item, ITEM(2));
    ck_assert_ptr_null(weft__deque_cl_pop_owner(dq));
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_EMPTY);
    free_deque(dq);
}
END_TEST

START_TEST(test_owner_pops_lifo_and_thief_steals_fifo)
{
    weft__deque_cl *dq = new_deque(8);
    void *item;
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(i)), 0);
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
    ck_assert_ptr_eq(item, ITEM(0));
    ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(5));
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
    ck_assert_ptr_eq(item, ITEM(1));
    ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(4));
    ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(3));
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
    ck_assert_ptr_eq(item, ITEM(2));
    ck_assert_ptr_null(weft__deque_cl_pop_owner(dq));
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_EMPTY);
    free_deque(dq);
}
END_TEST

START_TEST(test_indices_wrap_around_without_growth)
{
    weft__deque_cl *dq = new_deque(4);
    void *item;
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(round * 3 + i)), 0);
        ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
        ck_assert_ptr_eq(item, ITEM(round * 3));
        ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(round * 3 + 2));
        ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
        ck_assert_ptr_eq(item, ITEM(round * 3 + 1));
    }
    ck_assert_uint_eq(weft__deque_cl_capacity(dq), 4);
    free_deque(dq);
}
END_TEST

START_TEST(test_try_push_refuses_when_room_is_uncertain_and_changes_nothing)
{
    weft__deque_cl *dq = new_deque(4);
    void *item;
    for (int i = 0; i < 4; i++)
        ck_assert(weft__deque_cl_try_push_owner(dq, ITEM(i)));
    ck_assert(!weft__deque_cl_try_push_owner(dq, ITEM(99))); /* full */
    ck_assert_uint_eq(weft__deque_cl_size(dq), 4);
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
    ck_assert_ptr_eq(item, ITEM(0));
    /* a thief made room, but only a look at top shows it: try_push still
     * refuses, push_owner looks and fills the slot without growing */
    ck_assert(!weft__deque_cl_try_push_owner(dq, ITEM(99)));
    ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(4)), 0);
    ck_assert_uint_eq(weft__deque_cl_capacity(dq), 4);
    for (int i = 4; i >= 1; i--)
        ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(i));
    ck_assert_ptr_null(weft__deque_cl_pop_owner(dq));
    free_deque(dq);
}
END_TEST

START_TEST(test_growth_keeps_every_item_in_order)
{
    weft__deque_cl *dq = new_deque(2);
    void *item;
    /* a stolen prefix moves top, so the live range straddles the old buffer's end */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(i)), 0);
    ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
    ck_assert_ptr_eq(item, ITEM(0));
    for (int i = 3; i < 10000; i++)
        ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(i)), 0);
    ck_assert_uint_ge(weft__deque_cl_capacity(dq), 9999);
    ck_assert_uint_eq(weft__deque_cl_size(dq), 9999);
    for (int i = 1; i < 5000; i++) {
        ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
        ck_assert_ptr_eq(item, ITEM(i));
    }
    for (int i = 9999; i >= 5000; i--)
        ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(i));
    ck_assert_ptr_null(weft__deque_cl_pop_owner(dq));
    free_deque(dq);
}
END_TEST

/* A thief holding an old top may read a slot that growth did not copy
 * before its CAS fails: that slot must hold a value (NULL), not
 * uninitialised memory (GenMC's finding, models/genmc/). */
START_TEST(test_growth_leaves_no_slot_uninitialised)
{
    weft__deque_cl *dq = new_deque(4);
    void *item;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(i)), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft__deque_cl_steal(dq, &item), WEFT__STEAL_OK);
    for (int i = 4; i < 8; i++) /* the eighth finds [3, 7) filling 4 slots: grows to 8 */
        ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(i)), 0);
    ck_assert_uint_eq(weft__deque_cl_capacity(dq), 8);
    weft__deque_buf *buf = atomic_load(&dq->buf);
    for (int64_t i = 0; i <= buf->mask; i++) {
        void *slot = atomic_load_explicit(&buf->slots[i], memory_order_relaxed);
        if (i >= 3 && i < 8)
            ck_assert_ptr_eq(slot, ITEM(i)); /* copied or pushed */
        else
            ck_assert_ptr_null(slot); /* taken before growth: never written */
    }
    free_deque(dq);
}
END_TEST

START_TEST(test_failed_growth_returns_enomem_and_keeps_items)
{
    weft__deque_cl *dq = new_deque(4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(i)), 0);
    weft__alloc_fail_from(1);
    int rc = weft__deque_cl_push_owner(dq, ITEM(4));
    weft__alloc_fail_from(0);
    ck_assert_int_eq(rc, ENOMEM);
    ck_assert_uint_eq(weft__deque_cl_size(dq), 4);
    ck_assert_uint_eq(weft__deque_cl_capacity(dq), 4);
    ck_assert_int_eq(weft__deque_cl_push_owner(dq, ITEM(4)), 0); /* recovers */
    for (int i = 4; i >= 0; i--)
        ck_assert_ptr_eq(weft__deque_cl_pop_owner(dq), ITEM(i));
    free_deque(dq);
}
END_TEST

/*
 * The race on the last item: in each round the owner pushes one item and
 * pops while a thief steals. Exactly one of them must get it.
 */
enum { RACE_ROUNDS = 100000 };

struct race {
    weft__deque_cl *dq;
    atomic_int round;      /* owner: round r is open */
    atomic_int thief_done; /* thief: finished round r */
    unsigned char owner_got[RACE_ROUNDS];
    unsigned char thief_got[RACE_ROUNDS];
};

static void *race_thief(void *arg)
{
    struct race *r = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        race_wait_until_at_least(&r->round, round);
        /* one try is the race: LOST means the owner took it */
        void *item = NULL;
        weft__steal_status st = weft__deque_cl_steal(r->dq, &item);
        /* 2 marks a wrong item: it makes the round's sum wrong */
        r->thief_got[round] = st != WEFT__STEAL_OK ? 0 : item == ITEM(round) ? 1 : 2;
        atomic_store_explicit(&r->thief_done, round + 1, memory_order_release);
    }
    return NULL;
}

START_TEST(test_race_on_last_item_has_exactly_one_winner)
{
    struct race *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->dq = new_deque(2);
    pthread_t thief;
    ck_assert_int_eq(pthread_create(&thief, NULL, race_thief, r), 0);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        ck_assert_int_eq(weft__deque_cl_push_owner(r->dq, ITEM(round)), 0);
        atomic_store_explicit(&r->round, round, memory_order_release);
        /* a varying head start for the thief, so both sides win some rounds */
        for (volatile int spin = 0; spin < (round * 7) % 256; spin++)
            ;
        void *item = weft__deque_cl_pop_owner(r->dq);
        r->owner_got[round] = item == NULL ? 0 : item == ITEM(round) ? 1 : 2;
        race_wait_until_at_least(&r->thief_done, round + 1);
    }
    pthread_join(thief, NULL);
    int owner_wins = 0, thief_wins = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        ck_assert_msg(r->owner_got[round] + r->thief_got[round] == 1,
                      "round %d: owner %d thief %d", round, r->owner_got[round],
                      r->thief_got[round]);
        owner_wins += r->owner_got[round];
        thief_wins += r->thief_got[round];
    }
    ck_assert_uint_eq(weft__deque_cl_size(r->dq), 0);
    /* both sides win sometimes on 2 cores; printed, not asserted (scheduling) */
    printf("last-item race: owner won %d, thief won %d of %d\n", owner_wins, thief_wins,
           RACE_ROUNDS);
    free_deque(r->dq);
    free(r);
}
END_TEST

Suite *deque_suite(void)
{
    Suite *s = suite_create("deque");
    TCase *tc = tcase_create("single_thread");
    tcase_add_test(tc, test_init_rejects_null_and_oversized_capacity);
    tcase_add_test(tc, test_init_rounds_capacity_to_power_of_two);
    tcase_add_test(tc, test_init_reports_enomem);
    tcase_add_test(tc, test_pop_from_empty_deque_returns_null);
    tcase_add_test(tc, test_steal_from_empty_deque_returns_empty);
    tcase_add_test(tc, test_one_item_is_taken_once);
    tcase_add_test(tc, test_owner_pops_lifo_and_thief_steals_fifo);
    tcase_add_test(tc, test_indices_wrap_around_without_growth);
    tcase_add_test(tc, test_try_push_refuses_when_room_is_uncertain_and_changes_nothing);
    tcase_add_test(tc, test_growth_keeps_every_item_in_order);
    tcase_add_test(tc, test_growth_leaves_no_slot_uninitialised);
    tcase_add_test(tc, test_failed_growth_returns_enomem_and_keeps_items);
    suite_add_tcase(s, tc);
    TCase *race = tcase_create("race");
    /* both sides busy-wait: 18-26 s under TSan on 2 cores, more when loaded */
    tcase_set_timeout(race, 180);
    tcase_add_test(race, test_race_on_last_item_has_exactly_one_winner);
    suite_add_tcase(s, race);
    return s;
}
