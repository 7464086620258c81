/*
 * Batched steals (sched/batch.c): a thief of flat spawns asks, the holder
 * moves half of its oldest tasks into its slot's batch, one taker moves the
 * batch to its own deque. Every task still runs exactly once, and a batch
 * nobody takes goes back to its holder.
 */
#include "config.h"


#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft/weft.h>

#include "runtime/runtime.h"
#include "tests/suites.h"

enum { FLAT_MAX = 4000000 };

struct flat {
    _Atomic uint8_t *ran; /* per task: how many times it ran */
    size_t spawned;
    int spawn_rc;
};

struct flat_item {
    struct flat *f;
    size_t i;
};

static int flat_task(weft_task *self, void *p)
{
    (void)self;
    struct flat *f = ((struct flat_item *)p)->f;
    atomic_fetch_add_explicit(&f->ran[((struct flat_item *)p)->i], 1, memory_order_relaxed);
    return 0;
}

static uint64_t batch_steals(struct weft__sched *sched)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < weft__nthreads(sched); i++)
        n += atomic_load_explicit(&sched->slots[i]->stats.batch_steals, memory_order_relaxed);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct flat_item *items;

/* Spawns empty tasks until some ran in a batch on the other worker (or
 * FLAT_MAX of them, or 10 s), then joins. */
static int flat_root(weft_task *self, void *p)
{
    struct flat *f = p;
    struct weft__sched *sched = weft__self_thread->sched;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    double until = now_s() + 10;
    size_t i = 0;
    while (i < FLAT_MAX && rc == 0) {
        items[i] = (struct flat_item){f, i};
        rc = weft_spawn(&g, flat_task, &items[i]);
        i++;
        if ((i & 1023) == 0 && (batch_steals(sched) > 0 || now_s() > until))
            break;
    }
    f->spawned = i;
    f->spawn_rc = rc;
    return weft_group_join(&g, NULL);
}

START_TEST(test_flat_spawns_do_reach_the_thief_in_batches_each_task_once)
{
    weft_runtime *rt = weft_test_runtime(2, 0);
    struct flat f = {calloc(FLAT_MAX, 1), 0, 0};
    items = calloc(FLAT_MAX, sizeof *items);
    ck_assert_ptr_nonnull(f.ran);
    ck_assert_ptr_nonnull(items);
    ck_assert_int_eq(weft_run(rt, flat_root, &f, NULL), 0);
    ck_assert_int_eq(f.spawn_rc, 0);
    for (size_t i = 0; i < f.spawned; i++)
        ck_assert_msg(f.ran[i] == 1, "task %zu ran %d times", i, (int)f.ran[i]);
    uint64_t batched = batch_steals(&rt->jobs.scopes.sched);
    ck_assert_msg(batched > 0, "no task ran in a batch after %zu spawns", f.spawned);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    free((void *)f.ran);
    free(items);
}
END_TEST

enum { OWN = 200 };

struct own {
    _Atomic uint8_t ran[OWN];
    struct flat_item it[OWN];
    int batch_held; /* tasks in the slot's batch after the spawns */
};

static int own_task(weft_task *self, void *p)
{
    (void)self;
    struct flat_item *it = p;
    struct own *o = (struct own *)(void *)it->f;
    atomic_fetch_add_explicit(&o->ran[it->i], 1, memory_order_relaxed);
    return 0;
}

/* One worker: no thief. As if one had asked halfway, the next spawn moves
 * a batch into the slot; the join must take it back. */
static int own_root(weft_task *self, void *p)
{
    struct own *o = p;
    struct weft__slot *slot = weft__self_thread->slot;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < OWN && rc == 0; i++) {
        if (i == OWN / 2)
            atomic_store(&slot->batch.wanted, true);
        o->it[i] = (struct flat_item){(struct flat *)(void *)o, i};
        rc = weft_spawn(&g, own_task, &o->it[i]);
    }
    o->batch_held = atomic_load(&slot->batch.count);
    int rc2 = weft_group_join(&g, NULL);
    return rc != 0 ? rc : rc2;
}

START_TEST(test_batch_no_thief_takes_does_go_back_to_its_holder)
{
    weft_runtime *rt = weft_test_runtime(1, 0);
    static struct own o;
    ck_assert_int_eq(weft_run(rt, own_root, &o, NULL), 0);
    /* asked with OWN / 2 queued: the next push moves half of OWN / 2 + 1 */
    ck_assert_int_eq(o.batch_held, (OWN / 2 + 1) / 2);
    for (size_t i = 0; i < OWN; i++)
        ck_assert_int_eq(o.ran[i], 1);
    ck_assert_int_eq(atomic_load(&rt->jobs.scopes.sched.slots[0]->batch.count), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

enum { BUSY_TASKS = 100000 };
static _Atomic long busy_ran;

static int tiny_task(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    atomic_fetch_add_explicit(&busy_ran, 1, memory_order_relaxed);
    return 0;
}

/* Spawns BUSY_TASKS tiny tasks, then works on without a push or a pop
 * until the thief ran them all or 5 s passed: a holder that cannot answer
 * a request for a batch must not slow the thief's single steals (each
 * wait for a batch that does not come cost it tens of microseconds, so
 * the 5 s did not cover them all). */
static int busy_root(weft_task *self, void *p)
{
    double *took = p;
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    for (int i = 0; i < BUSY_TASKS && rc == 0; i++)
        rc = weft_spawn(&g, tiny_task, NULL);
    double start = now_s();
    while (atomic_load(&busy_ran) < BUSY_TASKS && now_s() < start + 5)
        ;
    *took = now_s() - start;
    int rc2 = weft_group_join(&g, NULL);
    return rc != 0 ? rc : rc2;
}

START_TEST(test_a_busy_holder_does_not_hold_up_a_thief_of_its_tasks)
{
    if (weft_test_cpus_below(2, "batch: busy holder"))
        return; /* the thief needs a CPU of its own */
    weft_runtime *rt = weft_test_runtime(2, 0);
    atomic_store(&busy_ran, 0);
    double took = 0;
    ck_assert_int_eq(weft_run(rt, busy_root, &took, NULL), 0);
    ck_assert_msg(took < 5, "the thief had not run the %d tasks after %.1f s", BUSY_TASKS, took);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
}
END_TEST

Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_flat_spawns_do_reach_the_thief_in_batches_each_task_once);
    tcase_add_test(tc, test_batch_no_thief_takes_does_go_back_to_its_holder);
    tcase_add_test(tc, test_a_busy_holder_does_not_hold_up_a_thief_of_its_tasks);
    suite_add_tcase(s, tc);
    return s;
}
