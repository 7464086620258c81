/*
 * soak: runs a mixed weft load for minutes and fails when an invariant
 * breaks or the process does not stay flat (RSS, threads, fds).
 *
 *   soak/soak --minutes 10            (make check-soak SOAK_SECONDS=600)
 *
 * One runtime; `--drivers` threads (2) call weft_run at once, round after
 * round (round.c); each round's invariants are checked as it ends. The main
 * thread samples /proc/self once a second and prints a table row every
 * `--report-every` seconds. After the run: weft_runtime_destroy must return
 * 0, the totals must balance (every task ran once, every cleanup ran, every
 * unhandled failure reported once), the threads and fds must be back to
 * their count before the runtime existed, and RSS must be flat (verdict.c).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "soak/soak.h"

#define VIOLATIONS_PRINTED 20
#define BASELINE_WAIT (10 * WEFT_SEC) /* for exiting threads to be gone */

struct soak_totals soak_totals;
volatile uint64_t soak_sink;

static atomic_uint_fast64_t violations;
static atomic_bool stopping;
static atomic_uint_fast64_t next_id;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

void soak_violation(const char *fmt, ...)
{
    uint64_t k = atomic_fetch_add(&violations, 1);
    atomic_store(&stopping, true);
    if (k >= VIOLATIONS_PRINTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&print_lock);
    fprintf(stderr, "soak: VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&print_lock);
    va_end(ap);
}

void soak_check(int broken, const struct oracle_verdict *v)
{
    if (broken)
        soak_violation("%s", v->why);
}

uint64_t soak_violations(void)
{
    return atomic_load(&violations);
}

bool soak_stopping(void)
{
    return atomic_load_explicit(&stopping, memory_order_relaxed);
}

uint64_t soak_next_id(void)
{
    return atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
}

void soak_ran_once(atomic_int *runs, const char *what)
{
    struct oracle_runs r = {.what = what,
                            .spawned = 1,
                            .runs = atomic_fetch_add_explicit(runs, 1, memory_order_relaxed) + 1,
                            .returns = -1,
                            .cleanups = -1,
                            .cleanups_early = -1};
    struct oracle_verdict v;
    soak_check(oracle_check_runs(&r, &v), &v);
}

void soak_check_once(atomic_int *runs, const char *what)
{
    struct oracle_runs r = {.what = what,
                            .spawned = 1,
                            .runs = atomic_load_explicit(runs, memory_order_relaxed),
                            .returns = -1,
                            .cleanups = -1,
                            .cleanups_early = -1};
    struct oracle_verdict v;
    soak_check(oracle_check_runs(&r, &v), &v);
}

/* ---- drivers ---- */

struct driver {
    pthread_t thread;
    unsigned id;
    weft_runtime *rt;
    const struct soak_options *opt;
    weft_time end;
    void *leaked; /* --leak-bytes-per-round: a chain nobody frees */
};

static void leak(struct driver *d)
{
    size_t n = d->opt->leak_bytes_per_round;
    if (n < sizeof(void *))
        return;
    void **p = malloc(n);
    if (p == NULL)
        return;
    memset(p, 0x5a, n); /* touched, so resident */
    *p = d->leaked;
    d->leaked = p;
}

static void *drive(void *arg)
{
    struct driver *d = arg;
    /* on the heap: a round that never drains is left allocated, since what
     * it started may still write to it */
    struct soak_round *r = malloc(sizeof *r);
    if (r == NULL) {
        soak_violation("driver %u: out of memory", d->id);
        return NULL;
    }
    for (uint64_t i = 0; !soak_stopping() && weft_now() < d->end; i++) {
        r->driver = d->id;
        r->index = i;
        r->seed = soak_mix(d->opt->seed ^ ((uint64_t)d->id << 48) ^ i);
        if (soak_round_run(d->rt, r) != 0)
            return NULL;
        atomic_fetch_add_explicit(&soak_totals.rounds, 1, memory_order_relaxed);
        leak(d);
    }
    free(r);
    return NULL;
}

/* ---- samples ---- */

static void take(struct soak_sample *s, weft_runtime *rt, weft_time t0)
{
    weft_stats st;
    weft_runtime_stats(rt, &st);
    s->t = (double)(weft_now() - t0) / WEFT_SEC;
    s->rounds = atomic_load(&soak_totals.rounds);
    s->my_tasks = atomic_load(&soak_totals.tasks_ran);
    s->weft_tasks = st.tasks_run;
    s->jobs = st.blocking_done;
    s->rss_kib = soak_rss_kib();
    s->threads = soak_threads();
    s->fds = soak_fds();
}

static void sleep_until(weft_time t)
{
    struct timespec ts = {t / WEFT_SEC, t % WEFT_SEC};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* ---- the end ---- */

static uint64_t load(atomic_uint_fast64_t *a)
{
    return atomic_load(a);
}

/* Every task, job and detached task ran once, each cleanup ran, every
 * unhandled failure was reported once, over the whole run. */
static void check_totals(void)
{
    struct soak_totals *t = &soak_totals;
    struct oracle_verdict v;
    struct oracle_runs all = {.returns = -1, .cleanups = -1, .cleanups_early = -1};
    all.what = "all tasks";
    all.spawned = (long long)load(&t->tasks_spawned);
    all.runs = (long long)load(&t->tasks_ran);
    soak_check(oracle_check_runs(&all, &v), &v);
    all.what = "all blocking jobs";
    all.spawned = (long long)load(&t->jobs_spawned);
    all.runs = (long long)load(&t->jobs_ran);
    soak_check(oracle_check_runs(&all, &v), &v);
    all.what = "all detached tasks";
    all.spawned = (long long)load(&t->detached_spawned);
    all.runs = (long long)load(&t->detached_ran);
    soak_check(oracle_check_runs(&all, &v), &v);
    /* the cleanups of tasks and jobs together (their runs are counted above) */
    all = (struct oracle_runs){.what = "all tasks and jobs",
                               .returns = -1,
                               .cleanups = (long long)load(&t->cleanups),
                               .cleanups_due = (long long)load(&t->cleanups_expected),
                               .cleanups_early = -1};
    soak_check(oracle_check_runs(&all, &v), &v);
    struct oracle_reports reports = {.what = "on_unhandled",
                                     .due = load(&t->unhandled_expected),
                                     .seen = load(&t->unhandled_seen),
                                     .final = true,
                                     .summed = true,
                                     .due_sum = load(&t->unhandled_expected_sum),
                                     .seen_sum = load(&t->unhandled_seen_sum)};
    soak_check(oracle_check_reports(&reports, &v), &v);
}

/* Threads that ended may linger in /proc for a moment: poll a while. */
static void check_back_to(const char *what, unsigned (*count)(void), unsigned base)
{
    weft_time bound = weft_after(BASELINE_WAIT);
    unsigned n;
    while ((n = count()) != base && weft_now() < bound)
        sleep_until(weft_after(10 * WEFT_MSEC));
    printf("%s after destroy: %u (before the runtime: %u)\n", what, n, base);
    if (n != base)
        soak_violation("%s after destroy: %u, before the runtime: %u", what, n, base);
}

int main(int argc, char **argv)
{
    struct soak_options opt;
    int prc = soak_options_parse(&opt, argc, argv);
    if (prc != 0)
        return prc == 1 ? 0 : 2;
    soak_only = opt.only;
    if (!opt.seed_given)
        opt.seed = (uint64_t)weft_now() ^ ((uint64_t)time(NULL) << 20);
    double report_every = opt.report_every;
    if (report_every <= 0)
        report_every = opt.seconds / 10 < 10 ? opt.seconds / 10 : 10;
    if (report_every < 1)
        report_every = 1;

    unsigned base_threads = soak_threads(), base_fds = soak_fds();
    /* every sample kept, allocated now so the array is part of the baseline */
    size_t cap = (size_t)opt.seconds + 16;
    struct soak_sample *samples = malloc(cap * sizeof *samples);
    if (samples == NULL) {
        perror("soak");
        return 1;
    }
    memset(samples, 0, cap * sizeof *samples); /* touched now, not as the run fills it */

    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = opt.workers;
    cfg.blocking_max = SOAK_BLOCKING_MAX;
    cfg.on_unhandled = soak_on_unhandled;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("soak: weft_runtime_create");
        return 1;
    }
    unsigned workers = weft_runtime_workers(rt);
    const char *arenas = getenv("MALLOC_ARENA_MAX");
    printf("soak: weft %s, %.0f s, %u workers, %u drivers, seed %llu, MALLOC_ARENA_MAX=%s", weft_version(),
           opt.seconds, workers, opt.drivers, (unsigned long long)opt.seed,
           arenas != NULL ? arenas : "(unset)");
    if (opt.leak_bytes_per_round != 0)
        printf(", LEAKING %zu bytes per round", opt.leak_bytes_per_round);
    printf("\nreplay: soak/soak --seconds %.0f --workers %u --drivers %u --seed %llu\n", opt.seconds,
           workers, opt.drivers, (unsigned long long)opt.seed);
    /* spare threads are bounded by the timed waits in flight (soak.h) */
    unsigned thread_bound = base_threads + opt.drivers + workers + 1 + SOAK_BLOCKING_MAX +
                            opt.drivers * SOAK_TIMED_WAITS_PER_ROUND;
    unsigned fd_bound = base_fds + 2 * opt.drivers + 4; /* a pipe per driver, and slack */

    weft_time t0 = weft_now();
    weft_time end = t0 + (weft_time)(opt.seconds * WEFT_SEC);
    struct driver *drivers = calloc(opt.drivers, sizeof *drivers);
    if (drivers == NULL) {
        perror("soak");
        return 1;
    }
    unsigned started = 0;
    for (unsigned i = 0; i < opt.drivers; i++) {
        drivers[i] = (struct driver){.id = i, .rt = rt, .opt = &opt, .end = end};
        int rc = pthread_create(&drivers[i].thread, NULL, drive, &drivers[i]);
        if (rc != 0) {
            soak_violation("pthread_create: %s", strerror(rc));
            break;
        }
        started++;
    }

    size_t n = 0;
    struct soak_sample shown = {0};
    take(&shown, rt, t0);
    soak_report_header(stdout);
    unsigned max_threads = 0, max_fds = 0;
    for (weft_time next = t0 + WEFT_SEC;; next += WEFT_SEC) {
        bool last = next >= end || soak_stopping();
        sleep_until(last && next > end ? end : next);
        if (n < cap)
            take(&samples[n++], rt, t0);
        struct soak_sample *s = &samples[n - 1];
        max_threads = s->threads > max_threads ? s->threads : max_threads;
        max_fds = s->fds > max_fds ? s->fds : max_fds;
        if (s->t - shown.t >= report_every - 0.5 || last) {
            soak_report_row(stdout, &shown, s);
            shown = *s;
        }
        if (last)
            break;
    }
    atomic_store(&stopping, true);
    for (unsigned i = 0; i < started; i++)
        pthread_join(drivers[i].thread, NULL);
    double elapsed = (double)(weft_now() - t0) / WEFT_SEC;

    weft_stats st;
    weft_runtime_stats(rt, &st);
    int drc = weft_runtime_destroy(rt);
    if (drc != 0)
        soak_violation("weft_runtime_destroy returned %d, expected 0", drc);
    check_totals();

    struct soak_totals *t = &soak_totals;
    printf("\nrounds %llu in %.1f s; tasks %llu (%.0f/s), weft tasks_run %llu (%.0f/s), "
           "blocking jobs %llu (%.0f/s, %llu released while running)\n",
           (unsigned long long)load(&t->rounds), elapsed, (unsigned long long)load(&t->tasks_ran),
           (double)load(&t->tasks_ran) / elapsed, (unsigned long long)st.tasks_run,
           (double)st.tasks_run / elapsed, (unsigned long long)st.blocking_done,
           (double)st.blocking_done / elapsed, (unsigned long long)load(&t->jobs_released_running));
    printf("detached %llu; unhandled failures expected %llu, reported %llu (stats: %llu); "
           "cancel callbacks %llu; steals %llu, parks %llu\n",
           (unsigned long long)load(&t->detached_ran), (unsigned long long)load(&t->unhandled_expected),
           (unsigned long long)load(&t->unhandled_seen), (unsigned long long)st.unhandled_errors,
           (unsigned long long)load(&t->cancel_cbs), (unsigned long long)st.steals,
           (unsigned long long)st.parks);

    printf("threads: at most %u during the run (bound %u)\n", max_threads, thread_bound);
    if (max_threads > thread_bound)
        soak_violation("threads: %u during the run, bound %u", max_threads, thread_bound);
    printf("fds: at most %u during the run (bound %u)\n", max_fds, fd_bound);
    if (max_fds > fd_bound)
        soak_violation("fds: %u during the run, bound %u", max_fds, fd_bound);
    check_back_to("threads", soak_threads, base_threads);
    check_back_to("fds", soak_fds, base_fds);

    struct soak_verdict v;
    soak_verdict_rss(samples, n, &v);
    if (!v.judged) {
        printf("RSS: run too short to judge flatness (%zu samples)\n", n);
    } else {
        printf("RSS after warm-up: peak of the first third %.1f MiB, of the last third %.1f MiB "
               "(allowed +%.1f MiB); slope %+.1f KiB/min; undetectable below ~%.0f KiB/s\n",
               v.first_max / 1024.0, v.last_max / 1024.0, v.allowed / 1024.0,
               v.slope_kib_per_min, (double)v.allowed / (0.53 * elapsed));
        if (!v.rss_ok)
            soak_violation("RSS grew from %.1f to %.1f MiB (more than %.1f MiB)",
                           v.first_max / 1024.0, v.last_max / 1024.0, v.allowed / 1024.0);
    }
    if (opt.csv_path != NULL && soak_report_csv(opt.csv_path, samples, n) != 0)
        soak_violation("cannot write %s", opt.csv_path);

    uint64_t bad = soak_violations();
    printf("soak: %s (%llu violations)\n", bad == 0 ? "PASS" : "FAIL", (unsigned long long)bad);
    free(samples);
    free(drivers);
    return bad == 0 ? 0 : 1;
}
