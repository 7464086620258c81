/* The frame deques (deque/frame.h): both deques with four-word frames in
 * their slots. The protocol's edges are those of test_deque.c and
 * test_split_deque.c (the code is the same); these tests show that frames
 * come out whole, in order, exactly once, through growth, wrap-around,
 * sharing and the race on the last item, and that thieves copying slots
 * the owner keeps rewriting keep only the frame their CAS claimed. Most
 * run on both deques (a loop test over `kinds`). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deque/frame.h"
#include "base/alloc.h"
#include "tests/deque/race_wait.h"
#include "tests/suites.h"

/* Frame `v`: every word derived from v, so a copy made of two frames shows. */
static weft__deque_frame frame_of(uint64_t v)
{
    weft__deque_frame f;
    for (unsigned k = 0; k < WEFT__DEQUE_FRAME_WORDS; k++)
        f.w[k] = (void *)(uintptr_t)(v * WEFT__DEQUE_FRAME_WORDS + k);
    return f;
}

/* v when every word of `f` is frame v's, else UINT64_MAX (torn or foreign). */
static uint64_t value_of(const weft__deque_frame *f)
{
    uint64_t v = (uintptr_t)f->w[0] / WEFT__DEQUE_FRAME_WORDS;
    for (unsigned k = 0; k < WEFT__DEQUE_FRAME_WORDS; k++)
        if ((uintptr_t)f->w[k] != v * WEFT__DEQUE_FRAME_WORDS + k)
            return UINT64_MAX;
    return v;
}

/* The two frame deques behind one set of operations. */
struct kind {
    const char *name;
    size_t size;
    int (*init)(void *, size_t);
    void (*destroy)(void *);
    int (*push)(void *, const weft__deque_frame *);
    bool (*try_push)(void *, const weft__deque_frame *);
    bool (*pop)(void *, weft__deque_frame *);
    weft__steal_status (*steal)(void *, weft__deque_frame *);
    void (*share)(void *);
    size_t (*count)(void *);
    size_t (*capacity)(void *);
};

#define KIND(name_, P)                                                                             \
    static int P##init(void *d, size_t c) { return weft__deque_frames_##name_##_init(d, c); }      \
    static void P##destroy(void *d) { weft__deque_frames_##name_##_destroy(d); }                   \
    static int P##push(void *d, const weft__deque_frame *f)                                        \
    {                                                                                              \
        return weft__deque_frames_##name_##_push_owner(d, f);                                      \
    }                                                                                              \
    static bool P##try_push(void *d, const weft__deque_frame *f)                                   \
    {                                                                                              \
        return weft__deque_frames_##name_##_try_push_owner(d, f);                                  \
    }                                                                                              \
    static bool P##pop(void *d, weft__deque_frame *f)                                              \
    {                                                                                              \
        return weft__deque_frames_##name_##_pop_owner(d, f);                                       \
    }                                                                                              \
    static weft__steal_status P##steal(void *d, weft__deque_frame *f)                              \
    {                                                                                              \
        return weft__deque_frames_##name_##_steal(d, f);                                           \
    }                                                                                              \
    static void P##share(void *d) { weft__deque_frames_##name_##_share_owner(d); }                 \
    static size_t P##count(void *d) { return weft__deque_frames_##name_##_size(d); }               \
    static size_t P##capacity(void *d) { return weft__deque_frames_##name_##_capacity(d); }
KIND(split, split_)
KIND(cl, cl_)
#undef KIND

#define KIND_ENTRY(label, T, P)                                                                    \
    {                                                                                              \
        label, sizeof(T), P##init, P##destroy, P##push, P##try_push, P##pop, P##steal,             \
            P##share, P##count, P##capacity                                                        \
    }
static const struct kind kinds[] = {
    KIND_ENTRY("split", weft__deque_frames_split, split_),
    KIND_ENTRY("chase-lev", weft__deque_frames_cl, cl_),
};
#undef KIND_ENTRY
enum { KINDS = sizeof kinds / sizeof kinds[0] };

