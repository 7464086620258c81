/*
 * Detached tasks: weft_spawn_detached(_ex), and their end at destroy.
 *
 * A detached task runs in a cancel scope of its own: the scope in its
 * record (struct weft__detached), which no pool holds. So destroy cancels
 * it as it would a group: cancel.c pushes the cancel down to every group
 * the task initialised, and runs its weft_on_cancel callbacks (those of
 * the blocking jobs it spawned among them). A deadline given at spawn is
 * that scope's own, armed in the runtime's timer as a group's is
 * (scope_deadline.c): when it passes, the task's subtree is cancelled with
 * ETIMEDOUT, and an ECANCELED the task then returns counts as ETIMEDOUT,
 * as for a task of weft_spawn_ex.
 *
 * A task gets its record when it starts, as a TIMED group task gets its
 * scope (group.c): a queued detached task is its descriptor alone, 64
 * bytes, and only running ones hold the 448 of a record. Its descriptor
 * runs start() below, which takes the record and then calls the task's
 * function, kept meanwhile where its scope pointer goes (sched/sched.h).
 * Records come from a pool of the runtime under life_lock, in chunks kept
 * until the runtime's memory goes: type-stable, like pooled scopes, so a
 * cancel of a record's life that comes after its task ended is refused by
 * the generation in the word, never a write to freed memory.
 *
 * Destroy sets shutting_down, then cancels every record on the live list
 * (the running tasks). A task that starts later sees shutting_down and
 * cancels itself, so a queued one runs once, cancelled from its first
 * instruction, as weft_runtime_create(3) promises. When
 * shutdown_timeout passed, destroy names the tasks still on the list, and
 * reports as unnamed the rest of detached_live (not started: every worker
 * is busy with stragglers).
 *
 * Stragglers. When destroy gives up on some, the workers keep running for
 * them (their spawns, joins, nested tasks, timed waits): the last straggler
 * to end stops the workers, and the last thread to leave frees the runtime
 * (runtime.c). Until then nothing of the runtime is freed.
 *
 * Without memory for a record, a task runs in the runtime's fallback scope,
 * which destroy cancels too; it loses only its deadline (and says so:
 * ENOMEM) and its name in destroy's report.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "runtime/runtime.h"
#include "base/utf8.h"

enum { LABEL_SIZE = 64, RECORDS_PER_CHUNK = 8 };

struct weft__detached {
    struct weft__scope scope; /* first: the task's scope, cache-line aligned */
    struct weft__detached *prev, *next; /* the live list; `next`: the free list */
    struct weft__detached *doomed_next; /* destroy's copy of the live list */
    uint32_t doomed_gen;                /* the life destroy cancels */
    bool named;                         /* destroy reported it */
    /* its name, copied: the scope's name, and the straggler report's, stay
     * readable while the task's cleanup frees the caller's string */
    char label[LABEL_SIZE];
};

struct weft__detached_chunk {
    struct weft__detached_chunk *next;
    struct weft__detached records[RECORDS_PER_CHUNK];
};

static struct weft__detached *record_of(weft_runtime *rt, struct weft__scope *scope)
{
    return scope != &rt->detached_fallback ? (struct weft__detached *)(void *)scope : NULL;
}

void weft__detached_init(weft_runtime *rt)
{
    weft__scope_init_pooled(&rt->detached_fallback, weft__runtime_scopes(rt), NULL);
    weft__scope_begin_unparented(&rt->detached_fallback, NULL, WEFT_NEVER); /* gen 1, live */
}

/* Under life_lock: a record out of the pool, NULL without memory. */
static struct weft__detached *take_locked(weft_runtime *rt)
{
    if (rt->detached_free == NULL) {
        struct weft__detached_chunk *c = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *c);
        if (c == NULL)
            return NULL;
        memset(c, 0, sizeof *c);
        c->next = rt->detached_chunks;
        rt->detached_chunks = c;
        for (size_t i = 0; i < RECORDS_PER_CHUNK; i++) {
            struct weft__detached *d = &c->records[i];
            weft__scope_init_pooled(&d->scope, weft__runtime_scopes(rt), NULL);
            d->next = rt->detached_free;
            rt->detached_free = d;
        }
    }
    struct weft__detached *d = rt->detached_free;
    rt->detached_free = d->next;
    return d;
}

