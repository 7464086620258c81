/*
 * Cancellation load: a fail-fast group whose failure cancels its sleeping and
 * spinning siblings; a group whose deadline passes (ETIMEDOUT) with a shielded
 * subgroup that must go on untouched; a group cancelled from outside (a
 * blocking job calls weft_group_cancel) with sleepers one level down too,
 * in a group begun inside a cancel scope (weft_scope_enter) that the
 * cancel ends from above: its exit says 0 and the task stays cancelled.
 * Sleepers register cancel callbacks. No timing decides a verdict: a sleeper
 * sleeps up to SLEEP_BOUND, which only a lost cancel would reach.
 *
 * Each join is described to the oracle (tests/oracle/contract.h) from the
 * plan: a sleeper returns the reason its group is cancelled for, having
 * seen that cancel (check_sleeper holds what it did against that), so it
 * is no failure; a group whose sleepers end only when it is cancelled is
 * known cancelled.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "soak/soak.h"

#define SLEEP_BOUND (30 * WEFT_SEC)

struct sleeper {
    atomic_int runs, cbs;
    weft_time until; /* 0: SLEEP_BOUND from its start */
    int sleep_rc, reason;
    bool cancelled_at_start;
    weft_time t0, t1;
};

static void sleeper_cb(void *arg)
{
    struct sleeper *s = arg;
    atomic_fetch_add_explicit(&s->cbs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&soak_totals.cancel_cbs, 1, memory_order_relaxed);
}

static int sleeper_task(weft_task *self, void *arg)
{
    struct sleeper *s = arg;
    soak_count_ran();
    soak_ran_once(&s->runs, "sleeper");
    weft_cancel_cb cb;
    s->cancelled_at_start = weft_cancelled(self);
    int rc = weft_on_cancel(self, &cb, sleeper_cb, s);
    if (rc != 0)
        soak_violation("weft_on_cancel: %d", rc);
    s->t0 = weft_now();
    s->sleep_rc = weft_sleep(self, s->until != 0 ? s->until : weft_after(SLEEP_BOUND));
    s->t1 = weft_now();
    if (rc == 0)
        weft_on_cancel_remove(&cb);
    s->reason = weft_cancel_reason(self);
    return s->sleep_rc;
}

/* want: what its sleep returned (0 for a shielded one, which nothing cancels). */
static void check_sleeper(struct sleeper *s, int want, const char *what)
{
    soak_check_once(&s->runs, what);
    if (atomic_load(&s->runs) != 1)
        return;
    int cbs = atomic_load(&s->cbs);
    /* a sleep ends at the deadline itself, maybe a moment before the timer
     * cancels the scope: the reason may still be 0 then */
    bool reason_ok = s->reason == want || (want == ETIMEDOUT && s->reason == 0);
    if (s->sleep_rc != want || !reason_ok)
        soak_violation("%s: sleep returned %d (reason %d), expected %d; slept %lld us, cbs %d, at start %d", what, s->sleep_rc,
                       s->reason, want, (long long)(s->t1 - s->t0) / 1000, cbs, s->cancelled_at_start);
    /* a callback may lose the race to its removal, but never runs twice, and
     * runs at once when registered in a scope already cancelled */
    struct oracle_verdict v;
    soak_check(oracle_check_cancel_callback(what, cbs, s->cancelled_at_start, want != 0, &v), &v);
}

/* A sleeper (or a task that ends like one) as planned: it returns `want`,
 * the reason its group is cancelled for, after seeing that cancel. */
static struct oracle_entry planned_stop(const char *what, int want)
{
    struct oracle_return ret = {.rc = want,
                                .saw_cancel = want != 0,
                                .reason = want,
                                .deadline_passed = want == ETIMEDOUT,
                                .cancel_possible = want != 0};
    return (struct oracle_entry){.what = what, .listing = oracle_listing_of(&ret), .name = ""};
}

/* The join of a group whose tasks are described by e[0..n). */
static void check_join(const char *what, int rc, const weft_errors *errs, bool took,
                       const struct oracle_entry *e, unsigned n, bool cancelled,
                       bool ecanceled_possible, bool etimedout_possible)
{
    struct oracle_list list = {.what = what, .entry = e, .n = n};
    struct oracle_join join = {.what = what,
                               .rc = rc,
                               .tasks = &list,
                               .cancelled = cancelled,
                               .ecanceled_possible = ecanceled_possible,
                               .etimedout_possible = etimedout_possible,
                               .took = took,
                               .errs_kept = took,
                               .errs = errs};
    struct oracle_verdict v;
    soak_check(oracle_check_join(&join, &v), &v);
}

