/*
 * The trace's log (trace_log.c): per-thread buffers of schedule events,
 * which every layer may append to; trace.c, at the top, turns them into
 * WEFT_TRACE's file at destroy.
 *
 * Off (no log: a NULL pointer, every worker's buffer NULL) the hot paths
 * pay one predicted-not-taken branch on the worker's buffer pointer, which
 * sits on the line a task's run writes anyway: no call, no atomic, no
 * allocation. On, every thread appends to a buffer of its own.
 */
#ifndef WEFT_RUNTIME_TRACE_LOG_H
#define WEFT_RUNTIME_TRACE_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

/* What an event shows; the writer turns each into its name and phase. */
enum weft__trace_kind {
    WEFT__TR_TASK,        /* X: a task's run, on its worker */
    WEFT__TR_JOB,         /* X: a blocking job's run, on its blocking thread */
    WEFT__TR_PARK,        /* X: an idle worker asleep (futex) */
    WEFT__TR_PARK_JOIN,   /* X: a joiner asleep until its group is done */
    WEFT__TR_SPARE_IDLE,  /* X: a thread without a slot, waiting for one */
    WEFT__TR_WAIT,        /* X: a timed wait (sleep, job wait, timed group wait) */
    WEFT__TR_STEAL,       /* i: a steal, `arg` = the victim's slot */
    WEFT__TR_CANCEL,      /* i: a scope cancelled, `code` = the reason, `arg` = by whom */
    WEFT__TR_JOB_CANCEL,  /* i: a job's scope cancelled, `code` = the reason */
    WEFT__TR_LEND,        /* i: slot `arg` handed off for a timed wait */
    WEFT__TR_TAKE,        /* i: a spare thread took slot `arg` */
    WEFT__TR_RECLAIM,     /* i: a waiter took slot `arg` back */
    WEFT__TR_JOB_GAVE_UP, /* i: a job wait returned `code` with the job running */
    WEFT__TR_KINDS
};

enum { WEFT__TRACE_NAME_LEN = 39, WEFT__TRACE_CHUNK_EVENTS = 1024 };

struct weft__trace_event {
    weft_time ts;
    weft_time dur; /* < 0: an instant */
    int32_t code, arg;
    uint8_t kind; /* weft__trace_kind */
    char name[WEFT__TRACE_NAME_LEN]; /* "" : the kind's default name */
};
_Static_assert(sizeof(struct weft__trace_event) == 64, "an event is one cache line");

struct weft__trace_chunk {
    struct weft__trace_chunk *next;
    struct weft__trace_event ev[WEFT__TRACE_CHUNK_EVENTS];
};

/* One thread's events: written by that thread only. */
struct weft__trace_buf {
    struct weft__trace_buf *next; /* the log's list, under its lock */
    struct weft__trace_chunk *head, *tail;
    size_t used; /* events in tail */
    size_t n;    /* events, the writer's copy of `count` */
    bool full;   /* the budget said no: drop from now on */
    /* release: the events below it (and the chunk links) before the file writer's acquire */
    _Atomic size_t count;
    _Atomic uint64_t dropped;
    int tid;
    char name[16];
};

struct weft__trace_log {
    uint64_t id;
    weft_time t0;
    _Atomic long chunks_left;
    unsigned long cap_chunks;
    atomic_bool closed;   /* the file is written: emitters drop */
    pthread_mutex_t lock; /* bufs, next_tid */
    struct weft__trace_buf *bufs;
    int next_tid;
};

/* A log beginning now, whose threads without an id of their own get ids
 * from first_tid on. */
void weft__trace_log_init(struct weft__trace_log *log, int first_tid);
/* Its buffers' memory (nobody appends any more). */
void weft__trace_log_fini(struct weft__trace_log *log);
/* The calling thread's buffer, with id `tid` and `name`, bound to it for
 * weft__trace_emit: a worker's at its start. NULL without memory. */
struct weft__trace_buf *weft__trace_thread_buf(struct weft__trace_log *log, int tid,
                                               const char *name);
/* An event in b, the calling thread's own buffer. `name` (may be NULL) is copied. */
void weft__trace_append(struct weft__trace_log *log, struct weft__trace_buf *b,
                        enum weft__trace_kind kind, const char *name, weft_time begin,
                        weft_time dur, int code, int arg);
/* An event from the calling thread, whichever it is (worker, blocking
 * thread, timer, the program's own); a no-op for a NULL log. Instant
 * events pass dur < 0. */
void weft__trace_emit(struct weft__trace_log *log, enum weft__trace_kind kind, const char *name,
                      weft_time begin, weft_time dur, int code, int arg);

/* Tests: the budget of event chunks of logs begun from now on (0: the default). */
void weft__trace_cap_chunks(unsigned long chunks);

#endif
