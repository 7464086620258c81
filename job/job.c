/*
 * Blocking jobs: weft_spawn_blocking, weft_job_wait / _done / _cancel /
 * _release, and a job's run on a blocking thread (blocking_pool.c).
 *
 * The model is asyncio's wait_for(to_thread(f), t): a wait may give up
 * (ETIMEDOUT) while the job goes on, and the job's end is still handled:
 * a later wait gets its status, its cleanup runs once, and a failure that
 * no wait saw goes to on_unhandled when the handle is dropped. Two
 * references (job.h) let the handle and the run end in either order.
 *
 * Waiting. A waiter lists a node on the job under the pool's lock; the
 * job's end, under the same lock, sets the state and wakes every listed
 * node: a CPU worker by name (weft__wake_thread: its wait is a timed wait,
 * timed_wait.c, so its slot goes to a spare thread meanwhile), any other
 * thread through a futex word in its node.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "errors/errors.h"
#include "job/job.h"
#include "job/job.h"

__thread struct weft_job *weft__self_job __attribute__((tls_model("initial-exec")));

struct weft__job_waiter {
    struct weft__thread *thr; /* a CPU worker in a timed wait; NULL: `word` */
    _Atomic uint32_t word;    /* set to 1 by the job's end or the waiter's cancel */
    struct weft__job_waiter *next;
};

/* Misuse of a handle is refused; debug builds also say so. */
static void misuse(const char *fn, const char *what)
{
#ifdef WEFT_DEBUG
    fprintf(stderr, "weft: %s: %s\n", fn, what);
#else
    (void)fn;
    (void)what;
#endif
}

/* Under the lock: whether job is a handle still held. */
static bool handle_ok(struct weft_job *job, const char *fn)
{
    if (atomic_load_explicit(&job->state, memory_order_relaxed) == WEFT__JOB_FREE ||
        job->released) {
        misuse(fn, "the job was released");
        return false;
    }
    return true;
}

void weft__job_cancel(struct weft_job *job, int reason)
{
    struct weft__scope *s = &job->scope;
    uint64_t word = atomic_load_explicit(&s->cancel, memory_order_relaxed);
    do {
        if (weft__cancel_reason_of(word) != 0)
            return;
        /* seq_cst: before the callback lock, as cancel_cb.c's protocol wants */
    } while (!atomic_compare_exchange_weak_explicit(&s->cancel, &word, word | (uint32_t)reason,
                                                    memory_order_seq_cst, memory_order_relaxed));
    /* no name: a handle's cancel may race with the cleanup that frees it */
    if (job->jobs->scopes.sched.trace_log != NULL)
        weft__trace_emit(job->jobs->scopes.sched.trace_log, WEFT__TR_JOB_CANCEL, NULL, weft_now(), -1, reason, 0);
    weft__cancel_cb_run_all(&job->jobs->scopes, s, weft__cancel_gen(word));
}

/* The parent's scope was cancelled: so is the job, for the same reason. */
static void parent_cancelled(void *arg)
{
    struct weft_job *job = arg;
    weft__job_cancel(job, weft__cancel_cb_reason(&job->parent_cb));
}

static void deadline_fired(struct weft__timer_entry *e)
{
    struct weft_job *job = (struct weft_job *)(void *)((char *)e - offsetof(struct weft_job, timer));
    weft__job_cancel(job, ETIMEDOUT); /* the job's end removes the entry first */
}

/* The runtime of the task running on this thread, if parent is it. */
static struct weft__jobs *caller_jobs(weft_task *parent)
{
    struct weft__thread *thr = weft__self_thread;
    if (thr != NULL && thr->current == parent)
        return weft__jobs_of(weft__scopes_of(thr->sched));
    struct weft_job *j = weft__self_job;
    return j != NULL && &j->task == parent ? j->jobs : NULL;
}

/* The task running on this thread (a CPU task or a job), or NULL. */
static weft_task *caller_task(void)
{
    struct weft__thread *thr = weft__self_thread;
    if (thr != NULL)
        return thr->current;
    struct weft_job *j = weft__self_job;
    return j != NULL ? &j->task : NULL;
}

