/*
 * Every heap allocation of the library goes through these wrappers so that
 * tests can make the Nth allocation fail (fault injection) and check that each
 * failure point gives a clean error code, no crash and no leak.
 */
#ifndef WEFT_RUNTIME_ALLOC_H
#define WEFT_RUNTIME_ALLOC_H

#include <stddef.h>

/* malloc/calloc/free; NULL on failure (real or injected), errno = ENOMEM. */
void *weft__alloc(size_t size);
void *weft__alloc_zeroed(size_t size);
/* Memory aligned to `align` (a power of two, multiple of sizeof(void *)). */
void *weft__alloc_aligned(size_t align, size_t size);
/* Zero-filled memory for a pool or buffer that may grow large (descriptor
 * chunks, deque buffers): from 2 MiB on, mapped from the kernel, aligned to
 * 2 MiB and advised as huge pages, so that a page costs nothing until it is
 * written and then faults 2 MiB at a time where the kernel allows it;
 * below, cache-line aligned. Freed with weft__free_bulk and the same size. */
void *weft__alloc_bulk(size_t size);
void weft__free_bulk(void *p, size_t size);
void weft__free(void *p);

/*
 * Fault injection (tests only): the allocation numbered `n` from now on
 * (1 = the next one) and every later one fail, until reset with 0. Counting is
 * process-wide and thread-safe.
 */
void weft__alloc_fail_from(unsigned long n);
/* The same, but only the allocation numbered `n` fails: later ones succeed
 * (0 disarms). Either call restarts the count. */
void weft__alloc_fail_nth(unsigned long n);
/* Allocations attempted (failed ones included) since the last
 * weft__alloc_fail_from / weft__alloc_fail_nth: a fault-injection walk arms
 * with 0, runs its workload once and reads how many points it has. */
unsigned long weft__alloc_calls(void);

#endif
