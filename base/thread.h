/*
 * pthread_create with async signals blocked, a name, a stack size
 * (thread.c). Tests can make creations fail with EAGAIN, counted from the
 * call that arms: the Nth and every later one (weft__thread_fail_from), or
 * the Nth only (weft__thread_fail_nth); 0 disarms. weft__thread_calls:
 * creations attempted since the last arming.
 */
#ifndef WEFT_BASE_THREAD_H
#define WEFT_BASE_THREAD_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>

int weft__thread_start(pthread_t *tid, size_t stack_size, const char *name,
                       void *(*fn)(void *), void *arg);
/* The same, the thread running on `cpus` from its first instruction (NULL:
 * as weft__thread_start). A CPU it may not use (offline, outside the
 * cgroup) fails the start with pthread_create's error, no thread left. */
int weft__thread_start_on(pthread_t *tid, size_t stack_size, const char *name,
                          void *(*fn)(void *), void *arg, const cpu_set_t *cpus);
/* Threads the calling thread starts with weft__thread_start run on `cpus`
 * (NULL: they inherit its CPUs, the default): a pinned worker's blocking
 * and timer threads run over the process's set, not on its one CPU. cpus
 * must outlive the calling thread. */
void weft__thread_children_on(const cpu_set_t *cpus);
void weft__thread_fail_from(unsigned long n);
void weft__thread_fail_nth(unsigned long n);
unsigned long weft__thread_calls(void);

#endif
