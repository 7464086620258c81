/*
 * WEFT_TRACE: the schedule as a Chrome trace event file (JSON object
 * format), for Perfetto or chrome://tracing: a track per thread (workers
 * and spares weft-wN, blocking threads weft-bN, the timer, and any thread
 * of the program that cancels a group), with task and job runs, parks and
 * timed waits as complete events, and steals, cancellations, slot
 * hand-offs and job waits that gave up as instants.
 *
 * Cost when off: rt->trace and every thr->trace are NULL. The run, steal
 * and park paths test thr->trace once (a line the thread writes anyway)
 * and call in here only when it is set; spawn is untouched.
 *
 * Cost when on: each thread appends to a buffer of its own, so the event
 * path shares no lock and no written line between threads. A buffer is a
 * list of chunks of WEFT__TRACE_CHUNK_EVENTS events of 64 bytes; filling
 * a chunk costs one malloc and one atomic decrement of the runtime's chunk
 * budget (the cap on memory: DEFAULT_CHUNKS chunks, 64 MiB). Past the cap
 * events are dropped and counted per buffer; the file's otherData carries
 * the count and stderr gets one line. A thread with no buffer yet (a
 * blocking thread, the timer, a thread of the program) registers one
 * under the trace's mutex at its first event; that mutex is never taken on
 * the event path afterwards.
 *
 * Writing, at destroy, after the workers joined: a buffer's writer
 * publishes its event count with release after filling the event, and the
 * file writer reads it with acquire, so it may read the buffer of a
 * blocking thread that is still running (an abandoned job) and take what
 * was published. After the write the trace is closed: such threads drop
 * their later events. The buffers stay until the runtime's memory goes
 * (weft__runtime_free), which happens after its last blocking thread
 * ended, so nobody appends to freed memory. A thread's thread-local
 * buffer pointer is trusted only when its trace id matches the runtime's,
 * and ids are never reused, so a stale one is never followed.
 *
 * Timestamps are weft_now() (CLOCK_MONOTONIC), written in microseconds
 * from the runtime's creation, to the nanosecond.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/internal.h"
#include "runtime/trace.h"
#include "runtime/utf8.h"

enum { NAME_LEN = 39, DEFAULT_CHUNKS = 1024 };

struct event {
    weft_time ts;
    weft_time dur; /* < 0: an instant */
    int32_t code, arg;
    uint8_t kind; /* weft__trace_kind */
    char name[NAME_LEN]; /* "" : the kind's default name */
};
_Static_assert(sizeof(struct event) == 64, "an event is one cache line");

struct chunk {
    struct chunk *next;
    struct event ev[WEFT__TRACE_CHUNK_EVENTS];
};

/* One thread's events: written by that thread only. */
struct weft__trace_buf {
    struct weft__trace_buf *next; /* the trace's list, under its lock */
    struct chunk *head, *tail;
    size_t used; /* events in tail */
    size_t n;    /* events, the writer's copy of `count` */
    bool full;   /* the budget said no: drop from now on */
    /* release: the events below it (and the chunk links) before the file writer's acquire */
    _Atomic size_t count;
    weft__counter dropped;
    int tid;
    char name[16];
};

struct weft__trace {
    FILE *file;
    char *path; /* where the trace goes, renamed from tmp once written whole */
    char *tmp;  /* path.PID.ID.tmp: runtimes tracing to one path never interleave */
    uint64_t id;
    weft_time t0;
    int pid;
    _Atomic long chunks_left;
    unsigned long cap_chunks;
    atomic_bool closed; /* the file is written: emitters drop */
    pthread_mutex_t lock; /* bufs, next_tid */
    struct weft__trace_buf *bufs;
    int next_tid;
};

static _Atomic uint64_t next_id = 1;
static atomic_ulong cap_override;

/* The calling thread's buffer for the trace with id tls_id. */
static __thread struct weft__trace_buf *tls_buf;
static __thread uint64_t tls_id;

void weft__trace_cap_chunks(unsigned long chunks)
{
    atomic_store_explicit(&cap_override, chunks, memory_order_relaxed);
}

