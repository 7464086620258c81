/*
 * Detached tasks, each with a small group of its own, some failing; and the
 * accounting of on_unhandled. A failure that must reach on_unhandled carries
 * a fresh id in its message: expected ids are counted (and hashed) before the
 * failure can be reported, seen ids when on_unhandled gets them, so at any
 * time seen <= expected, and after weft_runtime_destroy the two counts and
 * hash sums must be equal: none lost, none reported twice.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "soak/soak.h"

void soak_expect_unhandled(uint64_t id)
{
    atomic_fetch_add_explicit(&soak_totals.unhandled_expected_sum, soak_mix(id),
                              memory_order_relaxed);
    /* release: counted before the failure can be reported (pairs with the
     * acquire below through the runtime's own hand-off of the failure) */
    atomic_fetch_add_explicit(&soak_totals.unhandled_expected, 1, memory_order_release);
}

void soak_on_unhandled(const weft_error *err, void *arg)
{
    (void)arg;
    unsigned long long id;
    struct oracle_verdict v;
    if (sscanf(weft_error_message(err), SOAK_UNHANDLED_FMT, &id) != 1) {
        atomic_fetch_add_explicit(&soak_totals.unhandled_foreign, 1, memory_order_relaxed);
        struct oracle_reports r = {.what = "on_unhandled", .unknown = 1};
        if (oracle_check_reports(&r, &v))
            soak_violation("%s: task \"%s\", code %d: %s", v.why, weft_error_task(err),
                           weft_error_code(err), weft_error_message(err));
        return;
    }
    atomic_fetch_add_explicit(&soak_totals.unhandled_seen_sum, soak_mix(id), memory_order_relaxed);
    struct oracle_reports r = {
        .what = "on_unhandled",
        .seen = atomic_fetch_add_explicit(&soak_totals.unhandled_seen, 1, memory_order_relaxed) + 1,
        .due = atomic_load_explicit(&soak_totals.unhandled_expected, memory_order_acquire)};
    if (oracle_check_reports(&r, &v))
        soak_violation("%s (id %llu)", v.why, id);
}

struct detached {
    struct soak_round *r;
    uint64_t id;
    int plan;
    unsigned leaves;
};

struct small_leaf {
    atomic_int runs;
};

static int small_leaf_task(weft_task *self, void *arg)
{
    (void)self;
    soak_count_ran();
    soak_ran_once(&((struct small_leaf *)arg)->runs, "detached task's leaf");
    return 0;
}

static int detached_task(weft_task *self, void *arg)
{
    struct detached d = *(struct detached *)arg;
    free(arg);
    soak_count_ran();
    atomic_fetch_add_explicit(&soak_totals.detached_ran, 1, memory_order_relaxed);
    struct small_leaf leaves[8] = {0};
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc == 0) {
        for (unsigned i = 0; i < d.leaves; i++) {
            if ((rc = weft_spawn(&g, small_leaf_task, &leaves[i])) != 0)
                soak_violation("detached: weft_spawn: %d", rc);
            else
                soak_count_spawn(false);
        }
        /* nothing cancels it, and its leaves return 0 */
        struct oracle_join join = {.what = "detached: the join", .rc = weft_group_join(&g, NULL)};
        struct oracle_verdict v;
        soak_check(oracle_check_join(&join, &v), &v);
        for (unsigned i = 0; i < d.leaves; i++)
            soak_check_once(&leaves[i].runs, "detached task's leaf");
    } else {
        soak_violation("detached: weft_group_init: %d", rc);
    }
    atomic_fetch_sub_explicit(&d.r->outstanding, 1, memory_order_release);
    if (d.plan != 0)
        return weft_fail(self, d.plan, SOAK_UNHANDLED_FMT, (unsigned long long)d.id);
    return 0;
}

int soak_detached(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)self;
    weft_runtime *rt = r->rt;
    unsigned n = soak_between(&seed, 1, SOAK_DETACHED_MAX);
    for (unsigned i = 0; i < n; i++) {
        struct detached *d = malloc(sizeof *d);
        if (d == NULL)
            return ENOMEM;
        *d = (struct detached){.r = r,
                               .id = soak_next_id(),
                               .plan = soak_between(&seed, 0, 2) == 0 ? EIO : 0,
                               .leaves = soak_between(&seed, 0, 8)};
        if (d->plan != 0)
            soak_expect_unhandled(d->id);
        uint64_t id = d->id;
        int plan = d->plan;
        atomic_fetch_add_explicit(&r->outstanding, 1, memory_order_relaxed);
        int rc = weft_spawn_detached(rt, detached_task, d);
        if (rc != 0) {
            atomic_fetch_sub_explicit(&r->outstanding, 1, memory_order_relaxed);
            free(d);
            soak_violation("detached: weft_spawn_detached: %d (id %llu, plan %d)", rc,
                           (unsigned long long)id, plan);
            continue;
        }
        soak_count_spawn(false);
        atomic_fetch_add_explicit(&soak_totals.detached_spawned, 1, memory_order_relaxed);
    }
    return 0;
}
