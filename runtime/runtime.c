/*
 * The runtime's life: create (slots, threads), weft_run, stats, destroy
 * (detached tasks are in detached.c). Nothing here is on the spawn/steal
 * hot path.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "errors/errors.h"
#include "runtime/runtime.h"
#include "job/job.h"
#include "runtime/trace.h"


/* What weft_run's caller waits on; shared with the root task, freed by the last of the two. */
struct weft__run_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
    struct weft_error *rec; /* the root's failure */
    int refs;
};

static bool all_joined(weft_runtime *rt, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (rt->jobs.scopes.sched.threads[i].started)
            return false;
    return true;
}

/* Every worker and spare thread ended: free what only they used. */
static void free_workers(weft_runtime *rt, unsigned n)
{
    struct weft__sched *sched = weft__runtime_sched(rt);
    for (unsigned i = 0; i < n; i++) {
        weft__scope_chunks_free(&sched->threads[i]);
        weft__slot_delete(sched->slots[i]);
    }
    weft__free(sched->slots);
    weft__free(sched->threads);
    /* what may still read them (stats from an abandoned job) sees none */
    sched->slots = NULL;
    sched->threads = NULL;
    atomic_store_explicit(&sched->nthreads, 0, memory_order_relaxed);
    weft__inject_destroy(sched);
}

/* Stop and join every worker and spare thread, free what only they use. */
static void stop_workers(weft_runtime *rt)
{
    struct weft__sched *sched = weft__runtime_sched(rt);
    atomic_store_explicit(&sched->stopping, true, memory_order_release);
    unsigned n = sched->slots != NULL && sched->threads != NULL ? weft__nthreads(sched) : 0;
    while (!all_joined(rt, n)) {
        /* a thread may park after a wake-up looked: keep waking until each
         * one is joined */
        weft__wake_all(sched);
        weft__spares_wake_all(sched);
        for (unsigned i = 0; i < n; i++) {
            if (sched->threads[i].started) {
                pthread_join(sched->threads[i].tid, NULL);
                sched->threads[i].started = false;
                break;
            }
        }
    }
    free_workers(rt, n);
}

/*
 * An abandoned runtime (destroy returned ETIMEDOUT while detached tasks
 * ran) is torn down by its own threads: every thread counts itself in
 * threads_left, and so does the caller that stops them (the last
 * straggler's thread, or a spawn that failed after destroy gave up, which
 * may be no worker of rt); whoever leaves last joins the others, which
 * have all left their loops, and frees the runtime. One round of wake-ups
 * is enough, unlike stop_workers' loop: no task is left, so a thread is
 * either listed (idle list, spares) when wake_all or spares_wake_all runs,
 * and woken, or lists itself later, under the same lock (idle_lock,
 * slot_lock), and then reads `stopping` set.
 */
static void leave_abandoned(weft_runtime *rt)
{
    struct weft__sched *sched = weft__runtime_sched(rt);
    /* acq_rel: the last one to leave sees what every other leaver did */
    if (atomic_fetch_sub_explicit(&rt->threads_left, 1, memory_order_acq_rel) != 1)
        return;
    unsigned n = weft__nthreads(sched);
    bool self_is_worker = false;
    for (unsigned i = 0; i < n; i++) {
        if (!sched->threads[i].started)
            continue;
        if (pthread_equal(sched->threads[i].tid, pthread_self()))
            self_is_worker = true; /* nobody joins the last one: it detaches itself */
        else
            pthread_join(sched->threads[i].tid, NULL);
        sched->threads[i].started = false;
    }
    free_workers(rt, n);
    if (self_is_worker)
        pthread_detach(pthread_self());
    /* jobs still running, or handles not released, keep what they use */
    if (weft__blocking_orphan(&rt->jobs))
        weft__runtime_free(rt);
}

/* Destroy gave up on detached tasks and the last one ended (on any thread):
 * stop the workers; the last thread to leave, the caller included, joins
 * the others and frees the runtime. */
