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
 * task is popped back by its owner, and the counting costs no atomic RMW:
 * what a spawn + join pays in atomics is the deque's (the owner's pop
 * stores bottom with seq_cst, an xchg on x86, and the pop of the last item
 * CASes top; deque/deque.h).
 *
 * The caller's weft_group holds only a handle: the state is in the owner
 * thread's pool (group_pool.c), and the handle's generation tells a stale
 * handle from the live group. The handle also keeps the owner's thread, so
 * the owner's spawn reads one line of the caller's frame before its own
 * counter, and its own address, so that every call tells a copy of the
 * handle (which lies at another address) from the original.
 *
 * Join never idles a worker: it pops its own deque, then steals, first from
 * the thief of one of its tasks (leapfrogging: the work it waits for is most
 * likely there), then from anyone. With nothing to do it spins, then parks;
 * the thread that finishes the group's last task wakes it by name.
 *
 * Join nests boundedly. Whatever it runs nests on its stack. A task of the
 * joined group it always runs: that is the program's own recursion, and a
 * lone worker would deadlock otherwise. Anything else (a steal; from its
 * own deque a detached task, or a task of another group pushed by an outer
 * frame or by a nested task that returned) it runs only while the thread's
 * stack has room (weft__stack_room); past that line it sets such a task
 * aside (aside.c) for a frame with room or a thief, and takes its own
 * group's tasks from every aside list, where deeper joins may have put
 * them. The fast path pays one compare: the popped task's group against
 * the joined one. (scheduler.c says why the nesting is then bounded.)
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include <weft/inline.h>

#include "base/backoff.h"
#include "errors/errors.h"
#include "group/group.h"

#define KNOWN_FLAGS (WEFT_COLLECT | WEFT_SHIELD | WEFT_STREAM)

/* What the caller's weft_group holds. */
struct handle {
    /* GROUP_LIVE | the state's gen at init << 32, in one store; atomic: a
     * cancel from another thread may read it during the join's store */
    _Atomic uint64_t key;
    struct weft__group *state;
    /* for weft_spawn's fast path only: the owner's thread; for a WEFT_STREAM
     * group the handle's own address, which is no thread, so that every
     * spawn takes spawn_slow (its tasks end differently) */
    struct weft__thread *owner_thread;
    /* the handle's own address: a copy's is not its own (one more load from
     * the line the fast path reads anyway) */
    const struct handle *self;
};

_Static_assert(sizeof(struct handle) <= sizeof(weft_group), "the handle fits weft_group");
_Static_assert(_Alignof(struct handle) <= _Alignof(weft_group), "weft_group alignment");

/*
 * The inline fast path (<weft/inline.h>) reads, in programs built with
 * WEFT_INLINE, a task's cancel word and, for its spawn, the handle and the
 * fields below, by their offsets: each is checked here, so a change to one
 * of these structures fails the build until the header follows it (and
 * WEFT_INLINE_LAYOUT moves on). Live handles carry the header's magic,
 * which names the layout, so that its spawns run inline; not on the split
 * deque, whose push differs: there they all take the exported call.
 */
#define INLINE_AT(type, field, offset) (offsetof(type, field) == (offset))
_Static_assert(INLINE_AT(struct weft_task, scope, WEFT_INLINE_TASK_SCOPE_) &&
                   INLINE_AT(struct weft__scope, cancel, WEFT_INLINE_SCOPE_CANCEL_),
               "api/weft/inline.h's weft_inline_cancelled must follow the library's layout");