static void start_life(struct weft_job *job, struct weft__jobs *jobs, weft_task *parent, weft_fn fn,
                       void *arg, const weft_spawn_opts *o)
{
    weft_time deadline = weft_deadline(parent);
    if (o != NULL && o->deadline != 0 && o->deadline < deadline)
        deadline = o->deadline;
    struct weft__scope *s = &job->scope;
    weft__scope_begin_unparented(s, o != NULL ? o->name : NULL, deadline);

    job->task = (struct weft_task){
        .fn = fn,
        .arg = arg,
        .scope = s,
        .home = NULL,
        .next = NULL,
        .name = o != NULL ? o->name : NULL,
        .cleanup = o != NULL ? o->cleanup : NULL,
        .kind = WEFT__TASK_JOB,
    };
    job->jobs = jobs;
    job->armed = false;
    job->refs = 2; /* the handle, the run */
    job->released = job->observed = job->reported = job->gave_up = job->excused = false;
    job->status = 0;
    job->rec = NULL;
    job->waiters = NULL;
}

/* Link the job to its parent's cancellation and arm its deadline. */
static int link_scope(struct weft_job *job, weft_task *parent)
{
    /* may cancel at once; moves up when parent's scope ends before the job */
    weft__cancel_cb_link(parent, &job->parent_cb, parent_cancelled, job);
    weft_time deadline = job->scope.deadline;
    if (deadline == WEFT_NEVER)
        return 0;
    if (deadline <= weft_now()) {
        weft__job_cancel(job, ETIMEDOUT);
        return 0;
    }
    struct weft__timer *t;
    int rc = weft__deadline_timer(&job->jobs->scopes, &t);
    if (rc != 0)
        return rc;
    job->timer.deadline = deadline;
    job->timer.fire = deadline_fired;
    if ((rc = weft__timer_add(t, &job->timer)) == 0)
        job->armed = true;
    return rc;
}

/* Undo link_scope: nothing calls into the job afterwards. */
static void unlink_scope(struct weft_job *job)
{
    /* the parent's group may be gone (destroy), but not jobs */
    weft__cancel_cb_remove(&job->jobs->scopes, &job->parent_cb);
    if (job->armed)
        weft__timer_remove(atomic_load_explicit(&job->jobs->scopes.timer, memory_order_acquire),
                           &job->timer);
    /* callbacks the job left registered, nested jobs' links included */
    weft__cancel_cb_forget(&job->jobs->scopes, &job->scope);
}

static const char *job_name(const struct weft_task *t)
{
    return t->name;
}

const struct weft__task_kind_ops weft__job_task_kind = {.name = job_name};

int weft_spawn_blocking(weft_task *parent, weft_fn fn, void *arg, const weft_spawn_opts *o,
                        weft_job **out)
{
    struct weft__jobs *jobs = parent != NULL ? caller_jobs(parent) : NULL;
    if (jobs == NULL || fn == NULL || out == NULL)
        return EINVAL;
    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    bool stopping = bp->stopping;
    struct weft_job *job = stopping ? NULL : weft__job_take_locked(bp);
    pthread_mutex_unlock(&bp->lock);
    if (job == NULL)
        return stopping ? ESHUTDOWN : ENOMEM;
    start_life(job, jobs, parent, fn, arg, o);
    int rc = link_scope(job, parent);
    if (rc == 0)
        rc = weft__blocking_submit(jobs, job);
    if (rc != 0) {
        unlink_scope(job);
        pthread_mutex_lock(&bp->lock);
        bool last = weft__job_put_locked(bp, job);
        pthread_mutex_unlock(&bp->lock);
        if (last)
            jobs->free_runtime(jobs);
        return rc;
    }
    *out = job;
    return 0;
}