static void *new_deque(const struct kind *k, size_t capacity)
{
    void *dq = weft__alloc_aligned(WEFT__CACHE_LINE, k->size);
    ck_assert_ptr_nonnull(dq);
    ck_assert_int_eq(k->init(dq, capacity), 0);
    return dq;
}

static void free_deque(const struct kind *k, void *dq)
{
    k->destroy(dq);
    weft__free(dq);
}

static void push_range(const struct kind *k, void *dq, uint64_t from, uint64_t to)
{
    for (uint64_t v = from; v < to; v++) {
        weft__deque_frame f = frame_of(v);
        ck_assert_int_eq(k->push(dq, &f), 0);
    }
}

static void pop_is(const struct kind *k, void *dq, uint64_t want)
{
    weft__deque_frame f = frame_of(999999);
    ck_assert_msg(k->pop(dq, &f), "%s: pop found nothing, wanted frame %llu", k->name,
                  (unsigned long long)want);
    ck_assert_uint_eq(value_of(&f), want);
}

static void pop_empty(const struct kind *k, void *dq)
{
    weft__deque_frame f = frame_of(999999);
    ck_assert(!k->pop(dq, &f));
    ck_assert_uint_eq(value_of(&f), 999999); /* untouched */
}

static void steal_is(const struct kind *k, void *dq, uint64_t want)
{
    weft__deque_frame f = frame_of(999999);
    ck_assert_int_eq(k->steal(dq, &f), WEFT__STEAL_OK);
    ck_assert_uint_eq(value_of(&f), want);
}

static void steal_fails(const struct kind *k, void *dq, weft__steal_status want)
{
    weft__deque_frame f = frame_of(999999);
    ck_assert_int_eq(k->steal(dq, &f), want);
    ck_assert_uint_eq(value_of(&f), 999999); /* untouched */
}

START_TEST(test_frames_init_rejects_bad_arguments_and_reports_enomem)
{
    const struct kind *k = &kinds[_i];
    ck_assert_int_eq(k->init(NULL, 16), EINVAL);
    void *dq = weft__alloc_aligned(WEFT__CACHE_LINE, k->size);
    ck_assert_ptr_nonnull(dq);
    ck_assert_int_eq(k->init(dq, WEFT__DEQUE_MAX_CAPACITY + 1), EINVAL);
    k->destroy(NULL); /* harmless */
    weft__alloc_fail_from(1);
    int rc = k->init(dq, 16);
    weft__alloc_fail_from(0);
    ck_assert_int_eq(rc, ENOMEM);
    ck_assert_int_eq(k->init(dq, 100), 0);
    ck_assert_uint_eq(k->capacity(dq), 128);
    free_deque(k, dq);
}
END_TEST

/* The word count is checked where a deque of any width is made. */
START_TEST(test_words_init_rejects_zero_and_too_many_words)
{
    weft__deque_split *s = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *s);
    weft__deque_cl *c = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *c);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(weft__deque_split_init_words(s, 4, 0), EINVAL);
    ck_assert_int_eq(weft__deque_split_init_words(s, 4, WEFT__DEQUE_MAX_WORDS + 1), EINVAL);
    ck_assert_int_eq(weft__deque_cl_init_words(c, 4, 0), EINVAL);
    ck_assert_int_eq(weft__deque_cl_init_words(c, 4, WEFT__DEQUE_MAX_WORDS + 1), EINVAL);
    ck_assert_int_eq(weft__deque_split_init_words(NULL, 4, 2), EINVAL);
    ck_assert_int_eq(weft__deque_cl_init_words(NULL, 4, 2), EINVAL);
    weft__free(s);
    weft__free(c);
}
END_TEST

START_TEST(test_frames_pop_from_empty_deque_leaves_the_frame_untouched)
{
    const struct kind *k = &kinds[_i];
    void *dq = new_deque(k, 4);
    pop_empty(k, dq);
    pop_empty(k, dq);
    steal_fails(k, dq, WEFT__STEAL_EMPTY);
    push_range(k, dq, 7, 8);
    pop_is(k, dq, 7);
    pop_empty(k, dq);
    ck_assert_uint_eq(k->count(dq), 0);
    free_deque(k, dq);
}
END_TEST

