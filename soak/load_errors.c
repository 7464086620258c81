/*
 * Error-tree load: a COLLECT group where several tasks fail (one of them with
 * a nested COLLECT group as its cause), checked failure by failure; and a
 * STREAM group drained with weft_group_next while it is still being filled.
 * Nothing cancels these groups: each item's planned code is the failure the
 * oracle's list rule must find listed once (tests/oracle/contract.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "soak/soak.h"

#define NEXT_BOUND (30 * WEFT_SEC)
#define COLLECT_MAX 48

static const int codes[] = {EIO, EPROTO, ENOENT, EBADMSG};

struct item {
    atomic_int runs;
    unsigned index;
    int plan;      /* the code it returns */
    unsigned work; /* mix rounds, or microseconds of sleep when `sleeps` */
    bool sleeps;
    bool nested;   /* fails with an inner COLLECT group's errors as cause */
    unsigned inner_failures;
    atomic_int seen; /* times weft_group_next handed it out */
    char message[16]; /* its failure's: "collect <index>" */
};

/* What a join of items must list: each planned failure, with its message,
 * task name and causes (an inner group's failures for the nested one). */
static void describe_items(const struct item *items, unsigned n, const char *name,
                           struct oracle_entry *e)
{
    for (unsigned i = 0; i < n; i++) {
        struct oracle_return ret = {.rc = items[i].plan}; /* nothing cancels it */
        e[i] = (struct oracle_entry){.what = items[i].message,
                                     .listing = oracle_listing_of(&ret),
                                     .message = items[i].message,
                                     .name = name,
                                     .cause = ORACLE_CAUSE_COUNT,
                                     .cause_count = items[i].nested ? items[i].inner_failures : 0};
    }
}

/* A join in a scope nothing cancels, of tasks described by e. */
static void check_join(const char *what, int rc, const weft_errors *errs,
                       const struct oracle_entry *e, unsigned n)
{
    struct oracle_list list = {.what = what, .entry = e, .n = n};
    struct oracle_join join = {
        .what = what, .rc = rc, .tasks = &list, .took = true, .errs_kept = true, .errs = errs};
    struct oracle_verdict v;
    soak_check(oracle_check_join(&join, &v), &v);
}

static int leaf_fail(weft_task *self, void *arg)
{
    soak_count_ran();
    unsigned i = (unsigned)(uintptr_t)arg;
    return weft_fail(self, codes[i % 4], "inner %u", i);
}

static int item_task(weft_task *self, void *arg)
{
    struct item *it = arg;
    soak_count_ran();
    soak_ran_once(&it->runs, "error-tree item");
    if (it->sleeps) {
        weft_time until = weft_after(it->work * WEFT_USEC);
        int rc = weft_sleep(self, until);
        struct oracle_verdict v;
        soak_check(oracle_check_sleep("collect/stream: a sleep in an uncancelled group", rc,
                                      weft_now() >= until, false, false, &v),
                   &v);
    } else {
        uint64_t x = it->index;
        for (unsigned k = 0; k < it->work; k++)
            x = soak_mix(x);
        soak_sink = x;
    }
    if (it->nested) {
        weft_group inner;
        int rc = weft_group_init(&inner, self, &(weft_group_opts){.flags = WEFT_COLLECT});
        if (rc != 0) {
            soak_violation("collect: inner weft_group_init: %d", rc);
            return rc;
        }
        unsigned spawned = 0;
        char messages[4][16];
        struct oracle_entry leaves[4];
        for (unsigned i = 0; i < it->inner_failures && i < 4; i++) {
            if ((rc = weft_spawn(&inner, leaf_fail, (void *)(uintptr_t)i)) != 0) {
                soak_violation("collect: inner weft_spawn: %d", rc);
                continue;
            }
            soak_count_spawn(false);
            snprintf(messages[spawned], sizeof messages[spawned], "inner %u", i);
            struct oracle_return ret = {.rc = codes[i % 4]};
            leaves[spawned] = (struct oracle_entry){.what = messages[spawned],
                                                    .listing = oracle_listing_of(&ret),
                                                    .message = messages[spawned],
                                                    .name = ""};
            spawned++;
        }
        weft_errors *cause = NULL;
        rc = weft_group_join(&inner, &cause);
        check_join("collect: the inner join", rc, cause, leaves, spawned);
        return weft_fail_from(self, cause, it->plan, "%s", it->message);
    }
    if (it->plan != 0)
        return weft_fail(self, it->plan, "%s", it->message);
    return 0;
}

