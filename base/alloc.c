/* Allocation wrappers with a process-wide fault-injection counter. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base/alloc.h"
#include "base/base.h"
#include "base/fault_point.h"

static struct weft__fault_point allocs;

static int injected_failure(void)
{
    if (!weft__fault_hit(&allocs))
        return 0;
    errno = ENOMEM;
    return 1;
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

enum { HUGE_PAGE = 2 << 20 };

void *weft__alloc_bulk(size_t size)
{
    if (size < HUGE_PAGE)
        return weft__alloc_aligned(WEFT__CACHE_LINE, size);
    void *p = weft__alloc_aligned(HUGE_PAGE, size);
#ifdef MADV_HUGEPAGE
    /* advice only: without transparent huge pages it changes nothing */
    if (p != NULL)
        madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void weft__free(void *p)
{
    free(p);
}

void weft__alloc_fail_from(unsigned long n)
{
    weft__fault_arm(&allocs, n, ULONG_MAX);
}

void weft__alloc_fail_nth(unsigned long n)
{
    weft__fault_arm(&allocs, n, n);
}

unsigned long weft__alloc_calls(void)
{
    return weft__fault_calls(&allocs);
}