static void workers_stop_abandoned(weft_runtime *rt)
{
    struct weft__sched *sched = weft__runtime_sched(rt);
    unsigned started = 0;
    pthread_mutex_lock(&sched->slot_lock); /* spares start under it */
    unsigned n = weft__nthreads(sched);
    for (unsigned i = 0; i < n; i++)
        started += sched->threads[i].started;
    pthread_mutex_unlock(&sched->slot_lock);
    /* no task is left, so no spare starts from now on; + 1: this caller,
     * which may be no worker, keeps rt until it is done here */
    atomic_store_explicit(&rt->threads_left, started + 1, memory_order_relaxed);
    /* release: threads_left before a leaving thread's acquire of `stopping` */
    atomic_store_explicit(&sched->stopping, true, memory_order_release);
    weft__wake_all(sched);
    weft__spares_wake_all(sched);
    leave_abandoned(rt);
}

/* A worker thread left its loop (sched->stopping): nothing, unless its
 * runtime was abandoned; then it may be the last, which frees it. */
static void worker_exit(struct weft__sched *sched)
{
    weft_runtime *rt = weft__runtime_of_sched(sched);
    /* relaxed: it left its loop after an acquire load of `stopping`, stored
     * after this flag (life_lock orders the two stores) */
    if (atomic_load_explicit(&rt->workers_abandoned, memory_order_relaxed))
        leave_abandoned(rt);
}

_Atomic unsigned long weft__runtimes_freed;

/* The job layer's upcalls (struct weft__jobs). */
static void free_runtime_upcall(struct weft__jobs *jobs)
{
    weft__runtime_free(weft__runtime_of(jobs));
}
static void unhandled_upcall(struct weft__jobs *jobs, const char *what, const char *name, int rc,
                             struct weft_error *rec)
{
    weft__unhandled(weft__runtime_of(jobs), what, name, rc, rec);
}

void weft__runtime_free(weft_runtime *rt)
{
    struct weft__sched *sched = weft__runtime_sched(rt);
    /* every group ended, and every job: no entry is queued */
    weft__deadline_stop(weft__runtime_scopes(rt));
    weft__detached_free_all(rt);
    weft__blocking_fini(&rt->jobs);
    weft__trace_free(rt); /* nobody emits: the timer and every blocking thread are gone */
    weft__free(sched->placement); /* no thread starts any more */
    pthread_mutex_destroy(&sched->idle_lock);
    pthread_mutex_destroy(&rt->life_lock);
    pthread_cond_destroy(&rt->life_cond);
    pthread_mutex_destroy(&rt->jobs.scopes.cancel_lock);
    pthread_mutex_destroy(&rt->jobs.scopes.cb_lock);
    pthread_mutex_destroy(&rt->jobs.scopes.timer_lock);
    pthread_mutex_destroy(&sched->slot_lock);
    pthread_mutex_destroy(&sched->grow_lock);
    pthread_cond_destroy(&rt->jobs.scopes.cb_done);
    weft__free(rt);
    atomic_fetch_add_explicit(&weft__runtimes_freed, 1, memory_order_release);
}

static void teardown(weft_runtime *rt)
{
    stop_workers(rt);
    weft__runtime_free(rt);
}

static const struct weft__task_kind_ops root_kind; /* weft_run's tasks, below */

