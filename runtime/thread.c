/*
 * Starting the runtime's threads politely: async signals blocked (they go to
 * the application's threads), a name visible in top and gdb, a chosen stack
 * size. Tests can make the Nth thread creation fail, since RLIMIT_NPROC does
 * not apply to root.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "runtime/internal.h"

/* Creations numbered fail_from..fail_until since the last arming fail
 * (fail_from 0: none), as in alloc.c. */
static atomic_ulong fail_from, fail_until;
static atomic_ulong started;

static void arm(unsigned long from, unsigned long until)
{
    atomic_store_explicit(&fail_from, 0, memory_order_relaxed);
    atomic_store_explicit(&started, 0, memory_order_relaxed);
    atomic_store_explicit(&fail_until, until, memory_order_relaxed);
    /* release: a call that sees the new fail_from sees its fail_until */
    atomic_store_explicit(&fail_from, from, memory_order_release);
}

void weft__thread_fail_from(unsigned long n)
{
    arm(n, ULONG_MAX);
}

void weft__thread_fail_nth(unsigned long n)
{
    arm(n, n);
}

unsigned long weft__thread_calls(void)
{
    return atomic_load_explicit(&started, memory_order_relaxed);
}

int weft__thread_start(pthread_t *tid, size_t stack_size, const char *name,
                       void *(*fn)(void *), void *arg)
{
    unsigned long n = atomic_fetch_add_explicit(&started, 1, memory_order_relaxed) + 1;
    unsigned long limit = atomic_load_explicit(&fail_from, memory_order_relaxed);
    if (limit != 0 && n >= limit) {
        /* the acquire re-read pairs with arm()'s release of fail_from */
        limit = atomic_load_explicit(&fail_from, memory_order_acquire);
        if (limit != 0 && n >= limit && n <= atomic_load_explicit(&fail_until, memory_order_relaxed))
            return EAGAIN;
    }

    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_attr_setstacksize(&attr, stack_size);
    if (rc != 0) {
        pthread_attr_destroy(&attr);
        return rc;
    }
    sigset_t all, old;
    sigfillset(&all);
    /* synchronous signals stay deliverable: blocking them is undefined */
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(tid, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0 && name != NULL)
        pthread_setname_np(*tid, name); /* best effort: names are cosmetic */
    return rc;
}