#ifdef WEFT_SPLIT_DEQUE
#define INLINE_SPAWNS 0
#else
#define INLINE_SPAWNS 1
_Static_assert(INLINE_AT(struct weft__thread, sched, WEFT_INLINE_THREAD_SCHED_) &&
                   INLINE_AT(struct weft__thread, slot, WEFT_INLINE_THREAD_SLOT_) &&
                   INLINE_AT(struct weft__slot, deque.dq.bottom, WEFT_INLINE_SLOT_BOTTOM_) &&
                   INLINE_AT(struct weft__slot, deque.dq.buf, WEFT_INLINE_SLOT_BUF_) &&
                   INLINE_AT(struct weft__slot, deque.dq.top_seen, WEFT_INLINE_SLOT_TOP_SEEN_) &&
                   INLINE_AT(struct weft__slot, stats.spawns, WEFT_INLINE_SLOT_SPAWNS_) &&
                   INLINE_AT(struct weft__slot, batch.wanted, WEFT_INLINE_SLOT_BATCH_WANTED_) &&
                   INLINE_AT(struct weft__sched, n_idle, WEFT_INLINE_SCHED_IDLE_) &&
                   INLINE_AT(struct weft__sched, spawner_fences, WEFT_INLINE_SCHED_FENCES_) &&
                   INLINE_AT(weft__deque_buf, mask, WEFT_INLINE_RING_MASK_) &&
                   INLINE_AT(weft__deque_buf, slots, WEFT_INLINE_RING_SLOTS_) &&
                   INLINE_AT(struct weft__group, local, WEFT_INLINE_GROUP_LOCAL_) &&
                   INLINE_AT(struct weft__group, scope, 0),
               "api/weft/inline.h's weft_inline_spawn must follow the library's layout");
_Static_assert(INLINE_AT(union weft__task_frame, f.fn, offsetof(struct weft_inline_frame_, fn)) &&
                   INLINE_AT(union weft__task_frame, f.arg,
                             offsetof(struct weft_inline_frame_, arg)) &&
                   INLINE_AT(union weft__task_frame, f.scope,
                             offsetof(struct weft_inline_frame_, scope)) &&
                   INLINE_AT(union weft__task_frame, f.desc,
                             offsetof(struct weft_inline_frame_, desc)) &&
                   sizeof(union weft__task_frame) == sizeof(struct weft_inline_frame_),
               "api/weft/inline.h's frame must be the deque's");
#endif
_Static_assert(INLINE_AT(struct handle, key, offsetof(struct weft_inline_handle_, key)) &&
                   INLINE_AT(struct handle, state, offsetof(struct weft_inline_handle_, state)) &&
                   INLINE_AT(struct handle, owner_thread,
                             offsetof(struct weft_inline_handle_, thread)) &&
                   INLINE_AT(struct handle, self, offsetof(struct weft_inline_handle_, self)),
               "api/weft/inline.h's handle must be group.c's");

/* What programs built with <weft/inline.h> link against: this layout. */
const unsigned WEFT_INLINE_LAYOUT_SYMBOL_(WEFT_INLINE_LAYOUT) = WEFT_INLINE_LAYOUT;

enum {
    GROUP_LIVE = INLINE_SPAWNS ? WEFT_INLINE_LIVE_ : 0x67726f75u /* "grou" */,
    GROUP_JOINED = 0x6a6f696eu /* "join" */
};

static struct handle *handle_of(weft_group *g)
{
    return (struct handle *)(void *)g;
}

static uint64_t key_of(const struct handle *h)
{
    return atomic_load_explicit(&h->key, memory_order_relaxed);
}

static uint32_t magic_of(const struct handle *h)
{
    return (uint32_t)key_of(h);
}

static uint32_t gen_of(uint64_t key)
{
    return (uint32_t)(key >> 32);
}

/* h is the handle weft_group_init filled, not a copy of it. */
static bool is_original(const struct handle *h)
{
    return h->self == h;
}

/* The live group behind h, or NULL (never initialised, joined, stale, a copy). */
static struct weft__group *live_state(const struct handle *h)
{
    if (h == NULL)
        return NULL;
    uint64_t key = key_of(h);
    if ((uint32_t)key != GROUP_LIVE)
        return NULL;
    struct weft__group *g = h->state;
    uint64_t w = atomic_load_explicit(&g->scope.cancel, memory_order_acquire);
    return weft__cancel_gen(w) == gen_of(key) && weft__cancel_reason_of(w) != WEFT__GROUP_DEAD &&
                   is_original(h)
               ? g
               : NULL;
}

/* Start a life of g, from thr's pool, under the scope ps: owned by `owner`
 * (the task that will join it). Returns its gen << 32 (its word before
 * any cancel). */
static inline __attribute__((always_inline)) uint64_t
state_start(struct weft__thread *thr, struct weft__group *g, weft_task *owner,
            struct weft__scope *ps, unsigned flags, const char *name, weft_time own_deadline)
{
    thr->group_free = g->next_free;
    /* release (free on x86): ordered after the DEAD word the last release
     * stored, as the scope's links are (weft__scope_begin) */
    atomic_store_explicit(&g->owner, owner, memory_order_release);
    return weft__scope_begin(thr, &g->scope, ps, flags, name, own_deadline);
}