/* Emptiness is pop's answer, not a NULL word: a frame of NULLs is an item. */
START_TEST(test_frames_a_frame_of_null_words_is_an_item)
{
    const struct kind *k = &kinds[_i];
    void *dq = new_deque(k, 4);
    weft__deque_frame zero = {{NULL}};
    ck_assert_int_eq(k->push(dq, &zero), 0);
    ck_assert_int_eq(k->push(dq, &zero), 0);
    weft__deque_frame out = frame_of(5);
    ck_assert(k->pop(dq, &out));
    ck_assert_mem_eq(&out, &zero, sizeof out);
    k->share(dq);
    out = frame_of(5);
    ck_assert_int_eq(k->steal(dq, &out), WEFT__STEAL_OK);
    ck_assert_mem_eq(&out, &zero, sizeof out);
    pop_empty(k, dq);
    free_deque(k, dq);
}
END_TEST

START_TEST(test_frames_owner_pops_lifo_and_thief_steals_fifo_every_word_intact)
{
    const struct kind *k = &kinds[_i];
    void *dq = new_deque(k, 8);
    push_range(k, dq, 1, 7);
    k->share(dq);
    ck_assert_uint_eq(k->count(dq), 6);
    steal_is(k, dq, 1);
    steal_is(k, dq, 2);
    pop_is(k, dq, 6);
    pop_is(k, dq, 5);
    steal_is(k, dq, 3);
    pop_is(k, dq, 4);
    pop_empty(k, dq);
    steal_fails(k, dq, WEFT__STEAL_EMPTY);
    free_deque(k, dq);
}
END_TEST

START_TEST(test_frames_indices_wrap_around_without_growth)
{
    const struct kind *k = &kinds[_i];
    void *dq = new_deque(k, 4);
    for (uint64_t round = 1; round <= 1000; round++) {
        push_range(k, dq, round * 3, round * 3 + 3);
        k->share(dq);
        steal_is(k, dq, round * 3);
        pop_is(k, dq, round * 3 + 2);
        steal_is(k, dq, round * 3 + 1);
        pop_empty(k, dq);
    }
    ck_assert_uint_eq(k->capacity(dq), 4);
    free_deque(k, dq);
}
END_TEST

START_TEST(test_frames_try_push_refuses_when_room_is_uncertain_and_changes_nothing)
{
    const struct kind *k = &kinds[_i];
    void *dq = new_deque(k, 4);
    for (uint64_t v = 1; v <= 4; v++) {
        weft__deque_frame f = frame_of(v);
        ck_assert(k->try_push(dq, &f));
    }
    weft__deque_frame extra = frame_of(99);
    ck_assert(!k->try_push(dq, &extra)); /* full */
    ck_assert_uint_eq(k->count(dq), 4);
    k->share(dq);
    steal_is(k, dq, 1);
    ck_assert(!k->try_push(dq, &extra)); /* room only a look at top shows */
    push_range(k, dq, 5, 6);
    ck_assert_uint_eq(k->capacity(dq), 4);
    for (uint64_t v = 5; v >= 2; v--)
        pop_is(k, dq, v);
    pop_empty(k, dq);
    free_deque(k, dq);
}
END_TEST

/* Growth copies every word of every live frame, wherever the live range
 * straddles the old buffer's end. */
START_TEST(test_frames_growth_keeps_every_frame_whole_and_in_order)
{
    const struct kind *k = &kinds[_i];
    void *dq = new_deque(k, 2);
    push_range(k, dq, 1, 4);
    k->share(dq);
    steal_is(k, dq, 1);
    push_range(k, dq, 4, 10000); /* grows from 2 to 16384 */
    k->share(dq);
    ck_assert_uint_ge(k->capacity(dq), 9998);
    ck_assert_uint_eq(k->count(dq), 9998);
    for (uint64_t v = 2; v < 5000; v++)
        steal_is(k, dq, v);
    for (uint64_t v = 9999; v >= 5000; v--)
        pop_is(k, dq, v);
    pop_empty(k, dq);
    steal_fails(k, dq, WEFT__STEAL_EMPTY);
    free_deque(k, dq);
}
END_TEST