static void plan_items(struct item *items, unsigned n, uint64_t *seed, unsigned max_sleepers)
{
    unsigned sleepers = 0;
    memset(items, 0, n * sizeof *items);
    for (unsigned i = 0; i < n; i++) {
        struct item *it = &items[i];
        it->index = i;
        snprintf(it->message, sizeof it->message, "collect %u", i);
        it->plan = soak_between(seed, 0, 3) == 0 ? codes[soak_between(seed, 0, 3)] : 0;
        it->sleeps = sleepers < max_sleepers && soak_between(seed, 0, 5) == 0;
        sleepers += it->sleeps;
        it->work = it->sleeps ? soak_between(seed, 0, 200) : soak_between(seed, 0, 3000);
    }
}

int soak_collect(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    struct item items[COLLECT_MAX];
    unsigned n = soak_between(&seed, 8, COLLECT_MAX);
    plan_items(items, n, &seed, 0);
    unsigned nested = soak_between(&seed, 0, n - 1);
    items[nested].nested = true;
    items[nested].plan = EPROTO;
    items[nested].inner_failures = soak_between(&seed, 1, 4);
    weft_group g;
    int rc = weft_group_init(&g, self, &(weft_group_opts){.flags = WEFT_COLLECT, .name = "collect"});
    if (rc != 0) {
        soak_violation("collect: weft_group_init: %d", rc);
        return rc;
    }
    weft_spawn_opts o = {.name = "collect"};
    for (unsigned i = 0; i < n; i++) {
        if ((rc = weft_spawn_ex(&g, item_task, &items[i], &o)) != 0) {
            soak_violation("collect: weft_spawn_ex: %d", rc);
            items[i].plan = 0;
            continue;
        }
        soak_count_spawn(false);
    }
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    struct oracle_entry e[COLLECT_MAX];
    describe_items(items, n, "collect", e);
    check_join("collect: the join", rc, errs, e, n);
    weft_errors_free(errs);
    for (unsigned i = 0; i < n; i++)
        soak_check_once(&items[i].runs, "collect item");
    return 0;
}

/* ---- streaming completions ---- */

#define STREAM_MAX 24

/* Takes completions until the stream ends (or `stop` of them) after `taken`
 * of `spawned`; returns how many it took. NEXT_BOUND is no deadline: only a
 * lost completion could reach it, so its ETIMEDOUT is a violation. */
static unsigned drain(weft_group *g, struct item *items, unsigned n, unsigned stop, unsigned taken,
                      unsigned spawned)
{
    struct oracle_verdict v;
    for (unsigned k = 0; k < stop; k++) {
        void *arg = NULL;
        int status = -1;
        int rc = weft_group_next(g, weft_after(NEXT_BOUND), &arg, &status);
        soak_check(oracle_check_stream_end("stream", rc, taken + (rc == 0), spawned, false, false,
                                           &v),
                   &v);
        if (rc != 0)
            break;
        struct item *it = arg;
        bool mine = it >= items && it < items + n;
        struct oracle_return ret = {.rc = mine ? it->plan : 0};
        struct oracle_completion c = {.what = mine ? it->message : "an arg",
                                      .mine = mine,
                                      .ended = true,
                                      .times = mine ? atomic_fetch_add(&it->seen, 1) + 1 : 0,
                                      .status = status,
                                      .task = &ret};
        soak_check(oracle_check_completion(&c, &v), &v);
        taken++;
    }
    return taken;
}

int soak_stream(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    struct item items[STREAM_MAX];
    unsigned n = soak_between(&seed, 4, STREAM_MAX);
    plan_items(items, n, &seed, 4);
    weft_group g;
    int rc = weft_group_init(&g, self,
                             &(weft_group_opts){.flags = WEFT_STREAM | WEFT_COLLECT, .name = "stream"});
    if (rc != 0) {
        soak_violation("stream: weft_group_init: %d", rc);
        return rc;
    }
    /* half now, a few taken, then the rest: ENOENT only when all are out */
    unsigned half = n / 2, spawned = 0, taken = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i == half)
            taken = drain(&g, items, n, soak_between(&seed, 0, half), taken, spawned);
        if ((rc = weft_spawn(&g, item_task, &items[i])) != 0) {
            soak_violation("stream: weft_spawn: %d", rc);
            items[i].plan = 0;
            continue;
        }
        soak_count_spawn(false);
        spawned++;
    }
    drain(&g, items, n, STREAM_MAX + 1, taken, spawned); /* to ENOENT: all handed out */
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    struct oracle_entry e[STREAM_MAX];
    describe_items(items, n, "", e);
    check_join("stream: the join", rc, errs, e, n);
    weft_errors_free(errs);
    for (unsigned i = 0; i < n; i++)
        soak_check_once(&items[i].runs, "stream item");
    return 0;
}