/* Fill g and h for the running task `parent` on thr. */
static inline __attribute__((always_inline)) void
group_start(struct weft__thread *thr, struct weft__group *g, struct handle *h, weft_task *parent,
            unsigned flags, const char *name, weft_time own_deadline)
{
    uint64_t word = state_start(thr, g, parent, parent->scope, flags, name, own_deadline);
    atomic_store_explicit(&h->key, word | GROUP_LIVE, memory_order_relaxed);
    h->state = g;
    h->owner_thread = (flags & WEFT_STREAM) == 0 ? thr : (struct weft__thread *)(void *)h;
    h->self = h;
    parent->open_groups++;
}

/* Init with options, or into an empty pool: out of the plain init's way. */
static __attribute__((noinline)) int init_slow(struct weft__thread *thr, struct handle *h,
                                               weft_task *parent, const weft_group_opts *opts)
{
    unsigned flags = 0;
    const char *name = NULL;
    weft_time own_deadline = WEFT_NEVER;
    if (opts != NULL) {
        if ((opts->flags & ~(unsigned)KNOWN_FLAGS) != 0)
            return EINVAL;
        flags = opts->flags;
        name = opts->name;
        if (opts->deadline != 0)
            own_deadline = opts->deadline;
    }
    if (thr->group_free == NULL && !weft__group_pool_grow(thr))
        return ENOMEM;
    struct weft__group *g = thr->group_free;
    group_start(thr, g, h, parent, flags, name, own_deadline);
    if (flags & WEFT_STREAM)
        g->scope.end_work |= WEFT__END_STREAM;
    int rc = weft__deadline_arm_own(weft__scopes_of(thr->sched), &g->scope, own_deadline);
    if (rc != 0) { /* nothing was spawned yet: undo the init */
        atomic_store_explicit(&h->key, 0, memory_order_relaxed);
        parent->open_groups--;
        g->scope.end_work = 0; /* STREAM: nothing to drain */
        weft__group_release(thr, g);
    }
    return rc;
}

/* A TIMED task starts (its kind's start): its own scope under its group's,
 * with its deadline. Without memory, or without the timer's thread, it
 * runs in its group's scope, and becomes WEFT__TASK_GROUP_UNSCOPED. */
static void task_scope_begin(struct weft__thread *thr, struct weft_task *t)
{
    struct weft__scope *s;
    int rc = weft__scope_open(thr, t->scope, 0, t->name, t->deadline, &s);
    if (rc != 0) {
        t->kind = (t->kind & ~(uint32_t)WEFT__TASK_KIND_MASK) | WEFT__TASK_GROUP_UNSCOPED;
        /* the timer's thread could not start: the task reports EAGAIN, as
         * a spawn reports it, rather than an ENOMEM that did not happen */
        if (rc == EAGAIN)
            t->kind |= WEFT__TASK_NO_TIMER_THREAD;
        return;
    }
    t->scope = s;
}

/* Its function returned rc: end the scope, point t at its group again;
 * returns rc, or ETIMEDOUT for ECANCELED when its own deadline stopped it. */
static int task_scope_end(struct weft__thread *thr, struct weft_task *t, int rc)
{
    struct weft__scope *s = t->scope;
    struct weft__scope *g = atomic_load_explicit(&s->parent, memory_order_relaxed);
    uint32_t own = weft__cancel_reason_of(atomic_load_explicit(&s->cancel, memory_order_relaxed));
    uint32_t above = weft__cancel_reason_of(atomic_load_explicit(&g->cancel, memory_order_relaxed));
    /* stopped by its own deadline: a timeout, as asyncio's wait_for reports
     * one, not a cancellation its group would ignore */
    if (rc == ECANCELED && own == ETIMEDOUT && above == 0)
        rc = ETIMEDOUT;
    weft__scope_close(thr, s);
    t->scope = g;
    return rc;
}

/* g's records as a list in completion order (the join's), and the code of
 * the first of them (0 without records). */
