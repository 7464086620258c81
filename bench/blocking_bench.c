/*
 * blocking-bench: the blocking pool (weft_spawn_blocking, weft_job_wait)
 * against DESIGN.md's targets ("weft_job_wait with a deadline returns
 * within 1 ms of it (p99) while the job keeps running; CPU throughput with
 * a saturated blocking pool >= 95 % of idle") and against the two usual
 * ways a C program runs blocking work off its own threads. Three parts,
 * side by side in one run; every run of a part is on a fresh runtime of W
 * workers, created before and destroyed after it (destroy must return 0).
 *
 * 1. bench=blocking_wait: a root task spawns a blocking job that blocks in
 *    read() on a pipe of its own (it would block for ever: it is woken by
 *    its cancel callback, which writes one byte), then calls
 *    weft_job_wait(job, D) with D = weft_after(5 ms). overshoot = weft_now()
 *    after the wait returned - D. The wait must return ETIMEDOUT and the job
 *    must still be running (!weft_job_done); then the root cancels the job,
 *    waits for its end (it must return ECANCELED: cancel_us is the time from
 *    weft_job_cancel to that wait's return) and releases it. WAITS times
 *    per run. Cases: idle (nothing else runs), busy (W - 1 CPU tasks spin
 *    meanwhile: "the other worker runs CPU work"), saturated (W spinners:
 *    the waiter, back from its wait, competes with them for the CPUs).
 *    p50 / p99 are medians over REPS runs of each run's percentiles;
 *    all_p99 and max are over every wait of every run.
 *
 * 2. bench=blocking_submit: JOBS jobs, each ~1 us of calibrated arithmetic
 *    plus one atomic increment (the count is checked), submitted and waited
 *    for in batches of BATCH, at most THREADS running at once, timed from
 *    the first submission to the last completion:
 *      weft        from a task: BATCH x weft_spawn_blocking, then
 *                  weft_job_wait(WEFT_NEVER) + weft_job_release each, on a
 *                  runtime with blocking_max = THREADS;
 *      pthread     from the main thread: pthread_create per job, at most
 *                  THREADS alive (the oldest is joined before the next
 *                  starts), every thread joined at the batch's end;
 *      glib        GThreadPool (non-exclusive: threads on demand, shared,
 *                  the default), max_threads = THREADS; g_thread_pool_push
 *                  per job, the batch's end counted under a mutex +
 *                  condition variable;
 *      glib-excl   the same with exclusive = TRUE (THREADS threads started
 *                  with the pool, never idle-stopped).
 *    weft's runtime and GLib's pools run one untimed batch first (threads
 *    started); pthread has nothing to warm. jobs_s and us_per_job: medians
 *    over REPS rounds, the implementations interleaved in a rotating order.
 *
 * 3. bench=blocking_cpu: fib(N) (bench/kernels_weft.h, one spawn per call,
 *    no cutoff) timed alone and beside 64 jobs or waits, as sleep-bench
 *    does for weft_sleep. The root starts the case's 64, waits (polling
 *    with weft_sleep) until all 64 are blocked, then 1 ms more, then times
 *    fib (a nested group), then ends them. Cases:
 *      alone       fib only;
 *      blocked     64 blocking jobs, each in read() on its own pipe for
 *                  the whole run (blocking_max = 64: a saturated pool),
 *                  cancelled after fib, each wait must return ECANCELED;
 *      ticking     64 jobs each looping clock_nanosleep(1 ms) until
 *                  cancelled: 64,000 thread wake-ups a second, which the
 *                  kernel runs on the same 2 CPUs as fib;
 *      waiters     64 CPU tasks each spawn a blocked job and
 *                  weft_job_wait(job, now + 600 s): a finite deadline,
 *                  so each wait lends its worker slot to a spare thread;
 *                  their group is cancelled after fib (each wait must return
 *                  ECANCELED, each job then ends through its cancel
 *                  callback; the tasks release them);
 *      rewaiting   the same, but every wait has a 10 ms deadline and the
 *                  task waits again after each ETIMEDOUT: 6,400 timed
 *                  waits a second, each a slot hand-off and reclaim.
 *    tput = fib_s(alone) / fib_s(case) of the medians over REPS rounds
 *    (target >= 95 %); cpu_s = process CPU time during fib (W x fib_s when
 *    W threads run fib throughout); threads = the process's threads when
 *    fib started.
 *
 * N: the smallest fib(N), from 30 up, that takes >= 0.25 s alone
 * (calibrated), unless BENCH_BLOCK_FIB is set.
 *
 *   blocking-bench [workers]      (default 2)
 *
 * Environment (read with bench_env_u64): BENCH_QUICK=1 (a smoke run of a
 * few seconds: 20 waits, 1,000 jobs, fib(25), 1 round), BENCH_REPS (5),
 * BENCH_BLOCK_WAITS (200), BENCH_BLOCK_JOBS (20000), BENCH_BLOCK_BATCH
 * (64), BENCH_BLOCK_THREADS (8), BENCH_BLOCK_FIB (calibrated),
 * BENCH_BLOCK_PARTS (a bit mask of the parts to run, default 7),
 * BENCH_VERBOSE=1 (parts 2 and 3 also print each run's time).
 * Prints one key=value line per result; exits 0 unless a result was wrong
 * (a wait or job status, a count, a fib value, a destroy, or a run still
 * going after 60 s - 20 s with BENCH_QUICK - which a watchdog thread
 * reports before it exits 1). Timing numbers are reported, never enforced.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef WEFT_HAVE_GLIB
#include <glib.h>
#endif

#include <weft/weft.h>

#include "bench/bench_stats.h"
#include "bench/bench_watchdog.h"

#include "kernels_weft.h"

#define MAX_REPS 101u
#define WAIT_NS (5 * WEFT_MSEC)        /* part 1: each wait's deadline, from its call */
#define END_MAX_NS (5 * WEFT_SEC)      /* a cancelled job not ended by then is lost */
#define SPIN_NS (20 * WEFT_USEC)       /* a spinner's work between looks at its flag */
#define JOB_WORK_NS 1000               /* part 2: each job's arithmetic */
#define CPU_JOBS 64u                   /* part 3 */
#define FAR_NS (600 * WEFT_SEC)        /* `waiters`: finite, never reached */
#define REWAIT_NS (10 * WEFT_MSEC)     /* `rewaiting`: each wait */
#define TICK_NS (1 * WEFT_MSEC)        /* `ticking`: each nanosleep */
#define POLL_NS (200 * WEFT_USEC)      /* the root's polls for "all blocked" */
#define SETTLE_NS (1 * WEFT_MSEC)      /* one more wait once all counted */
#define READY_MAX_NS (10 * WEFT_SEC)   /* give up on "all blocked" */
#define CAL_FIRST 30u
#define CAL_MAX 42u
#define CAL_MIN_NS (250 * WEFT_MSEC)
#define QUICK_FIB 25u
#define WARMUP_FIB 20u
#define WATCH_NS (60 * WEFT_SEC)
#define WATCH_QUICK_NS (20 * WEFT_SEC)

