/*
 * weft: a work-stealing task runtime for C.
 *
 * This is the one public header. It is hermetic: it includes only standard
 * headers, never config.h or concurrencykit. The contract of every name here
 * is in its man page, installed with the library (`man weft_spawn`; weft(7)
 * is the overview); each declaration carries a one-line summary of it.
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

/* ---- Version ---------------------------------------------------------- */

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH"; never NULL. */
WEFT_API const char *weft_version(void);

/* ---- Time ------------------------------------------------------------- */

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

/* ---- Errors --------------------------------------------------------------- */

typedef struct weft_error weft_error;   /* one failure */
typedef struct weft_errors weft_errors; /* a list of failures (an ExceptionGroup) */

/* Failures listed (0 for NULL). */
WEFT_API size_t weft_errors_count(const weft_errors *e);
/* The i-th failure in completion order; NULL past the end or for NULL. */
WEFT_API const weft_error *weft_errors_at(const weft_errors *e, size_t i);
/* Failures that happened but could not be recorded (out of memory); their
 * codes still reached the joiner's return value. */
WEFT_API size_t weft_errors_lost(const weft_errors *e);
/* The code the task returned (EINVAL for NULL). */
WEFT_API int weft_error_code(const weft_error *err);
/* weft_fail's message, else the code's description; never NULL. */
WEFT_API const char *weft_error_message(const weft_error *err);
/* The task's name (spawn_opts.name), or ""; never NULL. */
WEFT_API const char *weft_error_task(const weft_error *err);
/* The arg the failed task or job was started with (a weft_parallel_for
 * chunk's: the body's arg), to map a failure back to its input; NULL for a
 * record the runtime makes itself (lost failures' count) and for NULL. */
WEFT_API void *weft_error_arg(const weft_error *err);
/* The errors of the inner group this failure came from, or NULL. */
WEFT_API const weft_errors *weft_error_cause(const weft_error *err);
/* Prints the tree indented, one failure per line: "task: ECODE: message". */
WEFT_API void weft_errors_print(const weft_errors *e, FILE *out);
/* Frees the list and every cause below it; NULL is a no-op. */
WEFT_API void weft_errors_free(weft_errors *e);

/* ---- Tasks -------------------------------------------------------------- */

typedef struct weft_task weft_task; /* the running task's context */
/* A task's function: returns 0 or an error code. */
typedef int (*weft_fn)(weft_task *self, void *arg);

/* 0..workers-1 on a CPU worker, never the same for two running tasks; -1
 * elsewhere (blocking pool, NULL self), and on a CPU worker that came back
 * from a timed wait while every worker slot was busy. A timed wait, or a join
 * (whose nested tasks may wait), can change it: read it again after either. */
WEFT_API int weft_worker_id(const weft_task *self);
/* Records a message for the task's failure and returns code, for
 * `return weft_fail(self, EIO, "cannot read %s", path);`. The last call
 * wins; returning 0 afterwards discards it. EINVAL for NULL self, code 0,
 * or a self that is not the task running on this thread. */
WEFT_API int weft_fail(weft_task *self, int code, const char *fmt, ...)
    WEFT_PRINTF(3, 4);
/* The same, with `cause` (an inner group's errors, taken in every case)
 * as the failure's cause: the error tree mirrors the task tree. */
WEFT_API int weft_fail_from(weft_task *self, weft_errors *cause, int code, const char *fmt, ...)
    WEFT_PRINTF(4, 5);
/* True once the task's scope is cancelled (outside cancel, failure of a
 * sibling, deadline, cancelled ancestor). O(1): two loads; false for NULL. */
WEFT_API bool weft_cancelled(const weft_task *self);
/* 0, ECANCELED or ETIMEDOUT (0 for NULL). */
WEFT_API int weft_cancel_reason(const weft_task *self);
/* The task's effective deadline, WEFT_NEVER if none (and for NULL). */
WEFT_API weft_time weft_deadline(const weft_task *self);
/* Sleeps until `until` (absolute): 0; or early with ECANCELED / ETIMEDOUT when
 * the task's scope is cancelled or its deadline comes first. EINVAL for NULL.
 * A timed wait: meanwhile a spare thread takes the worker's place. */