static int spawn_counted(weft_group *g, weft_fn fn, void *arg, const char *what)
{
    int rc = weft_spawn(g, fn, arg);
    if (rc != 0)
        soak_violation("%s: weft_spawn: %d", what, rc);
    else
        soak_count_spawn(false);
    return rc;
}

/* ---- fail-fast ---- */

struct spinner {
    atomic_int runs;
};

/* Bounded CPU work that stops early when cancelled: it must not hold a
 * worker hostage, or the failing sibling could wait behind it. */
static int spinner_task(weft_task *self, void *arg)
{
    struct spinner *s = arg;
    soak_count_ran();
    soak_ran_once(&s->runs, "spinner");
    uint64_t x = (uint64_t)(uintptr_t)s;
    for (int i = 0; i < 200; i++) {
        if (weft_cancelled(self))
            return ECANCELED;
        for (int k = 0; k < 500; k++)
            x = soak_mix(x);
    }
    soak_sink = x;
    return 0;
}

struct failer {
    atomic_int runs;
    weft_time delay;
};

static int failer_task(weft_task *self, void *arg)
{
    struct failer *f = arg;
    soak_count_ran();
    soak_ran_once(&f->runs, "failer");
    if (f->delay != 0) {
        int rc = weft_sleep(self, weft_after(f->delay));
        if (rc != 0)
            soak_violation("fail-fast: the failer's sleep returned %d before it failed", rc);
    }
    return weft_fail(self, EIO, "failfast");
}

int soak_failfast(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    struct sleeper sl[SOAK_SLEEPERS_MAX];
    struct spinner sp[2];
    struct failer f = {.delay = soak_between(&seed, 0, 300) * WEFT_USEC};
    memset(sl, 0, sizeof sl);
    memset(sp, 0, sizeof sp);
    unsigned nsl = soak_between(&seed, 1, SOAK_SLEEPERS_MAX);
    unsigned nsp = soak_between(&seed, 0, 2);
    unsigned failer_at = soak_between(&seed, 0, nsl + nsp);
    weft_group g;
    int rc = weft_group_init(&g, self, &(weft_group_opts){.name = "failfast"});
    if (rc != 0) {
        soak_violation("fail-fast: weft_group_init: %d", rc);
        return rc;
    }
    bool failer_spawned = false;
    for (unsigned i = 0, a = 0, b = 0; i <= nsl + nsp; i++) {
        if (i == failer_at)
            failer_spawned = spawn_counted(&g, failer_task, &f, "fail-fast") == 0;
        else if (a < nsl)
            spawn_counted(&g, sleeper_task, &sl[a++], "fail-fast");
        else
            spawn_counted(&g, spinner_task, &sp[b++], "fail-fast");
    }
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    /* the failer's EIO, listed; the sleepers' and spinners' ECANCELED (or
     * a spinner's 0), after the fail-fast cancel */
    struct oracle_entry e[SOAK_SLEEPERS_MAX + 3];
    struct oracle_return failed = {.rc = EIO};
    e[0] = (struct oracle_entry){.what = "the failer",
                                 .listing = oracle_listing_of(&failed),
                                 .message = "failfast",
                                 .name = ""};
    for (unsigned i = 0; i < nsl + nsp; i++)
        e[1 + i] = planned_stop(i < nsl ? "a fail-fast sleeper" : "a spinner", ECANCELED);
    check_join("fail-fast: the join", rc, errs, true, e, 1 + nsl + nsp, failer_spawned, true,
               false);
    weft_errors_free(errs);
    if (failer_spawned)
        soak_check_once(&f.runs, "failer");
    for (unsigned i = 0; i < nsl; i++)
        check_sleeper(&sl[i], ECANCELED, "fail-fast sleeper");
    for (unsigned i = 0; i < nsp; i++)
        soak_check_once(&sp[i].runs, "spinner");
    return 0;
}

/* ---- a deadline that passes, and a shield inside ---- */

struct shield_owner {
    atomic_int runs;
    struct sleeper sl[2];
};

