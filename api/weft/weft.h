/*
 * weft: a work-stealing task runtime for C.
 *
 * This is the public header. It is hermetic: it includes only standard
 * headers (and, when WEFT_INLINE is defined, <weft/inline.h>, the opt-in
 * inline fast path), never config.h or concurrencykit. The contract of
 * every name here is in its man page, installed with the library (`man
 * weft_spawn`; weft(7) is the overview): each section below names its
 * page, and each declaration carries a one-line summary of its contract.
 *
 * Conventions: functions that can fail return int, 0 on success or a positive
 * errno value. Nothing aborts on bad input: it returns EINVAL.
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_API __attribute__((visibility("default")))
#define WEFT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define WEFT_API
#define WEFT_PRINTF(fmt, args)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version (weft_version(3)) ---------------------------------------- */

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH"; never NULL. */
WEFT_API const char *weft_version(void);

/* ---- Time (weft_now(3)) ----------------------------------------------- */

/* Nanoseconds on CLOCK_MONOTONIC, absolute. */
typedef int64_t weft_time;
#define WEFT_NEVER INT64_MAX /* no deadline */
#define WEFT_USEC 1000LL
#define WEFT_MSEC 1000000LL
#define WEFT_SEC 1000000000LL

/* The current time on CLOCK_MONOTONIC, in ns. */
WEFT_API weft_time weft_now(void);
/* weft_now() + ns, saturating at WEFT_NEVER (and at INT64_MIN for large negative ns). */
WEFT_API weft_time weft_after(int64_t ns);

/* ---- Errors (weft_errors(3)) ------------------------------------------ */

typedef struct weft_error weft_error;   /* one failure */
typedef struct weft_errors weft_errors; /* a list of failures (an ExceptionGroup) */

/* Failures listed (0 for NULL). */
WEFT_API size_t weft_errors_count(const weft_errors *e);
/* The i-th failure in completion order; NULL past the end or for NULL. */
WEFT_API const weft_error *weft_errors_at(const weft_errors *e, size_t i);
/* Failures not recorded for lack of memory (their codes still reached the joiner). */
WEFT_API size_t weft_errors_lost(const weft_errors *e);
/* The code the task returned (EINVAL for NULL). */
WEFT_API int weft_error_code(const weft_error *err);
/* weft_fail's message, else the code's description; never NULL. */
WEFT_API const char *weft_error_message(const weft_error *err);
/* The task's name (spawn_opts.name), or ""; never NULL. */
WEFT_API const char *weft_error_task(const weft_error *err);
/* The arg the failed task or job started with (parallel_for: the body's); NULL if none. */
WEFT_API void *weft_error_arg(const weft_error *err);
/* The errors of the inner group this failure came from, or NULL. */
WEFT_API const weft_errors *weft_error_cause(const weft_error *err);
/* Prints the tree indented, one failure per line: "task: ECODE: message". */
WEFT_API void weft_errors_print(const weft_errors *e, FILE *out);
/* Frees the list and every cause below it; NULL is a no-op. */
WEFT_API void weft_errors_free(weft_errors *e);

/* ---- Tasks (weft_cancelled(3), weft_fail(3)) -------------------------- */

typedef struct weft_task weft_task; /* the running task's context */
/* A task's function: returns 0 or an error code. */
typedef int (*weft_fn)(weft_task *self, void *arg);

/* The CPU worker's index, 0..workers-1, unique among running tasks; -1 off the workers.
 * A timed wait or a join can change it: read it again after either. */
WEFT_API int weft_worker_id(const weft_task *self);
/* Sets self's failure message, printf-style, and returns code; EINVAL for misuse or code 0. */
WEFT_API int weft_fail(weft_task *self, int code, const char *fmt, ...)
    WEFT_PRINTF(3, 4);
/* weft_fail with `cause` (an inner group's errors, taken in every case) as the failure's cause. */
WEFT_API int weft_fail_from(weft_task *self, weft_errors *cause, int code, const char *fmt, ...)
    WEFT_PRINTF(4, 5);
/* True once self's scope is cancelled; two loads, false for NULL. */
WEFT_API bool weft_cancelled(const weft_task *self);
/* Why self's scope is cancelled: 0 (it is not, or NULL), ETIMEDOUT (a deadline) or ECANCELED. */
WEFT_API int weft_cancel_reason(const weft_task *self);
/* The task's effective deadline, WEFT_NEVER if none (and for NULL). */
WEFT_API weft_time weft_deadline(const weft_task *self);
/* Sleeps (a timed wait) until `until`: 0, or early ECANCELED / ETIMEDOUT; EINVAL for NULL. */
WEFT_API int weft_sleep(weft_task *self, weft_time until);

/* ---- Cancel scopes inside a task (weft_scope_enter(3)) ---------------- */

#define WEFT_SCOPE_WORDS 8
typedef struct weft_scope {
    uint64_t opaque_[WEFT_SCOPE_WORDS];
} weft_scope; /* caller-allocated, e.g. on the stack of the task that enters it */
typedef struct weft_scope_opts {
    unsigned flags;     /* WEFT_SHIELD: the enclosing cancellation and deadline do not apply */
    weft_time deadline; /* 0 or WEFT_NEVER: none; in the past: cancelled at once */
    const char *name;   /* names it in cancel records and the trace */
} weft_scope_opts;

