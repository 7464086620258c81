/*
 * The blocking pool: threads apart from the CPU workers, for jobs that wait
 * on the outside world (files, sockets, locks, sleeps), as asyncio's
 * to_thread executor or Go's threads in syscalls. A CPU worker never runs a
 * job, so blocking jobs never take a worker's place.
 *
 * Threads start on demand, one per queued job that no idle thread will take,
 * up to `max` (blocking_max); beyond that jobs wait in FIFO order. A thread
 * idle for `idle` (blocking_idle) exits. One mutex guards everything here:
 * jobs are heavy (a thread hand-off, a wake-up) and a lock costs little
 * beside them.
 *
 * Threads are detached: one exiting when idle has nobody to join it. A
 * thread touches the runtime last under the lock, where it signals
 * `ended`, so destroy (which waits for no thread to be left) may free the
 * runtime as soon as it sees the count reach zero; or, once destroy gave up
 * waiting, the last thread (or job handle) to go frees it (job.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "errors/errors.h"
#include "base/thread.h"
#include "job/job.h"
#include "job/job.h"

enum { JOBS_PER_CHUNK = 8 };

__thread struct weft__jobs *weft__blocking_self __attribute__((tls_model("initial-exec")));

struct weft__job_chunk {
    struct weft__job_chunk *next;
    struct weft__scope_chunk scopes; /* its jobs' scopes, listed on jobs for callbacks' checks */
    struct weft_job jobs[JOBS_PER_CHUNK];
};

static struct timespec to_timespec(weft_time t)
{
    return (struct timespec){.tv_sec = t / WEFT_SEC, .tv_nsec = t % WEFT_SEC};
}