static weft_errors *take_errors(struct weft__group *g, int *earliest)
{
    /* acquire: the records' fields, pushed with release (errors.h) */
    struct weft_error *stack = atomic_exchange_explicit(&g->errors, NULL, memory_order_acquire);
    *earliest = 0;
    for (struct weft_error *e = stack; e != NULL; e = e->next)
        *earliest = e->code; /* newest first: the last one is the oldest */
    uint64_t lost = atomic_exchange_explicit(&g->errors_lost, 0, memory_order_relaxed);
    return weft__errors_from_stack(stack, (size_t)lost);
}

int weft__task_join_abandoned(struct weft__thread *thr, struct weft_task *t, int rc)
{
    /* a misuse that must not lose work nor let weft_run return early: the
     * groups' states are in thr's pool, not in t's dead frame, so join them
     * here, then end its scopes; t then fails with EINVAL (unless it failed
     * already) so the mistake reaches whoever joins t */
    struct weft__group *g;
    while ((g = weft__group_find_open(thr, t)) != NULL) {
        weft__group_wait_all(thr, g);
        if (atomic_load_explicit(&g->first_error, memory_order_relaxed) != 0) {
            atomic_store_explicit(&g->first_error, 0, memory_order_relaxed);
            int earliest;
            weft__task_keep_cause(t, take_errors(g, &earliest)); /* nothing lost */
        }
        weft__group_end(thr, g);
    }
    weft__scope_unwind(thr, t);
    t->open_groups = 0;
    return rc != 0 ? rc : EINVAL;
}

/* The end of a task of a group that did not take the fast path (options,
 * a failure, a deadline of its own, groups left open, a stream). */
static int task_end(struct weft__thread *thr, struct weft_task *t, int rc)
{
    uint32_t kind = t->kind & WEFT__TASK_KIND_MASK;
    const char *name = kind != WEFT__TASK_GROUP ? t->name : NULL;
    /* its children may use arg: join them before the cleanup frees it */
    if (WEFT__UNLIKELY(t->open_groups != 0))
        rc = weft__task_join_abandoned(thr, t, rc);
    if (kind == WEFT__TASK_GROUP_TIMED)
        rc = task_scope_end(thr, t, rc);
    else if (kind == WEFT__TASK_GROUP_UNSCOPED && rc == 0) /* it ran without its deadline: say so */
        rc = (t->kind & WEFT__TASK_NO_TIMER_THREAD) ? EAGAIN : ENOMEM;
    /* before the cleanup, which may free the name */
    struct weft_error *rec = NULL;
    if (WEFT__UNLIKELY(rc != 0 || (t->kind & WEFT__TASK_FAILED) != 0)) {
        /* a task that merely stopped for its group's cancel needs no record */
        bool excused = rc != 0 && weft__scope_excuses(t->scope, rc);
        rec = weft__task_failure(t, name, excused ? 0 : rc);
    }
    if (kind != WEFT__TASK_GROUP && t->cleanup != NULL)
        t->cleanup(t->arg);

    /* copy what completion needs, then free first: once completion is
     * signalled the group may be gone */
    struct weft__group *g = weft__group_of(t->scope);
    struct weft__slot *slot = thr->slot;
    weft__count(&slot->stats.tasks_run);
    if (WEFT__UNLIKELY(t->kind & WEFT__TASK_STREAM)) {
        /* weft_group_next hands it out, then frees it; g lives until the
         * completion below, so nothing reads t after the push */
        t->status = rc;
        weft__stream_push(g, t);
    } else {
        weft__task_free(slot, t);
    }
    weft__group_task_done(g, thr, rc, rec);
    return rc;
}

/* A plain weft_spawn's task has no name; the others may. */
static const char *task_name(const struct weft_task *t)
{
    return (t->kind & WEFT__TASK_KIND_MASK) != WEFT__TASK_GROUP ? t->name : NULL;
}

/* A thief took t (queued: its scope is its group's): remember the thief
 * for the joiner's leapfrogging. */
static void task_stolen(struct weft_task *t, struct weft__slot *thief)
{
    weft__group_note_thief(weft__group_of(t->scope), thief);
}

/* Who waits for queued t: its group's owner thread, which joins it. */
static struct weft__thread *task_waiter(const struct weft_task *t)
{
    return weft__group_of(t->scope)->owner_thread;
}