static void job_run(struct weft_job *job, bool stopping)
{
    struct weft__jobs *jobs = job->jobs;
    struct weft__scope *s = &job->scope;
    /* started late: it still runs once, seeing its cancellation at once */
    if (stopping)
        weft__job_cancel(job, ECANCELED);
    else if (s->deadline != WEFT_NEVER && weft_now() >= s->deadline)
        weft__job_cancel(job, ETIMEDOUT);
    weft__self_job = job;
    weft__off_worker_task = &job->task;
    weft__off_worker_scopes = &jobs->scopes;
    weft_time begin = jobs->scopes.sched.trace_log != NULL ? weft_now() : 0;
    int rc = job->task.fn(&job->task, job->task.arg);
    weft__self_job = NULL;
    weft__off_worker_task = NULL;
    weft__off_worker_scopes = NULL;
    if (jobs->scopes.sched.trace_log != NULL) /* before the cleanup, which may free the name */
        weft__trace_emit(jobs->scopes.sched.trace_log, WEFT__TR_JOB, job->task.name, begin, weft_now() - begin, rc, 0);

    uint32_t reason = weft__cancel_reason_of(atomic_load_explicit(&s->cancel, memory_order_relaxed));
    /* a job that ran into its deadline (a sleep to it returns ETIMEDOUT)
     * ended timed out, even if the timer has not fired yet */
    if (reason == 0 && s->deadline != WEFT_NEVER && weft_now() >= s->deadline)
        reason = ETIMEDOUT;
    if (rc == ECANCELED && reason == ETIMEDOUT)
        rc = ETIMEDOUT; /* stopped by a deadline: a timeout, as in weft__task_scope_end */
    bool excused = reason != 0 && (rc == ECANCELED || rc == (int)reason);
    /* the record copies the name before the cleanup, which may free it */
    struct weft_error *rec = weft__task_failure(&job->task, job->task.name, rc);
    if (job->task.cleanup != NULL)
        job->task.cleanup(job->task.arg);
    unlink_scope(job);

    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    weft__blocking_job_ended_locked(bp, job);
    job->status = rc;
    job->excused = excused;
    job->rec = rec;
    /* release: status and record before a waiter's acquire load */
    atomic_store_explicit(&job->state, WEFT__JOB_DONE, memory_order_release);
    for (struct weft__job_waiter *w = job->waiters; w != NULL; w = w->next) {
        if (w->thr != NULL)
            weft__wake_thread(w->thr->sched, w->thr); /* maybe another runtime's worker */
        else
            weft__futex_post(&w->word);
    }
    /* released before it ended: nobody will ever see this failure */
    bool report = job->released && rc != 0 && !excused;
    if (report)
        job->rec = NULL;
    if (--job->refs == 0)
        weft__job_put_locked(bp, job); /* never the last user: this thread still counts */
    pthread_mutex_unlock(&bp->lock);
    if (report)
        jobs->unhandled(jobs, "blocking job", NULL, rc, rec); /* the name may be freed */
}

const struct weft__job_ops weft__job_ops = {.run = job_run, .cancel = weft__job_cancel};

static bool job_ended(void *arg)
{
    struct weft_job *job = arg;
    return atomic_load_explicit(&job->state, memory_order_acquire) == WEFT__JOB_DONE;
}

/* A wait off the CPU workers (a job waiting for another, or any thread):
 * on the node's futex word, until the job ends, self is cancelled, or
 * min(until, self's deadline). */
static int wait_off_worker(weft_task *self, struct weft__job_waiter *w, struct weft_job *job,
                           weft_time until)
{
    weft_time deadline = weft_deadline(self);
    weft_time end = until < deadline ? until : deadline;
    weft_cancel_cb cb;
    bool watched = self != NULL && weft_on_cancel(self, &cb, weft__futex_post, &w->word) == 0;
    while (!job_ended(job) && !weft_cancelled(self) && weft_now() < end)
        weft__futex_wait_until(&w->word, 0, end);
    if (watched)
        weft_on_cancel_remove(&cb);
    if (job_ended(job))
        return 0;
    if (self != NULL) /* ended at the deadline: the flag goes up first */
        weft__cancel_at_deadline(self);
    int reason = weft_cancel_reason(self);
    return reason != 0 ? reason : ETIMEDOUT;
}

/* Under the lock: a wait or the handle gave up on the job while it ran;
 * blocking_timed_out counts each job once. */
static void give_up_locked(struct weft__blocking *bp, struct weft_job *job)
{
    if (!job->gave_up) {
        job->gave_up = true;
        bp->given_up++;
    }
}

