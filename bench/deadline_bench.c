/*
 * deadline-bench: how late a deadline is seen (issue "what a new user ran
 * into", item 2: the timer thread fires a deadline within 1 ms of it at p99
 * on an idle machine).
 *
 * Each iteration starts a fresh deadline D = now + 2 ms and a task that
 * spins on weft_cancelled(self) (nothing else: the flag is read every few
 * ns); lag = the weft_now() at which the spinner first saw the flag - D. The
 * spinner then returns ECANCELED (or ETIMEDOUT, which is no failure at the
 * deadline) and the root joins. Between iterations the root sleeps 1 ms
 * (weft_sleep), so the timer thread is asleep when the next deadline comes:
 * the lag includes its wake-up. Cases:
 *   group   the deadline is the group's own (weft_group_opts.deadline)
 *   spawn   the deadline is the spawn's (weft_spawn_opts.deadline): the task
 *           runs in a scope of its own
 *   job     a blocking job spawned with the deadline spins on the flag
 *   nested  the group with the deadline has the spinner 4 groups below it:
 *           the cancel is pushed down to a group that only inherits it
 * and one more, sleep: a task of a group with the deadline calls
 * weft_sleep(self, WEFT_NEVER), which returns ETIMEDOUT at D; lag = its
 * return - D, and flag= counts the iterations in which weft_cancelled(self)
 * was already true when it returned (a timed wait that ended at the
 * deadline leaves the scope cancelled).
 *
 * The machine may be shared: runq = the time the workers and the timer
 * thread spent runnable but waiting for a CPU during the iteration (Linux
 * schedstat); quiet= counts the iterations with less than 50 us of it and
 * quiet_lag_* is the lag over those alone.
 *
 *   deadline-bench [workers]      (default 2)
 *
 * Environment: BENCH_QUICK=1 (20 iterations a case), BENCH_DEADLINE_ITERS
 * (default 300). Prints one key=value line per case; exits 0 unless a run
 * went wrong (an unexpected return code). Targets are reported, never
 * enforced.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

#include "bench_stats.h"

enum { LEAD_NS = 2 * WEFT_MSEC, PAUSE_NS = 1 * WEFT_MSEC, QUIET_NS = 50 * WEFT_USEC, DEPTH = 4 };

enum bench_case { C_GROUP, C_SPAWN, C_JOB, C_NESTED, C_SLEEP, C_COUNT };
static const char *const case_name[C_COUNT] = {"group", "spawn", "job", "nested", "sleep"};

static struct bench_runq watched; /* the workers, the timer, the blocking threads */

static int64_t runq_wait_ns(void)
{
    return bench_runq_wait_ns(&watched);
}

/* ---- one iteration ------------------------------------------------------- */

struct iter {
    enum bench_case c;
    weft_time deadline;
    _Atomic int64_t seen; /* when the spinner saw the flag (or sleep returned) */
    _Atomic int flag_after_sleep;
    int depth; /* nested: groups still to go down */
};

static int spin(weft_task *self, void *arg)
{
    struct iter *it = arg;
    while (!weft_cancelled(self))
        ;
    atomic_store_explicit(&it->seen, weft_now(), memory_order_relaxed);
    return weft_cancel_reason(self);
}

static int descend(weft_task *self, void *arg)
{
    struct iter *it = arg;
    if (it->depth-- == 0)
        return spin(self, arg);
    weft_group g;
    if (weft_group_init(&g, self, NULL) != 0)
        return EIO;
    weft_spawn(&g, descend, it);
    return weft_group_join(&g, NULL);
}

static int sleeper(weft_task *self, void *arg)
{
    struct iter *it = arg;
    int rc = weft_sleep(self, WEFT_NEVER);
    atomic_store_explicit(&it->seen, weft_now(), memory_order_relaxed);
    atomic_store_explicit(&it->flag_after_sleep, weft_cancelled(self), memory_order_relaxed);
    return rc;
}

