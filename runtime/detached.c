/*
 * Detached tasks: weft_spawn_detached(_ex), and their end at destroy.
 *
 * A detached task runs in a cancel scope of its own: the group state in its
 * record (struct weft__detached), which no pool holds and nobody joins. So
 * destroy cancels it as it would a group: cancel.c pushes the cancel down to
 * every group the task initialised, and runs its weft_on_cancel callbacks
 * (those of the blocking jobs it spawned among them). A deadline given at
 * spawn is that state's own, armed in the runtime's timer as a group's is
 * (group_deadline.c): when it passes, the task's subtree is cancelled with
 * ETIMEDOUT, and an ECANCELED the task then returns counts as ETIMEDOUT,
 * as for a task of weft_spawn_ex.
 *
 * Records come from a pool of the runtime under life_lock, in chunks kept
 * until the runtime's memory goes: type-stable, like group states, so a
 * cancel of a record's life that comes after its task ended is refused by
 * the generation in the word, never a write to freed memory. Every record is
 * on the live list from its spawn until its task ended: destroy cancels
 * what is on it, tasks still queued included (they run once, cancelled from
 * their first instruction, as API.md promises every spawned function), and
 * names what is still on it when shutdown_timeout passed. No record is
 * taken once destroy began, so the list destroy copied (`doomed`) stays
 * valid: its records only leave the live list.
 *
 * Stragglers. When destroy gives up on some, the workers keep running for
 * them (their spawns, joins, nested tasks, timed waits): the last straggler
 * to end stops the workers, and the last thread to leave frees the runtime
 * (runtime.c). Until then nothing of the runtime is freed.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "runtime/alloc.h"
#include "runtime/internal.h"

enum { LABEL_SIZE = 64, RECORDS_PER_CHUNK = 8 };

struct weft__detached {
    struct weft__group scope; /* first: the task's group, cache-line aligned */
    struct weft__detached *prev, *next; /* the live list; `next`: the free list */
    struct weft__detached *doomed_next; /* destroy's copy of the live list */
    uint32_t doomed_gen;                /* the life destroy cancelled */
    weft_fn fn;                         /* the task's: its descriptor runs start() */
    void (*cleanup)(void *arg);
    /* its name, copied: the scope's name, and the straggler report's, stay
     * readable while the task's cleanup frees the caller's string */
    char label[LABEL_SIZE];
};

struct weft__detached_chunk {
    struct weft__detached_chunk *next;
    struct weft__detached records[RECORDS_PER_CHUNK];
};

static struct weft__detached *record_of(struct weft__group *scope)
{
    return (struct weft__detached *)(void *)scope;
}