void weft__blocking_init(struct weft__jobs *jobs, const struct weft__job_ops *ops, unsigned max,
                         weft_time idle, weft_time shutdown_timeout, size_t stack_size)
{
    struct weft__blocking *bp = &jobs->blocking;
    bp->ops = ops;
    pthread_mutex_init(&bp->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* weft_now's clock */
    pthread_cond_init(&bp->work, &attr);
    pthread_cond_init(&bp->ended, &attr);
    pthread_condattr_destroy(&attr);
    bp->max = max;
    bp->idle = idle;
    bp->shutdown_timeout = shutdown_timeout;
    bp->stack_size = stack_size;
}

void weft__blocking_fini(struct weft__jobs *jobs)
{
    struct weft__blocking *bp = &jobs->blocking;
    for (struct weft__job_chunk *c = bp->chunks, *next; c != NULL; c = next) {
        next = c->next;
        weft__free(c);
    }
    pthread_cond_destroy(&bp->work);
    pthread_cond_destroy(&bp->ended);
    pthread_mutex_destroy(&bp->lock);
}

/* FIFO lists (the queue, the free list) linked by `next`. */
static void append(struct weft_job **head, struct weft_job **tail, struct weft_job *job)
{
    job->next = NULL;
    if (*tail != NULL)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

static bool last_user_locked(struct weft__blocking *bp)
{
    return bp->abandoned && bp->threads == 0 && bp->jobs_held == 0;
}

static struct weft__jobs *jobs_of(struct weft__blocking *bp)
{
    return (struct weft__jobs *)(void *)((char *)bp - offsetof(struct weft__jobs, blocking));
}

struct weft_job *weft__job_take_locked(struct weft__blocking *bp)
{
    if (bp->free_head == NULL) {
        struct weft__job_chunk *c = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *c);
        if (c == NULL)
            return NULL;
        memset(c, 0, sizeof *c);
        c->next = bp->chunks;
        bp->chunks = c;
        for (size_t i = 0; i < JOBS_PER_CHUNK; i++) {
            struct weft_job *j = &c->jobs[i];
            /* a pooled scope reads as dead, as a pooled group state does */
            weft__scope_init_pooled(&j->scope, &jobs_of(bp)->scopes, NULL);
            append(&bp->free_head, &bp->free_tail, j);
        }
        weft__scope_chunk_describe(&c->scopes, &c->jobs[0].scope, sizeof c->jobs[0],
                                   JOBS_PER_CHUNK);
        weft__scope_chunk_list_loose(&jobs_of(bp)->scopes, &c->scopes);
    }
    struct weft_job *job = bp->free_head;
    bp->free_head = job->next;
    if (bp->free_head == NULL)
        bp->free_tail = NULL;
    job->next = NULL;
    bp->jobs_held++;
    return job;
}

bool weft__job_put_locked(struct weft__blocking *bp, struct weft_job *job)
{
    weft__error_free(job->rec);
    job->rec = NULL;
    /* the next life's gen comes from this word (job.c) */
    uint64_t word = atomic_load_explicit(&job->scope.cancel, memory_order_relaxed);
    atomic_store_explicit(&job->scope.cancel, word | WEFT__GROUP_DEAD, memory_order_relaxed);
    atomic_store_explicit(&job->state, WEFT__JOB_FREE, memory_order_relaxed);
    append(&bp->free_head, &bp->free_tail, job);
    bp->jobs_held--;
    return last_user_locked(bp);
}

static void running_link(struct weft__blocking *bp, struct weft_job *job)
{
    job->run_prev = NULL;
    job->run_next = bp->running_list;
    if (bp->running_list != NULL)
        bp->running_list->run_prev = job;
    bp->running_list = job;
}

void weft__blocking_job_ended_locked(struct weft__blocking *bp, struct weft_job *job)
{
    if (job->run_prev != NULL)
        job->run_prev->run_next = job->run_next;
    else
        bp->running_list = job->run_next;
    if (job->run_next != NULL)
        job->run_next->run_prev = job->run_prev;
    bp->running--;
    bp->done++;
}

static void *blocking_main(void *arg)
{
    struct weft__jobs *jobs = arg;
    struct weft__blocking *bp = &jobs->blocking;
    weft__blocking_self = jobs;
    pthread_mutex_lock(&bp->lock);
    /* it names itself, before anything can read its name (the trace) */
    char name[16];
    snprintf(name, sizeof name, "weft-b%u", bp->name_seq++);
    pthread_setname_np(pthread_self(), name); /* best effort: names are cosmetic */
    bp->starting--;
    pthread_cond_broadcast(&bp->ended); /* spawns waiting for a thread to run */
    for (;;) {
        struct weft_job *job = bp->queue_head;
        if (job == NULL) {
            if (bp->stopping)
                break;
            struct timespec until = to_timespec(weft_after(bp->idle));
            bp->idle_threads++;
            int rc = pthread_cond_timedwait(&bp->work, &bp->lock, &until);
            bp->idle_threads--;
            if (rc == ETIMEDOUT && bp->queue_head == NULL && !bp->stopping)
                break; /* idle for blocking_idle: exit */
            continue;
        }
        if ((bp->queue_head = job->next) == NULL)
            bp->queue_tail = NULL;
        bp->queued--;
        bp->running++;
        running_link(bp, job);
        atomic_store_explicit(&job->state, WEFT__JOB_RUNNING, memory_order_relaxed);
        bool stopping = bp->stopping;
        pthread_mutex_unlock(&bp->lock);
        bp->ops->run(job, stopping); /* takes the lock to publish the end */
        pthread_mutex_lock(&bp->lock);
    }
    bp->threads--;
    bool last = last_user_locked(bp);
    pthread_cond_broadcast(&bp->ended);
    pthread_mutex_unlock(&bp->lock);
    /* nothing of jobs is touched past the unlock, unless this was its last user */
    if (last)
        jobs->free_runtime(jobs);
    return NULL;
}

/* Take job out of the queue (it is there). */
static void unqueue(struct weft__blocking *bp, struct weft_job *job)
{
    struct weft_job **p = &bp->queue_head, *prev = NULL;
    while (*p != job) {
        prev = *p;
        p = &(*p)->next;
    }
    *p = job->next;
    if (bp->queue_tail == job)
        bp->queue_tail = prev;
    bp->queued--;
}

/* Under the lock, which it drops meanwhile: start one more thread; 0 or its error. */
static int start_thread(struct weft__jobs *jobs)
{
    struct weft__blocking *bp = &jobs->blocking;
    bp->threads++;
    bp->starting++;
    pthread_mutex_unlock(&bp->lock);
    pthread_t tid;
    int rc = weft__thread_start(&tid, bp->stack_size, NULL, blocking_main, jobs);
    if (rc == 0)
        pthread_detach(tid);
    pthread_mutex_lock(&bp->lock);
    if (rc != 0) {
        bp->threads--;
        bp->starting--;
        pthread_cond_broadcast(&bp->ended); /* spawns waiting on this start */
    }
    return rc;
}

/*
 * A queued job is safe once a thread runs: a running thread leaves only with
 * the queue empty. So a spawn returns 0 once a thread has started since its
 * job was queued (its own start, or a running one), and while starts that
 * may still fail are all that exists, it waits for their outcome: with no
 * thread at all and its own start failed, its job leaves the queue (EAGAIN).
 */
int weft__blocking_submit(struct weft__jobs *jobs, struct weft_job *job)
{
    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    if (bp->stopping) {
        pthread_mutex_unlock(&bp->lock);
        return ESHUTDOWN;
    }
    atomic_store_explicit(&job->state, WEFT__JOB_QUEUED, memory_order_relaxed);
    append(&bp->queue_head, &bp->queue_tail, job);
    bp->queued++;
    if (bp->idle_threads > 0)
        pthread_cond_signal(&bp->work);
    int out = 0;
    bool failed = false;
    for (;;) {
        /* a thread for every queued job that no idle or starting thread will take */
        if (!failed && bp->queued > (size_t)bp->idle_threads + bp->starting &&
            bp->threads < bp->max) {
            if (start_thread(jobs) == 0)
                break;
            failed = true;
        }
        if (atomic_load_explicit(&job->state, memory_order_relaxed) != WEFT__JOB_QUEUED ||
            bp->threads > bp->starting)
            break; /* taken already, or a running thread will take it */
        if (bp->starting > 0) {
            pthread_cond_wait(&bp->ended, &bp->lock);
            continue;
        }
        if (failed) { /* no thread at all, and none could be started */
            unqueue(bp, job);
            out = EAGAIN;
            break;
        }
    }
    pthread_mutex_unlock(&bp->lock);
    return out;
}

void weft__blocking_cancel_all(struct weft__jobs *jobs)
{
    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    bp->stopping = true;
    pthread_cond_broadcast(&bp->work); /* idle threads exit now */
    struct weft_job *cancel = NULL;
    for (struct weft_job *j = bp->running_list; j != NULL; j = j->run_next) {
        j->refs++; /* keeps it out of the free list while cancelled unlocked */
        j->cancel_next = cancel;
        cancel = j;
    }
    pthread_mutex_unlock(&bp->lock);
    /* queued jobs start cancelled (blocking_main reads `stopping`) */
    for (struct weft_job *j = cancel; j != NULL; j = j->cancel_next)
        bp->ops->cancel(j, ECANCELED); /* flag and callbacks, outside the lock */
    pthread_mutex_lock(&bp->lock);
    for (struct weft_job *j = cancel, *next; j != NULL; j = next) {
        next = j->cancel_next;
        if (--j->refs == 0)
            weft__job_put_locked(bp, j); /* not abandoned yet: never the last user */
    }
    pthread_mutex_unlock(&bp->lock);
}

int weft__blocking_wait_idle(struct weft__jobs *jobs, weft_time until)
{
    struct weft__blocking *bp = &jobs->blocking;
    struct timespec ts = to_timespec(until);
    pthread_mutex_lock(&bp->lock);
    while ((bp->threads > 0 || bp->queued > 0) && weft_now() < until)
        pthread_cond_timedwait(&bp->ended, &bp->lock, &ts);
    bool all = bp->threads == 0 && bp->queued == 0;
    pthread_mutex_unlock(&bp->lock);
    return all ? 0 : ETIMEDOUT;
}

void weft__blocking_report_unobserved(struct weft__jobs *jobs)
{
    struct weft__blocking *bp = &jobs->blocking;
    struct weft_job *report = NULL;
    pthread_mutex_lock(&bp->lock);
    for (struct weft__job_chunk *c = bp->chunks; c != NULL; c = c->next)
        for (size_t i = 0; i < JOBS_PER_CHUNK; i++) {
            struct weft_job *j = &c->jobs[i];
            if (atomic_load_explicit(&j->state, memory_order_relaxed) != WEFT__JOB_DONE ||
                j->released || j->observed || j->reported || j->status == 0 || j->excused)
                continue;
            j->reported = true;
            j->refs++; /* a release meanwhile must not free it under the report */
            j->cancel_next = report;
            report = j;
        }
    pthread_mutex_unlock(&bp->lock);
    /* on_unhandled outside the lock: it may wait for or release jobs */
    for (struct weft_job *j = report, *next; j != NULL; j = next) {
        next = j->cancel_next;
        pthread_mutex_lock(&bp->lock);
        int rc = j->status;
        struct weft_error *rec = j->rec; /* a wait meanwhile may have taken it */
        j->rec = NULL;
        pthread_mutex_unlock(&bp->lock);
        jobs->unhandled(jobs, "blocking job", NULL, rc, rec); /* the name may be freed */
        pthread_mutex_lock(&bp->lock);
        if (--j->refs == 0)
            weft__job_put_locked(bp, j); /* not abandoned yet: never the last user */
        pthread_mutex_unlock(&bp->lock);
    }
}

bool weft__blocking_orphan(struct weft__jobs *jobs)
{
    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    bp->abandoned = true;
    bool now = last_user_locked(bp);
    pthread_mutex_unlock(&bp->lock);
    return now;
}

void weft__blocking_stats(struct weft__jobs *jobs, weft_stats *out)
{
    struct weft__blocking *bp = &jobs->blocking;
    pthread_mutex_lock(&bp->lock);
    out->blocking_threads = bp->threads;
    out->blocking_running = bp->running;
    out->blocking_queued = bp->queued;
    out->blocking_done = bp->done;
    out->blocking_timed_out = bp->given_up;
    pthread_mutex_unlock(&bp->lock);
}