static int shield_owner_task(weft_task *self, void *arg)
{
    struct shield_owner *o = arg;
    soak_count_ran();
    soak_ran_once(&o->runs, "shield owner");
    weft_group s;
    int rc = weft_group_init(&s, self, &(weft_group_opts){.flags = WEFT_SHIELD, .name = "shield"});
    if (rc != 0) {
        soak_violation("shield: weft_group_init: %d", rc);
        return rc;
    }
    for (int i = 0; i < 2; i++)
        spawn_counted(&s, sleeper_task, &o->sl[i], "shield");
    /* the deadline above does not reach in: its sleepers return 0 */
    check_join("shield: the join", weft_group_join(&s, NULL), NULL, false, NULL, 0, false, false,
               false);
    return 0;
}

int soak_deadline_shield(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    struct sleeper sl[SOAK_SLEEPERS_MAX];
    struct shield_owner so;
    memset(sl, 0, sizeof sl);
    memset(&so, 0, sizeof so);
    unsigned nsl = soak_between(&seed, 1, SOAK_SLEEPERS_MAX);
    weft_time deadline = weft_after(soak_between(&seed, 100, 2000) * WEFT_USEC);
    /* the shielded sleepers outlive the deadline, uncancelled */
    for (int i = 0; i < 2; i++)
        so.sl[i].until = deadline + soak_between(&seed, 0, 1000) * WEFT_USEC;
    weft_group g;
    int rc = weft_group_init(&g, self, &(weft_group_opts){.deadline = deadline, .name = "deadline"});
    if (rc != 0) {
        soak_violation("deadline: weft_group_init: %d", rc);
        return rc;
    }
    unsigned shield_at = soak_between(&seed, 0, nsl);
    bool shield_spawned = false;
    for (unsigned i = 0, a = 0; i <= nsl; i++) {
        if (i == shield_at)
            shield_spawned = spawn_counted(&g, shield_owner_task, &so, "deadline") == 0;
        else
            spawn_counted(&g, sleeper_task, &sl[a++], "deadline");
    }
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    bool passed = weft_now() >= deadline;
    /* tasks that returned the reason they were cancelled for are no errors:
     * the one record says the deadline ended the group */
    struct oracle_entry e[SOAK_SLEEPERS_MAX + 1];
    for (unsigned i = 0; i < nsl; i++)
        e[i] = planned_stop("a deadline sleeper", ETIMEDOUT);
    e[nsl] = planned_stop("the shield's owner", 0);
    check_join("deadline: the join", rc, errs, true, e, nsl + 1, true, false, passed);
    weft_errors_free(errs);
    for (unsigned i = 0; i < nsl; i++)
        check_sleeper(&sl[i], ETIMEDOUT, "deadline sleeper");
    if (shield_spawned) {
        soak_check_once(&so.runs, "shield owner");
        for (int i = 0; i < 2; i++)
            check_sleeper(&so.sl[i], 0, "shielded sleeper");
    }
    return 0;
}

/* ---- a cancel from outside: a blocking job cancels the group ---- */

struct mid {
    atomic_int runs;
    struct sleeper *sl;
    unsigned n;
    int join_rc;
};

/* The scope mid's nested group runs in: the cancel from outside came from
 * above, before its sleepers could end (m->n > 0), and only from there. */
static void check_mid_scope(weft_task *self, weft_scope *sc)
{
    struct oracle_scope_exit e = {.what = "outside cancel: mid's scope",
                                  .outer_possible = true,
                                  .saw_cancel = weft_cancelled(self)};
    e.reason = weft_cancel_reason(self);
    e.rc = weft_scope_exit(self, sc);
    e.cancelled_after = weft_cancelled(self);
    if (!e.saw_cancel)
        soak_violation("outside cancel: mid's scope is not cancelled after its sleepers ended");
    struct oracle_verdict v;
    soak_check(oracle_check_scope_exit(&e, &v), &v);
}

/* One level down: the cancel must reach a nested group's sleepers too,
 * through the scope the group was begun in. */