/* Until weft_scope_exit, self and what it begins run in scope s (o may be NULL); 0 or an errno. */
WEFT_API int weft_scope_enter(weft_task *self, weft_scope *s, const weft_scope_opts *o);
/* Leaves s, self's innermost scope: 0, or ETIMEDOUT / ECANCELED when s itself ended the work. */
WEFT_API int weft_scope_exit(weft_task *self, weft_scope *s);
/* Cancels s with ECANCELED, from any thread; no effect once s was exited. */
WEFT_API void weft_scope_cancel(weft_scope *s);

/* ---- Cancellation callbacks (weft_on_cancel(3)) ----------------------- */

typedef struct weft_cancel_cb {
    uint64_t opaque_[4];
} weft_cancel_cb; /* caller-allocated, need not be initialised; must outlive its registration */

/* fn(arg) runs once when self's scope is cancelled (at once if it is); 0, EINVAL or EBUSY. */
WEFT_API int weft_on_cancel(weft_task *self, weft_cancel_cb *cb, void (*fn)(void *arg), void *arg);
/* Unregisters cb; on return its fn is not running and will not start. NULL: no effect. */
WEFT_API void weft_on_cancel_remove(weft_cancel_cb *cb);

/* ---- Runtime (weft_runtime_create(3)) --------------------------------- */

typedef struct weft_runtime weft_runtime; /* opaque */

typedef struct weft_stats {
    uint64_t tasks_run, spawns, steals, steal_attempts, parks;
    uint64_t blocking_threads, blocking_running, blocking_queued; /* now */
    uint64_t blocking_done, blocking_timed_out; /* jobs ended; jobs given up on while running */
    uint64_t unhandled_errors;
} weft_stats;

typedef struct weft_config {
    size_t size;               /* sizeof(weft_config): lets the struct grow without breaking ABI */
    unsigned workers;          /* 0: $WEFT_WORKERS, else the CPUs it may use; 1..1024 */
    unsigned blocking_max;     /* 0: $WEFT_BLOCKING_MAX, else 64; blocking threads, 1..4096 */
    weft_time blocking_idle;   /* 0: 10 s; an idle blocking thread exits after this */
    weft_time shutdown_timeout; /* 0: 5 s; destroy's wait for detached tasks and jobs, together */
    void (*on_unhandled)(const struct weft_error *err, void *arg); /* NULL: print to stderr */
    void *on_unhandled_arg;
    /* added after the first version (read only when `size` covers them): */
    size_t stack_size;         /* 0: $WEFT_STACK_SIZE, else 8 MiB; each thread's, 64 KiB..1 GiB */
    const char *trace_path;    /* NULL: $WEFT_TRACE, else none; "": none; a trace file (weft(7)) */
    const char *affinity;      /* NULL: $WEFT_AFFINITY, else "none"; "compact" or a CPU list "0-3,8" */
} weft_config;
/* size, then every field 0 (its default). All listed, in order, so that C++ (designated
 * initializers only from C++20; -Wextra warns of a missing field) takes it as C does. */
#define WEFT_CONFIG_INIT { sizeof(weft_config), 0, 0, 0, 0, NULL, NULL, 0, NULL, NULL }

/* A runtime with its threads (cfg may be NULL); NULL + errno, EINVAL for a field out of range
 * (or an affinity naming no CPU of the caller's set), a thread's start error otherwise. */
WEFT_API weft_runtime *weft_runtime_create(const weft_config *cfg);
/* Cancels detached tasks and jobs, waits up to shutdown_timeout: 0, or ETIMEDOUT (rest abandoned);
 * rt is gone after either. EBUSY during a weft_run; EINVAL from a task, a job, or for NULL. */
WEFT_API int weft_runtime_destroy(weft_runtime *rt);
/* Runs fn as a root task and waits for it (not from a CPU worker): fn's status, or an errno. */
WEFT_API int weft_run(weft_runtime *rt, weft_fn fn, void *arg, weft_errors **errs);
/* Starts a background task, in a scope only destroy cancels; its failure goes to on_unhandled. */
WEFT_API int weft_spawn_detached(weft_runtime *rt, weft_fn fn, void *arg);
/* Counters summed over the runtime's threads (each a recent value, not a snapshot). */
WEFT_API void weft_runtime_stats(weft_runtime *rt, weft_stats *out);
/* The number of CPU workers rt runs, as resolved at create; 0 for NULL. */
WEFT_API unsigned weft_runtime_workers(const weft_runtime *rt);

/* ---- Groups: structured fork-join (weft_group_init(3), weft_parallel_for(3)) ---- */

#define WEFT_GROUP_WORDS 32
typedef struct weft_group {
    uint64_t opaque_[WEFT_GROUP_WORDS];
} weft_group; /* caller-allocated, e.g. on the stack of the task that joins it */