const struct weft__task_kind_ops weft__group_task_kind = {.start = task_scope_begin,
                                                          .end = task_end,
                                                          .name = task_name,
                                                          .stolen = task_stolen,
                                                          .waiter = task_waiter};

int weft__group_run_traced(struct weft__thread *thr, struct weft_task *t)
{
    return weft__group_run_body(thr, t);
}

/* weft_group_init's body, for both of its entry points. */
static inline __attribute__((always_inline)) int group_init(weft_group *gp, weft_task *parent,
                                                            const weft_group_opts *opts)
{
    struct weft__thread *thr = weft__self_thread;
    if (WEFT__UNLIKELY(gp == NULL || parent == NULL || thr == NULL || thr->current != parent))
        return EINVAL; /* parent must be the task running on this thread */
    struct weft__group *g = thr->group_free;
    if (WEFT__UNLIKELY(g == NULL || opts != NULL))
        return init_slow(thr, handle_of(gp), parent, opts);
    group_start(thr, g, handle_of(gp), parent, 0, NULL, WEFT_NEVER);
    return 0;
}

int weft_group_init(weft_group *gp, weft_task *parent, const weft_group_opts *opts)
{
    return group_init(gp, parent, opts);
}

int weft_inline_group_init(weft_group *gp, weft_task *parent, const weft_group_opts *opts,
                           unsigned layout)
{
    if (WEFT__UNLIKELY(layout != WEFT_INLINE_LAYOUT))
        return EINVAL;
    return group_init(gp, parent, opts);
}

/* Every spawn that is not the owner's plain fast path. */
static int spawn_slow(struct handle *h, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    struct weft__group *g = live_state(h);
    if (g == NULL || fn == NULL)
        return EINVAL;
    struct weft__thread *thr = weft__self_thread;
    struct weft__sched *sched = g->owner_thread->sched;
    /* a deadline no tighter than the group's adds nothing: no scope */
    bool timed = o != NULL && o->deadline != 0 && o->deadline < g->scope.deadline;
    bool has_opts = o != NULL && (o->name != NULL || o->cleanup != NULL || timed);
    uint32_t kind = timed ? WEFT__TASK_GROUP_TIMED | WEFT__TASK_STARTS
                          : has_opts ? WEFT__TASK_GROUP_OPTS : WEFT__TASK_GROUP;
    if (weft__group_flags(g) & WEFT_STREAM)
        kind |= WEFT__TASK_STREAM;
    bool on_worker = thr != NULL && thr->sched == sched && thr->slot != NULL;
    union weft__task_frame q = {.f = {fn, arg, &g->scope, NULL}};
    struct weft_task *t = NULL;
    if (kind != WEFT__TASK_GROUP || !on_worker) {
        /* more than a frame holds, or for the injection queue: a descriptor */
        t = weft__task_new(sched, thr, fn, arg, kind);
        if (t == NULL)
            return ENOMEM;
        t->scope = &g->scope;
        if (has_opts) {
            t->name = o->name;
            t->cleanup = o->cleanup;
        }
        if (timed)
            t->deadline = o->deadline;
        q.f.desc = t;
    }
    bool mine = thr == g->owner_thread;
    /* count before the task can run: its completion must not overtake its spawn */
    if (mine)
        g->local++;
    else
        atomic_fetch_add_explicit(&g->spawned_remote, 1, memory_order_relaxed);
    if (!on_worker ? weft__inject_push(sched, t) != 0 : weft__slot_push(thr->slot, &q) != 0) {
        if (mine)
            g->local--;
        else
            atomic_fetch_sub_explicit(&g->spawned_remote, 1, memory_order_relaxed);
        if (t != NULL)
            weft__task_discard(thr, t);
        return ENOMEM;
    }
    if (!on_worker)
        return 0; /* the push woke a worker */
    weft__count(&thr->slot->stats.spawns);
    weft__notify_push(thr->slot);
    return 0;
}

/* The spawn fast path (the exported one, or an inline one through
 * weft_inline_pushed_) pushed a task and a thief should see it, or a thief
 * asked for a batch. */
static __attribute__((noinline)) int spawn_wake(struct weft__slot *slot)
{
    weft__notify_push(slot);
    return 0;
}

int weft_inline_pushed_(void)
{
    struct weft__thread *thr = weft__self_thread;
    return thr != NULL && thr->slot != NULL ? spawn_wake(thr->slot) : 0;
}

