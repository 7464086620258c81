/*
 * WEFT_TRACE (internal; trace.c): a Chrome trace event file of the
 * schedule, written at weft_runtime_destroy.
 *
 * Off (rt->trace == NULL, every worker's thr->trace == NULL) the hot paths
 * pay one predicted-not-taken branch on thr->trace, which sits on the line
 * a run of a task writes anyway (thr->current): no call, no atomic, no
 * allocation. On, every thread appends to a buffer of its own.
 */
#ifndef WEFT_RUNTIME_TRACE_H
#define WEFT_RUNTIME_TRACE_H

#include <stdint.h>

#include <weft/weft.h>

struct weft__thread;
struct weft_task;
struct weft__trace;
struct weft__trace_buf;

/* What an event shows; the writer turns each into its name and phase. */
enum weft__trace_kind {
    WEFT__TR_TASK,        /* X: a task's run, on its worker */
    WEFT__TR_JOB,         /* X: a blocking job's run, on its blocking thread */
    WEFT__TR_PARK,        /* X: an idle worker asleep (futex) */
    WEFT__TR_PARK_JOIN,   /* X: a joiner asleep until its group is done */
    WEFT__TR_SPARE_IDLE,  /* X: a thread without a slot, waiting for one */
    WEFT__TR_WAIT,        /* X: a timed wait (sleep, job wait, timed group wait) */
    WEFT__TR_STEAL,       /* i: a steal, `arg` = the victim's slot */
    WEFT__TR_CANCEL,      /* i: a group cancelled, `code` = the reason, `arg` = by whom */
    WEFT__TR_JOB_CANCEL,  /* i: a job's scope cancelled, `code` = the reason */
    WEFT__TR_LEND,        /* i: slot `arg` handed off for a timed wait */
    WEFT__TR_TAKE,        /* i: a spare thread took slot `arg` */
    WEFT__TR_RECLAIM,     /* i: a waiter took slot `arg` back */
    WEFT__TR_JOB_GAVE_UP, /* i: a job wait returned `code` with the job running */
    WEFT__TR_KINDS
};

/* Create: open `path` (NULL: no tracing). An unopenable file costs one line
 * on stderr and the runtime runs untraced: observing must not break it. */
void weft__trace_open(weft_runtime *rt, const char *path);
/* Destroy, after the workers joined: write the file and close it. Events of
 * threads that outlive destroy (abandoned jobs) are written up to now, and
 * dropped from then on. */
void weft__trace_write(weft_runtime *rt);
/* The runtime's memory goes (weft__runtime_free): nobody emits any more. */
void weft__trace_free(weft_runtime *rt);

/* Worker thread `index` starts: its buffer (NULL when untraced or no memory). */
struct weft__trace_buf *weft__trace_worker_buf(weft_runtime *rt, unsigned index);

/* The traced twin of a run of t: body(thr, t), its duration and status. */
void weft__trace_run_task(struct weft__thread *thr, struct weft_task *t,
                          int (*body)(struct weft__thread *thr, struct weft_task *t));
/* The traced futex sleep of a parking thread (`kind`: PARK, PARK_JOIN or
 * SPARE_IDLE): weft__futex_wait(&thr->wake_seq, seq) and its duration. */
void weft__trace_park(struct weft__thread *thr, enum weft__trace_kind kind, uint32_t seq);

/* An event from the calling thread, whichever it is (worker, blocking
 * thread, timer, the program's own); a no-op when rt is untraced. `name`
 * (may be NULL) is copied. Instant events pass dur < 0. */
void weft__trace_emit(weft_runtime *rt, enum weft__trace_kind kind, const char *name,
                      weft_time begin, weft_time dur, int code, int arg);

/* Tests: the budget of event chunks of runtimes created from now on (0:
 * the default). */
void weft__trace_cap_chunks(unsigned long chunks);
enum { WEFT__TRACE_CHUNK_EVENTS = 1024 };

#endif
