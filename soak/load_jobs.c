/*
 * Blocking-pool load: jobs waited with a deadline that sometimes passes first
 * (the job then goes on, is released, and its failure must reach
 * on_unhandled exactly once); a job blocked in read() that only its cancel
 * callback can wake, at its spawn deadline, sometimes released before that;
 * weft_retry_run with tiny delays, on a worker or on a job.
 *
 * A job's argument is freed by its cleanup, the one piece of its code that
 * runs last whatever happened, so the waiter copies what it needs first.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "soak/soak.h"

#define WAIT_BOUND (30 * WEFT_SEC)

static void nap(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void job_ended(struct soak_round *r)
{
    atomic_fetch_add_explicit(&soak_totals.cleanups, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&r->outstanding, 1, memory_order_release);
}

static void count_job(void)
{
    atomic_fetch_add_explicit(&soak_totals.jobs_spawned, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&soak_totals.cleanups_expected, 1, memory_order_relaxed);
}

/* ---- jobs waited with a deadline, then released ---- */

struct sleepy {
    struct soak_round *r;
    uint64_t id;
    long dur_ns;
    int plan;
    atomic_int runs;
};

static int sleepy_job(weft_task *self, void *arg)
{
    struct sleepy *j = arg;
    soak_ran_once(&j->runs, "blocking job");
    atomic_fetch_add_explicit(&soak_totals.jobs_ran, 1, memory_order_relaxed);
    nap(j->dur_ns);
    if (j->plan != 0)
        return weft_fail(self, j->plan, SOAK_UNHANDLED_FMT, (unsigned long long)j->id);
    return 0;
}

static void sleepy_cleanup(void *arg)
{
    struct sleepy *j = arg;
    struct soak_round *r = j->r;
    struct oracle_runs runs = {.what = "a blocking job, at its cleanup",
                               .spawned = 1,
                               .runs = atomic_load(&j->runs),
                               .returns = -1,
                               .cleanups = -1,
                               .cleanups_early = -1};
    struct oracle_verdict v;
    soak_check(oracle_check_runs(&runs, &v), &v);
    free(j);
    job_ended(r);
}

int soak_jobs(weft_task *self, struct soak_round *r, uint64_t seed)
{
    unsigned n = soak_between(&seed, 1, SOAK_JOBS_MAX - 2);
    weft_job *jobs[SOAK_JOBS_MAX];
    int plan[SOAK_JOBS_MAX];
    uint64_t ids[SOAK_JOBS_MAX];
    weft_spawn_opts o = {.name = "soak-job", .cleanup = sleepy_cleanup};
    for (unsigned i = 0; i < n; i++) {
        jobs[i] = NULL;
        struct sleepy *j = calloc(1, sizeof *j);
        if (j == NULL) {
            soak_violation("jobs: out of memory");
            continue; /* the jobs spawned so far are still waited and released */
        }
        j->r = r;
        j->id = ids[i] = soak_next_id();
        j->dur_ns = (long)soak_between(&seed, 0, 3000) * 1000;
        j->plan = plan[i] = soak_between(&seed, 0, 2) == 0 ? EIO : 0;
        atomic_fetch_add_explicit(&r->outstanding, 1, memory_order_relaxed);
        int rc = weft_spawn_blocking(self, sleepy_job, j, &o, &jobs[i]);
        if (rc != 0) {
            atomic_fetch_sub_explicit(&r->outstanding, 1, memory_order_relaxed);
            free(j);
            soak_violation("jobs: weft_spawn_blocking: %d", rc);
            continue;
        }
        count_job();
    }
    for (unsigned i = 0; i < n; i++) {
        if (jobs[i] == NULL)
            continue;
        weft_time until = weft_after(soak_between(&seed, 0, 2000) * WEFT_USEC);
        int rc = weft_job_wait(jobs[i], until);
        struct oracle_job_wait w = {.what = "jobs",
                                    .rc = rc,
                                    .done = weft_job_done(jobs[i]),
                                    .status = plan[i],
                                    .deadline_passed = weft_now() >= until};
        struct oracle_verdict v;
        soak_check(oracle_check_job_wait(&w, &v), &v);
        if (rc == ETIMEDOUT) {
            /* given up on: a failure nobody saw goes to on_unhandled */
            if (plan[i] != 0)
                soak_expect_unhandled(ids[i]);
            if (!weft_job_done(jobs[i]))
                atomic_fetch_add_explicit(&soak_totals.jobs_released_running, 1,
                                          memory_order_relaxed);
        }
        weft_job_release(jobs[i]);
    }
    return 0;
}

/* ---- a job in read() woken by its cancel callback ---- */

struct piped {
    struct soak_round *r;
    int rfd;
    atomic_int wfd; /* closed once: by the callback (another thread) or the cleanup */
    weft_cancel_cb cb;
    atomic_int runs;
    bool woke_uncancelled;
};

static void close_write_end(struct piped *p)
{
    int fd = atomic_exchange(&p->wfd, -1);
    if (fd >= 0)
        close(fd);
}

/* Cancel callback: closing the last write end makes read() return 0. */
static void hang_up(void *arg)
{
    atomic_fetch_add_explicit(&soak_totals.cancel_cbs, 1, memory_order_relaxed);
    close_write_end(arg);
}

static int piped_job(weft_task *self, void *arg)
{
    struct piped *p = arg;
    soak_ran_once(&p->runs, "piped job");
    atomic_fetch_add_explicit(&soak_totals.jobs_ran, 1, memory_order_relaxed);
    int rc = weft_on_cancel(self, &p->cb, hang_up, p);
    if (rc != 0) {
        soak_violation("piped job: weft_on_cancel: %d", rc);
        return rc;
    }
    char c;
    ssize_t got;
    while ((got = read(p->rfd, &c, 1)) < 0 && errno == EINTR) {
    }
    weft_on_cancel_remove(&p->cb);
    if (!weft_cancelled(self) || got != 0) {
        p->woke_uncancelled = true;
        return EIO;
    }
    return ECANCELED;
}