static int mid_task(weft_task *self, void *arg)
{
    struct mid *m = arg;
    soak_count_ran();
    soak_ran_once(&m->runs, "mid");
    weft_scope sc;
    int rc = weft_scope_enter(self, &sc, &(weft_scope_opts){.name = "mid"});
    if (rc != 0) {
        soak_violation("outside cancel: weft_scope_enter: %d", rc);
        return rc;
    }
    weft_group inner;
    rc = weft_group_init(&inner, self, NULL);
    if (rc != 0) {
        soak_violation("outside cancel: weft_group_init: %d", rc);
        weft_scope_exit(self, &sc);
        return rc;
    }
    for (unsigned i = 0; i < m->n; i++)
        spawn_counted(&inner, sleeper_task, &m->sl[i], "outside cancel");
    m->join_rc = weft_group_join(&inner, NULL);
    /* the cancel from outside reaches its sleepers, one level down */
    struct oracle_entry e[SOAK_SLEEPERS_MAX];
    for (unsigned i = 0; i < m->n; i++)
        e[i] = planned_stop("a nested sleeper", ECANCELED);
    check_join("outside cancel: the nested join", m->join_rc, NULL, false, e, m->n, m->n > 0, true,
               false);
    check_mid_scope(self, &sc);
    return m->join_rc;
}

struct canceller {
    weft_group *g;
    long delay_ns;
    atomic_int runs;
};

static int canceller_job(weft_task *self, void *arg)
{
    (void)self;
    struct canceller *c = arg;
    soak_ran_once(&c->runs, "canceller job");
    struct timespec ts = {0, c->delay_ns};
    nanosleep(&ts, NULL);
    weft_group_cancel(c->g);
    return 0;
}

int soak_outside_cancel(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    struct sleeper sl[SOAK_SLEEPERS_MAX];
    struct mid m;
    memset(sl, 0, sizeof sl);
    memset(&m, 0, sizeof m);
    unsigned nsl = soak_between(&seed, 1, SOAK_SLEEPERS_MAX);
    unsigned deep = soak_between(&seed, 0, nsl);
    m.sl = sl + (nsl - deep);
    m.n = deep;
    weft_group g;
    int rc = weft_group_init(&g, self, &(weft_group_opts){.name = "outside"});
    if (rc != 0) {
        soak_violation("outside cancel: weft_group_init: %d", rc);
        return rc;
    }
    for (unsigned i = 0; i < nsl - deep; i++)
        spawn_counted(&g, sleeper_task, &sl[i], "outside cancel");
    bool mid_spawned = deep != 0 && spawn_counted(&g, mid_task, &m, "outside cancel") == 0;
    struct canceller c = {.g = &g, .delay_ns = (long)soak_between(&seed, 0, 500) * 1000};
    weft_job *job = NULL;
    rc = weft_spawn_blocking(self, canceller_job, &c, NULL, &job);
    if (rc != 0) {
        soak_violation("outside cancel: weft_spawn_blocking: %d", rc);
        weft_group_cancel(&g); /* the sleepers must still end */
    } else {
        atomic_fetch_add_explicit(&soak_totals.jobs_spawned, 1, memory_order_relaxed);
    }
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    struct oracle_entry e[SOAK_SLEEPERS_MAX + 1];
    for (unsigned i = 0; i < nsl - deep; i++)
        e[i] = planned_stop("an outside-cancel sleeper", ECANCELED);
    e[nsl - deep] = planned_stop("the nested group's owner", ECANCELED); /* its join's code */
    check_join("outside cancel: the join", rc, errs, true, e, nsl - deep + (deep != 0), true, true,
               false);
    weft_errors_free(errs);
    if (job != NULL) {
        /* g stays alive until the job that cancels it ended */
        rc = weft_job_wait(job, weft_after(SLEEP_BOUND));
        /* it returns 0; SLEEP_BOUND is no deadline but a hang's bound */
        struct oracle_job_wait w = {.what = "outside cancel: the canceller job",
                                    .rc = rc,
                                    .done = weft_job_done(job)};
        struct oracle_verdict v;
        soak_check(oracle_check_job_wait(&w, &v), &v);
        weft_job_release(job);
        atomic_fetch_add_explicit(&soak_totals.jobs_ran, 1, memory_order_relaxed);
        soak_check_once(&c.runs, "canceller job");
    }
    for (unsigned i = 0; i < nsl; i++)
        check_sleeper(&sl[i], ECANCELED, "outside-cancel sleeper");
    if (mid_spawned)
        soak_check_once(&m.runs, "mid");
    return 0;
}