weft_runtime *weft_runtime_create(const weft_config *cfg)
{
    struct weft__settings set;
    int rc = weft__settings_resolve(cfg, &set);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    weft_runtime *rt = weft__alloc_aligned(_Alignof(weft_runtime), sizeof *rt);
    if (rt == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memset(rt, 0, sizeof *rt);
    struct weft__sched *sched = weft__runtime_sched(rt);
    sched->workers = set.workers;
    sched->max_threads = set.workers + WEFT__SPARE_MAX;
    sched->stack_size = set.stack_size;
    rt->print_stats = set.print_stats;
    weft__trace_open(rt, set.trace_path); /* before any thread, which reads sched->trace_log */
    if (cfg != NULL) {
        rt->on_unhandled = cfg->on_unhandled;
        rt->on_unhandled_arg = cfg->on_unhandled_arg;
    }
    pthread_mutex_init(&sched->inject.lock, NULL);
    for (unsigned k = WEFT__TASK_GROUP; k <= WEFT__TASK_GROUP_UNSCOPED; k++)
        sched->kinds[k] = &weft__group_task_kind;
    sched->kinds[WEFT__TASK_ROOT] = &root_kind;
    sched->kinds[WEFT__TASK_DETACHED] = &weft__detached_task_kind;
    sched->kinds[WEFT__TASK_JOB] = &weft__job_task_kind;
    sched->worker_exit = worker_exit;
    rt->jobs.free_runtime = free_runtime_upcall;
    rt->jobs.unhandled = unhandled_upcall;
    rt->stop_abandoned = workers_stop_abandoned;
    pthread_mutex_init(&sched->idle_lock, NULL);
    pthread_mutex_init(&rt->life_lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC); /* destroy waits until a weft_time */
    pthread_cond_init(&rt->life_cond, &monotonic);
    pthread_condattr_destroy(&monotonic);
    pthread_mutex_init(&rt->jobs.scopes.cancel_lock, NULL);
    pthread_mutex_init(&rt->jobs.scopes.cb_lock, NULL);
    pthread_mutex_init(&rt->jobs.scopes.timer_lock, NULL);
    pthread_mutex_init(&sched->slot_lock, NULL);
    pthread_mutex_init(&sched->grow_lock, NULL);
    pthread_cond_init(&rt->jobs.scopes.cb_done, NULL);
    rt->jobs.scopes.never_cancelled.deadline = WEFT_NEVER; /* word 0: gen 0, never cancelled */
    rt->jobs.scopes.never_cancelled.scopes = NULL; /* marks it: nothing cancels it, callbacks never run */
    weft__blocking_init(&rt->jobs, &weft__job_ops, set.blocking_max, set.blocking_idle, set.shutdown_timeout,
                        set.stack_size);
    weft__detached_init(rt);
    weft__park_init(sched);

    if (set.affinity != WEFT__AFFINITY_NONE) {
        sched->placement = weft__alloc(weft__placement_size(set.workers));
        if (sched->placement == NULL) {
            teardown(rt);
            errno = ENOMEM;
            return NULL;
        }
        /* checked by weft__settings_resolve: cannot fail */
        weft__placement_fill(set.affinity, set.affinity_list, &set.allowed, set.workers, sched->placement);
    }

    /* spare threads and their slots are added on demand (slots.c): room for
     * their pointers now, so readers never see the arrays move */
    size_t threads_bytes = sched->max_threads * sizeof *sched->threads;
    sched->slots = weft__alloc_zeroed(sched->max_threads * sizeof *sched->slots);
    sched->threads = weft__alloc_aligned(WEFT__CACHE_LINE, threads_bytes);
    if (sched->threads != NULL)
        memset(sched->threads, 0, threads_bytes);
    if (sched->slots == NULL || sched->threads == NULL) {
        teardown(rt);
        errno = ENOMEM;
        return NULL;
    }
    sched->readers = (weft__deque_readers){.first = &sched->threads[0].steal_epoch,
                                           .stride = sizeof *sched->threads,
                                           .count = sched->max_threads};
    for (unsigned i = 0; i < set.workers; i++) {
        if ((sched->slots[i] = weft__slot_new(sched, i)) == NULL) {
            atomic_store_explicit(&sched->nthreads, i, memory_order_relaxed);
            teardown(rt);
            errno = ENOMEM;
            return NULL;
        }
        struct weft__thread *thr = &sched->threads[i];
        thr->sched = sched;
        thr->slot = sched->slots[i];
        thr->rng = 0x9e3779b97f4a7c15ULL * (i + 1);
    }
    atomic_store_explicit(&sched->nthreads, set.workers, memory_order_release);
    for (unsigned i = 0; i < set.workers; i++) {
        rc = weft__sched_start_thread(sched, i);
        if (rc != 0) {
            teardown(rt);
            errno = rc;
            return NULL;
        }
    }
    return rt;
}

static bool on_any_worker(void)
{
    return weft__self_thread != NULL;
}

unsigned weft_runtime_workers(const weft_runtime *rt)
{
    return rt != NULL ? rt->jobs.scopes.sched.workers : 0;
}

void weft_runtime_stats(weft_runtime *rt, weft_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (rt == NULL)
        return;
    struct weft__sched *sched = weft__runtime_sched(rt);
    unsigned n = sched->slots != NULL ? weft__nthreads(sched) : 0;
    for (unsigned i = 0; i < n; i++) {
        struct weft__slot_stats *s = &sched->slots[i]->stats;
        out->tasks_run += atomic_load_explicit(&s->tasks_run, memory_order_relaxed);
        out->spawns += atomic_load_explicit(&s->spawns, memory_order_relaxed);
        out->steals += atomic_load_explicit(&s->steals, memory_order_relaxed);
        out->steal_attempts += atomic_load_explicit(&s->steal_attempts, memory_order_relaxed);
        out->parks += atomic_load_explicit(&s->parks, memory_order_relaxed);
    }
    out->unhandled_errors = atomic_load_explicit(&rt->unhandled_errors, memory_order_relaxed);
    weft__blocking_stats(&rt->jobs, out);
}

static void print_stats(weft_runtime *rt)
{
    weft_stats s;
    weft_runtime_stats(rt, &s);
    fprintf(stderr,
            "weft stats: workers %u, tasks_run %llu, spawns %llu, steals %llu, "
            "steal_attempts %llu, parks %llu, unhandled_errors %llu, blocking_threads %llu, "
            "blocking_running %llu, blocking_queued %llu, blocking_done %llu, "
            "blocking_timed_out %llu\n",
            rt->jobs.scopes.sched.workers, (unsigned long long)s.tasks_run, (unsigned long long)s.spawns,
            (unsigned long long)s.steals, (unsigned long long)s.steal_attempts,
            (unsigned long long)s.parks, (unsigned long long)s.unhandled_errors,
            (unsigned long long)s.blocking_threads, (unsigned long long)s.blocking_running,
            (unsigned long long)s.blocking_queued, (unsigned long long)s.blocking_done,
            (unsigned long long)s.blocking_timed_out);
    /* where the workers run: one line, each worker's CPU or "any", written
     * whole (stderr is unbuffered: a write per piece would interleave with
     * other processes' lines, MPI ranks sharing a terminal); only a line
     * longer than the buffer (some 150 workers) goes out in pieces */
    const struct weft__placement *pl = rt->jobs.scopes.sched.placement;
    unsigned n = rt->jobs.scopes.sched.workers;
    char line[1024];
    size_t len = (size_t)snprintf(line, sizeof line, "weft stats: affinity %s, workers on cpus",
                                  pl == NULL                               ? "none"
                                  : pl->mode == WEFT__AFFINITY_COMPACT ? "compact"
                                                                           : "list");
    for (unsigned i = 0; i < n; i++) {
        if (len > sizeof line - 16) {
            fputs(line, stderr);
            len = 0;
        }
        if (pl != NULL && pl->cpu[i] >= 0)
            len += (size_t)snprintf(line + len, sizeof line - len, " %d", pl->cpu[i]);
        else
            len += (size_t)snprintf(line + len, sizeof line - len, " any");
    }
    snprintf(line + len, sizeof line - len, "\n");
    fputs(line, stderr);
}

int weft_runtime_destroy(weft_runtime *rt)
{
    /* from a task it would wait for itself; from one of rt's blocking
     * threads (a job, its cleanup, on_unhandled) too */
    if (rt == NULL || on_any_worker() || weft__blocking_self == &rt->jobs)
        return EINVAL;
    /* refuse while a weft_run is in progress; once shutting_down is set, new
     * weft_run calls and detached spawns refuse (ESHUTDOWN) */
    pthread_mutex_lock(&rt->life_lock);
    if (atomic_load_explicit(&rt->shutting_down, memory_order_relaxed)) {
        pthread_mutex_unlock(&rt->life_lock);
        return EINVAL; /* another thread is destroying it */
    }
    if (atomic_load_explicit(&rt->active_runs, memory_order_relaxed) != 0) {
        pthread_mutex_unlock(&rt->life_lock);
        return EBUSY;
    }
    atomic_store_explicit(&rt->shutting_down, true, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
    /* One budget for all that may not end by itself: detached tasks and
     * blocking jobs are cancelled at once and both must end by `until`,
     * so destroy returns within shutdown_timeout, whichever one hangs. */
    weft_time until = weft_after(rt->jobs.blocking.shutdown_timeout);
    weft__detached_cancel_all(rt);
    weft__blocking_cancel_all(&rt->jobs);
    bool detached_ended = weft__detached_wait(rt, until);
    /* every CPU task ended, or destroy gives up on the stragglers below */
    int rc = weft__blocking_wait_idle(&rt->jobs, until);
    weft__blocking_report_unobserved(&rt->jobs);
    if (!detached_ended && weft__detached_name_stragglers(rt) != 0)
        rc = ETIMEDOUT;
    if (rt->print_stats)
        print_stats(rt);
    if (!detached_ended) {
        /* the workers go on serving the stragglers: what they trace later
         * is dropped */
        weft__trace_write(rt);
        if (weft__detached_abandon(rt))
            return ETIMEDOUT; /* rt is theirs now: not one more access */
    }
    stop_workers(rt);
    weft__trace_write(rt); /* the workers' buffers are still now */
    /* jobs still running, or handles not released, keep what they use */
    if (weft__blocking_orphan(&rt->jobs))
        weft__runtime_free(rt);
    return rc;
}

/* Drop one of the two references to w (caller's, root task's); the last frees. */
static void run_wait_release(struct weft__run_wait *w)
{
    pthread_mutex_lock(&w->lock);
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (last) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        weft__free(w);
    }
}

static void root_done(struct weft__run_wait *w, int rc, struct weft_error *rec)
{
    pthread_mutex_lock(&w->lock);
    w->done = true;
    w->rc = rc;
    w->rec = rec;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    run_wait_release(w);
}

/* A root task's end: its groups joined, its failure recorded, whoever
 * waits in weft_run told. */
static int root_end(struct weft__thread *thr, struct weft_task *t, int rc)
{
    if (WEFT__UNLIKELY(t->open_groups != 0))
        rc = weft__task_join_abandoned(thr, t, rc);
    struct weft_error *rec = NULL;
    if (rc != 0 || (t->kind & WEFT__TASK_FAILED) != 0)
        rec = weft__task_failure(t, NULL, rc);
    /* free first: once told, the runtime may be destroyed */
    struct weft__run_wait *run = t->run;
    struct weft__slot *slot = thr->slot;
    weft__count(&slot->stats.tasks_run);
    weft__task_free(slot, t);
    root_done(run, rc, rec);
    return rc;
}

static const struct weft__task_kind_ops root_kind = {.end = root_end};

/* Count one more weft_run of rt unless destroy began. */
static bool admit(weft_runtime *rt, _Atomic uint64_t *users)
{
    pthread_mutex_lock(&rt->life_lock);
    bool open = !atomic_load_explicit(&rt->shutting_down, memory_order_relaxed);
    if (open)
        atomic_fetch_add_explicit(users, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
    return open;
}

/* admit's undo for a weft_run. */
static void leave(weft_runtime *rt, _Atomic uint64_t *users)
{
    pthread_mutex_lock(&rt->life_lock);
    atomic_fetch_sub_explicit(users, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
}

int weft_run(weft_runtime *rt, weft_fn fn, void *arg, weft_errors **errs)
{
    if (rt == NULL || fn == NULL || on_any_worker())
        return EINVAL; /* from a task it would block a worker until itself finishes */
    struct weft__sched *sched = weft__runtime_sched(rt);
    struct weft__run_wait *w = weft__alloc(sizeof *w);
    struct weft_task *t = weft__task_new(sched, NULL, fn, arg, WEFT__TASK_ROOT);
    if (w == NULL || t == NULL) {
        weft__free(w);
        weft__free(t);
        return ENOMEM;
    }
    t->scope = &rt->jobs.scopes.never_cancelled;
    if (!admit(rt, &rt->active_runs)) {
        weft__free(w);
        weft__free(t);
        return ESHUTDOWN;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done = false;
    w->rc = 0;
    w->rec = NULL;
    w->refs = 2;
    t->run = w;
    if (weft__inject_push(sched, t) != 0) {
        weft__free(t);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        weft__free(w);
        leave(rt, &rt->active_runs);
        return ENOMEM;
    }

    pthread_mutex_lock(&w->lock);
    while (!w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    int rc = w->rc;
    struct weft_error *rec = w->rec;
    pthread_mutex_unlock(&w->lock);
    run_wait_release(w);
    leave(rt, &rt->active_runs);
    /* a failure without a record (no memory) is still listed, as lost */
    weft_errors *list = rec != NULL ? weft__errors_of(rec)
                        : rc != 0   ? weft__errors_from_stack(NULL, 1)
                                    : NULL;
    if (errs != NULL) {
        weft__errors_index(list);
        *errs = list;
    } else {
        weft_errors_free(list);
    }
    return rc;
}

int weft_worker_id(const weft_task *self)
{
    struct weft__thread *thr = weft__self_thread;
    if (self == NULL || thr == NULL || thr->slot == NULL || thr->slot->id >= thr->sched->workers)
        return -1; /* off the workers, or on an extra slot (slots.c) for a moment */
    return (int)thr->slot->id;
}
