/* Allocation wrappers with a process-wide fault-injection counter. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

static size_t huge_round(size_t size)
{
    return (size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
}

void *weft__alloc_bulk(size_t size)
{
    if (size < HUGE_PAGE) {
        void *p = weft__alloc_aligned(WEFT__CACHE_LINE, size);
        if (p != NULL)
            memset(p, 0, size);
        return p;
    }
    if (injected_failure() || size > SIZE_MAX - 2 * HUGE_PAGE)
        return NULL;
    /* straight from the kernel, zero-filled and untouched: a page costs
     * only once it is written (malloc's large blocks may be recycled and
     * need clearing). One huge page extra, for the alignment. */
    size_t len = huge_round(size);
    char *raw = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + HUGE_PAGE > p)
        munmap(p + len, (size_t)(raw + HUGE_PAGE - p));
#ifdef MADV_HUGEPAGE
    /* advice only: without transparent huge pages it changes nothing */
    madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

void weft__free_bulk(void *p, size_t size)
{
    if (p == NULL)
        return;
    if (size < HUGE_PAGE)
        free(p);
    else
        munmap(p, huge_round(size));
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