static unsigned workers;
static unsigned reps;
static bool verbose; /* BENCH_VERBOSE: a line per run too */
static atomic_int failures;

static void failed(const char *fmt, ...) WEFT_PRINTF(1, 2);
static void failed(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("blocking-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    atomic_fetch_add(&failures, 1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size);
    if (p == NULL) {
        fprintf(stderr, "blocking-bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- runtimes ------------------------------------------------------------ */

static weft_runtime *runtime_new(unsigned blocking_max)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    cfg.blocking_max = blocking_max;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("blocking-bench: weft_runtime_create");
        exit(1);
    }
    return rt;
}

/* Destroy must find every job ended: each part waits for its jobs. */
static void runtime_end(weft_runtime *rt, const char *what)
{
    int rc = weft_runtime_destroy(rt);
    if (rc != 0)
        failed("%s: weft_runtime_destroy returned %d (%s)", what, rc, strerror(rc));
}

/* ---- a job blocked in read() until its cancel callback wakes it ----------
 * Each job has a pipe of its own: a shared one would let one job's wake-up
 * byte end another job that was not cancelled. */
struct blocked {
    int rfd, wfd;
    weft_cancel_cb cb;
    atomic_uint *ready; /* counts the job in just before it blocks */
    atomic_uint *ended; /* cleanup: counts its end (NULL: not counted) */
};

static void blocked_init(struct blocked *b)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("blocking-bench: pipe");
        exit(1);
    }
    b->rfd = fds[0];
    b->wfd = fds[1];
}

static void blocked_fini(struct blocked *b)
{
    close(b->rfd);
    close(b->wfd);
}

/* The job's cancel callback (any thread): one byte wakes its read(). */
static void blocked_poke(void *arg)
{
    struct blocked *b = arg;
    char c = 1;
    while (write(b->wfd, &c, 1) < 0 && errno == EINTR) {
    }
}

static int blocked_job(weft_task *self, void *arg)
{
    struct blocked *b = arg;
    int rc = weft_on_cancel(self, &b->cb, blocked_poke, b);
    if (rc != 0)
        return rc;
    if (b->ready != NULL)
        atomic_fetch_add_explicit(b->ready, 1, memory_order_relaxed);
    char c;
    ssize_t n;
    while ((n = read(b->rfd, &c, 1)) < 0 && errno == EINTR) {
    }
    weft_on_cancel_remove(&b->cb);
    /* only the callback writes: a byte without a cancel is a bug */
    return weft_cancelled(self) ? ECANCELED : n < 0 ? errno : EPROTO;
}

static void blocked_ended(void *arg)
{
    struct blocked *b = arg;
    if (b->ended != NULL)
        atomic_fetch_add_explicit(b->ended, 1, memory_order_relaxed);
}

/* Cancel a job the caller holds, wait for its end (ECANCELED), release it;
 * false when it did not end so. *ns: cancel to the wait's return. */