/* Copy at most LABEL_SIZE - 1 bytes of name, cut on a UTF-8 character boundary. */
static void set_label(char *label, const char *name)
{
    size_t n = name != NULL ? strnlen(name, LABEL_SIZE) : 0;
    if (n == LABEL_SIZE) {
        n = LABEL_SIZE - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
            n--; /* name[n] continues a character that would be cut */
    }
    if (n != 0)
        memcpy(label, name, n);
    label[n] = '\0';
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
            d->scope.owner_thread = &rt->jobs_owner; /* set once: cancels find rt there */
            /* pooled: gen 0, DEAD, as a pooled group state */
            atomic_init(&d->scope.cancel, (uint64_t)WEFT__GROUP_DEAD);
            atomic_init(&d->scope.owner, weft__group_pooled_owner(&d->scope));
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
static uint32_t begin_locked(weft_runtime *rt, struct weft__detached *d, weft_fn fn,
                             const char *name, weft_time deadline, void (*cleanup)(void *arg))
{
    struct weft__group *s = &d->scope;
    set_label(d->label, name);
    d->fn = fn;
    d->cleanup = cleanup;
    atomic_store_explicit(&s->parent, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->up, weft__group_up(0, 0), memory_order_relaxed);
    atomic_store_explicit(&s->callbacks, NULL, memory_order_relaxed);
    s->deadline = deadline;
    s->name = name != NULL ? d->label : NULL;
    s->end_work = 0;
    /* pooled, the word is (gen, DEAD), and DEAD is all ones: + 1 is (gen + 1, 0) */
    uint64_t word = atomic_load_explicit(&s->cancel, memory_order_relaxed) + 1;
    /* release: a cancel scan that reads this word, walking up from a group
     * the task initialised, sees the links above (cancel.c's seqlock) */
    atomic_store_explicit(&s->cancel, word, memory_order_release);
    d->prev = NULL;
    d->next = rt->detached_list;
    if (d->next != NULL)
        d->next->prev = d;
    rt->detached_list = d;
    atomic_fetch_add_explicit(&rt->detached_live, 1, memory_order_relaxed);
    return weft__cancel_gen(word);
}

/* d's task ended, or will never run: off the live list, back to the pool,
 * one task fewer for destroy to wait for. The last straggler of an
 * abandoned runtime stops its workers. */
static void release(weft_runtime *rt, struct weft__detached *d)
{
    struct weft__group *s = &d->scope;
    pthread_mutex_lock(&rt->life_lock);
    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        rt->detached_list = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    /* a late cancel of this life (destroy's) fails its CAS on a DEAD word,
     * or loses its reason to DEAD: either way nothing of it reaches a next life */
    uint64_t word = atomic_load_explicit(&s->cancel, memory_order_relaxed);
    atomic_store_explicit(&s->cancel, word | WEFT__GROUP_DEAD, memory_order_relaxed);
    d->next = rt->detached_free;
    rt->detached_free = d;
    bool last = atomic_fetch_sub_explicit(&rt->detached_live, 1, memory_order_relaxed) == 1;
    if (last)
        pthread_cond_broadcast(&rt->life_cond);
    bool stop = last && atomic_load_explicit(&rt->workers_abandoned, memory_order_relaxed);
    pthread_mutex_unlock(&rt->life_lock);
    if (stop)
        weft__workers_stop_abandoned(rt);
}

/* Nothing calls into s once its task returned: its deadline is disarmed
 * (returns when a fire is not running), callbacks it left registered are
 * dropped, as a group's end drops them. */
static void end_scope(weft_runtime *rt, struct weft__group *s)
{
    if (s->end_work & WEFT__END_TIMER)
        weft__deadline_disarm(rt, s);
    if ((s->end_work & WEFT__END_CALLBACKS) &&
        atomic_load_explicit(&s->callbacks, memory_order_relaxed) != NULL)
        weft__cancel_cb_forget(rt, s);
    s->end_work = 0;
}

/*
 * Every detached task starts here. Destroy cancels the live tasks one by
 * one, each cancel a barrier and maybe a scan, so a worker that a cancelled
 * task frees may start a queued one destroy has not reached yet. That one
 * cancels itself: it reads shutting_down, which destroy stored before its
 * first cancel (and x86 keeps a worker's loads in order: it saw that cancel
 * first), so it too runs cancelled from its first instruction.
 */
static int start(weft_task *self, void *arg)
{
    struct weft__group *s = self->group;
    if (WEFT__UNLIKELY(atomic_load_explicit(&s->owner_thread->rt->shutting_down,
                                            memory_order_relaxed))) {
        uint64_t word = atomic_load_explicit(&s->cancel, memory_order_relaxed);
        weft__cancel(s, weft__cancel_gen(word), ECANCELED, WEFT__BY_SHUTDOWN); /* once: a no-op for destroy's */
    }
    return record_of(s)->fn(self, arg);
}

/* The scope's own deadline (not WEFT_NEVER): cancelled now when it passed,
 * else armed. 0, or the timer's error (ENOMEM, EAGAIN). */
static int start_deadline(weft_runtime *rt, struct weft__group *s, uint32_t gen)
{
    if (s->deadline <= weft_now()) {
        weft__cancel(s, gen, ETIMEDOUT, WEFT__BY_DEADLINE);
        return 0;
    }
    return weft__deadline_arm(rt, s, gen);
}

int weft_spawn_detached_ex(weft_runtime *rt, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    if (rt == NULL || fn == NULL)
        return EINVAL;
    const char *name = o != NULL ? o->name : NULL;
    void (*cleanup)(void *arg) = o != NULL ? o->cleanup : NULL;
    weft_time deadline = o != NULL && o->deadline != 0 ? o->deadline : WEFT_NEVER;
    struct weft__thread *thr = weft__self_thread;
    struct weft_task *t = weft__task_new(rt, thr, start, arg, WEFT__TASK_DETACHED);
    if (t == NULL)
        return ENOMEM;
    pthread_mutex_lock(&rt->life_lock);
    int rc = 0;
    struct weft__detached *d = NULL;
    if (atomic_load_explicit(&rt->shutting_down, memory_order_relaxed))
        rc = ESHUTDOWN;
    else if ((d = take_locked(rt)) == NULL)
        rc = ENOMEM;
    uint32_t gen = 0;
    if (d != NULL)
        gen = begin_locked(rt, d, fn, name, deadline, cleanup);
    pthread_mutex_unlock(&rt->life_lock);
    if (rc != 0) {
        weft__task_discard(thr, t);
        return rc;
    }
    t->group = &d->scope;
    t->name = name; /* the trace's and the failure record's */
    if (deadline != WEFT_NEVER)
        rc = start_deadline(rt, &d->scope, gen);
    if (rc == 0) /* ENOMEM: a deque or the injection queue was full */
        rc = weft__submit(rt, t->home != NULL ? thr : NULL, t);
    if (rc != 0) { /* fn and cleanup never run */
        end_scope(rt, &d->scope);
        weft__task_discard(thr, t);
        release(rt, d);
    }
    return rc;
}

int weft_spawn_detached(weft_runtime *rt, weft_fn fn, void *arg)
{
    return weft_spawn_detached_ex(rt, fn, arg, NULL);
}

int weft__detached_end(struct weft__thread *thr, struct weft_task *t, int rc)
{
    weft_runtime *rt = thr->rt;
    struct weft__detached *d = record_of(t->group);
    struct weft__group *s = &d->scope;
    end_scope(rt, s);
    uint32_t reason = weft__cancel_reason_of(atomic_load_explicit(&s->cancel, memory_order_relaxed));
    /* stopped by its own deadline: a timeout, as weft__task_scope_end says */
    if (rc == ECANCELED && reason == ETIMEDOUT)
        rc = ETIMEDOUT;
    /* destroy cancelled it and it merely stopped: no failure */
    bool excused = rc == ECANCELED && reason == ECANCELED;
    struct weft_error *rec = NULL;
    /* the record copies the name before the cleanup, which may free it */
    if (WEFT__UNLIKELY(rc != 0 || (t->kind & WEFT__TASK_FAILED) != 0))
        rec = weft__task_failure(t, t->name, excused ? 0 : rc);
    if (d->cleanup != NULL)
        d->cleanup(t->arg);
    weft__count(&thr->slot->stats.tasks_run);
    weft__task_free(thr->slot, t);
    if (rc != 0 && !excused)
        weft__unhandled(rt, "detached task", NULL, rc, rec); /* before destroy may return */
    release(rt, d);
    return rc;
}

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
    rt->detached_doomed = doomed;
    pthread_mutex_unlock(&rt->life_lock);
    /* outside the lock: callbacks run here, and may spawn (refused) */
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
    for (struct weft__detached *d = rt->detached_doomed; d != NULL; d = d->doomed_next) {
        char label[LABEL_SIZE];
        pthread_mutex_lock(&rt->life_lock);
        uint64_t word = atomic_load_explicit(&d->scope.cancel, memory_order_relaxed);
        bool running = weft__cancel_gen(word) == d->doomed_gen &&
                       weft__cancel_reason_of(word) != WEFT__GROUP_DEAD;
        if (running)
            memcpy(label, d->label, sizeof label);
        pthread_mutex_unlock(&rt->life_lock);
        if (running) { /* on_unhandled may take its time: no lock held */
            weft__unhandled_straggler(rt, label);
            n++;
        }
    }
    return n;
}

bool weft__detached_abandon(weft_runtime *rt)
{
    pthread_mutex_lock(&rt->life_lock);
    bool some = atomic_load_explicit(&rt->detached_live, memory_order_relaxed) != 0;
    if (some) /* the last one's release reads it under this lock */
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
