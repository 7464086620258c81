/* Allocation wrappers with a process-wide fault-injection counter. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "runtime/alloc.h"

/*
 * Calls numbered fail_from..fail_until (counted from the last arming) fail;
 * fail_from 0 = never fail. Relaxed: tests arm it before starting the
 * workload, and the counter's fetch_add hands each number to one call only,
 * so "exactly the Nth" fails exactly one call even with several threads
 * allocating. fail_until is read only once a failure is possible: disarmed,
 * the cost is the counter's add and one relaxed load, as before.
 */
static atomic_ulong fail_from, fail_until;
static atomic_ulong counted;

static int injected_failure(void)
{
    unsigned long n = atomic_fetch_add_explicit(&counted, 1, memory_order_relaxed) + 1;
    unsigned long limit = atomic_load_explicit(&fail_from, memory_order_relaxed);
    if (limit == 0 || n < limit)
        return 0;
    /* armed only: the acquire re-read pairs with arm()'s release of fail_from */
    limit = atomic_load_explicit(&fail_from, memory_order_acquire);
    if (limit != 0 && n >= limit && n <= atomic_load_explicit(&fail_until, memory_order_relaxed)) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *weft__alloc(size_t size)
{
    if (injected_failure())
        return NULL;
    return malloc(size);
}

void *weft__alloc_zeroed(size_t size)
{
    if (injected_failure())
        return NULL;
    return calloc(1, size);
}

void *weft__alloc_aligned(size_t align, size_t size)
{
    void *p;
    if (injected_failure())
        return NULL;
    int rc = posix_memalign(&p, align, size);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    return p;
}

void weft__free(void *p)
{
    free(p);
}

static void arm(unsigned long from, unsigned long until)
{
    atomic_store_explicit(&fail_from, 0, memory_order_relaxed);
    atomic_store_explicit(&counted, 0, memory_order_relaxed);
    atomic_store_explicit(&fail_until, until, memory_order_relaxed);
    /* release: a call that sees the new fail_from sees its fail_until */
    atomic_store_explicit(&fail_from, from, memory_order_release);
}

void weft__alloc_fail_from(unsigned long n)
{
    arm(n, ULONG_MAX);
}

void weft__alloc_fail_nth(unsigned long n)
{
    arm(n, n);
}

unsigned long weft__alloc_calls(void)
{
    return atomic_load_explicit(&counted, memory_order_relaxed);
}