WEFT_API int weft_sleep(weft_task *self, weft_time until);

/* ---- Cancel scopes inside a task (weft_scope_enter(3)) ------------------ */

#define WEFT_SCOPE_WORDS 8
typedef struct weft_scope {
    uint64_t opaque_[WEFT_SCOPE_WORDS];
} weft_scope; /* caller-allocated, e.g. on the stack of the task that enters it */
typedef struct weft_scope_opts {
    unsigned flags;     /* WEFT_SHIELD: the enclosing cancellation and deadline do not apply */
    weft_time deadline; /* 0 or WEFT_NEVER: none; in the past: cancelled at once */
    const char *name;   /* names it in cancel records and the trace */
} weft_scope_opts;

/* Until weft_scope_exit, self's cancellation, deadline, timed waits and
 * the groups, jobs and retries it begins see scope s (o may be NULL).
 * EINVAL for NULLs, unknown flags or self not running here; ENOMEM, EAGAIN. */
WEFT_API int weft_scope_enter(weft_task *self, weft_scope *s, const weft_scope_opts *o);
/* Leaves s, self's innermost scope, whose groups were joined: 0, or
 * ETIMEDOUT / ECANCELED when s's own deadline / weft_scope_cancel ended it.
 * EINVAL otherwise (s stays entered). */
WEFT_API int weft_scope_exit(weft_task *self, weft_scope *s);
/* Cancels s with ECANCELED, from any thread; no effect once s was exited. */
WEFT_API void weft_scope_cancel(weft_scope *s);

/* ---- Cancellation callbacks ---------------------------------------------- */

typedef struct weft_cancel_cb {
    uint64_t opaque_[4];
} weft_cancel_cb; /* caller-allocated, need not be initialised; must outlive its registration */

/* Like std::stop_callback: fn(arg) runs once when self's scope is cancelled,
 * at once on this thread if it already is. EINVAL for NULLs; EBUSY, and no
 * change, while cb is registered or its fn runs. Remove it before cb's
 * memory goes away; two callbacks removing each other deadlock. */
WEFT_API int weft_on_cancel(weft_task *self, weft_cancel_cb *cb, void (*fn)(void *arg), void *arg);
/* Unregisters cb. Returns only when fn is not running (at once when called
 * from fn itself); fn does not start afterwards. NULL: no effect. */
WEFT_API void weft_on_cancel_remove(weft_cancel_cb *cb);

/* ---- Runtime ------------------------------------------------------------ */

typedef struct weft_runtime weft_runtime; /* opaque */

typedef struct weft_stats {
    uint64_t tasks_run, spawns, steals, steal_attempts, parks;
    uint64_t blocking_threads, blocking_running, blocking_queued;
    /* threads, jobs running and queued now; jobs ended; jobs given up on while
     * still running (a wait that timed out, or a release), each counted once */
    uint64_t blocking_done, blocking_timed_out;
    uint64_t unhandled_errors;
} weft_stats;

typedef struct weft_config {
    size_t size;               /* sizeof(weft_config): lets the struct grow without breaking ABI */
    unsigned workers;          /* 0: $WEFT_WORKERS, else online CPUs; 1..1024 */
    unsigned blocking_max;     /* 0: $WEFT_BLOCKING_MAX, else 64; threads of the blocking pool, 1..4096 */
    weft_time blocking_idle;   /* 0: 10 s; an idle blocking thread exits after this */
    weft_time shutdown_timeout; /* 0: 5 s; how long destroy waits for detached tasks and
                                   blocking jobs, one budget for both */
    void (*on_unhandled)(const struct weft_error *err, void *arg); /* NULL: print to stderr */
    void *on_unhandled_arg;
    /* added after the first version (read only when `size` covers them): */
    size_t stack_size;         /* 0: $WEFT_STACK_SIZE, else 8 MiB; each worker thread's stack,
                                  64 KiB..1 GiB */
    const char *trace_path;    /* NULL: $WEFT_TRACE, else none; "": none; a Chrome trace JSON file written
                                  at destroy (weft(7)); used during create only */
} weft_config;
/* size, then every field 0 (its default); then set the fields you need. Every
 * field is listed, in order, so that C++ (where designated initializers are
 * C++20 and a field left out warns under -Wextra) takes it as C does. */
