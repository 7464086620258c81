/*
 * Error-tree load: a COLLECT group where several tasks fail (one of them with
 * a nested COLLECT group as its cause), checked failure by failure; and a
 * STREAM group drained with weft_group_next while it is still being filled.
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
    atomic_int seen; /* times weft_group_next or the error tree listed it */
};

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
        int rc = weft_sleep(self, weft_after(it->work * WEFT_USEC));
        if (rc != 0)
            soak_violation("collect/stream: a sleep in an uncancelled group returned %d", rc);
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
        for (unsigned i = 0; i < it->inner_failures; i++) {
            if ((rc = weft_spawn(&inner, leaf_fail, (void *)(uintptr_t)i)) != 0)
                soak_violation("collect: inner weft_spawn: %d", rc);
            else {
                soak_count_spawn(false);
                spawned++;
            }
        }
        weft_errors *cause = NULL;
        rc = weft_group_join(&inner, &cause);
        /* the earliest failure's code: completion order, not spawn order */
        int first = spawned != 0 ? weft_error_code(weft_errors_at(cause, 0)) : 0;
        if (weft_errors_count(cause) != spawned || rc != first)
            soak_violation("collect: inner join returned %d with %zu errors, expected %d and %u", rc,
                           weft_errors_count(cause), first, spawned);
        return weft_fail_from(self, cause, it->plan, "collect %u", it->index);
    }
    if (it->plan != 0)
        return weft_fail(self, it->plan, "collect %u", it->index);
    return 0;
}

static void plan_items(struct item *items, unsigned n, uint64_t *seed, unsigned max_sleepers)
{
    unsigned sleepers = 0;
    memset(items, 0, n * sizeof *items);
    for (unsigned i = 0; i < n; i++) {
        struct item *it = &items[i];
        it->index = i;
        it->plan = soak_between(seed, 0, 3) == 0 ? codes[soak_between(seed, 0, 3)] : 0;
        it->sleeps = sleepers < max_sleepers && soak_between(seed, 0, 5) == 0;
        sleepers += it->sleeps;
        it->work = it->sleeps ? soak_between(seed, 0, 200) : soak_between(seed, 0, 3000);
    }
}

/* Each failure of errs must be a planned one, listed once; returns how many. */
static size_t check_tree(const weft_errors *errs, struct item *items, unsigned n, const char *what)
{
    size_t count = weft_errors_count(errs);
    if (weft_errors_lost(errs) != 0)
        soak_violation("%s: %zu failures lost", what, weft_errors_lost(errs));
    for (size_t k = 0; k < count; k++) {
        const weft_error *e = weft_errors_at(errs, k);
        unsigned i;
        if (sscanf(weft_error_message(e), "collect %u", &i) != 1 || i >= n) {
            soak_violation("%s: unexpected failure \"%s\"", what, weft_error_message(e));
            continue;
        }
        if (atomic_fetch_add(&items[i].seen, 1) != 0 || items[i].plan != weft_error_code(e))
            soak_violation("%s: item %u listed again or with code %d (planned %d)", what, i,
                           weft_error_code(e), items[i].plan);
        size_t inner = weft_errors_count(weft_error_cause(e));
        if (inner != (items[i].nested ? items[i].inner_failures : 0))
            soak_violation("%s: item %u has %zu nested failures, expected %u", what, i, inner,
                           items[i].nested ? items[i].inner_failures : 0);
    }
    return count;
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
    unsigned planned = 0;
    weft_spawn_opts o = {.name = "collect"};
    for (unsigned i = 0; i < n; i++) {
        if ((rc = weft_spawn_ex(&g, item_task, &items[i], &o)) != 0) {
            soak_violation("collect: weft_spawn_ex: %d", rc);
            items[i].plan = 0;
            continue;
        }
        soak_count_spawn(false);
        planned += items[i].plan != 0;
    }
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    size_t count = check_tree(errs, items, n, "collect");
    int first = count != 0 ? weft_error_code(weft_errors_at(errs, 0)) : 0;
    if (count != planned || rc != first)
        soak_violation("collect: join returned %d with %zu errors, expected %d and %u", rc, count,
                       first, planned);
    weft_errors_free(errs);
    for (unsigned i = 0; i < n; i++)
        soak_check_once(&items[i].runs, "collect item");
    return 0;
}

/* ---- streaming completions ---- */

#define STREAM_MAX 24

/* Takes completions until ENOENT (or `stop` of them); counts what it saw. */
static unsigned drain(weft_group *g, struct item *items, unsigned stop)
{
    unsigned taken = 0;
    while (taken < stop) {
        void *arg = NULL;
        int status = -1;
        int rc = weft_group_next(g, weft_after(NEXT_BOUND), &arg, &status);
        if (rc == ENOENT)
            break;
        if (rc != 0) {
            soak_violation("stream: weft_group_next returned %d", rc);
            break;
        }
        struct item *it = arg;
        if (it < items || it >= items + STREAM_MAX || atomic_fetch_add(&it->seen, 1) != 0 ||
            status != it->plan)
            soak_violation("stream: a completion handed out twice, or status %d (planned %d)",
                           status, it->plan);
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
    unsigned half = n / 2, spawned = 0, planned = 0, taken = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i == half)
            taken += drain(&g, items, soak_between(&seed, 0, half));
        if ((rc = weft_spawn(&g, item_task, &items[i])) != 0) {
            soak_violation("stream: weft_spawn: %d", rc);
            items[i].plan = 0;
            continue;
        }
        soak_count_spawn(false);
        spawned++;
        planned += items[i].plan != 0;
    }
    taken += drain(&g, items, STREAM_MAX + 1);
    if (taken != spawned)
        soak_violation("stream: %u completions handed out, %u tasks spawned", taken, spawned);
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    size_t count = weft_errors_count(errs);
    if (count != planned || (rc != 0) != (planned != 0))
        soak_violation("stream: join returned %d with %zu errors, expected %u", rc, count, planned);
    weft_errors_free(errs);
    for (unsigned i = 0; i < n; i++)
        soak_check_once(&items[i].runs, "stream item");
    return 0;
}
