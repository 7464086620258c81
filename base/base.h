/*
 * What every layer uses: branch hints, the cache line, the one
 * pseudo-random step, single-writer counters and a full barrier.
 */
#ifndef WEFT_BASE_BASE_H
#define WEFT_BASE_BASE_H

#include <stdatomic.h>
#include <stdint.h>

#define WEFT__LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT__UNLIKELY(x) __builtin_expect(!!(x), 0)

#define WEFT__CACHE_LINE 64

/* xorshift64: the runtime's one pseudo-random step (steal victims, retry
 * jitter); *s must not be 0. */
static inline uint64_t weft__rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Single-writer counter: plain increment on x86, yet readable from any thread. */
typedef _Atomic uint64_t weft__counter;
static inline void weft__count(weft__counter *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}
static inline void weft__count_add(weft__counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

#if defined(__SANITIZE_THREAD__)
#define WEFT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT__TSAN 1
#endif
#endif

/* A full (store-load) barrier. ThreadSanitizer does not model standalone
 * fences (gcc refuses them), so its builds use a seq_cst RMW, which is a full
 * barrier on every target TSan supports. */
static inline void weft__full_fence(void)
{
#ifdef WEFT__TSAN
    static _Atomic int fence_word;
    atomic_fetch_add_explicit(&fence_word, 0, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

#endif