static bool cancel_and_release(weft_job *job, const char *what, int64_t *ns)
{
    weft_time t0 = weft_now();
    weft_job_cancel(job);
    int rc = weft_job_wait(job, weft_after(END_MAX_NS));
    if (ns != NULL)
        *ns = weft_now() - t0;
    bool done = weft_job_done(job);
    weft_job_release(job);
    if (rc != ECANCELED || !done) {
        failed("%s: a cancelled job's wait returned %d (%s), done %d; expected ECANCELED", what,
               rc, strerror(rc), done);
        return false;
    }
    return true;
}

/* ======================================================================
 * Part 1: how late does a timed-out weft_job_wait return?
 * ====================================================================== */

enum wait_case { W_IDLE, W_BUSY, W_SATURATED, NWAIT };
static const char *const wait_name[NWAIT] = {"idle", "busy", "saturated"};

struct wait_run {
    enum wait_case kind;
    unsigned n, spinners;
    int64_t *over, *cancel; /* n samples each */
    unsigned got;           /* samples taken */
    atomic_uint spinning;
    atomic_bool stop;
    uint64_t spin_iters;
};

static int spinner_task(weft_task *self, void *arg)
{
    (void)self;
    struct wait_run *r = arg;
    atomic_fetch_add_explicit(&r->spinning, 1, memory_order_relaxed);
    uint64_t x = 1;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed))
        x = bench_work(r->spin_iters, x);
    return 0;
}

static int wait_root(weft_task *self, void *arg)
{
    struct wait_run *r = arg;
    weft_group spin;
    int rc = weft_group_init(&spin, self, NULL);
    if (rc != 0)
        return rc;
    for (unsigned i = 0; i < r->spinners && rc == 0; i++)
        rc = weft_spawn(&spin, spinner_task, r);
    /* the last spinner may start only when a wait lends our slot */
    weft_time give_up = weft_after(READY_MAX_NS);
    while (rc == 0 && atomic_load(&r->spinning) < r->spinners && weft_now() < give_up)
        weft_sleep(self, weft_after(2 * WEFT_MSEC));
    if (rc == 0 && atomic_load(&r->spinning) < r->spinners)
        rc = EAGAIN;

    struct blocked b = {0};
    blocked_init(&b);
    for (unsigned i = 0; i < r->n && rc == 0; i++) {
        weft_job *job;
        if ((rc = weft_spawn_blocking(self, blocked_job, &b, NULL, &job)) != 0) {
            failed("wait %s: weft_spawn_blocking returned %d", wait_name[r->kind], rc);
            break;
        }
        weft_time deadline = weft_after(WAIT_NS);
        int w = weft_job_wait(job, deadline);
        weft_time back = weft_now();
        bool done = weft_job_done(job);
        r->over[r->got] = back - deadline;
        if (w != ETIMEDOUT || done) {
            failed("wait %s: a wait on a job blocked for ever returned %d (%s), done %d; "
                   "expected ETIMEDOUT, still running",
                   wait_name[r->kind], w, strerror(w), done);
            rc = EPROTO;
        }
        if (!cancel_and_release(job, wait_name[r->kind], &r->cancel[r->got]))
            rc = EPROTO;
        r->got++;
    }
    blocked_fini(&b);

    atomic_store(&r->stop, true);
    int rj = weft_group_join(&spin, NULL);
    return rc != 0 ? rc : rj;
}

