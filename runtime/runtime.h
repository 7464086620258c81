/*
 * The top layer (runtime/): the runtime's life, weft_run, detached tasks,
 * unhandled failures, settings, retry, sleep, parallel_for and the trace.
 */
#ifndef WEFT_RUNTIME_RUNTIME_H
#define WEFT_RUNTIME_RUNTIME_H

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "base/cpu_list.h"
#include "group/group.h"
#include "job/job.h"

struct weft__detached;       /* detached.c */
struct weft__detached_chunk;

/* Or'ed into kind by a WEFT__TASK_DETACHED task's start when no memory was
 * left for its deadline: it runs without, and ends with ENOMEM. */
enum { WEFT__TASK_DEADLINE_LOST = 1u << 11 };

struct weft_runtime {
    struct weft__jobs jobs; /* first: and in it the scopes' and scheduler's parts */
    bool print_stats;
    struct weft__trace *trace; /* WEFT_TRACE (trace.c); NULL: untraced */
    void (*on_unhandled)(const struct weft_error *err, void *arg);
    void *on_unhandled_arg;
    /* the last detached task of an abandoned runtime ended: stop the
     * workers (detached.c calls it, runtime.c calls detached.c) */
    void (*stop_abandoned)(weft_runtime *rt);

    /* lifecycle */
    atomic_bool shutting_down;      /* destroy began: no new roots or detached tasks */
    _Atomic uint64_t active_runs;   /* weft_run calls in progress */
    _Atomic uint64_t detached_live; /* detached tasks not finished */
    pthread_mutex_t life_lock;
    pthread_cond_t life_cond; /* signalled when detached_live reaches 0 (CLOCK_MONOTONIC) */
    /* the records of detached tasks that run (detached.c), under life_lock */
    struct weft__detached *detached_list;         /* started, not ended */
    struct weft__detached *detached_free;
    struct weft__detached_chunk *detached_chunks; /* freed with the runtime */
    /* the scope of a detached task that started without memory for a
     * record, and how many run in it: cancelled by destroy as records are */
    struct weft__scope detached_fallback;
    unsigned detached_fallback_users;
    /* destroy returned while detached tasks still ran: the last of them
     * stops the workers, and the last thread to leave frees the runtime
     * (weft__workers_stop_abandoned); set under life_lock */
    atomic_bool workers_abandoned;
    _Atomic unsigned threads_left; /* then: the threads yet to leave, and the stopper */

    _Atomic uint64_t unhandled_errors;
};
static inline weft_runtime *weft__runtime_of(struct weft__jobs *jobs)
{
    return (weft_runtime *)(void *)((char *)jobs - offsetof(weft_runtime, jobs));
}
static inline weft_runtime *weft__runtime_of_sched(struct weft__sched *sched)
{
    return weft__runtime_of(weft__jobs_of(weft__scopes_of(sched)));
}
static inline struct weft__sched *weft__runtime_sched(weft_runtime *rt)
{
    return &rt->jobs.scopes.sched;
}
static inline struct weft__scopes *weft__runtime_scopes(weft_runtime *rt)
{
    return &rt->jobs.scopes;
}

/* ---- detached tasks (detached.c) ---- */
/* At create, before any thread: the fallback scope begins its life. */
void weft__detached_init(weft_runtime *rt);
/* The end of a detached task: its groups joined, its scope ended, its
 * cleanup run, a failure reported, counted ended (detached.c). */
extern const struct weft__task_kind_ops weft__detached_task_kind;
/* Destroy (shutting_down set): cancel every detached task running with
 * ECANCELED: its flag, its callbacks, the groups below it. One that starts
 * from now on cancels itself. */
void weft__detached_cancel_all(weft_runtime *rt);
/* Then: wait until every detached task ended, or `until`; true when all did. */
bool weft__detached_wait(weft_runtime *rt, weft_time until);
/* Then: name each one still running (on_unhandled, else stderr), and
 * report those not started as unnamed; how many. */
unsigned weft__detached_name_stragglers(weft_runtime *rt);
/* Then: true when some still run, and from now on the last of them stops
 * the workers (rt may be freed once this returned); false when all ended. */
bool weft__detached_abandon(weft_runtime *rt);
/* The records' memory (weft__runtime_free). */
void weft__detached_free_all(weft_runtime *rt);

/* A failure nobody can observe (detached task, released job): counted, then
 * given to on_unhandled, or printed on one line (unhandled.c) naming `what`
 * ("detached task", "blocking job"). rec (NULL: none could be made) is taken. */
void weft__unhandled(weft_runtime *rt, const char *what, const char *name, int rc,
                     struct weft_error *rec);
/* A detached task named `name` ("": unnamed) still ran when destroy gave up
 * on it: counted like a failure, then given to on_unhandled as an ETIMEDOUT
 * record, or printed on one line. */
void weft__unhandled_straggler(weft_runtime *rt, const char *name);
/* Free what is left of rt once no worker runs: the timer, the blocking
 * pool's memory, the locks, rt itself. */
void weft__runtime_free(weft_runtime *rt);
/* Runtimes freed so far: tests see an abandoned runtime's memory go. */
extern _Atomic unsigned long weft__runtimes_freed;

/* The wait weft_retry_run makes before try k+2 under `policy` (jitter drawn;
 * WEFT_NEVER when it would not fit), or -1 for a policy it refuses (retry.c). */
weft_time weft__retry_delay(const weft_retry *policy, unsigned k);

/* The runtime's settings from weft_config, the environment and defaults (config.c). */
struct weft__settings {
    unsigned workers;
    size_t stack_size;
    bool print_stats;
    const char *trace_path; /* NULL: no trace */
    unsigned blocking_max;
    weft_time blocking_idle, shutdown_timeout;
    /* WEFT_AFFINITY: NONE, or the mode with its list (valid: checked
     * against `allowed`, the caller's CPUs at create) */
    enum weft__affinity_mode affinity;
    const char *affinity_list;
    cpu_set_t allowed;
};
int weft__settings_resolve(const weft_config *cfg, struct weft__settings *out);

#endif