static void unlist(struct weft_job *job, struct weft__job_waiter *w)
{
    for (struct weft__job_waiter **p = &job->waiters; *p != NULL; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

int weft_job_wait(weft_job *job, weft_time deadline)
{
    if (job == NULL)
        return EINVAL;
    struct weft__blocking *bp = &job->jobs->blocking;
    struct weft__thread *thr = weft__self_thread;
    weft_task *self = caller_task();
    struct weft__job_waiter w = {.thr = thr != NULL && self != NULL ? thr : NULL};
    atomic_init(&w.word, 0);
    pthread_mutex_lock(&bp->lock);
    if (!handle_ok(job, "weft_job_wait")) {
        pthread_mutex_unlock(&bp->lock);
        return EINVAL;
    }
    job->refs++; /* a release meanwhile must not free it under this wait */
    bool ended = atomic_load_explicit(&job->state, memory_order_relaxed) == WEFT__JOB_DONE;
    if (!ended) {
        w.next = job->waiters;
        job->waiters = &w;
    }
    pthread_mutex_unlock(&bp->lock);

    int rc = 0;
    if (!ended)
        rc = w.thr != NULL ? weft__timed_wait(thr, self, deadline, job_ended, job)
                           : wait_off_worker(self, &w, job, deadline);
    struct weft_error *cause = NULL;
    pthread_mutex_lock(&bp->lock);
    if (!ended)
        unlist(job, &w);
    if (atomic_load_explicit(&job->state, memory_order_relaxed) == WEFT__JOB_DONE) {
        rc = job->status;
        job->observed = true;
        if (self != NULL && !job->excused) { /* a cancelled job's ECANCELED is no failure */
            cause = job->rec;
            job->rec = NULL;
        }
    } else {
        give_up_locked(bp, job);
    }
    struct weft__jobs *jobs = job->jobs;
    /* while this wait's reference holds jobs */
    if (jobs->scopes.sched.trace_log != NULL && rc != 0 &&
        atomic_load_explicit(&job->state, memory_order_relaxed) != WEFT__JOB_DONE)
        weft__trace_emit(jobs->scopes.sched.trace_log, WEFT__TR_JOB_GAVE_UP, NULL, weft_now(), -1, rc, 0);
    bool last = --job->refs == 0 && weft__job_put_locked(bp, job);
    pthread_mutex_unlock(&bp->lock);
    if (cause != NULL)
        weft__task_keep_cause(self, weft__errors_of(cause));
    if (last)
        jobs->free_runtime(jobs);
    return rc;
}

bool weft_job_done(const weft_job *job)
{
    return job != NULL &&
           atomic_load_explicit(&job->state, memory_order_acquire) == WEFT__JOB_DONE;
}

/* Drop one reference (under no lock); the last frees the runtime if it must. */
static void job_unref(struct weft_job *job)
{
    struct weft__jobs *jobs = job->jobs;
    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    bool last = --job->refs == 0 && weft__job_put_locked(bp, job);
    pthread_mutex_unlock(&bp->lock);
    if (last)
        jobs->free_runtime(jobs);
}

void weft_job_cancel(weft_job *job)
{
    if (job == NULL)
        return;
    struct weft__blocking *bp = &job->jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    bool live = handle_ok(job, "weft_job_cancel") &&
                atomic_load_explicit(&job->state, memory_order_relaxed) != WEFT__JOB_DONE;
    if (live)
        job->refs++; /* the job stays put while cancelled outside the lock */
    pthread_mutex_unlock(&bp->lock);
    if (!live)
        return;
    weft__job_cancel(job, ECANCELED);
    job_unref(job);
}

void weft_job_release(weft_job *job)
{
    if (job == NULL)
        return;
    struct weft__jobs *jobs = job->jobs;
    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    if (!handle_ok(job, "weft_job_release")) {
        pthread_mutex_unlock(&bp->lock);
        return;
    }
    job->released = true;
    struct weft_error *lost = NULL;
    bool report = false;
    int rc = job->status;
    if (atomic_load_explicit(&job->state, memory_order_relaxed) != WEFT__JOB_DONE) {
        give_up_locked(bp, job); /* abandoned while running */
    } else if (!job->observed && !job->reported && rc != 0 && !job->excused) {
        report = true; /* ended, failed, and no wait ever saw it, nor destroy */
        lost = job->rec;
        job->rec = NULL;
    }
    pthread_mutex_unlock(&bp->lock);
    if (report)
        /* the handle's ref holds jobs; the name may be freed (cleanup ran) */
        jobs->unhandled(jobs, "blocking job", NULL, rc, lost);
    job_unref(job);
}