static void part_wait(unsigned n)
{
    printf("bench=blocking_wait_setup workers=%u waits=%u reps=%u wait_ms=%.1f\n", workers, n,
           reps, (double)WAIT_NS / 1e6);
    double ns_per_iter;
    uint64_t spin_iters = bench_calibrate(SPIN_NS, &ns_per_iter);
    struct wait_run r;
    r.over = xcalloc(n, sizeof *r.over);
    r.cancel = xcalloc(n, sizeof *r.cancel);
    int64_t *all[NWAIT], *allc[NWAIT];
    size_t nall[NWAIT] = {0};
    double *p50[NWAIT], *p99[NWAIT], *c50[NWAIT];
    unsigned good[NWAIT] = {0};
    for (int k = 0; k < NWAIT; k++) {
        all[k] = xcalloc((size_t)n * reps, sizeof(int64_t));
        allc[k] = xcalloc((size_t)n * reps, sizeof(int64_t));
        p50[k] = xcalloc(reps, sizeof(double));
        p99[k] = xcalloc(reps, sizeof(double));
        c50[k] = xcalloc(reps, sizeof(double));
    }
    for (unsigned rep = 0; rep < reps; rep++)
        for (unsigned j = 0; j < NWAIT; j++) {
            enum wait_case k = (enum wait_case)((rep + j) % NWAIT);
            memset(r.over, 0, n * sizeof *r.over);
            r.kind = k;
            r.n = n;
            r.spinners = k == W_IDLE ? 0 : k == W_BUSY ? workers - 1 : workers;
            r.got = 0;
            r.spin_iters = spin_iters;
            atomic_init(&r.spinning, 0);
            atomic_init(&r.stop, false);
            weft_runtime *rt = runtime_new(0);
            bench_watch_begin("part 1 (blocking_wait)");
            int rc = weft_run(rt, wait_root, &r, NULL);
            bench_watch_end();
            weft_stats st;
            weft_runtime_stats(rt, &st);
            runtime_end(rt, "blocking_wait");
            if (rc != 0) {
                failed("wait %s: the run returned %d (%s)", wait_name[k], rc, strerror(rc));
                continue;
            }
            /* every job's first wait gave up on it once, and every job ended */
            if (st.blocking_timed_out != n || st.blocking_done != n)
                failed("wait %s: stats blocking_timed_out %" PRIu64 ", blocking_done %" PRIu64
                       "; expected %u each",
                       wait_name[k], st.blocking_timed_out, st.blocking_done, n);
            memcpy(all[k] + nall[k], r.over, n * sizeof *r.over);
            memcpy(allc[k] + nall[k], r.cancel, n * sizeof *r.cancel);
            nall[k] += n;
            qsort(r.over, n, sizeof *r.over, bench_cmp_i64);
            qsort(r.cancel, n, sizeof *r.cancel, bench_cmp_i64);
            p50[k][good[k]] = (double)bench_pct(r.over, n, 0.50) / 1e3;
            p99[k][good[k]] = (double)bench_pct(r.over, n, 0.99) / 1e3;
            c50[k][good[k]] = (double)bench_pct(r.cancel, n, 0.50) / 1e3;
            good[k]++;
        }
    for (int k = 0; k < NWAIT; k++) {
        if (good[k] == 0)
            continue;
        qsort(all[k], nall[k], sizeof(int64_t), bench_cmp_i64);
        qsort(allc[k], nall[k], sizeof(int64_t), bench_cmp_i64);
        printf("bench=blocking_wait case=%s workers=%u spinners=%u waits=%zu runs=%u "
               "over_p50_us=%.1f over_p99_us=%.1f all_p99_us=%.1f max_us=%.1f "
               "cancel_p50_us=%.1f cancel_all_p99_us=%.1f\n",
               wait_name[k], workers,
               k == W_IDLE ? 0 : k == W_BUSY ? workers - 1 : workers, nall[k], good[k],
               bench_median_d(p50[k], good[k]), bench_median_d(p99[k], good[k]),
               (double)bench_pct(all[k], nall[k], 0.99) / 1e3,
               (double)all[k][nall[k] - 1] / 1e3, bench_median_d(c50[k], good[k]),
               (double)bench_pct(allc[k], nall[k], 0.99) / 1e3);
        free(all[k]);
        free(allc[k]);
        free(p50[k]);
        free(p99[k]);
        free(c50[k]);
    }
    fflush(stdout);
    free(r.over);
    free(r.cancel);
}

/* ======================================================================
 * Part 2: submit + complete throughput against pthread and GLib
 * ====================================================================== */

static atomic_uint_fast64_t jobs_run;
static uint64_t job_iters;

static void job_body(void)
{
    bench_work(job_iters, 1);
    atomic_fetch_add_explicit(&jobs_run, 1, memory_order_relaxed);
}

struct submit {
    uint64_t jobs;
    unsigned batch, threads;
    int64_t ns;
};

/* -- weft -- */
static int weft_submit_job(weft_task *self, void *arg)
{
    (void)self;
    (void)arg;
    job_body();
    return 0;
}

struct weft_submit {
    const struct submit *s;
    uint64_t jobs; /* this run's count */
    int64_t ns;
};

static int weft_submit_root(weft_task *self, void *arg)
{
    struct weft_submit *w = arg;
    unsigned batch = w->s->batch;
    weft_job **jobs = xcalloc(batch, sizeof *jobs);
    int rc = 0;
    weft_time t0 = weft_now();
    for (uint64_t done = 0; done < w->jobs && rc == 0;) {
        unsigned k = w->jobs - done < batch ? (unsigned)(w->jobs - done) : batch;
        unsigned spawned = 0;
        for (; spawned < k; spawned++)
            if ((rc = weft_spawn_blocking(self, weft_submit_job, NULL, NULL, &jobs[spawned])) != 0)
                break;
        for (unsigned i = 0; i < spawned; i++) {
            int s = weft_job_wait(jobs[i], WEFT_NEVER);
            weft_job_release(jobs[i]);
            if (s != 0 && rc == 0)
                rc = s;
        }
        done += spawned;
    }
    w->ns = weft_now() - t0;
    free(jobs);
    return rc;
}

static bool submit_weft(const struct submit *s, int64_t *ns)
{
    weft_runtime *rt = runtime_new(s->threads);
    struct weft_submit warm = {s, s->batch, 0}, w = {s, s->jobs, 0};
    atomic_store(&jobs_run, 0);
    bench_watch_begin("part 2 (blocking_submit weft)");
    int rc = weft_run(rt, weft_submit_root, &warm, NULL);
    if (rc == 0) {
        atomic_store(&jobs_run, 0);
        rc = weft_run(rt, weft_submit_root, &w, NULL);
    }
    bench_watch_end();
    uint64_t ran = atomic_load(&jobs_run);
    runtime_end(rt, "blocking_submit weft");
    if (rc != 0 || ran != s->jobs) {
        failed("submit weft: run returned %d (%s), %" PRIu64 " of %" PRIu64 " jobs ran", rc,
               strerror(rc), ran, s->jobs);
        return false;
    }
    *ns = w.ns;
    return true;
}