void weft__trace_open(weft_runtime *rt, const char *path)
{
    rt->trace = NULL;
    if (path == NULL || *path == '\0')
        return;
    struct weft__trace *tr = weft__alloc_zeroed(sizeof *tr);
    size_t len = strlen(path);
    char *copy = weft__alloc(len + 1), *tmp = weft__alloc(len + 48);
    uint64_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    int pid = (int)getpid();
    bool mem = tr != NULL && copy != NULL && tmp != NULL;
    if (mem)
        snprintf(tmp, len + 48, "%s.%d.%llu.tmp", path, pid, (unsigned long long)id);
    FILE *f = mem ? fopen(tmp, "we") : NULL; /* e: not inherited across exec */
    if (f == NULL) {
        /* one line, then on untraced: observing must not break the program */
        fprintf(stderr, "weft: WEFT_TRACE: cannot write %s (%s); running without a trace\n",
                path, mem ? strerror(errno) : "out of memory");
        weft__free(tmp);
        weft__free(copy);
        weft__free(tr);
        return;
    }
    memcpy(copy, path, len + 1);
    tr->file = f;
    tr->path = copy;
    tr->tmp = tmp;
    tr->id = id;
    tr->t0 = weft_now();
    tr->pid = pid;
    unsigned long cap = atomic_load_explicit(&cap_override, memory_order_relaxed);
    tr->cap_chunks = cap != 0 ? cap : DEFAULT_CHUNKS;
    atomic_init(&tr->chunks_left, (long)tr->cap_chunks);
    atomic_init(&tr->closed, false);
    pthread_mutex_init(&tr->lock, NULL);
    tr->next_tid = (int)rt->max_threads + 1; /* workers and spares: index + 1 */
    rt->trace = tr;
}

/* A new buffer in tr's list; NULL without memory. */
static struct weft__trace_buf *buf_new(struct weft__trace *tr, int tid, const char *name)
{
    struct weft__trace_buf *b = weft__alloc_zeroed(sizeof *b);
    if (b == NULL)
        return NULL;
    atomic_init(&b->count, 0);
    atomic_init(&b->dropped, 0);
    snprintf(b->name, sizeof b->name, "%s", name);
    pthread_mutex_lock(&tr->lock);
    b->tid = tid != 0 ? tid : tr->next_tid++;
    b->next = tr->bufs;
    tr->bufs = b;
    pthread_mutex_unlock(&tr->lock);
    return b;
}

struct weft__trace_buf *weft__trace_worker_buf(weft_runtime *rt, unsigned index)
{
    if (rt->trace == NULL)
        return NULL;
    char name[16];
    snprintf(name, sizeof name, "weft-w%u", index & 0xffffu); /* as slots.c names it */
    return buf_new(rt->trace, (int)index + 1, name);
}

/* The calling thread's buffer in rt's trace, registered at its first
 * event; NULL when closed or without memory. */
static struct weft__trace_buf *buf_of(weft_runtime *rt, struct weft__trace *tr)
{
    struct weft__thread *thr = weft__self_thread;
    if (thr != NULL && thr->rt == rt && thr->trace != NULL)
        return thr->trace;
    if (atomic_load_explicit(&tr->closed, memory_order_relaxed))
        return NULL;
    if (tls_id == tr->id)
        return tls_buf;
    /* its own name: blocking threads and the timer name themselves first */
    char name[16];
    if (pthread_getname_np(pthread_self(), name, sizeof name) != 0 || name[0] == '\0')
        snprintf(name, sizeof name, "thread");
    struct weft__trace_buf *b = buf_new(tr, 0, name);
    if (b != NULL) {
        tls_buf = b;
        tls_id = tr->id;
    }
    return b;
}