enum {
    WEFT_COLLECT = 1u << 0, /* failures do not cancel siblings (gather, return_exceptions=True) */
    WEFT_SHIELD = 1u << 1,  /* ignore the parent's cancellation and deadline, not its own */
    WEFT_STREAM = 1u << 2   /* keep completions for weft_group_next */
};
typedef struct weft_group_opts {
    unsigned flags;     /* 0 or an OR of WEFT_COLLECT, WEFT_SHIELD, WEFT_STREAM */
    weft_time deadline; /* 0 or WEFT_NEVER: none; in the past: cancelled at once */
    const char *name;   /* may be NULL; must stay valid until the join */
} weft_group_opts;
typedef struct weft_spawn_opts {
    const char *name;   /* may be NULL; must stay valid until the task ended */
    weft_time deadline; /* 0 or WEFT_NEVER: none; min'd with the group's; then ETIMEDOUT */
    void (*cleanup)(void *arg); /* runs after fn returned, whatever the outcome */
} weft_spawn_opts;

/* Starts group g, owned by parent, the running task (opts may be NULL); 0 or an errno. */
WEFT_API int weft_group_init(weft_group *g, weft_task *parent, const weft_group_opts *opts);
/* Queues fn(arg) in g; EINVAL for NULLs or a group not live (joined, a copy), ENOMEM. */
WEFT_API int weft_spawn(weft_group *g, weft_fn fn, void *arg);
/* weft_spawn with options: a name, a deadline of the task's own, a cleanup (o may be NULL). */
WEFT_API int weft_spawn_ex(weft_group *g, weft_fn fn, void *arg, const weft_spawn_opts *o);
/* weft_spawn_detached with options, taken as weft_spawn_ex takes them (o may be NULL). */
WEFT_API int weft_spawn_detached_ex(weft_runtime *rt, weft_fn fn, void *arg,
                                    const weft_spawn_opts *o);
/* Once, by g's owner: waits for g's tasks: 0, the first failure's code, ECANCELED or ETIMEDOUT. */
WEFT_API int weft_group_join(weft_group *g, weft_errors **errs);
/* By g's owner: a timed wait for g's tasks to end: 0, ETIMEDOUT or ECANCELED; cancels nothing. */
WEFT_API int weft_group_wait(weft_group *g, weft_time deadline);
/* WEFT_STREAM: the next task to end (arg, status): 0, ENOENT when all handed out, or a timeout. */
WEFT_API int weft_group_next(weft_group *g, weft_time deadline, void **arg, int *status);
/* Cancels g (ECANCELED) and all below it, from any thread; no effect on a joined group or NULL. */
WEFT_API void weft_group_cancel(weft_group *g);
/* Calls body on chunks of >= grain indices of [begin, end) in parallel, fail-fast, each with the
 * chunk's own task: 0, the earliest failure's code, ECANCELED or ETIMEDOUT; or an errno. */
WEFT_API int weft_parallel_for(weft_task *self, size_t begin, size_t end, size_t grain,
                               int (*body)(weft_task *self, size_t lo, size_t hi, void *arg),
                               void *arg);

/* ---- Blocking pool (weft_spawn_blocking(3)) --------------------------- */

typedef struct weft_job weft_job; /* opaque: the handle of one blocking job */

/* Runs fn on a blocking thread under parent's cancel and deadline; *job: wait, then release. */
WEFT_API int weft_spawn_blocking(weft_task *parent, weft_fn fn, void *arg,
                                 const weft_spawn_opts *o, weft_job **job);
/* Waits up to deadline: the job's status, or ETIMEDOUT / ECANCELED and the job keeps running. */
WEFT_API int weft_job_wait(weft_job *job, weft_time deadline);
/* True once the job's function and cleanup ended; false for NULL. */
WEFT_API bool weft_job_done(const weft_job *job);
/* Cancels the job's scope (ECANCELED); no effect once it ended or for NULL. */
WEFT_API void weft_job_cancel(weft_job *job);
/* Drops the handle, once; a job not ended yet finishes in the background. */
WEFT_API void weft_job_release(weft_job *job);

/* ---- Retry (weft_retry_run(3)) ---------------------------------------- */

typedef struct weft_retry {
    unsigned attempts;            /* tries in all, the first included; 0: 3 */
    weft_time base_delay, max_delay; /* ns, max >= base; 0: 10 ms, 1 s (clamped to the other) */
    double factor, jitter;        /* min(max, base*factor^k) * (1 +- jitter); factor >= 1 (0: 2) */
    bool (*retryable)(int code, void *arg); /* arg: fn's; NULL: all but ECANCELED, ETIMEDOUT */
} weft_retry; /* a field left 0 takes its default; jitter 0..1; policy NULL: all defaults */

/* Calls fn until 0, a code not to retry or the last attempt, with back-off, never past self's
 * deadline: 0, the last try's code, ETIMEDOUT or ECANCELED; or EINVAL. */
WEFT_API int weft_retry_run(weft_task *self, const weft_retry *policy, weft_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

/* The opt-in inline fast path (weft_inline_spawn(3)). */
#ifdef WEFT_INLINE
#include <weft/inline.h>
#endif

#endif /* WEFT_WEFT_H */
