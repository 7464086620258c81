/*
 * Scope memory and lives. Every scope a cancel scan may read (a group's,
 * a task's own, an entered one) lives in a chunk listed on the thread that
 * owns it, kept until destroy: type-stable memory that any thread may read
 * at any time. Scopes of their own (no group around them) come from a
 * per-thread free list, as group states do (group_pool.c): a task that
 * opens one never leaves its thread, and the one just closed is the next
 * one opened, still in cache.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "base/alloc.h"
#include "scope/scope.h"

enum { CHUNK_SCOPES = 31 };

struct scope_chunk {
    struct weft__scope_chunk head;
    struct weft__scope scopes[CHUNK_SCOPES];
};

void weft__scope_init_pooled(struct weft__scope *s, struct weft__scopes *scopes,
                             const struct weft__thread *home)
{
    s->scopes = scopes;
    s->home = home;
    s->deadline = WEFT_NEVER;
    atomic_init(&s->cancel, WEFT__GROUP_DEAD); /* gen 0, pooled */
}

void weft__scope_chunk_list(struct weft__thread *thr, struct weft__scope_chunk *c)
{
    c->next = atomic_load_explicit(&thr->scope_chunks, memory_order_relaxed);
    /* release: a scanner that finds the chunk sees its states' DEAD words */
    atomic_store_explicit(&thr->scope_chunks, c, memory_order_release);
}

void weft__scope_chunk_list_loose(struct weft__scopes *scopes, struct weft__scope_chunk *c)
{
    c->next = atomic_load_explicit(&scopes->loose_scope_chunks, memory_order_relaxed);
    /* release: a reader that finds the chunk sees its scopes initialised */
    atomic_store_explicit(&scopes->loose_scope_chunks, c, memory_order_release);
}

bool weft__scope_has_live_child(const struct weft__thread *thr, const struct weft__scope *s)
{
    struct weft__scope_iter it = {weft__scope_chunks_first(thr), 0};
    for (struct weft__scope *x; (x = weft__scope_iter_next(&it)) != NULL;) {
        /* a pooled scope's parent is a former life's: only live ones count */
        uint64_t w = atomic_load_explicit(&x->cancel, memory_order_relaxed);
        if (weft__cancel_reason_of(w) != WEFT__GROUP_DEAD &&
            atomic_load_explicit(&x->parent, memory_order_relaxed) == s)
            return true;
    }
    return false;
}

void weft__scope_chunks_free(struct weft__thread *thr)
{
    for (struct weft__scope_chunk *c = weft__scope_chunks_first(thr), *next; c != NULL;
         c = next) {
        next = c->next;
        weft__free(c); /* each chunk's head is where its allocation begins */
    }
    atomic_store_explicit(&thr->scope_chunks, NULL, memory_order_relaxed);
    thr->group_free = NULL;
    thr->scope_free = NULL;
}

static bool grow(struct weft__thread *thr)
{
    struct scope_chunk *c = weft__alloc_aligned(WEFT__CACHE_LINE, sizeof *c);
    if (c == NULL)
        return false;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CHUNK_SCOPES; i++) {
        struct weft__scope *s = &c->scopes[i];
        weft__scope_init_pooled(s, weft__scopes_of(thr->sched), thr);
        s->next_free = i + 1 < CHUNK_SCOPES ? &c->scopes[i + 1] : thr->scope_free;
    }
    thr->scope_free = &c->scopes[0];
    weft__scope_chunk_describe(&c->head, c->scopes, sizeof c->scopes[0], CHUNK_SCOPES);
    weft__scope_chunk_list(thr, &c->head);
    return true;
}

int weft__scope_open(struct weft__thread *thr, struct weft__scope *ps, unsigned flags,
                     const char *name, weft_time own_deadline, struct weft__scope **out)
{
    if (thr->scope_free == NULL && !grow(thr))
        return ENOMEM;
    struct weft__scope *s = thr->scope_free;
    thr->scope_free = s->next_free;
    weft__scope_begin(thr, s, ps, flags, name, own_deadline);
    int rc = weft__deadline_arm_own(weft__scopes_of(thr->sched), s, own_deadline);
    if (rc != 0) {
        weft__scope_close(thr, s);
        return rc;
    }
    *out = s;
    return 0;
}

void weft__scope_end_work(struct weft__scopes *scopes, struct weft__scope *s)
{
    unsigned work = s->end_work;
    if (work & WEFT__END_TIMER)
        weft__deadline_disarm(scopes, s);
    if ((work & WEFT__END_CALLBACKS) &&
        atomic_load_explicit(&s->callbacks, memory_order_relaxed) != NULL)
        weft__cancel_cb_forget(scopes, s);
    s->end_work = 0;
}

void weft__scope_close(struct weft__thread *thr, struct weft__scope *s)
{
    if (s->end_work != 0)
        weft__scope_end_work(weft__scopes_of(thr->sched), s);
    weft__scope_release_word(s, atomic_load_explicit(&s->cancel, memory_order_relaxed));
    s->next_free = thr->scope_free;
    thr->scope_free = s;
}

uint32_t weft__scope_begin_unparented(struct weft__scope *s, const char *name,
                                      weft_time deadline)
{
    atomic_store_explicit(&s->parent, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->up, weft__scope_up(0, 0), memory_order_relaxed);
    atomic_store_explicit(&s->callbacks, NULL, memory_order_relaxed);
    s->deadline = deadline;
    s->started = 0;
    s->name = name;
    s->end_work = 0;
    /* pooled, the word is (gen, DEAD), and DEAD is all ones: + 1 is (gen + 1, 0) */
    uint64_t word = atomic_load_explicit(&s->cancel, memory_order_relaxed) + 1;
    /* release: a cancel scan that reads this word, walking up from a group
     * begun below, sees the links above (cancel.c's seqlock) */
    atomic_store_explicit(&s->cancel, word, memory_order_release);
    return weft__cancel_gen(word);
}
