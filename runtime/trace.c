/*
 * WEFT_TRACE: the schedule as a Chrome trace event file (JSON object
 * format), for Perfetto or chrome://tracing: a track per thread (workers
 * and spares weft-wN, blocking threads weft-bN, the timer, and any thread
 * of the program that cancels a group), with task and job runs, parks and
 * timed waits as complete events, and steals, cancellations, slot
 * hand-offs and job waits that gave up as instants.
 *
 * The events are recorded in the trace's log (trace_log.c: per-thread
 * buffers, a cap on memory, dropped events counted; the file's otherData
 * carries the count and stderr gets one line). Cost when off: the log
 * pointer and every worker's buffer are NULL. The run, steal and park
 * paths test the worker's buffer once (a line the thread writes anyway);
 * spawn is untouched.
 *
 * Writing, at destroy, after the workers joined: the file writer reads
 * each buffer's published count with acquire, so it may read the buffer
 * of a blocking thread that is still running (an abandoned job) and take
 * what was published. After the write the log is closed: such threads
 * register no new buffer. The buffers stay until the runtime's memory goes
 * (weft__runtime_free), which happens after its last blocking thread
 * ended, so nobody appends to freed memory.
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

#include "base/alloc.h"
#include "runtime/runtime.h"
#include "runtime/trace.h"
#include "base/trace_log.h"
#include "base/utf8.h"

/* The trace: its log, and the file it becomes at destroy. */
struct weft__trace {
    struct weft__trace_log log;
    FILE *file;
    char *path; /* where the trace goes, renamed from tmp once written whole */
    char *tmp;  /* path.PID.ID.tmp: runtimes tracing to one path never interleave */
    int pid;
};

void weft__trace_open(weft_runtime *rt, const char *path)
{
    rt->trace = NULL;
    rt->jobs.scopes.sched.trace_log = NULL;
    if (path == NULL || *path == '\0')
        return;
    struct weft__trace *tr = weft__alloc_zeroed(sizeof *tr);
    size_t len = strlen(path);
    char *copy = weft__alloc(len + 1), *tmp = weft__alloc(len + 48);
    static _Atomic uint64_t next_file = 1; /* the tmp name's: two runtimes on one path */
    uint64_t id = atomic_fetch_add_explicit(&next_file, 1, memory_order_relaxed);
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
    tr->pid = pid;
    weft__trace_log_init(&tr->log, (int)rt->jobs.scopes.sched.max_threads + 1); /* workers and spares: index + 1 */
    rt->trace = tr;
    rt->jobs.scopes.sched.trace_log = &tr->log;
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
static const char *event_name(const struct weft__trace_event *e)
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

static void put_args(FILE *f, const struct weft__trace_event *e)
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

static void put_event(FILE *f, const struct weft__trace *tr, int tid, const struct weft__trace_event *e)
{
    fputs(",\n{\"name\":", f);
    put_string(f, event_name(e));
    fprintf(f, ",\"cat\":\"%s\",\"ph\":\"%s\",\"pid\":%d,\"tid\":%d", categories[e->kind],
            e->dur < 0 ? "i" : "X", tr->pid, tid);
    put_us(f, "ts", e->ts - tr->log.t0);
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
    for (const struct weft__trace_chunk *c = n != 0 ? b->head : NULL; i < n; c = c->next)
        for (size_t k = 0; k < WEFT__TRACE_CHUNK_EVENTS && i < n; k++, i++)
            put_event(f, tr, b->tid, &c->ev[k]);
    return n;
}

void weft__trace_write(weft_runtime *rt)
{
    struct weft__trace *tr = rt->trace;
    if (tr == NULL || tr->file == NULL)
        return;
    atomic_store_explicit(&tr->log.closed, true, memory_order_relaxed);
    FILE *f = tr->file;
    tr->file = NULL;
    fprintf(f, "{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
               "\"tid\":0,\"args\":{\"name\":\"weft\"}}",
            tr->pid);
    unsigned long long events = 0, dropped = 0;
    pthread_mutex_lock(&tr->log.lock);
    for (struct weft__trace_buf *b = tr->log.bufs; b != NULL; b = b->next) {
        put_thread(f, tr, b);
        events += put_buf(f, tr, b);
        dropped += atomic_load_explicit(&b->dropped, memory_order_relaxed);
    }
    pthread_mutex_unlock(&tr->log.lock);
    fprintf(f, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"weft_events\":%llu,"
               "\"weft_dropped_events\":%llu,\"weft_event_cap\":%llu}}\n",
            events, dropped, (unsigned long long)tr->log.cap_chunks * WEFT__TRACE_CHUNK_EVENTS);
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
                (unsigned long long)tr->log.cap_chunks * WEFT__TRACE_CHUNK_EVENTS, tr->path);
}

void weft__trace_free(weft_runtime *rt)
{
    struct weft__trace *tr = rt->trace;
    if (tr == NULL)
        return;
    rt->trace = NULL;
    rt->jobs.scopes.sched.trace_log = NULL;
    if (tr->file != NULL) { /* create failed: nothing to write */
        fclose(tr->file);
        unlink(tr->tmp);
    }
    weft__trace_log_fini(&tr->log);
    weft__free(tr->tmp);
    weft__free(tr->path);
    weft__free(tr);
}
