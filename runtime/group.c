/*
 * Structured fork-join groups: init, spawn, join.
 *
 * Counting without atomics on the fast path. A group is owned by the task
 * that initialised it, and that task never leaves its thread, so the group's
 * counters are split by writer:
 *   local   plain, owner's thread only: its spawns minus its completions
 *   spawned_remote, done_remote   atomic: spawns and completions elsewhere
 * The group is finished when local + spawned_remote == done_remote. The
 * owner reads done_remote (acquire) before spawned_remote:
 * a task that spawned into the group counted that spawn before its own
 * completion, so a completion seen implies its spawns are seen. In fib every
 * task is popped back by its owner, and a spawn + join costs no atomic RMW.
 *
 * Join never idles a worker: it pops its own deque, then steals, first from
 * the thief of one of its tasks (leapfrogging: the work it waits for is most
 * likely there), then from anyone. It steals only while the thread's stack
 * has room (stolen tasks nest on it); its own deque it always serves, or a
 * lone worker could deadlock. With nothing to do it spins, then parks; the
 * thread that finishes the group's last task wakes it by name.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "runtime/backoff.h"
#include "runtime/internal.h"

enum { GROUP_LIVE = 0x67726f75u /* "grou" */, GROUP_JOINED = 0x6a6f696eu /* "join" */ };
#define KNOWN_FLAGS (WEFT_COLLECT | WEFT_SHIELD | WEFT_STREAM)

_Static_assert(sizeof(struct weft__group) <= sizeof(weft_group), "group state fits weft_group");
_Static_assert(_Alignof(struct weft__group) <= _Alignof(weft_group), "weft_group alignment");

static struct weft__group *impl(weft_group *g)
{
    return (struct weft__group *)(void *)g;
}

int weft_group_init(weft_group *gp, weft_task *parent, const weft_group_opts *opts)
{
    struct weft__thread *thr = weft__self_thread;
    if (WEFT__UNLIKELY(gp == NULL || parent == NULL || thr == NULL || thr->current != parent))
        return EINVAL; /* parent must be the task running on this thread */
    unsigned flags = 0;
    const char *name = NULL;
    if (opts != NULL) {
        if ((opts->flags & ~(unsigned)KNOWN_FLAGS) != 0)
            return EINVAL;
        flags = opts->flags;
        name = opts->name;
    }
    struct weft__group *g = impl(gp);
    g->magic = GROUP_LIVE;
    g->flags = flags;
    g->owner = parent;
    g->owner_thread = thr;
    g->local = 0;
    atomic_init(&g->spawned_remote, 0);
    atomic_init(&g->done_remote, 0);
    atomic_init(&g->first_error, 0);
    atomic_init(&g->thief, NULL);
    g->name = name;
    parent->open_groups++;
    return 0;
}

/* Every spawn that is not the owner's plain fast path. */
static int spawn_slow(struct weft__group *g, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    if (g == NULL || fn == NULL || g->magic != GROUP_LIVE)
        return EINVAL;
    struct weft__thread *thr = weft__self_thread;
    weft_runtime *rt = g->owner_thread->rt;
    bool has_opts = o != NULL && (o->name != NULL || o->cleanup != NULL);
    struct weft_task *t =
        weft__task_new(rt, thr, fn, arg, has_opts ? WEFT__TASK_GROUP_OPTS : WEFT__TASK_GROUP);
    if (t == NULL)
        return ENOMEM;
    t->group = g;
    if (has_opts) {
        t->name = o->name;
        t->cleanup = o->cleanup;
    }
    bool on_worker = t->home != NULL; /* pooled: thr holds a slot of rt */
    bool mine = thr == g->owner_thread;
    /* count before the task can run: its completion must not overtake its spawn */
    if (mine)
        g->local++;
    else
        atomic_fetch_add_explicit(&g->spawned_remote, 1, memory_order_relaxed);
    if (!on_worker) {
        weft__inject_push(rt, t);
        return 0;
    }
    if (weft__deque_push_owner(&thr->slot->deque, t) != 0) {
        if (mine)
            g->local--;
        else
            atomic_fetch_sub_explicit(&g->spawned_remote, 1, memory_order_relaxed);
        weft__task_discard(thr, t);
        return ENOMEM;
    }
    weft__count(&thr->slot->stats.spawns);
    weft__notify_work(rt);
    return 0;
}