START_TEST(test_frames_failed_growth_returns_enomem_and_keeps_frames)
{
    const struct kind *k = &kinds[_i];
    void *dq = new_deque(k, 4);
    push_range(k, dq, 1, 5);
    weft__alloc_fail_from(1);
    weft__deque_frame f = frame_of(5);
    int rc = k->push(dq, &f);
    weft__alloc_fail_from(0);
    ck_assert_int_eq(rc, ENOMEM);
    ck_assert_uint_eq(k->count(dq), 4);
    ck_assert_uint_eq(k->capacity(dq), 4);
    ck_assert_int_eq(k->push(dq, &f), 0); /* recovers */
    for (uint64_t v = 5; v >= 1; v--)
        pop_is(k, dq, v);
    pop_empty(k, dq);
    free_deque(k, dq);
}
END_TEST

/* The split deque's own protocol, with frames: private frames are counted
 * but not stolen; a request is answered by a push (older half shared) and
 * the pop takes the public part back by halves. */
START_TEST(test_frames_split_shares_on_request_and_takes_back_by_halves)
{
    weft__deque_frames_split *fd = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *fd);
    ck_assert_ptr_nonnull(fd);
    ck_assert_int_eq(weft__deque_frames_split_init(fd, 8), 0);
    const struct kind *k = &kinds[0];
    push_range(k, fd, 1, 4);
    steal_fails(k, fd, WEFT__STEAL_ASKED);
    ck_assert_uint_eq(weft__deque_split_public_size(&fd->dq), 0);
    push_range(k, fd, 4, 5); /* 4 private: the older 2 go public */
    ck_assert_uint_eq(weft__deque_split_public_size(&fd->dq), 2);
    steal_is(k, fd, 1);
    pop_is(k, fd, 4);
    pop_is(k, fd, 3);
    pop_is(k, fd, 2); /* took the public part back: the last one by CAS */
    pop_empty(k, fd);
    steal_fails(k, fd, WEFT__STEAL_EMPTY);
    weft__deque_frames_split_destroy(fd);
    weft__free(fd);
}
END_TEST

/* The runtime's choice (deque/frame.h's unsuffixed names) works too. */
START_TEST(test_frames_default_deque_pushes_pops_and_steals)
{
    weft__deque_frames *fd = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *fd);
    ck_assert_ptr_nonnull(fd);
    ck_assert_int_eq(weft__deque_frames_init(fd, 2), 0);
    for (uint64_t v = 1; v <= 3; v++) {
        weft__deque_frame f = frame_of(v);
        ck_assert_int_eq(weft__deque_frames_push_owner(fd, &f), 0);
    }
    weft__deque_frame f = frame_of(4);
    ck_assert(weft__deque_frames_try_push_owner(fd, &f));
    weft__deque_frames_share_owner(fd);
    ck_assert_uint_eq(weft__deque_frames_size(fd), 4);
    ck_assert_uint_eq(weft__deque_frames_capacity(fd), 4);
    ck_assert_int_eq(weft__deque_frames_steal(fd, &f), WEFT__STEAL_OK);
    ck_assert_uint_eq(value_of(&f), 1);
    for (uint64_t v = 4; v >= 2; v--) {
        ck_assert(weft__deque_frames_pop_owner(fd, &f));
        ck_assert_uint_eq(value_of(&f), v);
    }
    ck_assert(!weft__deque_frames_pop_owner(fd, &f));
    weft__deque_frames_destroy(fd);
    weft__free(fd);
}
END_TEST

/*
 * The race on the last item, with frames: each round the owner pushes
 * frame r into the same slot the previous rounds used (capacity 2), makes
 * it stealable and pops while a thief steals. Exactly one of them must get
 * it, and whoever does must hold frame r whole: the thief copied it
 * before its CAS while the owner may already be writing the next round's
 * words.
 */
enum { RACE_ROUNDS = 50000 };

struct race {
    const struct kind *k;
    void *dq;
    atomic_int round;      /* owner: round r is open */
    atomic_int thief_done; /* thief: finished round r */
    unsigned char owner_got[RACE_ROUNDS];
    unsigned char thief_got[RACE_ROUNDS];
};

