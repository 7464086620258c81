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
#include <stddef.h>

int weft__thread_start(pthread_t *tid, size_t stack_size, const char *name,
                       void *(*fn)(void *), void *arg);
void weft__thread_fail_from(unsigned long n);
void weft__thread_fail_nth(unsigned long n);
unsigned long weft__thread_calls(void);

#endif
