/*
 * Blocking jobs (job/): the blocking pool, threads apart from the CPU
 * workers that run blocking jobs (blocking_pool.c), and the jobs themselves
 * (job.c).
 *
 * Lifetime. The pool lives inside weft_runtime. Destroy cancels the jobs
 * and waits up to shutdown_timeout; jobs still running then are abandoned:
 * once the workers are gone (joined by destroy, or by the last of them when
 * detached tasks outlived destroy: runtime.c) the runtime's memory (this
 * pool, the timer, the callback lock) is left to the last of its users, a
 * blocking thread or a job handle, which frees it when it goes
 * (weft__runtime_free).
 *
 * A job is its own cancel scope: `scope` is a scope that no pool
 * holds, so weft_cancelled, weft_deadline and weft_on_cancel work on the
 * job's self (`task`, whose scope is `scope`) exactly as on a CPU task's.
 * The parent's cancellation reaches it through a link registered on the
 * parent's scope (`parent_cb`), which moves up to the enclosing scope when
 * that one ends first (a released job), its deadline through an entry of the
 * runtime's timer, and nothing else walks it.
 *
 * References: the handle holds one until weft_job_release, the job's run
 * holds one from its spawn until its end was published; the last drops the
 * job back to the pool's free list. Job memory is type-stable (freed with
 * the runtime), so a misused stale handle reads a pooled job, never
 * unmapped memory, and is refused while the job is not reused.
 */
#ifndef WEFT_JOB_JOB_H
#define WEFT_JOB_JOB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "scope/scope.h"
#include "timer/timer.h"

struct weft_job;
struct weft__job_chunk;

/* What the pool does with a job (job.c gives them at init): run it on a
 * blocking thread (`stopping`: destroy began, it starts cancelled), and
 * cancel it with a reason (destroy). */
struct weft__job_ops {
    void (*run)(struct weft_job *job, bool stopping);
    void (*cancel)(struct weft_job *job, int reason);
};

/* Everything under `lock`. */
struct weft__blocking {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* idle threads wait for a queued job (CLOCK_MONOTONIC) */
    pthread_cond_t ended; /* a thread exited or gave up starting: destroy waits */
    const struct weft__job_ops *ops;
    /* settings */
    unsigned max;
    weft_time idle, shutdown_timeout;
    size_t stack_size;
    /* threads */
    unsigned threads;      /* started (or starting) and not exited */
    unsigned starting;     /* counted in threads, not yet looking for work */
    unsigned idle_threads; /* waiting on `work` */
    unsigned running;      /* jobs running now */
    unsigned name_seq;
    /* jobs */
    struct weft_job *queue_head, *queue_tail; /* FIFO, linked by `next` */
    size_t queued;
    struct weft_job *running_list; /* linked by run_prev/run_next */
    struct weft_job *free_head, *free_tail; /* FIFO: a freed handle is reused late */
    struct weft__job_chunk *chunks;
    size_t jobs_held; /* jobs out of the free list (queued, running or with a handle) */
    uint64_t done, given_up;
    bool stopping;  /* destroy began: no new job; queued ones run cancelled */
    bool abandoned; /* destroy returned: the last thread or handle frees the runtime */
};

/* The blocking jobs' part (job/). */
struct weft__jobs {
    struct weft__scopes scopes;
    struct weft__blocking blocking;
    /* upcalls the runtime installs: the last user of an abandoned runtime
     * frees it (weft__runtime_free); a failure nobody can observe is
     * reported (weft__unhandled) */
    void (*free_runtime)(struct weft__jobs *jobs);
    void (*unhandled)(struct weft__jobs *jobs, const char *what, const char *name, int rc,
                      struct weft_error *rec);
};
static inline struct weft__jobs *weft__jobs_of(struct weft__scopes *scopes)
{
    return (struct weft__jobs *)(void *)((char *)scopes - offsetof(struct weft__jobs, scopes));
}

/* ---- blocking pool (blocking_pool.c) ---- */
/* ops: what the pool does with a job (weft__job_ops, job.c). */
void weft__blocking_init(struct weft__jobs *jobs, const struct weft__job_ops *ops, unsigned max,
                         weft_time idle, weft_time shutdown_timeout, size_t stack_size);