/* 0: nothing; 1: frame `round` whole; 2: anything else */
static unsigned char verdict(bool got, const weft__deque_frame *f, int round)
{
    return !got ? 0 : value_of(f) == (uint64_t)round + 1 ? 1 : 2;
}

static void *race_thief(void *arg)
{
    struct race *r = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        race_wait_until_at_least(&r->round, round);
        weft__deque_frame f;
        weft__steal_status st = r->k->steal(r->dq, &f);
        r->thief_got[round] = verdict(st == WEFT__STEAL_OK, &f, round);
        atomic_store_explicit(&r->thief_done, round + 1, memory_order_release);
    }
    return NULL;
}

START_TEST(test_frames_race_on_last_item_has_one_winner_with_the_whole_frame)
{
    struct race *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->k = &kinds[_i];
    r->dq = new_deque(r->k, 2);
    pthread_t thief;
    ck_assert_int_eq(pthread_create(&thief, NULL, race_thief, r), 0);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        push_range(r->k, r->dq, (uint64_t)round + 1, (uint64_t)round + 2);
        r->k->share(r->dq);
        atomic_store_explicit(&r->round, round, memory_order_release);
        for (volatile int spin = 0; spin < (round * 7) % 256; spin++)
            ;
        weft__deque_frame f;
        bool got = r->k->pop(r->dq, &f);
        r->owner_got[round] = verdict(got, &f, round);
        race_wait_until_at_least(&r->thief_done, round + 1);
    }
    pthread_join(thief, NULL);
    int owner_wins = 0, thief_wins = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        ck_assert_msg(r->owner_got[round] + r->thief_got[round] == 1,
                      "%s round %d: owner %d thief %d", r->k->name, round, r->owner_got[round],
                      r->thief_got[round]);
        owner_wins += r->owner_got[round];
        thief_wins += r->thief_got[round];
    }
    ck_assert_uint_eq(r->k->count(r->dq), 0);
    printf("%s frame last-item race: owner won %d, thief won %d of %d\n", r->k->name,
           owner_wins, thief_wins, RACE_ROUNDS);
    free_deque(r->k, r->dq);
    free(r);
}
END_TEST

/*
 * Many frames through one small deque that never grows: the owner keeps
 * rewriting the same four slots (bursts of pushes, shared at once, and
 * pops) while thieves copy them. A thief whose kept copy is not the frame
 * its CAS claimed (copied after the CAS, or before the owner's words
 * landed) takes a frame twice or a torn one. Thieves record, the test
 * asserts after the join.
 */
enum { REUSE_THIEVES = 2, REUSE_FRAMES = 500000, REUSE_CAPACITY = 4 };

struct reuse {
    const struct kind *k;
    void *dq;
    atomic_bool done;
    _Atomic unsigned char taken[REUSE_FRAMES + 1]; /* per frame: times taken */
    atomic_ullong torn, stolen;
};

static void reuse_take(struct reuse *r, const weft__deque_frame *f)
{
    uint64_t v = value_of(f);
    if (v == 0 || v > REUSE_FRAMES)
        atomic_fetch_add_explicit(&r->torn, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&r->taken[v], 1, memory_order_relaxed);
}

