/*
 * A blocking job (internal; job.c, blocking_pool.c).
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
#ifndef WEFT_RUNTIME_JOB_H
#define WEFT_RUNTIME_JOB_H

#include "runtime/internal.h"

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