/* Under life_lock: d's scope begins a life, not cancelled, with no parent
 * (a detached task is a root of its own), and d goes on the live list.
 * Returns the life's gen. */
static uint32_t begin_locked(weft_runtime *rt, struct weft__detached *d, const char *name,
                             weft_time deadline)
{
    weft__utf8_copy(d->label, sizeof d->label, name);
    d->named = false;
    uint32_t gen = weft__scope_begin_unparented(&d->scope, name != NULL ? d->label : NULL, deadline);
    d->prev = NULL;
    d->next = rt->detached_list;
    if (d->next != NULL)
        d->next->prev = d;
    rt->detached_list = d;
    return gen;
}

/* One task fewer for destroy to wait for: its record back to the pool, or
 * one user fewer for the fallback scope, or neither (it never ran). The
 * last straggler of an abandoned runtime stops its workers. */
static void count_ended(weft_runtime *rt, struct weft__detached *d, bool in_fallback)
{
    pthread_mutex_lock(&rt->life_lock);
    if (in_fallback)
        rt->detached_fallback_users--;
    if (d != NULL) {
        if (d->prev != NULL)
            d->prev->next = d->next;
        else
            rt->detached_list = d->next;
        if (d->next != NULL)
            d->next->prev = d->prev;
        /* a late cancel of this life (destroy's) fails its CAS on a DEAD
         * word, or loses its reason to DEAD: nothing of it reaches a next life */
        uint64_t word = atomic_load_explicit(&d->scope.cancel, memory_order_relaxed);
        atomic_store_explicit(&d->scope.cancel, word | WEFT__GROUP_DEAD, memory_order_relaxed);
        d->next = rt->detached_free;
        rt->detached_free = d;
    }
    bool last = atomic_fetch_sub_explicit(&rt->detached_live, 1, memory_order_relaxed) == 1;
    if (last)
        pthread_cond_broadcast(&rt->life_cond);
    bool stop = last && atomic_load_explicit(&rt->workers_abandoned, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
    if (stop)
        rt->stop_abandoned(rt);
}

/* The scope's own deadline (ahead or past, not WEFT_NEVER): cancelled now
 * when it passed, else armed. 0, or the timer's ENOMEM. */
static int start_deadline(weft_runtime *rt, struct weft__scope *s, uint32_t gen)
{
    if (s->deadline <= weft_now()) {
        weft__cancel(s, gen, ETIMEDOUT, WEFT__BY_DEADLINE);
        return 0;
    }
    return weft__deadline_arm_own(weft__runtime_scopes(rt), s, s->deadline); /* the spawn started the timer's thread */
}

/*
 * Every detached task starts here, on a worker of its runtime: it takes its
 * record, then runs its function.
 *
 * Under life_lock, where destroy sets shutting_down and later copies the
 * live list to cancel it: a start before the first is on that copy, and a
 * start after it reads shutting_down set and cancels itself (both, for a
 * start in between: the second cancel is refused). So a task still queued
 * when destroy began runs cancelled from its first instruction.
 */
static int start(weft_task *self, void *arg)
{
    weft_runtime *rt = weft__runtime_of_sched(weft__self_thread->sched);
    weft_fn fn = self->detached_fn; /* before the scope pointer takes its place */
    weft_time deadline = self->deadline; /* before weft_fail may take its place */
    pthread_mutex_lock(&rt->life_lock);
    struct weft__detached *d = take_locked(rt);
    uint32_t gen = d != NULL ? begin_locked(rt, d, self->name, deadline) : 0;
    if (d == NULL)
        rt->detached_fallback_users++;
    bool shutting_down = atomic_load_explicit(&rt->shutting_down, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
    struct weft__scope *s = d != NULL ? &d->scope : &rt->detached_fallback;
    self->scope = s;
    if (d == NULL)
        gen = weft__cancel_gen(atomic_load_explicit(&s->cancel, memory_order_relaxed));
    if (deadline != WEFT_NEVER && (d == NULL || start_deadline(rt, s, gen) != 0))
        self->kind |= WEFT__TASK_DEADLINE_LOST; /* it runs without: ENOMEM at its end */
    if (WEFT__UNLIKELY(shutting_down))
        weft__cancel(s, gen, ECANCELED, WEFT__BY_SHUTDOWN); /* a no-op if destroy's came first */
    return fn(self, arg);
}

int weft_spawn_detached_ex(weft_runtime *rt, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    if (rt == NULL || fn == NULL)
        return EINVAL;
    weft_time deadline = o != NULL && o->deadline != 0 ? o->deadline : WEFT_NEVER;
    if (deadline != WEFT_NEVER && deadline > weft_now()) {
        /* its thread now, so that a start cannot fail for want of it */
        struct weft__timer *timer;
        int rc = weft__deadline_timer(weft__runtime_scopes(rt), &timer);
        if (rc != 0)
            return rc;
    }
    struct weft__thread *thr = weft__self_thread;
    struct weft_task *t = weft__task_new(weft__runtime_sched(rt), thr, start, arg, WEFT__TASK_DETACHED);
    if (t == NULL)
        return ENOMEM;
    t->detached_fn = fn;
    t->deadline = deadline;
    t->name = o != NULL ? o->name : NULL;
    t->cleanup = o != NULL ? o->cleanup : NULL;
    pthread_mutex_lock(&rt->life_lock);
    bool open = !atomic_load_explicit(&rt->shutting_down, memory_order_relaxed);
    if (open)
        atomic_fetch_add_explicit(&rt->detached_live, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
    if (!open) {
        weft__task_discard(thr, t);
        return ESHUTDOWN;
    }
    int rc = weft__submit(weft__runtime_sched(rt), t->home != NULL ? thr : NULL, t);
    if (rc != 0) { /* ENOMEM: a deque or the injection queue was full; fn and cleanup never run */
        weft__task_discard(thr, t);
        count_ended(rt, NULL, false);
    }
    return rc;
}

int weft_spawn_detached(weft_runtime *rt, weft_fn fn, void *arg)
{
    return weft_spawn_detached_ex(rt, fn, arg, NULL);
}

static int detached_end(struct weft__thread *thr, struct weft_task *t, int rc)
{
    if (WEFT__UNLIKELY(t->open_groups != 0))
        rc = weft__task_join_abandoned(thr, t, rc);
    weft_runtime *rt = weft__runtime_of_sched(thr->sched);
    struct weft__scope *s = t->scope;
    struct weft__detached *d = record_of(rt, s);
    /* nothing calls into its own scope from now on: its deadline is
     * disarmed (returns when a fire is not running), callbacks it left
     * registered are dropped, as a group's end drops them. (The fallback
     * scope is shared: its tasks must remove theirs, as the API asks.) */
    if (d != NULL)
        weft__scope_end_work(weft__runtime_scopes(rt), s);
    uint32_t reason = weft__cancel_reason_of(atomic_load_explicit(&s->cancel, memory_order_relaxed));
    /* stopped by its own deadline: a timeout, as weft__task_scope_end says */
    if (rc == ECANCELED && reason == ETIMEDOUT)
        rc = ETIMEDOUT;
    else if (rc == 0 && (t->kind & WEFT__TASK_DEADLINE_LOST))
        rc = ENOMEM; /* it ran without its deadline: say so */
    /* destroy cancelled it and it merely stopped: no failure */
    bool excused = rc == ECANCELED && reason == ECANCELED;
    struct weft_error *rec = NULL;
    /* the record copies the name before the cleanup, which may free it */
    if (WEFT__UNLIKELY(rc != 0 || (t->kind & WEFT__TASK_FAILED) != 0))
        rec = weft__task_failure(t, t->name, excused ? 0 : rc);
    if (t->cleanup != NULL)
        t->cleanup(t->arg);
    weft__count(&thr->slot->stats.tasks_run);
    weft__task_free(thr->slot, t);
    if (rc != 0 && !excused)
        weft__unhandled(rt, "detached task", NULL, rc, rec); /* before destroy may return */
    count_ended(rt, d, d == NULL);
    return rc;
}

static const char *detached_name(const struct weft_task *t)
{
    return t->name;
}

const struct weft__task_kind_ops weft__detached_task_kind = {.end = detached_end,
                                                              .name = detached_name};

void weft__detached_cancel_all(weft_runtime *rt)
{
    pthread_mutex_lock(&rt->life_lock);
    struct weft__detached *doomed = NULL;
    for (struct weft__detached *d = rt->detached_list; d != NULL; d = d->next) {
        d->doomed_gen =
            weft__cancel_gen(atomic_load_explicit(&d->scope.cancel, memory_order_relaxed));
        d->doomed_next = doomed;
        doomed = d;
    }
    bool fallback_used = rt->detached_fallback_users != 0;
    pthread_mutex_unlock(&rt->life_lock);
    /* outside the lock: callbacks run here, and may spawn (refused). A
     * record on the copy may end and start another life meanwhile: the
     * cancel of the life copied is refused then, and the new one cancels
     * itself at its start, as does a task that enters the fallback later. */
    struct weft__scope *fallback = &rt->detached_fallback;
    if (fallback_used)
        weft__cancel(fallback,
                     weft__cancel_gen(atomic_load_explicit(&fallback->cancel, memory_order_relaxed)),
                     ECANCELED, WEFT__BY_SHUTDOWN);
    for (struct weft__detached *d = doomed; d != NULL; d = d->doomed_next)
        weft__cancel(&d->scope, d->doomed_gen, ECANCELED, WEFT__BY_SHUTDOWN);
}

bool weft__detached_wait(weft_runtime *rt, weft_time until)
{
    struct timespec ts = {.tv_sec = until / WEFT_SEC, .tv_nsec = until % WEFT_SEC};
    pthread_mutex_lock(&rt->life_lock);
    while (atomic_load_explicit(&rt->detached_live, memory_order_relaxed) != 0 &&
           weft_now() < until)
        pthread_cond_timedwait(&rt->life_cond, &rt->life_lock, &ts); /* CLOCK_MONOTONIC */
    bool all = atomic_load_explicit(&rt->detached_live, memory_order_relaxed) == 0;
    pthread_mutex_unlock(&rt->life_lock);
    return all;
}

unsigned weft__detached_name_stragglers(weft_runtime *rt)
{
    unsigned n = 0;
    /* one at a time, on_unhandled outside the lock: it may take its time */
    for (;;) {
        char label[LABEL_SIZE];
        pthread_mutex_lock(&rt->life_lock);
        struct weft__detached *d = rt->detached_list;
        while (d != NULL && d->named)
            d = d->next;
        if (d != NULL) {
            d->named = true;
            memcpy(label, d->label, sizeof label);
        }
        pthread_mutex_unlock(&rt->life_lock);
        if (d == NULL)
            break;
        weft__unhandled_straggler(rt, label);
        n++;
    }
    /* the others (not started, or without a record) have no name to give */
    pthread_mutex_lock(&rt->life_lock);
    uint64_t live = atomic_load_explicit(&rt->detached_live, memory_order_relaxed);
    uint64_t listed = 0;
    for (struct weft__detached *d = rt->detached_list; d != NULL; d = d->next)
        listed++;
    pthread_mutex_unlock(&rt->life_lock);
    for (uint64_t i = listed; i < live; i++, n++)
        weft__unhandled_straggler(rt, "");
    return n;
}

bool weft__detached_abandon(weft_runtime *rt)
{
    pthread_mutex_lock(&rt->life_lock);
    bool some = atomic_load_explicit(&rt->detached_live, memory_order_relaxed) != 0;
    if (some) /* the last one's count_ended reads it under this lock */
        atomic_store_explicit(&rt->workers_abandoned, true, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
    return some;
}

void weft__detached_free_all(weft_runtime *rt)
{
    for (struct weft__detached_chunk *c = rt->detached_chunks, *next; c != NULL; c = next) {
        next = c->next;
        weft__free(c);
    }
    rt->detached_chunks = NULL;
    rt->detached_free = NULL;
}
