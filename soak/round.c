/*
 * One round: a root task (weft_run) spawns every scenario into a COLLECT
 * group, in an order drawn from the round's seed, so they overlap; then the
 * round waits for the detached tasks and released jobs it started, which end
 * in the background.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "soak/soak.h"

/* Only a lost task or job could keep a round waiting this long. */
#define DRAIN_BOUND (60 * WEFT_SEC)

struct scenario {
    const char *name;
    int (*fn)(weft_task *self, struct soak_round *r, uint64_t seed);
};

static const struct scenario scenarios[] = {
    {"fib", soak_fib},
    {"fan-out", soak_fanout},
    {"parallel_for", soak_parallel_for},
    {"fail-fast", soak_failfast},
    {"collect", soak_collect},
    {"deadline+shield", soak_deadline_shield},
    {"outside cancel", soak_outside_cancel},
    {"stream", soak_stream},
    {"jobs", soak_jobs},
    {"job cancel callback", soak_job_cancel_cb},
    {"retry", soak_retry},
    {"detached", soak_detached},
};
enum { NSCEN = sizeof scenarios / sizeof scenarios[0] };

struct call {
    const struct scenario *s;
    struct soak_round *r;
    uint64_t seed;
    atomic_int runs;
};

/* --only: the scenarios whose names are listed (comma-separated); NULL: all. */
const char *soak_only;

static bool chosen(const char *name)
{
    if (soak_only == NULL)
        return true;
    size_t n = strlen(name);
    for (const char *p = soak_only; (p = strstr(p, name)) != NULL; p += n)
        if ((p == soak_only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static int call_task(weft_task *self, void *arg)
{
    struct call *c = arg;
    soak_count_ran();
    soak_ran_once(&c->runs, c->s->name);
    return c->s->fn(self, c->r, c->seed);
}

static int root_task(weft_task *self, void *arg)
{
    struct soak_round *r = arg;
    soak_count_ran();
    uint64_t seed = r->seed;
    struct call calls[NSCEN];
    unsigned order[NSCEN];
    for (unsigned i = 0; i < NSCEN; i++)
        order[i] = i;
    for (unsigned i = NSCEN - 1; i > 0; i--) { /* Fisher-Yates */
        unsigned j = soak_between(&seed, 0, i), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    weft_group g;
    int rc = weft_group_init(&g, self, &(weft_group_opts){.flags = WEFT_COLLECT, .name = "round"});
    if (rc != 0) {
        soak_violation("round: weft_group_init: %d", rc);
        return rc;
    }
    bool spawned[NSCEN] = {false};
    for (unsigned k = 0; k < NSCEN; k++) {
        unsigned i = order[k];
        calls[i] = (struct call){.s = &scenarios[i], .r = r, .seed = soak_rand(&seed)};
        if (!chosen(scenarios[i].name))
            continue;
        weft_spawn_opts o = {.name = scenarios[i].name};
        if ((rc = weft_spawn_ex(&g, call_task, &calls[i], &o)) != 0) {
            soak_violation("round: weft_spawn_ex(%s): %d", scenarios[i].name, rc);
            continue;
        }
        soak_count_spawn(false);
        spawned[i] = true;
    }
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    /* a scenario returns 0 (it reports what broke itself) */
    struct oracle_join join = {.what = "round: the join of the scenarios",
                               .rc = rc,
                               .took = true,
                               .errs_kept = true,
                               .errs = errs};
    struct oracle_verdict v;
    if (oracle_check_join(&join, &v)) {
        soak_violation("%s:", v.why);
        weft_errors_print(errs, stderr);
    }
    weft_errors_free(errs);
    for (unsigned i = 0; i < NSCEN; i++)
        if (spawned[i])
            soak_check_once(&calls[i].runs, scenarios[i].name);
    return 0;
}

int soak_round_run(weft_runtime *rt, struct soak_round *r)
{
    r->rt = rt;
    atomic_init(&r->outstanding, 0);
    soak_count_spawn(false);
    weft_errors *errs = NULL;
    int rc = weft_run(rt, root_task, r, &errs);
    struct oracle_entry root = {.what = "the round's root"}; /* it returns 0 */
    struct oracle_verdict v;
    if (oracle_check_run(rc, 0, errs, &root, &v)) {
        soak_violation("round %u/%llu (seed %llu): %s", r->driver, (unsigned long long)r->index,
                       (unsigned long long)r->seed, v.why);
        weft_errors_print(errs, stderr);
    }
    weft_errors_free(errs);
    weft_time bound = weft_after(DRAIN_BOUND);
    struct timespec nap = {0, 100 * 1000};
    /* acquire: what the background ends wrote before they counted down */
    while (atomic_load_explicit(&r->outstanding, memory_order_acquire) != 0) {
        if (weft_now() > bound) {
            soak_violation("round %u/%llu (seed %llu): %ld detached tasks or released jobs never "
                           "ended",
                           r->driver, (unsigned long long)r->index, (unsigned long long)r->seed,
                           (long)atomic_load(&r->outstanding));
            return ETIMEDOUT;
        }
        nanosleep(&nap, NULL);
    }
    return 0;
}
