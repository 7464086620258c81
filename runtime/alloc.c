/* Allocation wrappers with a process-wide fault-injection counter. */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "runtime/alloc.h"

/* 0 = never fail. Relaxed: tests arm it before starting the workload. */
static atomic_ulong fail_from;
static atomic_ulong counted;

static int injected_failure(void)
{
    unsigned long n = atomic_fetch_add_explicit(&counted, 1, memory_order_relaxed) + 1;
    unsigned long limit = atomic_load_explicit(&fail_from, memory_order_relaxed);
    if (limit != 0 && n >= limit) {
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

void weft__alloc_fail_from(unsigned long n)
{
    atomic_store_explicit(&counted, 0, memory_order_relaxed);
    atomic_store_explicit(&fail_from, n, memory_order_relaxed);
}