/* Room for one more event in b, or NULL (counted as dropped). */
static struct event *reserve(struct weft__trace *tr, struct weft__trace_buf *b)
{
    if (WEFT__LIKELY(b->tail != NULL && b->used < WEFT__TRACE_CHUNK_EVENTS))
        return &b->tail->ev[b->used];
    struct chunk *c = NULL;
    if (!b->full) {
        /* the budget first: a chunk over the cap is never allocated */
        if (atomic_fetch_sub_explicit(&tr->chunks_left, 1, memory_order_relaxed) > 0)
            c = weft__alloc(sizeof *c);
        b->full = c == NULL;
    }
    if (c == NULL) {
        weft__count(&b->dropped);
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

static void publish(struct weft__trace_buf *b)
{
    b->used++;
    atomic_store_explicit(&b->count, ++b->n, memory_order_release);
}

static void append(struct weft__trace *tr, struct weft__trace_buf *b, enum weft__trace_kind kind,
                   const char *name, weft_time ts, weft_time dur, int code, int arg)
{
    struct event *e = reserve(tr, b);
    if (e == NULL)
        return;
    e->ts = ts;
    e->dur = dur;
    e->code = code;
    e->arg = arg;
    e->kind = (uint8_t)kind;
    weft__utf8_copy(e->name, NAME_LEN, name);
    publish(b);
}

void weft__trace_emit(weft_runtime *rt, enum weft__trace_kind kind, const char *name,
                      weft_time begin, weft_time dur, int code, int arg)
{
    struct weft__trace *tr = rt->trace;
    if (tr == NULL)
        return;
    struct weft__trace_buf *b = buf_of(rt, tr);
    if (b != NULL)
        append(tr, b, kind, name, begin, dur, code, arg);
}

/* The name a task was spawned with, if any (its kind says whether t->name is one). */
static const char *task_name(const struct weft_task *t, uint32_t kind)
{
    bool named = (WEFT__TASK_IN_GROUP(kind) && kind != WEFT__TASK_GROUP) ||
                 kind == WEFT__TASK_DETACHED;
    return named ? t->name : NULL;
}

void weft__trace_run_task(struct weft__thread *thr, struct weft_task *t,
                          int (*body)(struct weft__thread *thr, struct weft_task *t))
{
    struct weft__trace_buf *b = thr->trace;
    struct weft__trace *tr = thr->rt->trace;
    uint32_t kind = t->kind & WEFT__TASK_KIND_MASK;
    /* the name now: the task's cleanup may free it, and t is recycled */
    char name[NAME_LEN];
    weft__utf8_copy(name, NAME_LEN, task_name(t, kind));
    weft_time begin = weft_now();
    int rc = body(thr, t);
    weft_time end = weft_now();
    append(tr, b, WEFT__TR_TASK, name, begin, end - begin, rc, (int)kind);
}

void weft__trace_park(struct weft__thread *thr, enum weft__trace_kind kind, uint32_t seq)
{
    weft_time begin = weft_now();
    weft__futex_wait(&thr->wake_seq, seq);
    append(thr->rt->trace, thr->trace, kind, NULL, begin, weft_now() - begin, 0, 0);
}

/* ---- the file ---- */

/* The length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF) of 2 to 4 bytes at p, or 0. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n == 0 || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* s as a JSON string. Names come from users (a file name, say) and need not
 * be UTF-8, which JSON must be: a byte that starts no well-formed sequence
 * is written as U+FFFD. */
static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else if (*p < 0x80) {
            fputc(*p, f);
        } else {
            size_t n = utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", f);
            } else {
                fwrite(p, 1, n, f);
                p += n - 1;
            }
        }
    }
    fputc('"', f);
}

/* ns as microseconds with three decimals. */
static void put_us(FILE *f, const char *key, weft_time ns)
{
    fprintf(f, ",\"%s\":%lld.%03lld", key, (long long)(ns / 1000), (long long)(ns % 1000));
}

static const char *errno_name(int code)
{
    switch (code) {
    case ECANCELED: return "ECANCELED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    default: return NULL;
    }
}