#define WEFT_CONFIG_INIT { sizeof(weft_config), 0, 0, 0, 0, NULL, NULL, 0, NULL }

/* A runtime with its worker threads; cfg may be NULL. NULL + errno on failure:
 * EINVAL for a field out of its range (a bad environment value is ignored,
 * with a line on stderr). */
WEFT_API weft_runtime *weft_runtime_create(const weft_config *cfg);
/* Cancels every detached task not ended (ECANCELED: flag, callbacks, the
 * groups below; queued ones still run once, cancelled) and every blocking
 * job (flag + callbacks), and waits up to shutdown_timeout for them all: 0
 * when all ended; ETIMEDOUT when some still run, each detached one named
 * (on_unhandled, else stderr). Those are abandoned safely: they keep
 * running (the workers serve a detached one's spawns), their cleanup runs,
 * and the runtime's memory is freed by the last to end (jobs must not use
 * rt itself). Handles not released stay valid until released; an ended
 * job's failure no wait saw goes to on_unhandled now, once. EBUSY while a
 * weft_run is in progress; EINVAL from a task or one of rt's blocking
 * jobs, for NULL, or while another destroy of rt is in progress. */
WEFT_API int weft_runtime_destroy(weft_runtime *rt);
/* Runs fn as a root task and blocks the calling (non-worker) thread until it
 * finished; returns fn's status. EINVAL from inside a task (it would deadlock). */
WEFT_API int weft_run(weft_runtime *rt, weft_fn fn, void *arg, weft_errors **errs);
/* Starts a background task, in a scope of its own that destroy cancels;
 * its failure goes to on_unhandled. EINVAL for NULLs, ENOMEM, ESHUTDOWN
 * once destroy began. */
WEFT_API int weft_spawn_detached(weft_runtime *rt, weft_fn fn, void *arg);
/* Counters summed over the runtime's threads (each a recent value, not a snapshot). */
WEFT_API void weft_runtime_stats(weft_runtime *rt, weft_stats *out);
/* The number of CPU workers rt runs, as resolved at
 * create (config, $WEFT_WORKERS or the online CPUs); 0 for NULL. */
WEFT_API unsigned weft_runtime_workers(const weft_runtime *rt);

/* ---- Groups (structured fork-join) --------------------------------------- */

#define WEFT_GROUP_WORDS 32
typedef struct weft_group {
    uint64_t opaque_[WEFT_GROUP_WORDS];
} weft_group; /* caller-allocated, e.g. on the stack of the task that joins it */

enum {
    WEFT_COLLECT = 1u << 0, /* failures do not cancel siblings (gather, return_exceptions=True) */
    WEFT_SHIELD = 1u << 1,  /* ignore the parent's cancellation and deadline (own deadline
                               still applies) */
    WEFT_STREAM = 1u << 2   /* keep completions for weft_group_next */
};
typedef struct weft_group_opts {
    unsigned flags;
    weft_time deadline; /* 0 or WEFT_NEVER: none; in the past: cancelled at once */
    const char *name;
} weft_group_opts;
typedef struct weft_spawn_opts {
    const char *name;
    weft_time deadline; /* 0 or WEFT_NEVER: none; min'd with the group's; when it
                         * passes the task's subtree is cancelled with ETIMEDOUT,
                         * and ECANCELED returned from that counts as ETIMEDOUT */
    void (*cleanup)(void *arg); /* runs after fn returned, whatever the outcome */
} weft_spawn_opts;

