/*
 * soak: a mixed load on one weft runtime for minutes, counting everything it
 * can check. Shared declarations of the soak program's files (one job each):
 *
 *   soak.c          main: options, the runtime, driver threads, the samples
 *   options.c       command line and environment
 *   round.c         one round: a root task running every scenario at once
 *   load_forkjoin.c fib trees, wide fan-out, weft_parallel_for
 *   load_cancel.c   fail-fast, deadlines and shields, outside cancels, with
 *                   cancel callbacks on the sleepers
 *   load_errors.c   COLLECT error trees, weft_group_next streams
 *   load_jobs.c     blocking jobs (timed-out waits, released), a job woken
 *                   by its cancel callback, weft_retry_run
 *   load_detached.c detached tasks, on_unhandled accounting
 *   proc.c          RSS, threads and fds from /proc/self
 *   verdict.c       the flatness rule over the samples
 *   report.c        the table and the CSV file
 *
 * The rules of the contract the loads hold their results against (join codes,
 * error lists, exactly-once, unhandled reports, ...) are the oracle's
 * (tests/oracle/contract.h), shared with the random trees and the fuzzer;
 * each load describes what it planned and saw.
 *
 * Only the public API (<weft/weft.h>) is used: the program links libweft.la.
 */
#ifndef SOAK_SOAK_H
#define SOAK_SOAK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weft/weft.h>

#include "tests/oracle/contract.h"

/* The load's shape. These bound the timed waits in flight (hence the spare
 * threads), the blocking jobs, and the memory a round holds. */
enum {
    SOAK_SLEEPERS_MAX = 6,  /* sleeping tasks per cancel scenario */
    SOAK_JOBS_MAX = 6,      /* blocking jobs per round */
    SOAK_DETACHED_MAX = 8,  /* detached tasks per round */
    SOAK_BLOCKING_MAX = 16, /* the runtime's blocking_max */
    /* timed waits one round can have in flight at once: three cancel
     * scenarios' sleepers, the failer, the shield's two, a stream's four
     * sleepers and its group_next, three job waits, a retry back-off; with
     * some margin (the verdict's thread bound is built on it) */
    SOAK_TIMED_WAITS_PER_ROUND = 3 * SOAK_SLEEPERS_MAX + 1 + 2 + 4 + 1 + 3 + 1 + 4,
};

/* Totals over the whole run, read by the sampler and the final checks. */
struct soak_totals {
    atomic_uint_fast64_t rounds;
    atomic_uint_fast64_t tasks_spawned; /* every weft_spawn* that returned 0 */
    atomic_uint_fast64_t tasks_ran;     /* every task function entered */
    atomic_uint_fast64_t cleanups;      /* spawn_opts.cleanup calls (tasks and jobs) */
    atomic_uint_fast64_t cleanups_expected;
    atomic_uint_fast64_t jobs_spawned, jobs_ran, jobs_released_running;
    atomic_uint_fast64_t detached_spawned, detached_ran;
    atomic_uint_fast64_t cancel_cbs; /* cancel callbacks that ran */
    /* unhandled failures: expected (a detached task planned to fail, a failing
     * job released unobserved) and seen by on_unhandled; the sums of a hash
     * of their ids catch a loss hidden by a duplicate */
    atomic_uint_fast64_t unhandled_expected, unhandled_seen;
    atomic_uint_fast64_t unhandled_expected_sum, unhandled_seen_sum;
    atomic_uint_fast64_t unhandled_foreign; /* reports that were not ours */
};
extern struct soak_totals soak_totals;

/* One round of one driver thread. */
struct soak_round {
    weft_runtime *rt;
    uint64_t seed;
    unsigned driver;
    uint64_t index;
    /* detached tasks and released jobs of this round not ended yet: the
     * round waits for them before it counts itself done */
    atomic_long outstanding;
};

/* Options (options.c). */
struct soak_options {
    double seconds;             /* run length */
    unsigned workers;           /* 0: online CPUs */
    unsigned drivers;           /* threads calling weft_run at once */
    uint64_t seed;
    bool seed_given;
    double report_every;        /* seconds between table rows; 0: automatic */
    const char *csv_path;       /* NULL: none */
    size_t leak_bytes_per_round; /* test only: malloc'd and never freed */
    const char *only;           /* NULL: every scenario */
};
/* Parses argv (and $SOAK_SECONDS); prints usage and returns 2 on bad usage,
 * 1 for --help, 0 otherwise. */