static int one(weft_task *self, struct iter *it)
{
    weft_group g;
    weft_group_opts go = {.deadline = it->deadline};
    bool own = it->c == C_GROUP || it->c == C_NESTED || it->c == C_SLEEP;
    if (weft_group_init(&g, self, own ? &go : NULL) != 0)
        return EIO;
    weft_spawn_opts so = {.deadline = it->deadline};
    weft_job *job = NULL;
    int rc = 0;
    switch (it->c) {
    case C_GROUP: rc = weft_spawn(&g, spin, it); break;
    case C_SPAWN: rc = weft_spawn_ex(&g, spin, it, &so); break;
    case C_NESTED: it->depth = DEPTH; rc = weft_spawn(&g, descend, it); break;
    case C_SLEEP: rc = weft_spawn(&g, sleeper, it); break;
    case C_JOB: rc = weft_spawn_blocking(self, spin, it, &so, &job); break;
    default: rc = EIO;
    }
    int jrc = weft_group_join(&g, NULL);
    if (job != NULL) {
        jrc = weft_job_wait(job, WEFT_NEVER);
        weft_job_release(job);
    }
    if (rc != 0)
        return rc;
    /* the spinner saw its deadline: ETIMEDOUT, never a failure */
    return jrc == ETIMEDOUT ? 0 : jrc != 0 ? jrc : EIO;
}

struct run {
    enum bench_case c;
    size_t iters;
    int64_t *lag, *runq;
    size_t flags;
    int rc;
};

static int root(weft_task *self, void *arg)
{
    struct run *r = arg;
    for (size_t i = 0; i < r->iters; i++) {
        weft_sleep(self, weft_after(PAUSE_NS));
        struct iter it = {.c = r->c};
        int64_t w0 = runq_wait_ns();
        it.deadline = weft_after(LEAD_NS);
        int rc = one(self, &it);
        r->runq[i] = runq_wait_ns() - w0;
        if (rc != 0) {
            r->rc = rc;
            return rc;
        }
        r->lag[i] = atomic_load_explicit(&it.seen, memory_order_relaxed) - it.deadline;
        r->flags += (size_t)atomic_load_explicit(&it.flag_after_sleep, memory_order_relaxed);
    }
    return 0;
}

static void print_pcts(const char *what, int64_t *v, size_t n)
{
    if (n == 0) {
        printf(" %s_n=0", what);
        return;
    }
    qsort(v, n, sizeof v[0], bench_cmp_i64);
    printf(" %s_p50_us=%.1f %s_p99_us=%.1f %s_max_us=%.1f", what,
           (double)bench_pct(v, n, 0.5) / 1e3, what, (double)bench_pct(v, n, 0.99) / 1e3, what,
           (double)v[n - 1] / 1e3);
}

static int run_case(weft_runtime *rt, unsigned workers, enum bench_case c, size_t iters)
{
    struct run r = {.c = c, .iters = iters};
    r.lag = calloc(iters, sizeof *r.lag);
    r.runq = calloc(iters, sizeof *r.runq);
    int64_t *quiet = calloc(iters, sizeof *quiet);
    if (r.lag == NULL || r.runq == NULL || quiet == NULL) {
        fprintf(stderr, "deadline-bench: out of memory\n");
        return 1;
    }
    int rc = weft_run(rt, root, &r, NULL);
    if (rc != 0) {
        fprintf(stderr, "deadline-bench: case %s: code %d (%s)\n", case_name[c], rc, strerror(rc));
        return 1;
    }
    size_t nq = 0;
    for (size_t i = 0; i < iters; i++)
        if (r.runq[i] < QUIET_NS)
            quiet[nq++] = r.lag[i];
    printf("bench=deadline_lag case=%s workers=%u iters=%zu", case_name[c], workers, iters);
    print_pcts("lag", r.lag, iters);
    printf(" quiet=%zu", nq);
    print_pcts("quiet_lag", quiet, nq);
    print_pcts("runq", r.runq, iters);
    if (c == C_SLEEP)
        printf(" flag=%zu/%zu", r.flags, iters);
    printf(" target_p99_us=1000\n");
    fflush(stdout);
    free(r.lag);
    free(r.runq);
    free(quiet);
    return 0;
}

static int warm(weft_task *self, void *arg)
{
    (void)arg;
    /* starts the timer thread and a blocking thread before anything is timed */
    struct iter it = {.c = C_JOB, .deadline = weft_after(LEAD_NS)};
    return one(self, &it);
}

int main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
    size_t iters = getenv("BENCH_QUICK") != NULL ? 20 : bench_env_u64("BENCH_DEADLINE_ITERS", 300);
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("deadline-bench: weft_runtime_create");
        return 1;
    }
    int status = weft_run(rt, warm, NULL, NULL) != 0;
    static const char *const names[] = {"weft-w", "weft-timer", "weft-b", NULL};
    bench_runq_watch(&watched, names);
    for (int c = 0; c < C_COUNT && status == 0; c++)
        status = run_case(rt, workers, (enum bench_case)c, iters);
    if (weft_runtime_destroy(rt) != 0)
        status = 1;
    return status;
}
