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
#include <string.h>

#include "base/fault_point.h"
#include "base/thread.h"

static struct weft__fault_point starts; /* fault_point.h */

void weft__thread_fail_from(unsigned long n)
{
    weft__fault_arm(&starts, n, ULONG_MAX);
}

void weft__thread_fail_nth(unsigned long n)
{
    weft__fault_arm(&starts, n, n);
}

unsigned long weft__thread_calls(void)
{
    return weft__fault_calls(&starts);
}

static __thread const cpu_set_t *children_cpus;

void weft__thread_children_on(const cpu_set_t *cpus)
{
    children_cpus = cpus;
}

int weft__thread_start(pthread_t *tid, size_t stack_size, const char *name,
                       void *(*fn)(void *), void *arg)
{
    return weft__thread_start_on(tid, stack_size, name, fn, arg, NULL);
}

int weft__thread_start_on(pthread_t *tid, size_t stack_size, const char *name,
                          void *(*fn)(void *), void *arg, const cpu_set_t *cpus)
{
    if (weft__fault_hit(&starts))
        return EAGAIN;

    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    if (cpus == NULL)
        cpus = children_cpus;
    rc = pthread_attr_setstacksize(&attr, stack_size);
    /* glibc applies it to the new thread before it runs fn, and undoes the
     * start when the kernel refuses it */
    if (rc == 0 && cpus != NULL)
        rc = pthread_attr_setaffinity_np(&attr, sizeof *cpus, cpus);
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
