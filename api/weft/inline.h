/*
 * weft's opt-in inline fast path (weft_inline_spawn(3)).
 *
 * Define WEFT_INLINE before including <weft/weft.h> or this header. Then
 * the common case of weft_spawn (the group's owner queues a plain task
 * and its deque has room) and weft_cancelled compile into the program.
 * Every other case goes to the exported calls, so the contract is the
 * same. The inline code reads the library's private structures by their
 * offsets, so a program built against another layout must not run:
 * weft_group_init refuses it (EINVAL), and with gcc and clang it does not
 * even link or load (weft_inline_layout_<N> below).
 *
 * C11 only (<stdatomic.h>). The names ending in `_` describe the library's
 * layout (LP64), which WEFT_INLINE_LAYOUT versions: they are not an
 * interface to program against.
 */
#ifndef WEFT_INLINE_H
#define WEFT_INLINE_H

#ifdef __cplusplus
#error "<weft/inline.h> needs C11 atomics; C++ programs use the exported calls"
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weft/weft.h>

/* The layout this header reads. weft_group_init refuses (EINVAL) a program
 * built for another, and such a program does not link or load: it refers
 * to weft_inline_layout_<N>, which only a library of layout N defines. */
#define WEFT_INLINE_LAYOUT 1

/* A live handle's magic for this layout (the low half of its first word):
 * a handle of another layout never matches, so its spawns take the call. */
#define WEFT_INLINE_LIVE_ (0x696c0000u | WEFT_INLINE_LAYOUT)

/* Byte offsets into the library's private structures. The library checks
 * each one against its own layout when it is built. */
enum {
    WEFT_INLINE_THREAD_SCHED_ = 0,   /* a worker thread's scheduler */
    WEFT_INLINE_THREAD_SLOT_ = 8,    /* the slot (deque) it holds */
    WEFT_INLINE_SLOT_BOTTOM_ = 64,   /* the owner's end of the deque */
    WEFT_INLINE_SLOT_BUF_ = 72,      /* its ring */
    WEFT_INLINE_SLOT_TOP_SEEN_ = 80, /* a past value of the thieves' end */
    WEFT_INLINE_SLOT_SPAWNS_ = 216,  /* weft_runtime_stats' spawn counter */
    WEFT_INLINE_SLOT_BATCH_WANTED_ = 452, /* a thief asks for a batch */
    WEFT_INLINE_SCHED_IDLE_ = 256,   /* threads parked */
    WEFT_INLINE_SCHED_FENCES_ = 324, /* spawners fence before they look */
    WEFT_INLINE_RING_MASK_ = 0,
    WEFT_INLINE_RING_SLOTS_ = 24,
    WEFT_INLINE_GROUP_LOCAL_ = 208,  /* the owner's count of its queued tasks */
    WEFT_INLINE_TASK_SCOPE_ = 16,    /* a task's scope, whose cancel word... */
    WEFT_INLINE_SCOPE_CANCEL_ = 0    /* ...holds the reason in its low half */
};

/* The first words of a weft_group while it is live. */
struct weft_inline_handle_ {
    _Atomic uint64_t key;  /* WEFT_INLINE_LIVE_ | generation << 32 */
    void *state;           /* the group's state: its scope is its first member */
    void *thread;          /* the owner's thread (another value: never inline) */
    const struct weft_inline_handle_ *self; /* a copy of the handle is not live */
};

/* A queued task as a deque slot holds it. */
struct weft_inline_frame_ {
    _Atomic(weft_fn) fn;
    void *_Atomic arg;
    void *_Atomic scope;
    void *_Atomic desc; /* NULL: a plain task */
};

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_INLINE_TLS_ __attribute__((tls_model("initial-exec")))
#define WEFT_INLINE_ALWAYS_ __attribute__((always_inline))
#define WEFT_INLINE_LIKELY_(x) __builtin_expect(!!(x), 1)
#define WEFT_INLINE_UNLIKELY_(x) __builtin_expect(!!(x), 0)
#else
#define WEFT_INLINE_TLS_
#define WEFT_INLINE_ALWAYS_
#define WEFT_INLINE_LIKELY_(x) (x)
#define WEFT_INLINE_UNLIKELY_(x) (x)
#endif

#define WEFT_INLINE_CAT_(a, b) a##b
#define WEFT_INLINE_LAYOUT_SYMBOL_(n) WEFT_INLINE_CAT_(weft_inline_layout_, n)
/* Defined by a library of this layout only (its value: the layout). */
WEFT_API extern const unsigned WEFT_INLINE_LAYOUT_SYMBOL_(WEFT_INLINE_LAYOUT);
#if defined(__GNUC__) || defined(__clang__)
/* Every file built with this header refers to it, even one that calls
 * only weft_cancelled, which no group init checks. */
__attribute__((used)) static const unsigned *const weft_inline_layout_ref_ =
    &WEFT_INLINE_LAYOUT_SYMBOL_(WEFT_INLINE_LAYOUT);
#endif

/* The calling thread's worker, NULL on other threads. */
WEFT_API extern _Thread_local void *weft_inline_self_ WEFT_INLINE_TLS_;
/* weft_group_init for a program built against `layout`: EINVAL if that is
 * not the library's, else weft_group_init's result. */