int weft_spawn(weft_group *gp, weft_fn fn, void *arg)
{
    struct handle *h = handle_of(gp);
    struct weft__thread *thr = weft__self_thread;
    /* fast path: the owner spawns and the deque surely has room; the
     * owner's live handle implies a live state (only its join ends it). The
     * task is its frame alone, no descriptor. It calls nothing but in tail
     * position, so it needs no stack frame. */
    if (WEFT__LIKELY(h != NULL && fn != NULL && magic_of(h) == GROUP_LIVE &&
                     thr == h->owner_thread && is_original(h))) {
        struct weft__slot *slot = thr->slot;
        struct weft__group *g = h->state;
        union weft__task_frame q = {.f = {fn, arg, &g->scope, NULL}};
        if (WEFT__LIKELY(weft__deque_frames_try_push_owner(&slot->deque, &q.words))) {
            g->local++;
            weft__count(&slot->stats.spawns);
            if (WEFT__UNLIKELY(weft__push_wanted(slot->sched) || weft__batch_wanted(slot)))
                return spawn_wake(slot);
            return 0;
        }
    }
    return spawn_slow(h, fn, arg, NULL);
}

int weft_spawn_ex(weft_group *gp, weft_fn fn, void *arg, const weft_spawn_opts *o)
{
    return spawn_slow(handle_of(gp), fn, arg, o);
}

void weft__group_record_failure(struct weft__group *g, int rc, struct weft_error *rec)
{
    uint64_t w = atomic_load_explicit(&g->scope.cancel, memory_order_relaxed);
    /* g's deadline passed but the timer has not cancelled g yet: a task's
     * ETIMEDOUT (a timed wait that ended at that deadline) is the reason g
     * is about to stop for. Cancel g now, as the timer would (its fire is
     * then a no-op), so the task is excused and its siblings see ETIMEDOUT,
     * not the ECANCELED of a fail-fast. */
    if (WEFT__UNLIKELY(rc == ETIMEDOUT) && weft__cancel_reason_of(w) == 0 &&
        g->scope.deadline != WEFT_NEVER && weft_now() >= g->scope.deadline)
        weft__cancel(&g->scope, weft__cancel_gen(w), ETIMEDOUT, WEFT__BY_DEADLINE);
    if (weft__group_excuses(g, rc)) {
        weft__error_free(rec);
        return; /* it stopped because it was cancelled: not a failure */
    }
    if (rec == NULL)
        rec = weft__error_plain(rc, NULL);
    if (rec != NULL)
        weft__errors_push(&g->errors, rec);
    else /* the code still reaches the joiner through first_error */
        atomic_fetch_add_explicit(&g->errors_lost, 1, memory_order_relaxed);
    int none = 0;
    atomic_compare_exchange_strong_explicit(&g->first_error, &none, rc, memory_order_relaxed,
                                            memory_order_relaxed);
    if ((weft__group_flags(g) & WEFT_COLLECT) == 0)
        weft__cancel(&g->scope, weft__cancel_gen(w), ECANCELED, WEFT__BY_FAILURE); /* fail-fast */
}

void weft_group_cancel(weft_group *gp)
{
    struct handle *h = handle_of(gp);
    if (h == NULL)
        return;
    uint64_t key = key_of(h);
    if ((uint32_t)key == GROUP_LIVE && is_original(h))
        weft__cancel(&h->state->scope, gen_of(key), ECANCELED, WEFT__BY_CALL); /* no-op once it ended */
}

void weft__group_remote_done(struct weft__group *g)
{
    struct weft__thread *owner = g->owner_thread;
    /* seq_cst, this RMW and the load of `parked`: a store-buffering pair
     * with the joiner's (or timed waiter's) seq_cst store of `parked` then
     * seq_cst load of this counter (park.c, timed_wait.c; a STREAM task's
     * seq_cst push came before, group_wait.c); release also publishes
     * first_error. After this the group may be gone: only `owner`, read
     * before, is used. */
    atomic_fetch_add_explicit(&g->done_remote, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&owner->parked, memory_order_seq_cst))
        weft__wake_thread(owner->sched, owner);
}