/* parent: the running task (self); opts may be NULL. EINVAL for NULLs or unknown flags. */
WEFT_API int weft_group_init(weft_group *g, weft_task *parent, const weft_group_opts *opts);
/* Queues fn(arg) in g. EINVAL for NULLs, a joined group or a copy of a
 * weft_group (only the one weft_group_init filled is the group), ENOMEM. */
WEFT_API int weft_spawn(weft_group *g, weft_fn fn, void *arg);
WEFT_API int weft_spawn_ex(weft_group *g, weft_fn fn, void *arg, const weft_spawn_opts *o);
/* weft_spawn_detached with options (o may be NULL), taken as weft_spawn_ex
 * takes them: name (the on_unhandled record's, the trace's; destroy copies
 * it), deadline (0 or WEFT_NEVER: none; in the past: cancelled at once; when
 * it passes the task's subtree is cancelled with ETIMEDOUT and an ECANCELED
 * it returns counts as ETIMEDOUT; without memory for it at the task's
 * start it fails with ENOMEM), cleanup (once after fn returned, also when
 * destroy cancelled it). EINVAL for NULL rt or fn, ENOMEM, EAGAIN (no
 * timer thread for the deadline), ESHUTDOWN; then fn and cleanup never run. */
WEFT_API int weft_spawn_detached_ex(weft_runtime *rt, weft_fn fn, void *arg,
                                    const weft_spawn_opts *o);
/* Once, by the task that initialised g: helps run tasks until all of g's ended.
 * 0, the earliest failure's code, or ECANCELED / ETIMEDOUT when a cancel or a
 * deadline ended the group. *errs (if non-NULL) receives the error tree. */
WEFT_API int weft_group_join(weft_group *g, weft_errors **errs);
/* By g's owner: waits until every task of g ended (0), or up to `deadline`
 * (and the caller's own deadline): ETIMEDOUT, the tasks go on; ECANCELED /
 * ETIMEDOUT when the caller's scope is cancelled first. Cancels nothing; g
 * must still be joined. A timed wait, WEFT_NEVER included (it helps run tasks
 * only when no spare thread can take the worker's place). */
WEFT_API int weft_group_wait(weft_group *g, weft_time deadline);
/* By the owner of a WEFT_STREAM group: the next task to end, in completion
 * order: 0 with its arg and status (either pointer may be NULL); ENOENT when
 * every task spawned so far was handed out; ETIMEDOUT at the deadline (or
 * the caller's); ECANCELED when the caller is cancelled. EINVAL without
 * WEFT_STREAM. A timed wait. Completions not taken are dropped by the join. */
WEFT_API int weft_group_next(weft_group *g, weft_time deadline, void **arg, int *status);
/* Cancels g (reason ECANCELED) and everything below it, from any thread;
 * tasks still run, seeing weft_cancelled. No effect on a joined group or NULL. */
WEFT_API void weft_group_cancel(weft_group *g);
/* Runs body(task, lo, hi, arg) over [begin, end) in parallel chunks of >= grain
 * indices (fewer only when the whole range is), `task` being the chunk's own
 * task; fail-fast: after a failure or a cancel, chunks not begun are skipped.
 * Returns the earliest failure's code, else ECANCELED / ETIMEDOUT when self's
 * scope ended it, else 0 (also for begin == end). EINVAL for NULLs, grain 0,
 * begin > end, or self not the running task; ENOMEM before any chunk ran. */
WEFT_API int weft_parallel_for(weft_task *self, size_t begin, size_t end, size_t grain,
                               int (*body)(weft_task *self, size_t lo, size_t hi, void *arg),
                               void *arg);

/* ---- Blocking pool --------------------------------------------------------- */

typedef struct weft_job weft_job; /* opaque: the handle of one blocking job */