WEFT_API int weft_inline_group_init(weft_group *g, weft_task *parent, const weft_group_opts *opts,
                                    unsigned layout);
/* After an inline push that found a thread to wake, a batch to shed, or
 * fences to make: what the exported spawn does then. Returns 0. */
WEFT_API int weft_inline_pushed_(void);

#define WEFT_INLINE_AT_(type, base, offset) ((type *)(void *)((char *)(base) + (offset)))
#define WEFT_INLINE_AT_CONST_(type, base, offset)                                                  \
    ((const type *)(const void *)((const char *)(base) + (offset)))

/* weft_spawn: the owner's plain spawn into a deque with room, inline. */
static inline WEFT_INLINE_ALWAYS_ int weft_inline_spawn(weft_group *g, weft_fn fn, void *arg)
{
    struct weft_inline_handle_ *h = (struct weft_inline_handle_ *)(void *)g;
    void *thr = weft_inline_self_;
    if (WEFT_INLINE_LIKELY_(
            h != NULL && fn != NULL &&
            (uint32_t)atomic_load_explicit(&h->key, memory_order_relaxed) == WEFT_INLINE_LIVE_ &&
            h->thread == thr && h->self == h)) {
        char *slot = *WEFT_INLINE_AT_(char *, thr, WEFT_INLINE_THREAD_SLOT_);
        _Atomic int64_t *bottom = WEFT_INLINE_AT_(_Atomic int64_t, slot, WEFT_INLINE_SLOT_BOTTOM_);
        int64_t b = atomic_load_explicit(bottom, memory_order_relaxed);
        char *ring = atomic_load_explicit(WEFT_INLINE_AT_(char *_Atomic, slot, WEFT_INLINE_SLOT_BUF_),
                                          memory_order_relaxed);
        int64_t mask = *WEFT_INLINE_AT_(int64_t, ring, WEFT_INLINE_RING_MASK_);
        /* room by a past value of top: the library's push looks further */
        if (WEFT_INLINE_LIKELY_(b - *WEFT_INLINE_AT_(int64_t, slot, WEFT_INLINE_SLOT_TOP_SEEN_) <=
                                mask)) {
            struct weft_inline_frame_ *q =
                WEFT_INLINE_AT_(struct weft_inline_frame_, ring, WEFT_INLINE_RING_SLOTS_) +
                (b & mask);
            atomic_store_explicit(&q->fn, fn, memory_order_relaxed);
            atomic_store_explicit(&q->arg, arg, memory_order_relaxed);
            atomic_store_explicit(&q->scope, h->state, memory_order_relaxed);
            atomic_store_explicit(&q->desc, NULL, memory_order_relaxed);
            /* release: publishes the slot before a thief sees bottom move */
            atomic_store_explicit(bottom, b + 1, memory_order_release);
            ++*WEFT_INLINE_AT_(int64_t, h->state, WEFT_INLINE_GROUP_LOCAL_);
            _Atomic uint64_t *spawns = WEFT_INLINE_AT_(_Atomic uint64_t, slot,
                                                       WEFT_INLINE_SLOT_SPAWNS_);
            atomic_store_explicit(spawns, atomic_load_explicit(spawns, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            /* the spawners' side of the parkers' barrier: a compiler
             * barrier, unless the library asks spawners to fence */
            atomic_signal_fence(memory_order_seq_cst);
            char *sched = *WEFT_INLINE_AT_(char *, thr, WEFT_INLINE_THREAD_SCHED_);
            bool fences = atomic_load_explicit(
                WEFT_INLINE_AT_(atomic_bool, sched, WEFT_INLINE_SCHED_FENCES_), memory_order_relaxed);
            unsigned idle = atomic_load_explicit(
                WEFT_INLINE_AT_(_Atomic unsigned, sched, WEFT_INLINE_SCHED_IDLE_),
                memory_order_relaxed);
            bool batch = atomic_load_explicit(
                WEFT_INLINE_AT_(atomic_bool, slot, WEFT_INLINE_SLOT_BATCH_WANTED_),
                memory_order_relaxed);
            if (WEFT_INLINE_UNLIKELY_(fences || idle != 0 || batch))
                return weft_inline_pushed_();
            return 0;
        }
    }
    return (weft_spawn)(g, fn, arg);
}

/* weft_cancelled, inline: two loads. */
static inline WEFT_INLINE_ALWAYS_ bool weft_inline_cancelled(const weft_task *self)
{
    if (self == NULL)
        return false;
    const char *scope = *WEFT_INLINE_AT_CONST_(char *const, self, WEFT_INLINE_TASK_SCOPE_);
    return (uint32_t)atomic_load_explicit(WEFT_INLINE_AT_CONST_(_Atomic uint64_t, scope,
                                                                WEFT_INLINE_SCOPE_CANCEL_),
                                          memory_order_relaxed) != 0;
}

/* Without WEFT_INLINE this header only declares (the library includes it). */
#ifdef WEFT_INLINE
#define weft_group_init(g, parent, opts) \
    weft_inline_group_init((g), (parent), (opts), WEFT_INLINE_LAYOUT)
#define weft_spawn(g, fn, arg) weft_inline_spawn((g), (fn), (arg))
#define weft_cancelled(self) weft_inline_cancelled(self)
#endif

#endif /* WEFT_INLINE_H */