/* -- a thread per job -- */
static void *pthread_job(void *arg)
{
    (void)arg;
    job_body();
    return NULL;
}

static bool submit_pthread(const struct submit *s, int64_t *ns)
{
    pthread_t *th = xcalloc(s->batch, sizeof *th);
    atomic_store(&jobs_run, 0);
    bool ok = true;
    bench_watch_begin("part 2 (blocking_submit pthread)");
    weft_time t0 = weft_now();
    for (uint64_t done = 0; done < s->jobs && ok;) {
        unsigned k = s->jobs - done < s->batch ? (unsigned)(s->jobs - done) : s->batch;
        unsigned started = 0, joined = 0;
        for (; started < k; started++) {
            if (started - joined == s->threads)
                pthread_join(th[joined++], NULL); /* at most `threads` alive */
            int rc = pthread_create(&th[started], NULL, pthread_job, NULL);
            if (rc != 0) {
                failed("submit pthread: pthread_create returned %d (%s)", rc, strerror(rc));
                ok = false;
                break;
            }
        }
        while (joined < started)
            pthread_join(th[joined++], NULL);
        done += started;
    }
    *ns = weft_now() - t0;
    bench_watch_end();
    free(th);
    uint64_t ran = atomic_load(&jobs_run);
    if (ok && ran != s->jobs) {
        failed("submit pthread: %" PRIu64 " of %" PRIu64 " jobs ran", ran, s->jobs);
        ok = false;
    }
    return ok;
}

/* -- GLib's GThreadPool -- */
#ifdef WEFT_HAVE_GLIB
/* A batch's end, counted under a pthread mutex rather than a GMutex: the
 * cost is the same, and ThreadSanitizer understands it (GLib's futex-based
 * GMutex, built without TSan, looks like no lock at all to it). */
static pthread_mutex_t glib_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t glib_batch_done = PTHREAD_COND_INITIALIZER;
static unsigned glib_ended, glib_want;

static void glib_job(gpointer data, gpointer user)
{
    (void)data;
    (void)user;
    job_body();
    pthread_mutex_lock(&glib_lock);
    if (++glib_ended == glib_want)
        pthread_cond_signal(&glib_batch_done);
    pthread_mutex_unlock(&glib_lock);
}

/* `jobs` in batches on pool; false when a push failed. */
static bool glib_batches(GThreadPool *pool, const struct submit *s, uint64_t jobs)
{
    for (uint64_t done = 0; done < jobs;) {
        unsigned k = jobs - done < s->batch ? (unsigned)(jobs - done) : s->batch;
        pthread_mutex_lock(&glib_lock);
        glib_ended = 0;
        glib_want = k;
        pthread_mutex_unlock(&glib_lock);
        for (unsigned i = 0; i < k; i++) {
            GError *err = NULL;
            if (!g_thread_pool_push(pool, GUINT_TO_POINTER(1), &err)) {
                failed("submit glib: g_thread_pool_push: %s", err != NULL ? err->message : "?");
                g_clear_error(&err);
                return false; /* the pushed ones still run: the pool's free waits */
            }
        }
        pthread_mutex_lock(&glib_lock);
        while (glib_ended < k)
            pthread_cond_wait(&glib_batch_done, &glib_lock);
        pthread_mutex_unlock(&glib_lock);
        done += k;
    }
    return true;
}

static bool submit_glib(const struct submit *s, bool exclusive, int64_t *ns)
{
    GError *err = NULL;
    GThreadPool *pool = g_thread_pool_new(glib_job, NULL, (gint)s->threads, exclusive, &err);
    if (pool == NULL) {
        failed("submit glib: g_thread_pool_new: %s", err != NULL ? err->message : "?");
        g_clear_error(&err);
        return false;
    }
    bench_watch_begin("part 2 (blocking_submit glib)");
    bool ok = glib_batches(pool, s, s->batch); /* warm-up: threads started */
    atomic_store(&jobs_run, 0);
    weft_time t0 = weft_now();
    ok = ok && glib_batches(pool, s, s->jobs);
    *ns = weft_now() - t0;
    bench_watch_end();
    uint64_t ran = atomic_load(&jobs_run);
    g_thread_pool_free(pool, FALSE, TRUE);
    if (ok && ran != s->jobs) {
        failed("submit glib: %" PRIu64 " of %" PRIu64 " jobs ran", ran, s->jobs);
        ok = false;
    }
    return ok;
}
#endif

enum impl { I_WEFT, I_PTHREAD, I_GLIB, I_GLIB_EXCL, NIMPL };
static const char *const impl_name[NIMPL] = {"weft", "pthread", "glib", "glib-excl"};

static bool submit_one(enum impl i, const struct submit *s, int64_t *ns)
{
    switch (i) {
    case I_WEFT:
        return submit_weft(s, ns);
    case I_PTHREAD:
        return submit_pthread(s, ns);
#ifdef WEFT_HAVE_GLIB
    case I_GLIB:
        return submit_glib(s, false, ns);
    case I_GLIB_EXCL:
        return submit_glib(s, true, ns);
#endif
    default:
        return false;
    }
}