/* Destroy: refuse new jobs, cancel the running ones (flag and callbacks);
 * queued ones start cancelled. */
void weft__blocking_cancel_all(struct weft__jobs *jobs);
/* Then: wait until `until` for every blocking thread to exit: 0, or ETIMEDOUT. */
int weft__blocking_wait_idle(struct weft__jobs *jobs, weft_time until);
/* Then: each job that ended failing, whose handle is held and which no wait
 * saw, goes to on_unhandled now, once (its release reports nothing more). */
void weft__blocking_report_unobserved(struct weft__jobs *jobs);
/* After the workers stopped: true when the runtime may be freed now; else the pool's
 * last user frees it (weft__runtime_free). */
bool weft__blocking_orphan(struct weft__jobs *jobs);
/* The pool's memory and locks (from weft__runtime_free). */
void weft__blocking_fini(struct weft__jobs *jobs);
void weft__blocking_stats(struct weft__jobs *jobs, weft_stats *out);

enum weft__job_state { WEFT__JOB_FREE, WEFT__JOB_QUEUED, WEFT__JOB_RUNNING, WEFT__JOB_DONE };

struct weft__job_waiter; /* job.c */

struct weft_job {
    struct weft__scope scope; /* cache-line aligned: first */
    struct weft_task task;    /* the job's self */
    struct weft__jobs *jobs;
    /* a link on the parent's scope, moving up as scopes end (cancel_cb.c) */
    weft_cancel_cb parent_cb;
    struct weft__timer_entry timer;   /* its deadline (`armed`) */
    bool armed;
    /* under the pool's lock */
    _Atomic uint32_t state; /* weft__job_state; read without the lock by waiters */
    unsigned refs;
    bool released; /* the handle was dropped */
    bool observed; /* a wait returned its status */
    bool reported; /* destroy gave its failure, which no wait had seen, to on_unhandled */
    bool gave_up;  /* counted in given_up */
    bool excused;  /* its status only says it was cancelled */
    int status;
    struct weft_error *rec; /* its failure's record until a wait or release takes it */
    struct weft__job_waiter *waiters;
    struct weft_job *next; /* queue, free list */
    struct weft_job *run_prev, *run_next;
    struct weft_job *cancel_next; /* destroy's lists: jobs to cancel, failures to report */
};

/* The runtime whose blocking thread this is, for the thread's whole life
 * (destroy refuses to run there); NULL on other threads. */
extern __thread struct weft__jobs *weft__blocking_self __attribute__((tls_model("initial-exec")));
/* The job whose function runs on this thread, NULL elsewhere. */
extern __thread struct weft_job *weft__self_job __attribute__((tls_model("initial-exec")));

/* Cancel the job's scope with reason (no-op once cancelled): its callbacks run. */
void weft__job_cancel(struct weft_job *job, int reason);
/* What the pool does with a job: on a blocking thread, the job taken off
 * the queue (counted running) runs and its end is published; destroy
 * cancels running jobs (weft__job_cancel). */
extern const struct weft__job_ops weft__job_ops;
/* A job's self as a kind of task: only its name (it never runs on a
 * worker, so it has no start nor end there). */
extern const struct weft__task_kind_ops weft__job_task_kind;

/* ---- the pool (blocking_pool.c) ---- */
/* A job from the pool's memory, state FREE, counted in jobs_held; NULL:
 * ENOMEM. Under the pool's lock. */
struct weft_job *weft__job_take_locked(struct weft__blocking *bp);
/* Back to the free list (refs reached 0); true when the runtime must be
 * freed now (abandoned, and this was its last user). Under the lock. */
bool weft__job_put_locked(struct weft__blocking *bp, struct weft_job *job);
/* The job's run ended (counts, the running list). Under the lock. */
void weft__blocking_job_ended_locked(struct weft__blocking *bp, struct weft_job *job);
/* Queue job and see that a thread runs it: 0; ESHUTDOWN; EAGAIN when no
 * thread exists and none could be started (job then not queued). */
int weft__blocking_submit(struct weft__jobs *jobs, struct weft_job *job);

#endif