/* "args":{"rc":N,"error":"ECANCELED"} when code != 0 (most tasks: nothing). */
static void put_outcome(FILE *f, int code)
{
    if (code == 0)
        return;
    fprintf(f, ",\"args\":{\"rc\":%d", code);
    if (errno_name(code) != NULL)
        fprintf(f, ",\"error\":\"%s\"", errno_name(code));
    fputc('}', f);
}

static const char *const default_names[WEFT__TR_KINDS] = {
    [WEFT__TR_TASK] = "task",
    [WEFT__TR_JOB] = "job",
    [WEFT__TR_PARK] = "park",
    [WEFT__TR_PARK_JOIN] = "park (join)",
    [WEFT__TR_SPARE_IDLE] = "spare, no slot",
    [WEFT__TR_WAIT] = "timed wait",
    [WEFT__TR_STEAL] = "steal",
    [WEFT__TR_CANCEL] = "cancel",
    [WEFT__TR_JOB_CANCEL] = "job cancel",
    [WEFT__TR_LEND] = "lend slot",
    [WEFT__TR_TAKE] = "take slot",
    [WEFT__TR_RECLAIM] = "reclaim slot",
    [WEFT__TR_JOB_GAVE_UP] = "job wait gave up",
};

static const char *const categories[WEFT__TR_KINDS] = {
    [WEFT__TR_TASK] = "task",        [WEFT__TR_JOB] = "blocking",
    [WEFT__TR_PARK] = "idle",        [WEFT__TR_PARK_JOIN] = "idle",
    [WEFT__TR_SPARE_IDLE] = "slots", [WEFT__TR_WAIT] = "wait",
    [WEFT__TR_STEAL] = "steal",      [WEFT__TR_CANCEL] = "cancel",
    [WEFT__TR_JOB_CANCEL] = "cancel", [WEFT__TR_LEND] = "slots",
    [WEFT__TR_TAKE] = "slots",       [WEFT__TR_RECLAIM] = "slots",
    [WEFT__TR_JOB_GAVE_UP] = "blocking",
};

static const char *const cancel_by[] = {
    [WEFT__BY_CALL] = "weft_group_cancel",
    [WEFT__BY_FAILURE] = "failure",
    [WEFT__BY_DEADLINE] = "deadline",
    [WEFT__BY_ANCESTOR] = "ancestor",
    [WEFT__BY_SHUTDOWN] = "shutdown",
    [WEFT__BY_SCOPE_CALL] = "weft_scope_cancel",
};

/* What an event's name is: its own, or one that says more than the kind. */
static const char *event_name(const struct event *e)
{
    if (e->name[0] != '\0' && e->kind != WEFT__TR_CANCEL)
        return e->name;
    if (e->kind == WEFT__TR_TASK && e->arg == WEFT__TASK_ROOT)
        return "root";
    if (e->kind == WEFT__TR_TASK && e->arg == WEFT__TASK_DETACHED)
        return "detached";
    if (e->kind == WEFT__TR_CANCEL && e->arg == WEFT__BY_DEADLINE)
        return "deadline";
    return default_names[e->kind];
}

static void put_args(FILE *f, const struct event *e)
{
    switch (e->kind) {
    case WEFT__TR_STEAL:
        fprintf(f, ",\"args\":{\"victim_slot\":%d}", e->arg);
        break;
    case WEFT__TR_LEND: case WEFT__TR_TAKE: case WEFT__TR_RECLAIM:
        fprintf(f, ",\"args\":{\"slot\":%d}", e->arg);
        break;
    case WEFT__TR_CANCEL: case WEFT__TR_JOB_CANCEL:
        fprintf(f, ",\"args\":{\"reason\":\"%s\"", errno_name(e->code) ? errno_name(e->code) : "?");
        if (e->kind == WEFT__TR_CANCEL)
            fprintf(f, ",\"by\":\"%s\"", cancel_by[e->arg]);
        if (e->name[0] != '\0') {
            fputs(",\"group\":", f);
            put_string(f, e->name);
        }
        fputc('}', f);
        break;
    default:
        put_outcome(f, e->code);
        break;
    }
}