static void part_submit(const struct submit *s)
{
    double ns_per_iter;
    job_iters = bench_calibrate(JOB_WORK_NS, &ns_per_iter);
#ifdef WEFT_HAVE_GLIB
    int nimpl = NIMPL;
    char glib[32];
    snprintf(glib, sizeof glib, "%u.%u.%u", glib_major_version, glib_minor_version,
             glib_micro_version);
#else
    int nimpl = I_GLIB;
    const char *glib = "not-available";
#endif
    printf("bench=blocking_submit_setup workers=%u jobs=%" PRIu64 " batch=%u threads=%u "
           "job_work_ns=%.0f reps=%u glib=%s\n",
           workers, s->jobs, s->batch, s->threads, (double)job_iters * ns_per_iter, reps, glib);
#ifndef WEFT_HAVE_GLIB
    printf("glib: not available (configure found no glib-2.0, or --without-glib)\n");
#endif
    fflush(stdout);
    double *secs[NIMPL];
    unsigned good[NIMPL] = {0};
    for (int i = 0; i < nimpl; i++)
        secs[i] = xcalloc(reps, sizeof(double));
    for (unsigned rep = 0; rep < reps; rep++)
        for (int j = 0; j < nimpl; j++) {
            enum impl i = (enum impl)((rep + (unsigned)j) % (unsigned)nimpl);
            int64_t ns = 0; /* a run that failed sets nothing */
            bool ok = submit_one(i, s, &ns);
            if (ok)
                secs[i][good[i]++] = (double)ns / 1e9;
            if (verbose && ok)
                printf("run=blocking_submit round=%u impl=%s s=%.4f\n", rep, impl_name[i],
                       (double)ns / 1e9);
            else if (verbose)
                printf("run=blocking_submit round=%u impl=%s failed\n", rep, impl_name[i]);
        }
    for (int i = 0; i < nimpl; i++) {
        if (good[i] > 0) {
            double lo = secs[i][0], hi = secs[i][0];
            for (unsigned k = 1; k < good[i]; k++) {
                lo = secs[i][k] < lo ? secs[i][k] : lo;
                hi = secs[i][k] > hi ? secs[i][k] : hi;
            }
            double med = bench_median_d(secs[i], good[i]);
            printf("bench=blocking_submit impl=%s jobs=%" PRIu64 " batch=%u threads=%u runs=%u "
                   "jobs_s=%.0f us_per_job=%.2f min_s=%.4f max_s=%.4f\n",
                   impl_name[i], s->jobs, s->batch, s->threads, good[i],
                   (double)s->jobs / med, med * 1e6 / (double)s->jobs, lo, hi);
        }
        free(secs[i]);
    }
    fflush(stdout);
}

/* ======================================================================
 * Part 3: fib beside 64 blocked jobs or timed waits
 * ====================================================================== */

enum cpu_case { C_ALONE, C_BLOCKED, C_TICKING, C_WAITERS, C_REWAITING, NCPU };
static const char *const cpu_name[NCPU] = {"alone", "blocked", "ticking", "waiters",
                                           "rewaiting"};

struct cpu_run {
    enum cpu_case kind;
    unsigned n;
    struct blocked *b; /* CPU_JOBS, pipes made once for every run */
    weft_job *jobs[CPU_JOBS];
    int wait_rc[CPU_JOBS]; /* `waiters`, `rewaiting`: what ended each task's waits */
    atomic_uint ready, ended;
    int64_t fib_ns, cpu_ns;
    long threads;
    uint64_t result;
    int fib_rc;
};

static int ticking_job(weft_task *self, void *arg)
{
    struct blocked *b = arg;
    atomic_fetch_add_explicit(b->ready, 1, memory_order_relaxed);
    struct timespec tick = {0, TICK_NS};
    while (!weft_cancelled(self))
        nanosleep(&tick, NULL);
    return ECANCELED;
}

struct waiter {
    struct cpu_run *r;
    unsigned i;
};

/* A CPU task that waits on its own blocked job with a finite deadline. */
static int waiter_task(weft_task *self, void *arg)
{
    struct waiter *w = arg;
    struct cpu_run *r = w->r;
    weft_spawn_opts o = {.name = "blocked", .cleanup = blocked_ended};
    weft_job *job;
    int rc = weft_spawn_blocking(self, blocked_job, &r->b[w->i], &o, &job);
    if (rc != 0)
        return r->wait_rc[w->i] = rc;
    /* ready: the job counts itself too, so 2 x CPU_JOBS in all */
    atomic_fetch_add_explicit(&r->ready, 1, memory_order_relaxed);
    if (r->kind == C_WAITERS) {
        rc = weft_job_wait(job, weft_after(FAR_NS));
    } else {
        while ((rc = weft_job_wait(job, weft_after(REWAIT_NS))) == ETIMEDOUT) {
        }
    }
    r->wait_rc[w->i] = rc;
    weft_job_release(job); /* it ends through its cancel callback; cleanup counts it */
    return rc;
}