/* Runs fn(job_self, arg) on a thread of the blocking pool, never on a CPU
 * worker, like asyncio.to_thread. parent: the running task (a job's self too).
 * job_self works with the task calls (weft_cancelled, weft_deadline,
 * weft_on_cancel, weft_fail, weft_sleep, weft_spawn_blocking), not with
 * groups: a job wanting CPU parallelism calls weft_run. The job inherits parent's
 * cancellation (from the enclosing scope once parent's scope ended, up to a
 * shield), and its effective deadline (min'd with o->deadline) for good; when that passes it is cancelled with
 * ETIMEDOUT. o may be NULL; o->cleanup(arg) runs once after fn returned.
 * *job receives the handle: wait for it and/or release it. 0; EINVAL for
 * NULLs or a parent not running on this thread; ENOMEM; ESHUTDOWN once
 * destroy began; EAGAIN when no blocking thread exists and none could be
 * started. On failure fn and cleanup never run and *job is untouched. */
WEFT_API int weft_spawn_blocking(weft_task *parent, weft_fn fn, void *arg,
                                 const weft_spawn_opts *o, weft_job **job);
/* Waits for the job: its status; or ETIMEDOUT when `deadline` (absolute;
 * 0 polls) or the calling task's deadline passes first, ECANCELED /
 * ETIMEDOUT when the calling task's scope is cancelled. The job keeps
 * running after a timeout: wait again later, or release it. On a worker a
 * timed wait (a spare thread takes the worker's place). The first wait that
 * sees a failure keeps the job's error record as the cause of the calling
 * task's own failure, should it fail. EINVAL for NULL or a released job. */
WEFT_API int weft_job_wait(weft_job *job, weft_time deadline);
/* True once the job's function and cleanup ended:
 * weft_job_wait then returns its status at once. False for NULL. */
WEFT_API bool weft_job_done(const weft_job *job);
/* Cancels the job's scope (reason ECANCELED): weft_cancelled(job_self) turns
 * true and its weft_on_cancel callbacks run. No effect once it ended or for NULL. */
WEFT_API void weft_job_cancel(weft_job *job);
/* Drops the handle (once). A job not ended yet finishes in the background:
 * its cleanup still runs, and a failure nobody waited for goes to
 * on_unhandled, as does a finished one's failure never waited for (unless
 * weft_runtime_destroy reported it already). */
WEFT_API void weft_job_release(weft_job *job);

/* ---- Retry ------------------------------------------------------------------ */

typedef struct weft_retry {
    unsigned attempts;            /* total tries, >= 1 */
    weft_time base_delay, max_delay;
    double factor, jitter;        /* delay = min(max, base*factor^k) * (1 +- jitter) */
    bool (*retryable)(int code, void *arg); /* arg is fn's arg; NULL: every non-zero code
                                               except ECANCELED and ETIMEDOUT */
} weft_retry; /* zero fields take defaults: 3 attempts, base 10 ms (or max, if
                 smaller), max 1 s (or base, if larger), factor 2, jitter 0;
                 policy NULL: all defaults */

/* Calls fn(self, arg) until it returns 0, its code is not retryable, or the
 * attempts are used up; between tries it backs off with a timed wait (a
 * spare thread takes the worker's place). Returns 0, or the last try's code
 * with that try's error record pending on self (as weft_fail leaves it: it
 * replaces a record pending from before); the records of tries that were
 * retried are dropped. Never waits past self's
 * effective deadline: when the next try would start after it, returns
 * ETIMEDOUT at once, with the last failure as the cause. Stops when self is
 * cancelled: ECANCELED, or ETIMEDOUT when its deadline passed. EINVAL for
 * NULL self or fn, self not running on this thread, a negative delay,
 * max_delay < base_delay, factor < 1, jitter outside [0, 1]. A delay too
 * long to represent saturates at WEFT_NEVER (sleeps until cancelled). Works on a
 * blocking job's self too. */
WEFT_API int weft_retry_run(weft_task *self, const weft_retry *policy, weft_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_WEFT_H */