static void *reuse_thief(void *arg)
{
    struct reuse *r = arg;
    while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
        weft__deque_frame f;
        if (r->k->steal(r->dq, &f) == WEFT__STEAL_OK) {
            reuse_take(r, &f);
            atomic_fetch_add_explicit(&r->stolen, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

START_TEST(test_frames_thieves_keep_only_the_frame_they_claimed_in_reused_slots)
{
    struct reuse *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    r->k = &kinds[_i];
    r->dq = new_deque(r->k, REUSE_CAPACITY);
    pthread_t tids[REUSE_THIEVES];
    for (int i = 0; i < REUSE_THIEVES; i++)
        ck_assert_int_eq(pthread_create(&tids[i], NULL, reuse_thief, r), 0);
    uint64_t rng = weft_test_seed() | 1, next = 0;
    int push_errors = 0;
    while (next < REUSE_FRAMES) {
        weft__deque_frame f;
        /* at most one left before a burst of up to three: never full */
        while (r->k->count(r->dq) > 1 && r->k->pop(r->dq, &f))
            reuse_take(r, &f);
        uint64_t burst = 1 + weft__rng_next(&rng) % 3;
        for (uint64_t b = 0; b < burst && next < REUSE_FRAMES; b++) {
            f = frame_of(++next);
            push_errors += r->k->push(r->dq, &f) != 0;
        }
        r->k->share(r->dq);
        /* a task's worth of work: the thieves' chance */
        for (volatile uint64_t spin = weft__rng_next(&rng) % 128; spin > 0; spin--)
            ;
        if (weft__rng_next(&rng) % 2 && r->k->pop(r->dq, &f))
            reuse_take(r, &f);
    }
    for (weft__deque_frame f; r->k->pop(r->dq, &f);)
        reuse_take(r, &f);
    atomic_store_explicit(&r->done, 1, memory_order_release);
    for (int i = 0; i < REUSE_THIEVES; i++)
        pthread_join(tids[i], NULL);
    uint64_t missing = 0, duplicated = 0, torn = atomic_load(&r->torn);
    for (uint64_t v = 1; v <= REUSE_FRAMES; v++) {
        missing += r->taken[v] == 0;
        duplicated += r->taken[v] > 1;
    }
    printf("%s frames in reused slots: %d frames, %llu stolen, %llu missing, %llu duplicated, "
           "%llu torn, capacity %zu\n",
           r->k->name, REUSE_FRAMES, (unsigned long long)atomic_load(&r->stolen),
           (unsigned long long)missing, (unsigned long long)duplicated,
           (unsigned long long)torn, r->k->capacity(r->dq));
    ck_assert_int_eq(push_errors, 0);
    ck_assert_uint_eq(torn, 0);
    ck_assert_uint_eq(missing, 0);
    ck_assert_uint_eq(duplicated, 0);
    ck_assert_uint_eq(r->k->capacity(r->dq), REUSE_CAPACITY); /* the slots were reused */
    free_deque(r->k, r->dq);
    free(r);
}
END_TEST

Suite *frame_deque_suite(void)
{
    Suite *s = suite_create("frame_deque");
    TCase *tc = tcase_create("single_thread");
    tcase_add_loop_test(tc, test_frames_init_rejects_bad_arguments_and_reports_enomem, 0, KINDS);
    tcase_add_test(tc, test_words_init_rejects_zero_and_too_many_words);
    tcase_add_loop_test(tc, test_frames_pop_from_empty_deque_leaves_the_frame_untouched, 0,
                        KINDS);
    tcase_add_loop_test(tc, test_frames_a_frame_of_null_words_is_an_item, 0, KINDS);
    tcase_add_loop_test(tc, test_frames_owner_pops_lifo_and_thief_steals_fifo_every_word_intact,
                        0, KINDS);
    tcase_add_loop_test(tc, test_frames_indices_wrap_around_without_growth, 0, KINDS);
    tcase_add_loop_test(tc,
                        test_frames_try_push_refuses_when_room_is_uncertain_and_changes_nothing,
                        0, KINDS);
    tcase_add_loop_test(tc, test_frames_growth_keeps_every_frame_whole_and_in_order, 0, KINDS);
    tcase_add_loop_test(tc, test_frames_failed_growth_returns_enomem_and_keeps_frames, 0, KINDS);
    tcase_add_test(tc, test_frames_split_shares_on_request_and_takes_back_by_halves);
    tcase_add_test(tc, test_frames_default_deque_pushes_pops_and_steals);
    suite_add_tcase(s, tc);
    TCase *race = tcase_create("race");
    /* both sides busy-wait: long under TSan on 2 shared cores */
    tcase_set_timeout(race, 180);
    tcase_add_loop_test(race, test_frames_race_on_last_item_has_one_winner_with_the_whole_frame,
                        0, KINDS);
    tcase_add_loop_test(race, test_frames_thieves_keep_only_the_frame_they_claimed_in_reused_slots,
                        0, KINDS);
    suite_add_tcase(s, race);
    return s;
}