/* Poll (timed waits) until want are ready, then SETTLE_NS more. */
static int wait_ready(weft_task *self, struct cpu_run *r, unsigned want)
{
    weft_time give_up = weft_after(READY_MAX_NS);
    while (atomic_load_explicit(&r->ready, memory_order_relaxed) < want) {
        if (weft_now() > give_up)
            return ETIMEDOUT;
        if (weft_sleep(self, weft_after(POLL_NS)) != 0)
            return EPROTO; /* nothing cancels the root */
    }
    return weft_sleep(self, weft_after(SETTLE_NS)) == 0 ? 0 : EPROTO;
}

static int cpu_root(weft_task *self, void *arg)
{
    struct cpu_run *r = arg;
    enum cpu_case k = r->kind;
    unsigned started = 0;
    weft_group waiters;
    struct waiter w[CPU_JOBS];
    int rc = 0;
    if (k == C_BLOCKED || k == C_TICKING) {
        for (; started < CPU_JOBS && rc == 0; started++)
            rc = weft_spawn_blocking(self, k == C_BLOCKED ? blocked_job : ticking_job,
                                     &r->b[started], NULL, &r->jobs[started]);
        started -= rc != 0;
    } else if (k == C_WAITERS || k == C_REWAITING) {
        if ((rc = weft_group_init(&waiters, self, NULL)) != 0)
            return rc;
        for (; started < CPU_JOBS && rc == 0; started++) {
            w[started] = (struct waiter){r, started};
            rc = weft_spawn(&waiters, waiter_task, &w[started]);
        }
        started -= rc != 0;
    }
    if (rc == 0 && k != C_ALONE)
        rc = wait_ready(self, r, k == C_BLOCKED || k == C_TICKING ? CPU_JOBS : 2 * CPU_JOBS);
    r->threads = bench_process_threads();

    struct kw_fib f = {r->n, 0};
    weft_group fg;
    int64_t c0 = bench_process_cpu_ns();
    weft_time t0 = weft_now();
    if (rc == 0 && (r->fib_rc = weft_group_init(&fg, self, NULL)) == 0) {
        int rs = weft_spawn(&fg, kw_fib_task, &f);
        int rj = weft_group_join(&fg, NULL);
        r->fib_rc = rs != 0 ? rs : rj;
    }
    r->fib_ns = weft_now() - t0;
    r->cpu_ns = bench_process_cpu_ns() - c0;
    r->result = f.result;

    if (k == C_BLOCKED || k == C_TICKING) {
        for (unsigned i = 0; i < started; i++)
            if (!cancel_and_release(r->jobs[i], cpu_name[k], NULL) && rc == 0)
                rc = EPROTO;
    } else if (k == C_WAITERS || k == C_REWAITING) {
        weft_group_cancel(&waiters);
        int rj = weft_group_join(&waiters, NULL);
        if (rj != ECANCELED && rc == 0) {
            failed("%s: the waiters' join returned %d; expected ECANCELED", cpu_name[k], rj);
            rc = EPROTO;
        }
        for (unsigned i = 0; i < started; i++)
            if (r->wait_rc[i] != ECANCELED && rc == 0) {
                failed("%s: a waiter's wait returned %d (%s); expected ECANCELED", cpu_name[k],
                       r->wait_rc[i], strerror(r->wait_rc[i]));
                rc = EPROTO;
            }
        /* the released jobs end in the background: every one must */
        weft_time give_up = weft_after(END_MAX_NS);
        while (atomic_load(&r->ended) < started && weft_now() < give_up)
            weft_sleep(self, weft_after(WEFT_MSEC));
        if (atomic_load(&r->ended) != started && rc == 0) {
            failed("%s: %u of %u released jobs ended", cpu_name[k], atomic_load(&r->ended),
                   started);
            rc = EPROTO;
        }
    }
    if (rc == 0 && started != (k == C_ALONE ? 0 : CPU_JOBS))
        rc = EAGAIN;
    return rc != 0 ? rc : r->fib_rc;
}

static bool cpu_once(struct cpu_run *r, enum cpu_case k, unsigned n)
{
    r->kind = k;
    r->n = n;
    r->fib_rc = 0;
    r->result = 0;
    atomic_store(&r->ready, 0);
    atomic_store(&r->ended, 0);
    for (unsigned i = 0; i < CPU_JOBS; i++) {
        r->wait_rc[i] = 0;
        r->b[i].ready = &r->ready;
        r->b[i].ended = &r->ended;
    }
    weft_runtime *rt = runtime_new(CPU_JOBS);
    bench_watch_begin("part 3 (blocking_cpu)");
    uint64_t warm;
    if (kw_fib(rt, WARMUP_FIB, &warm) != 0 || warm != kernel_fib_expected(WARMUP_FIB))
        failed("%s: warm-up fib failed", cpu_name[k]);
    int rc = weft_run(rt, cpu_root, r, NULL);
    bench_watch_end();
    runtime_end(rt, cpu_name[k]);
    if (rc != 0 || r->result != kernel_fib_expected(n)) {
        failed("%s fib(%u): run returned %d (%s), fib %d, result %" PRIu64 " (expected %" PRIu64
               ")",
               cpu_name[k], n, rc, strerror(rc), r->fib_rc, r->result, kernel_fib_expected(n));
        return false;
    }
    return true;
}