static void put_event(FILE *f, const struct weft__trace *tr, int tid, const struct event *e)
{
    fputs(",\n{\"name\":", f);
    put_string(f, event_name(e));
    fprintf(f, ",\"cat\":\"%s\",\"ph\":\"%s\",\"pid\":%d,\"tid\":%d", categories[e->kind],
            e->dur < 0 ? "i" : "X", tr->pid, tid);
    put_us(f, "ts", e->ts - tr->t0);
    if (e->dur < 0)
        fputs(",\"s\":\"t\"", f);
    else
        put_us(f, "dur", e->dur);
    put_args(f, e);
    fputc('}', f);
}

static void put_thread(FILE *f, const struct weft__trace *tr, const struct weft__trace_buf *b)
{
    fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":",
            tr->pid, b->tid);
    put_string(f, b->name);
    fprintf(f, "}},\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
               "\"args\":{\"sort_index\":%d}}",
            tr->pid, b->tid, b->tid);
}

/* b's published events; returns how many. */
static size_t put_buf(FILE *f, const struct weft__trace *tr, struct weft__trace_buf *b)
{
    /* acquire: the events below count, and their chunks' links */
    size_t n = atomic_load_explicit(&b->count, memory_order_acquire);
    size_t i = 0;
    for (const struct chunk *c = n != 0 ? b->head : NULL; i < n; c = c->next)
        for (size_t k = 0; k < WEFT__TRACE_CHUNK_EVENTS && i < n; k++, i++)
            put_event(f, tr, b->tid, &c->ev[k]);
    return n;
}

void weft__trace_write(weft_runtime *rt)
{
    struct weft__trace *tr = rt->trace;
    if (tr == NULL || tr->file == NULL)
        return;
    atomic_store_explicit(&tr->closed, true, memory_order_relaxed);
    FILE *f = tr->file;
    tr->file = NULL;
    fprintf(f, "{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
               "\"tid\":0,\"args\":{\"name\":\"weft\"}}",
            tr->pid);
    unsigned long long events = 0, dropped = 0;
    pthread_mutex_lock(&tr->lock);
    for (struct weft__trace_buf *b = tr->bufs; b != NULL; b = b->next) {
        put_thread(f, tr, b);
        events += put_buf(f, tr, b);
        dropped += atomic_load_explicit(&b->dropped, memory_order_relaxed);
    }
    pthread_mutex_unlock(&tr->lock);
    fprintf(f, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"weft_events\":%llu,"
               "\"weft_dropped_events\":%llu,\"weft_event_cap\":%llu}}\n",
            events, dropped, (unsigned long long)tr->cap_chunks * WEFT__TRACE_CHUNK_EVENTS);
    bool failed = ferror(f) != 0;
    failed |= fclose(f) != 0;
    /* whole or not at all: several runtimes tracing to one path each replace
     * it with a complete file, the last one destroyed winning */
    if (failed || rename(tr->tmp, tr->path) != 0) {
        fprintf(stderr, "weft: WEFT_TRACE: writing %s failed (%s)\n", tr->path, strerror(errno));
        unlink(tr->tmp);
    }
    if (dropped != 0)
        fprintf(stderr, "weft: WEFT_TRACE: %llu events dropped at the cap of %llu (%s)\n", dropped,
                (unsigned long long)tr->cap_chunks * WEFT__TRACE_CHUNK_EVENTS, tr->path);
}

void weft__trace_free(weft_runtime *rt)
{
    struct weft__trace *tr = rt->trace;
    if (tr == NULL)
        return;
    rt->trace = NULL;
    if (tr->file != NULL) { /* create failed: nothing to write */
        fclose(tr->file);
        unlink(tr->tmp);
    }
    for (struct weft__trace_buf *b = tr->bufs, *next; b != NULL; b = next) {
        next = b->next;
        for (struct chunk *c = b->head, *cn; c != NULL; c = cn) {
            cn = c->next;
            weft__free(c);
        }
        weft__free(b);
    }
    pthread_mutex_destroy(&tr->lock);
    weft__free(tr->tmp);
    weft__free(tr->path);
    weft__free(tr);
}