int soak_options_parse(struct soak_options *o, int argc, char **argv);

/* Reports a broken invariant: prints it (the first few), makes the program
 * exit 1 and asks every driver to stop. Any thread. */
void soak_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t soak_violations(void);
/* An oracle check that returned `broken`: a violation with its reason. */
void soak_check(int broken, const struct oracle_verdict *v);
bool soak_stopping(void);

/* A fresh id for a failure that must reach on_unhandled exactly once. */
uint64_t soak_next_id(void);
/* The message such a failure carries, and its parse. */
#define SOAK_UNHANDLED_FMT "soak-unhandled %llu"
void soak_expect_unhandled(uint64_t id);
void soak_on_unhandled(const weft_error *err, void *arg);

/* splitmix64: a seed per round, a stream per scenario. */
static inline uint64_t soak_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static inline uint64_t soak_rand(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return soak_mix(*s);
}
/* In [lo, hi]. */
static inline unsigned soak_between(uint64_t *s, unsigned lo, unsigned hi)
{
    return lo + (unsigned)(soak_rand(s) % (uint64_t)(hi - lo + 1));
}

/* Where CPU work leaves its result, so that it is done. */
extern volatile uint64_t soak_sink;

/* Counts one spawn that succeeded (and its cleanup, if it has one). */
static inline void soak_count_spawn(bool with_cleanup)
{
    atomic_fetch_add_explicit(&soak_totals.tasks_spawned, 1, memory_order_relaxed);
    if (with_cleanup)
        atomic_fetch_add_explicit(&soak_totals.cleanups_expected, 1, memory_order_relaxed);
}
static inline void soak_count_ran(void)
{
    atomic_fetch_add_explicit(&soak_totals.tasks_ran, 1, memory_order_relaxed);
}
/* A task's own exactly-once check: *runs goes 0 -> 1, never further. */
void soak_ran_once(atomic_int *runs, const char *what);
/* After a join: the task behind runs ran exactly once. */
void soak_check_once(atomic_int *runs, const char *what);

/* --only's list (round.c); NULL: every scenario. */
extern const char *soak_only;

/* A round: runs every scenario under one weft_run (round.c). */
int soak_round_run(weft_runtime *rt, struct soak_round *r);

/* The scenarios; each is one task of the round's group. They report what
 * broke through soak_violation and return 0 unless spawning failed. */
int soak_fib(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_fanout(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_parallel_for(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_failfast(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_collect(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_deadline_shield(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_outside_cancel(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_stream(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_jobs(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_job_cancel_cb(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_retry(weft_task *self, struct soak_round *r, uint64_t seed);
int soak_detached(weft_task *self, struct soak_round *r, uint64_t seed);

/* /proc/self readings (proc.c); 0 when unreadable. */
uint64_t soak_rss_kib(void);
unsigned soak_threads(void);
unsigned soak_fds(void);

/* One sample of the run. */
struct soak_sample {
    double t;                /* seconds since the load started */
    uint64_t rounds;
    uint64_t my_tasks;       /* tasks_ran of soak_totals */
    uint64_t weft_tasks;     /* weft_stats.tasks_run */
    uint64_t jobs;           /* weft_stats.blocking_done */
    uint64_t rss_kib;
    unsigned threads, fds;
};

/* The flatness rule (verdict.c). */
struct soak_verdict {
    bool judged;        /* enough samples after the warm-up */
    uint64_t first_max, last_max, allowed; /* KiB */
    double slope_kib_per_min;              /* least squares after warm-up, reported only */
    bool rss_ok;
};
void soak_verdict_rss(const struct soak_sample *s, size_t n, struct soak_verdict *v);

/* The table and the CSV (report.c). */
void soak_report_header(FILE *out);
void soak_report_row(FILE *out, const struct soak_sample *prev, const struct soak_sample *cur);
int soak_report_csv(const char *path, const struct soak_sample *s, size_t n);

#endif /* SOAK_SOAK_H */
