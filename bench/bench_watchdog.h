/*
 * A watchdog for benchmarks that run whole runtimes (sleep-bench,
 * blocking-bench): a hung run is a wrong result, not an endless CI job. A
 * thread checks four times a second whether the phase begun with
 * bench_watch_begin has run past the limit, and then names it and exits 1.
 */
#ifndef WEFT_BENCH_WATCHDOG_H
#define WEFT_BENCH_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft/weft.h>

static _Atomic int64_t bench_watch_since; /* when the current phase began; 0: none */
static const char *_Atomic bench_watch_what;
static int64_t bench_watch_limit_ns;
static const char *bench_watch_prog;

static inline void bench_watch_begin(const char *what)
{
    atomic_store(&bench_watch_what, what);
    atomic_store(&bench_watch_since, weft_now());
}

static inline void bench_watch_end(void)
{
    atomic_store(&bench_watch_since, 0);
}

static void *bench_watchdog(void *p)
{
    (void)p;
    for (;;) {
        struct timespec tick = {0, 250 * 1000 * 1000};
        nanosleep(&tick, NULL);
        int64_t since = atomic_load(&bench_watch_since);
        if (since != 0 && weft_now() - since > bench_watch_limit_ns) {
            fprintf(stderr, "%s: %s has not returned after %.0f s: hung\n", bench_watch_prog,
                    atomic_load(&bench_watch_what), (double)bench_watch_limit_ns / 1e9);
            _Exit(1); /* threads are stuck: nothing to clean up */
        }
    }
    return NULL;
}

/* Start the watchdog thread of program `prog`; false if it could not start. */
static inline bool bench_watchdog_start(const char *prog, int64_t limit_ns)
{
    bench_watch_prog = prog;
    bench_watch_limit_ns = limit_ns;
    pthread_t t;
    if (pthread_create(&t, NULL, bench_watchdog, NULL) != 0)
        return false;
    pthread_detach(t);
    return true;
}

#endif
