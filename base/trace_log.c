/*
 * The trace's log: each thread appends schedule events to a buffer of its
 * own, so the event path shares no lock and no written line between
 * threads. A buffer is a list of chunks of WEFT__TRACE_CHUNK_EVENTS events
 * of 64 bytes; filling a chunk costs one malloc and one atomic decrement
 * of the log's chunk budget (the cap on memory: DEFAULT_CHUNKS chunks, 64
 * MiB). Past the cap events are dropped and counted per buffer. A thread
 * with no buffer yet (a blocking thread, the timer, a thread of the
 * program) registers one under the log's mutex at its first event; that
 * mutex is never taken on the event path afterwards.
 *
 * A buffer's writer publishes its event count with release after filling
 * the event, and the file writer (trace.c) reads it with acquire, so it may
 * read the buffer of a thread that is still running (an abandoned job) and
 * take what was published. A thread's thread-local buffer pointer is
 * trusted only when its log id matches, and ids are never reused, so a
 * stale one is never followed.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>

#include "base/alloc.h"
#include "base/trace_log.h"
#include "base/utf8.h"

enum { DEFAULT_CHUNKS = 1024 };

static _Atomic uint64_t next_id = 1;
static atomic_ulong cap_override;

/* The calling thread's buffers: its own as a worker of the log with id
 * tls_worker_id, and the one it registered last, in the log with id
 * tls_id (a worker that cancels another runtime's group has both). */
static __thread struct weft__trace_buf *tls_worker_buf, *tls_buf;
static __thread uint64_t tls_worker_id, tls_id;

void weft__trace_cap_chunks(unsigned long chunks)
{
    atomic_store_explicit(&cap_override, chunks, memory_order_relaxed);
}

void weft__trace_log_init(struct weft__trace_log *log, int first_tid)
{
    log->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    log->t0 = weft_now();
    unsigned long cap = atomic_load_explicit(&cap_override, memory_order_relaxed);
    log->cap_chunks = cap != 0 ? cap : DEFAULT_CHUNKS;
    atomic_init(&log->chunks_left, (long)log->cap_chunks);
    atomic_init(&log->closed, false);
    pthread_mutex_init(&log->lock, NULL);
    log->bufs = NULL;
    log->next_tid = first_tid;
}

void weft__trace_log_fini(struct weft__trace_log *log)
{
    for (struct weft__trace_buf *b = log->bufs, *next; b != NULL; b = next) {
        next = b->next;
        for (struct weft__trace_chunk *c = b->head, *cn; c != NULL; c = cn) {
            cn = c->next;
            weft__free(c);
        }
        weft__free(b);
    }
    log->bufs = NULL;
    pthread_mutex_destroy(&log->lock);
}

/* A new buffer in log's list, bound to the calling thread; NULL without memory. */
static struct weft__trace_buf *buf_new(struct weft__trace_log *log, int tid, const char *name)
{
    struct weft__trace_buf *b = weft__alloc_zeroed(sizeof *b);
    if (b == NULL)
        return NULL;
    atomic_init(&b->count, 0);
    atomic_init(&b->dropped, 0);
    snprintf(b->name, sizeof b->name, "%s", name);
    pthread_mutex_lock(&log->lock);
    b->tid = tid != 0 ? tid : log->next_tid++;
    b->next = log->bufs;
    log->bufs = b;
    pthread_mutex_unlock(&log->lock);
    return b;
}

struct weft__trace_buf *weft__trace_thread_buf(struct weft__trace_log *log, int tid,
                                               const char *name)
{
    struct weft__trace_buf *b = buf_new(log, tid, name);
    if (b != NULL) {
        tls_worker_buf = b;
        tls_worker_id = log->id;
    }
    return b;
}

/* The calling thread's buffer in log, registered at its first event;
 * NULL when closed or without memory. */
static struct weft__trace_buf *buf_of(struct weft__trace_log *log)
{
    if (tls_worker_id == log->id)
        return tls_worker_buf;
    if (atomic_load_explicit(&log->closed, memory_order_relaxed))
        return NULL;
    if (tls_id == log->id)
        return tls_buf;
    /* its own name: blocking threads and the timer name themselves first */
    char name[16];
    if (pthread_getname_np(pthread_self(), name, sizeof name) != 0 || name[0] == '\0')
        snprintf(name, sizeof name, "thread");
    struct weft__trace_buf *b = buf_new(log, 0, name);
    if (b != NULL) {
        tls_buf = b;
        tls_id = log->id;
    }
    return b;
}

/* Room for one more event in b, or NULL (counted as dropped). */
static struct weft__trace_event *reserve(struct weft__trace_log *log, struct weft__trace_buf *b)
{
    if (__builtin_expect(b->tail != NULL && b->used < WEFT__TRACE_CHUNK_EVENTS, 1))
        return &b->tail->ev[b->used];
    struct weft__trace_chunk *c = NULL;
    if (!b->full) {
        /* the budget first: a chunk over the cap is never allocated */
        if (atomic_fetch_sub_explicit(&log->chunks_left, 1, memory_order_relaxed) > 0)
            c = weft__alloc(sizeof *c);
        b->full = c == NULL;
    }
    if (c == NULL) {
        /* single writer: a plain increment, readable from the file writer */
        atomic_store_explicit(&b->dropped,
                              atomic_load_explicit(&b->dropped, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return NULL;
    }
    c->next = NULL;
    if (b->tail != NULL)
        b->tail->next = c;
    else
        b->head = c;
    b->tail = c;
    b->used = 0;
    return &c->ev[0];
}

void weft__trace_append(struct weft__trace_log *log, struct weft__trace_buf *b,
                        enum weft__trace_kind kind, const char *name, weft_time ts,
                        weft_time dur, int code, int arg)
{
    struct weft__trace_event *e = reserve(log, b);
    if (e == NULL)
        return;
    e->ts = ts;
    e->dur = dur;
    e->code = code;
    e->arg = arg;
    e->kind = (uint8_t)kind;
    weft__utf8_copy(e->name, WEFT__TRACE_NAME_LEN, name);
    b->used++;
    atomic_store_explicit(&b->count, ++b->n, memory_order_release);
}

void weft__trace_emit(struct weft__trace_log *log, enum weft__trace_kind kind, const char *name,
                      weft_time begin, weft_time dur, int code, int arg)
{
    if (log == NULL)
        return;
    struct weft__trace_buf *b = buf_of(log);
    if (b != NULL)
        weft__trace_append(log, b, kind, name, begin, dur, code, arg);
}