static void part_cpu(unsigned n)
{
    struct cpu_run *r = xcalloc(1, sizeof *r);
    r->b = xcalloc(CPU_JOBS, sizeof *r->b);
    for (unsigned i = 0; i < CPU_JOBS; i++)
        blocked_init(&r->b[i]);
    bool calibrated = n == 0;
    if (calibrated) {
        for (n = CAL_FIRST; n < CAL_MAX; n++)
            if (!cpu_once(r, C_ALONE, n) || r->fib_ns >= CAL_MIN_NS)
                break;
    }
    printf("bench=blocking_cpu_setup workers=%u fib=%u calibrated=%d reps=%u jobs=%u "
           "tick_ms=%.1f rewait_ms=%.1f\n",
           workers, n, calibrated, reps, CPU_JOBS, (double)TICK_NS / 1e6,
           (double)REWAIT_NS / 1e6);
    fflush(stdout);
    for (int k = C_BLOCKED; k < NCPU; k++) /* warm-up, untimed */
        cpu_once(r, (enum cpu_case)k, n > 4 ? n - 4 : n);

    double *fib_s[NCPU], *cpu_s[NCPU];
    long threads[NCPU] = {0};
    unsigned good = 0; /* rounds in which every case ran right */
    for (int k = 0; k < NCPU; k++) {
        fib_s[k] = xcalloc(reps, sizeof(double));
        cpu_s[k] = xcalloc(reps, sizeof(double));
    }
    for (unsigned rep = 0; rep < reps; rep++) {
        bool ok = true;
        double f[NCPU], c[NCPU];
        for (unsigned j = 0; j < NCPU; j++) {
            enum cpu_case k = (enum cpu_case)((rep + j) % NCPU);
            ok = cpu_once(r, k, n) && ok;
            f[k] = (double)r->fib_ns / 1e9;
            c[k] = (double)r->cpu_ns / 1e9;
            if (verbose)
                printf("run=blocking_cpu round=%u case=%s fib_s=%.4f cpu_s=%.4f\n", rep,
                       cpu_name[k], f[k], c[k]);
            threads[k] = r->threads > threads[k] ? r->threads : threads[k];
        }
        if (!ok)
            continue;
        for (int k = 0; k < NCPU; k++) {
            fib_s[k][good] = f[k];
            cpu_s[k][good] = c[k];
        }
        good++;
    }
    double alone = good > 0 ? bench_median_d(fib_s[C_ALONE], good) : 0;
    for (int k = 0; k < NCPU && good > 0; k++) {
        double med = bench_median_d(fib_s[k], good);
        printf("bench=blocking_cpu case=%s workers=%u fib=%u jobs=%u runs=%u fib_s=%.4f "
               "tput_pct=%.1f cpu_s=%.4f threads=%ld\n",
               cpu_name[k], workers, n, k == C_ALONE ? 0 : CPU_JOBS, good, med,
               100.0 * alone / med, bench_median_d(cpu_s[k], good), threads[k]);
    }
    for (int k = 0; k < NCPU; k++) {
        free(fib_s[k]);
        free(cpu_s[k]);
    }
    for (unsigned i = 0; i < CPU_JOBS; i++)
        blocked_fini(&r->b[i]);
    free(r->b);
    free(r);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    workers = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
    bool quick = getenv("BENCH_QUICK") != NULL && strcmp(getenv("BENCH_QUICK"), "0") != 0;
    reps = (unsigned)bench_env_u64("BENCH_REPS", quick ? 1 : 5);
    unsigned waits = (unsigned)bench_env_u64("BENCH_BLOCK_WAITS", quick ? 20 : 200);
    struct submit s = {
        .jobs = bench_env_u64("BENCH_BLOCK_JOBS", quick ? 1000 : 20000),
        .batch = (unsigned)bench_env_u64("BENCH_BLOCK_BATCH", 64),
        .threads = (unsigned)bench_env_u64("BENCH_BLOCK_THREADS", 8),
    };
    unsigned fib = (unsigned)bench_env_u64("BENCH_BLOCK_FIB", quick ? QUICK_FIB : 0);
    unsigned parts = (unsigned)bench_env_u64("BENCH_BLOCK_PARTS", 7);
    verbose = bench_env_u64("BENCH_VERBOSE", 0) != 0;
    if (argc > 2 || workers == 0 || workers > 1024 || reps > MAX_REPS || waits > 1000000 ||
        s.batch > 100000 || s.threads > 1024 || fib > CAL_MAX) {
        fprintf(stderr, "usage: blocking-bench [workers]   (see the source's header for the "
                        "environment)\n");
        return 2;
    }

    if (!bench_watchdog_start("blocking-bench", quick ? WATCH_QUICK_NS : WATCH_NS)) {
        fprintf(stderr, "blocking-bench: cannot start the watchdog\n");
        return 1;
    }

    if (parts & 1)
        part_wait(waits);
    if (parts & 2)
        part_submit(&s);
    if (parts & 4)
        part_cpu(fib);
    int f = atomic_load(&failures);
    if (f != 0)
        fprintf(stderr, "blocking-bench: %d wrong result(s)\n", f);
    return f == 0 ? 0 : 1;
}
