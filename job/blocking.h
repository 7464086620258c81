/*
 * The blocking pool (internal): threads apart from the CPU workers that run
 * blocking jobs (blocking_pool.c), and the jobs themselves (job.c, job.h).
 *
 * Lifetime. The pool lives inside weft_runtime. Destroy cancels the jobs
 * and waits up to shutdown_timeout; jobs still running then are abandoned:
 * once the workers are gone (joined by destroy, or by the last of them when
 * detached tasks outlived destroy: runtime.c) the runtime's memory (this
 * pool, the timer, the callback lock) is left to the last of its users, a
 * blocking thread or a job handle, which frees it when it goes
 * (weft__runtime_free).
 */
#ifndef WEFT_RUNTIME_BLOCKING_H
#define WEFT_RUNTIME_BLOCKING_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

struct weft_job;
struct weft__job_chunk;

/* What the pool does with a job (job.c gives them at init): run it on a
 * blocking thread (`stopping`: destroy began, it starts cancelled), and
 * cancel it with a reason (destroy). */
struct weft__job_ops {
    void (*run)(struct weft_job *job, bool stopping);
    void (*cancel)(struct weft_job *job, int reason);
};

/* Everything under `lock`. */
struct weft__blocking {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* idle threads wait for a queued job (CLOCK_MONOTONIC) */
    pthread_cond_t ended; /* a thread exited or gave up starting: destroy waits */
    const struct weft__job_ops *ops;
    /* settings */
    unsigned max;
    weft_time idle, shutdown_timeout;
    size_t stack_size;
    /* threads */
    unsigned threads;      /* started (or starting) and not exited */
    unsigned starting;     /* counted in threads, not yet looking for work */
    unsigned idle_threads; /* waiting on `work` */
    unsigned running;      /* jobs running now */
    unsigned name_seq;
    /* jobs */
    struct weft_job *queue_head, *queue_tail; /* FIFO, linked by `next` */
    size_t queued;
    struct weft_job *running_list; /* linked by run_prev/run_next */
    struct weft_job *free_head, *free_tail; /* FIFO: a freed handle is reused late */
    struct weft__job_chunk *chunks;
    size_t jobs_held; /* jobs out of the free list (queued, running or with a handle) */
    uint64_t done, given_up;
    bool stopping;  /* destroy began: no new job; queued ones run cancelled */
    bool abandoned; /* destroy returned: the last thread or handle frees the runtime */
};

#endif
