/* Shared by the blocking pool's suites (test_blocking.c, test_job_wait.c):
 * jobs block on pipes ("gates") that the test opens; runtimes with pool
 * settings and an on_unhandled recorder. */
#ifndef WEFT_TESTS_BLOCKING_HELPERS_H
#define WEFT_TESTS_BLOCKING_HELPERS_H

#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <weft/weft.h>

enum { BUDGET = 20 * WEFT_SEC };

struct gate {
    int fds[2]; /* jobs read fds[0]; the test writes a byte per job let through */
};

static inline void gate_init(struct gate *g)
{
    ck_assert_int_eq(pipe(g->fds), 0);
}

static inline void gate_open(struct gate *g, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(write(g->fds[1], "x", 1), 1);
}

static inline void gate_close(struct gate *g)
{
    close(g->fds[0]);
    if (g->fds[1] >= 0)
        close(g->fds[1]);
}

/* A cancel callback for a job that owns the gate's write end: closing it
 * (the last one) ends a blocked read with end of file. Closing the read end
 * would not wake a thread blocked in read() on Linux. */
static inline void gate_hang_up(void *gate)
{
    struct gate *g = gate;
    close(g->fds[1]);
    g->fds[1] = -1;
}

/* Waits for a byte: 0, or EIO at end of file. */
static inline int gate_pass(struct gate *g)
{
    char c;
    ssize_t n;
    while ((n = read(g->fds[0], &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : EIO;
}

/* Spins (yielding) until *v >= want or BUDGET passed; the value seen. */
static inline int wait_for_count(_Atomic int *v, int want)
{
    weft_time end = weft_after(BUDGET);
    int x;
    while ((x = atomic_load(v)) < want && weft_now() < end)
        usleep(1000);
    return x;
}

struct unhandled {
    _Atomic int calls;
    int code;
    char message[64], task[32];
};

static inline void on_unhandled(const weft_error *e, void *arg)
{
    struct unhandled *u = arg;
    u->code = weft_error_code(e);
    snprintf(u->message, sizeof u->message, "%s", weft_error_message(e));
    snprintf(u->task, sizeof u->task, "%s", weft_error_task(e));
    atomic_fetch_add(&u->calls, 1);
}

static inline weft_runtime *pool_runtime(unsigned workers, unsigned blocking_max, weft_time idle,
                                  weft_time grace, struct unhandled *u)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    cfg.blocking_max = blocking_max;
    cfg.blocking_idle = idle;
    cfg.shutdown_timeout = grace;
    if (u != NULL) {
        cfg.on_unhandled = on_unhandled;
        cfg.on_unhandled_arg = u;
    }
    weft_runtime *rt = weft_runtime_create(&cfg);
    ck_assert_ptr_nonnull(rt);
    return rt;
}

static inline weft_stats stats_of(weft_runtime *rt)
{
    weft_stats s;
    weft_runtime_stats(rt, &s);
    return s;
}

#endif