int weft_spawn(weft_group *gp, weft_fn fn, void *arg)
{
    struct weft__group *g = impl(gp);
    struct weft__thread *thr = weft__self_thread;
    /* fast path: the owner spawns, a descriptor is free, the deque has room */
    if (WEFT__LIKELY(g != NULL && fn != NULL && g->magic == GROUP_LIVE &&
                     thr == g->owner_thread)) {
        struct weft__slot *slot = thr->slot;
        struct weft_task *t = slot->free;
        if (WEFT__LIKELY(t != NULL)) {
            slot->free = t->next;
            t->fn = fn;
            t->arg = arg;
            t->group = g;
            t->kind = WEFT__TASK_GROUP;
            t->open_groups = 0;
            if (WEFT__LIKELY(weft__deque_push_owner(&slot->deque, t) == 0)) {
                g->local++;
                weft__count(&slot->stats.spawns);
                weft__notify_work(thr->rt);
                return 0;
            }
            weft__task_free(slot, t);
        }
    }
    return spawn_slow(g, fn, arg, NULL);
}

int weft_spawn_ex(weft_group *gp, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    return spawn_slow(impl(gp), fn, arg, o);
}

void weft__group_record_failure(struct weft__group *g, int rc)
{
    int none = 0;
    atomic_compare_exchange_strong_explicit(&g->first_error, &none, rc, memory_order_relaxed,
                                            memory_order_relaxed);
}

void weft__group_remote_done(struct weft__group *g)
{
    struct weft__thread *owner = g->owner_thread;
    /* seq_cst: pairs with the joiner's store of `parked` then load of this
     * counter (park.c); release also publishes first_error. After this the
     * group may be gone: only `owner`, read before, is used. */
    atomic_fetch_add_explicit(&g->done_remote, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&owner->parked, memory_order_seq_cst))
        weft__wake_thread(owner->rt, owner);
}

static bool finished(struct weft__group *g)
{
    int64_t done_remote = atomic_load_explicit(&g->done_remote, memory_order_seq_cst);
    return g->local + atomic_load_explicit(&g->spawned_remote, memory_order_acquire) == done_remote;
}

static bool finished_cb(void *g)
{
    return finished(g);
}

/* The joiner's own deque is empty: steal (leapfrogging first), spin, park.
 * Returns after running one task, or when the group finished. */
static void join_wait(struct weft__thread *thr, struct weft__group *g)
{
    char here;
    bool may_steal = (uintptr_t)&here > thr->stack_lo;
    weft__backoff b;
    weft__backoff_init(&b);
    for (;;) {
        struct weft_task *t = weft__find_work(
            thr, atomic_load_explicit(&g->thief, memory_order_relaxed), may_steal);
        if (t != NULL) {
            weft__searching_end(thr);
            weft__run_task(thr, t);
            return;
        }
        if (finished(g))
            break;
        if (!weft__backoff_wait(&b)) {
            /* without stealing it could take only its own deque, which no
             * other thread pushes to (so `ready` is the group alone): it
             * sleeps outside the idle list, woken by the finisher
             * (weft__group_remote_done), and no spawn's wake-up is wasted
             * on it */
            weft__park_joiner(thr, may_steal, finished_cb, g);
            weft__backoff_init(&b);
        }
    }
    weft__searching_end(thr);
}

int weft_group_join(weft_group *gp, weft_errors **errs)
{
    struct weft__group *g = impl(gp);
    struct weft__thread *thr = weft__self_thread;
    if (WEFT__UNLIKELY(g == NULL || g->magic != GROUP_LIVE || thr == NULL ||
                       thr->current != g->owner))
        return EINVAL; /* joined already, never initialised, or not the owner */
    while (!finished(g)) {
        struct weft_task *t = weft__deque_pop_owner(&thr->slot->deque);
        if (WEFT__LIKELY(t != NULL))
            weft__run_task(thr, t);
        else
            join_wait(thr, g);
    }
    g->magic = GROUP_JOINED;
    g->owner->open_groups--;
    if (errs != NULL)
        *errs = NULL; /* error trees come with the errors work */
    return atomic_load_explicit(&g->first_error, memory_order_relaxed);
}