static void piped_cleanup(void *arg)
{
    struct piped *p = arg;
    struct soak_round *r = p->r;
    if (atomic_load(&p->runs) != 1 || p->woke_uncancelled)
        soak_violation("piped job: %d runs, woke uncancelled: %d", atomic_load(&p->runs),
                       p->woke_uncancelled);
    close_write_end(p);
    close(p->rfd);
    free(p);
    job_ended(r);
}

int soak_job_cancel_cb(weft_task *self, struct soak_round *r, uint64_t seed)
{
    struct piped *p = calloc(1, sizeof *p);
    int fds[2];
    if (p == NULL)
        return ENOMEM;
    if (pipe(fds) != 0) {
        soak_violation("piped job: pipe: errno %d", errno);
        free(p);
        return 0;
    }
    p->r = r;
    p->rfd = fds[0];
    atomic_init(&p->wfd, fds[1]);
    weft_spawn_opts o = {.name = "piped",
                         .cleanup = piped_cleanup,
                         .deadline = weft_after(soak_between(&seed, 100, 2000) * WEFT_USEC)};
    bool release_early = soak_between(&seed, 0, 2) == 0;
    weft_job *job;
    atomic_fetch_add_explicit(&r->outstanding, 1, memory_order_relaxed);
    int rc = weft_spawn_blocking(self, piped_job, p, &o, &job);
    if (rc != 0) {
        atomic_fetch_sub_explicit(&r->outstanding, 1, memory_order_relaxed);
        close(fds[0]);
        close(fds[1]);
        free(p);
        soak_violation("piped job: weft_spawn_blocking: %d", rc);
        return 0;
    }
    count_job();
    if (!release_early) {
        /* its ECANCELED, from its own deadline (nothing else cancels it),
         * reaches the waiter as ETIMEDOUT; WAIT_BOUND is a hang's bound */
        rc = weft_job_wait(job, weft_after(WAIT_BOUND));
        struct oracle_job_wait w = {.what = "piped job",
                                    .rc = rc,
                                    .done = weft_job_done(job),
                                    .status = ECANCELED,
                                    .own_deadline_passed = weft_now() >= o.deadline};
        struct oracle_verdict v;
        soak_check(oracle_check_job_wait(&w, &v), &v);
    } else if (!weft_job_done(job)) {
        atomic_fetch_add_explicit(&soak_totals.jobs_released_running, 1, memory_order_relaxed);
    }
    weft_job_release(job); /* released early: the deadline still wakes it, cleanup still runs */
    return 0;
}

/* ---- retry ---- */

struct tries {
    unsigned fail_first, calls;
};

static int flaky(weft_task *self, void *arg)
{
    struct tries *t = arg;
    if (++t->calls <= t->fail_first)
        return weft_fail(self, EAGAIN, "try %u", t->calls);
    return 0;
}

struct retry_case {
    weft_retry policy;
    struct tries t;
    int rc;
    int pre_cancelled, worker;
};

static void retry_once(weft_task *self, struct retry_case *c)
{
    c->pre_cancelled = weft_cancel_reason(self);
    c->worker = weft_worker_id(self);
    c->rc = weft_retry_run(self, &c->policy, flaky, &c->t);
}

/* Nothing cancels it and it has no deadline: it returns 0 or EAGAIN. */
static void check_retry(const struct retry_case *c)
{
    char what[64];
    snprintf(what, sizeof what, "retry (reason before %d, worker %d)", c->pre_cancelled, c->worker);
    struct oracle_retry check = {.what = what,
                                 .rc = c->rc,
                                 .attempts = c->policy.attempts,
                                 .fails = c->t.fail_first,
                                 .calls = c->t.calls,
                                 .fail_code = EAGAIN};
    struct oracle_verdict v;
    soak_check(oracle_check_retry(&check, &v), &v);
}

static int retry_job(weft_task *self, void *arg)
{
    atomic_fetch_add_explicit(&soak_totals.jobs_ran, 1, memory_order_relaxed);
    retry_once(self, arg);
    return 0;
}

int soak_retry(weft_task *self, struct soak_round *r, uint64_t seed)
{
    (void)r;
    struct retry_case c = {
        .policy = {.attempts = soak_between(&seed, 1, 5),
                   .base_delay = soak_between(&seed, 10, 100) * WEFT_USEC,
                   .max_delay = 500 * WEFT_USEC,
                   .factor = 2,
                   .jitter = 0.5},
    };
    c.t.fail_first = soak_between(&seed, 0, c.policy.attempts);
    if (soak_between(&seed, 0, 2) != 0) {
        retry_once(self, &c);
    } else { /* the same on a blocking job's self */
        weft_job *job;
        int rc = weft_spawn_blocking(self, retry_job, &c, NULL, &job);
        if (rc != 0) {
            soak_violation("retry: weft_spawn_blocking: %d", rc);
            return 0;
        }
        atomic_fetch_add_explicit(&soak_totals.jobs_spawned, 1, memory_order_relaxed);
        rc = weft_job_wait(job, weft_after(WAIT_BOUND));
        struct oracle_job_wait w = {.what = "retry: the job", .rc = rc, .done = weft_job_done(job)};
        struct oracle_verdict v;
        soak_check(oracle_check_job_wait(&w, &v), &v);
        weft_job_release(job);
    }
    check_retry(&c);
    return 0;
}