static bool finished(struct weft__group *g)
{
    int64_t done_remote = atomic_load_explicit(&g->done_remote, memory_order_seq_cst);
    return g->local + atomic_load_explicit(&g->spawned_remote, memory_order_acquire) == done_remote;
}

/* A joiner may sleep unless its group finished or a task of it was set
 * aside: it may be the only thread that would run that one. */
static bool join_ready(void *p)
{
    struct weft__group *g = p;
    return finished(g) || weft__aside_holds(g->owner_thread->sched, &g->scope);
}

/* The joiner's own deque is empty: steal (leapfrogging first), spin, park.
 * Returns after running one task, or when the group finished. */
static void join_wait(struct weft__thread *thr, struct weft__group *g)
{
    bool may_steal = weft__stack_room(thr);
    if (may_steal)
        weft__looking_begin(thr);
    weft__backoff b;
    weft__backoff_init(&b);
    for (;;) {
        struct weft_task scratch;
        struct weft_task *t =
            weft__find_work(thr, &g->scope, atomic_load_explicit(&g->thief, memory_order_relaxed),
                            may_steal, &scratch);
        if (t != NULL) {
            weft__looking_end(thr);
            weft__searching_end(thr);
            weft__group_run(thr, t);
            return;
        }
        if (finished(g))
            break;
        if (!weft__backoff_wait(&b)) {
            /* without stealing it takes only its group's tasks: from its
             * own deque, which no other thread pushes to, and from aside
             * lists, whose put wakes it by name (tasks left in a slot it
             * lent are run by others, see park.c). So it sleeps outside the
             * idle list, woken by the finisher (weft__group_remote_done) or
             * that put, and no spawn's wake-up is wasted on it */
            weft__park_joiner(thr, may_steal, join_ready, g);
            weft__backoff_init(&b);
        }
    }
    weft__looking_end(thr);
    weft__searching_end(thr);
}

/* The join popped t, a task of another group or a detached one: it nests
 * here only with room, else it is set aside for someone else. Out of line:
 * the frame address would cost the join's fast path a frame pointer. */
static __attribute__((noinline)) void run_other(struct weft__thread *thr, struct weft_task *t)
{
    if (weft__stack_room(thr) || !weft__aside_put(thr, t))
        weft__group_run(thr, t);
}

/* The join popped t of another group or a detached task: back to the
 * deque when g finished meanwhile (it was on top, so the push restores the
 * deque as it was); false when g needs more work. */
static __attribute__((noinline)) bool other_or_done(struct weft__thread *thr,
                                                    struct weft__group *g, struct weft_task *t)
{
    union weft__task_frame q = weft__frame_of_task(t);
    if (finished(g) && weft__slot_push(thr->slot, &q) == 0)
        return true;
    run_other(thr, t);
    return false;
}

/* The join runs t, a task of g popped from its own deque, nested in the
 * running task self: weft__group_run for what the joiner knows (g, and
 * that its thread is g's owner's), so that the fork-join fast path keeps
 * fewer values alive across fn. */
static inline __attribute__((always_inline)) void
run_own(struct weft__thread *thr, struct weft__group *g, struct weft_task *t,
        struct weft_task *self)
{
    if (WEFT__UNLIKELY(thr->trace != NULL)) {
        weft__frame_run_traced(thr, t, weft__group_run_traced);
        return;
    }
    int rc = weft__frame_call_from(thr, t, self);
    if (WEFT__UNLIKELY((t->kind | t->open_groups | (uint32_t)rc) != 0)) {
        weft__task_kind_of(thr, t)->end(thr, t, rc);
        return;
    }
    weft__group_plain_free(thr, t);
    g->local--; /* weft__group_task_done on the owner's thread */
}

/* Pop first, then look at the counters: in fork-join the popped task is
 * the joined group's last, and one look after it ran is all the join pays. */
static inline __attribute__((always_inline)) void wait_all(struct weft__thread *thr,
                                                            struct weft__group *g,
                                                            struct weft_task *self)
{
    for (;;) {
        union weft__task_frame q;
        if (WEFT__LIKELY(weft__deque_frames_pop_owner(&thr->slot->deque, &q.words))) {
            struct weft_task scratch;
            struct weft_task *t = weft__task_of_frame(&q, &scratch);
            /* not started: t->scope is its group's; a task of g in the
             * deque means g is not finished */
            if (WEFT__LIKELY(t->scope == &g->scope))
                run_own(thr, g, t, self);
            else if (other_or_done(thr, g, t))
                return;
        } else if (finished(g)) {
            return;
        } else {
            join_wait(thr, g);
        }
        if (finished(g))
            return;
        /* a join of many tasks (flat spawns) pops on: thieves asking for a
         * batch get it here as from a push (not reached when the first pop
         * finished the group, fork-join's common case) */
        if (WEFT__UNLIKELY(weft__batch_wanted(thr->slot)))
            weft__batch_shed(thr->slot);
    }
}

void weft__group_wait_all(struct weft__thread *thr, struct weft__group *g)
{
    wait_all(thr, g, thr->current);
}

bool weft__group_finished(struct weft__group *g)
{
    return finished(g);
}

struct weft__group *weft__group_of_owner(weft_group *gp, struct weft__thread *thr)
{
    struct weft__group *g = live_state(handle_of(gp));
    if (g == NULL || thr == NULL || thr->current == NULL ||
        atomic_load_explicit(&g->owner, memory_order_relaxed) != thr->current)
        return NULL;
    return g;
}

void weft__group_end_slow(struct weft__thread *thr, struct weft__group *g)
{
    if (g->scope.end_work & WEFT__END_STREAM)
        weft__stream_drain(thr, g); /* completions nobody took */
    weft__scope_end_work(weft__scopes_of(thr->sched), &g->scope);
    weft__group_release(thr, g);
}

/* A join that saw a failure: the records (there are some only then) go to
 * *errs, or, when the joiner does not take them, become the cause of its
 * own failure should it fail. Out of line: nothing on a plain join's path. */
static __attribute__((noinline)) int hand_out_errors(struct weft__group *g, weft_task *self,
                                                     weft_errors **errs, int rc)
{
    atomic_store_explicit(&g->first_error, 0, memory_order_relaxed);
    int earliest = 0;
    weft_errors *list = take_errors(g, &earliest);
    if (errs != NULL) {
        weft__errors_index(list);
        *errs = list;
    } else {
        weft__task_keep_cause(self, list);
    }
    /* two failures may record in one order and race for first_error in the
     * other: the first one listed is the earliest, by definition */
    return earliest != 0 ? earliest : rc;
}

int weft_group_join(weft_group *gp, weft_errors **errs)
{
    struct handle *h = handle_of(gp);
    struct weft__thread *thr = weft__self_thread;
    if (WEFT__UNLIKELY(h == NULL))
        return EINVAL;
    uint64_t key = key_of(h);
    if (WEFT__UNLIKELY((uint32_t)key != GROUP_LIVE || thr == NULL))
        return EINVAL; /* joined already, never initialised, or not on a worker */
    struct weft__group *g = h->state;
    struct weft_task *self = thr->current;
    /* live_state without its DEAD test: a pooled state's owner is the
     * state's own address (weft__group_pooled_owner), which no task's is,
     * so the owner test fails for it even when no task runs (self NULL) */
    if (WEFT__UNLIKELY(weft__cancel_gen(atomic_load_explicit(&g->scope.cancel, memory_order_relaxed)) !=
                           gen_of(key) ||
                       atomic_load_explicit(&g->owner, memory_order_relaxed) != self ||
                       !is_original(h)))
        return EINVAL; /* a stale handle, not the owner, or a copy */
    wait_all(thr, g, self);
    atomic_store_explicit(&h->key, GROUP_JOINED, memory_order_relaxed);
    self->open_groups--;
    int rc = atomic_load_explicit(&g->first_error, memory_order_relaxed);
    uint64_t w = atomic_load_explicit(&g->scope.cancel, memory_order_relaxed);
    if (WEFT__UNLIKELY(rc != 0)) {
        rc = hand_out_errors(g, self, errs, rc);
    } else { /* no failure: a cancel from above, outside or a deadline says why it ended */
        rc = (int)weft__cancel_reason_of(w);
        if (errs != NULL)
            *errs = rc != 0 ? weft__cancel_record(&g->scope, w) : NULL;
    }
    if (WEFT__UNLIKELY(g->scope.end_work != 0))
        weft__group_end_slow(thr, g);
    else
        weft__group_release_word(thr, g, w);
    return rc;
}
