/*
 * batch_core: see batch_core.h. How each part of weft is used:
 *
 *   walk    (batch_list.c) one blocking job lists the tree (opendir/readdir
 *           recursively), so directory I/O never runs on a CPU worker;
 *   files   the root task keeps a window of file tasks in flight in one
 *           WEFT_STREAM group and takes their completions with
 *           weft_group_next, which drives the progress line and lets a
 *           fail-fast run stop spawning after the first failure. The group is
 *           fail-fast (the default) or WEFT_COLLECT (--collect);
 *   read    each file task reads its file in a blocking job and waits for it
 *           with weft_job_wait. The task's spawn deadline is the per-file
 *           deadline, inherited by the job: a wait that times out leaves the
 *           job running, and the task releases it; the job's cleanup then
 *           frees the buffer (a reference count decides who frees it). In the
 *           job, weft_retry_run repeats the read while it fails with a
 *           transient code (EINTR, EAGAIN, EIO, ...), backing off;
 *   count   the file's blocks are counted and hashed with weft_parallel_for
 *           on the CPU workers.
 *
 * Determinism. A file's checksum is FNV-1a 64 over its length and the
 * FNV-1a 64 hashes of its 16 KiB blocks, so it does not depend on how
 * weft_parallel_for cut the blocks into chunks; words are counted where a
 * non-space byte follows a space or the start of the file, which a block
 * decides from its own bytes and the one before it. The run's checksum is
 * the XOR over files of a hash of (path, file checksum): it does not
 * depend on the order files finish in or on which rank did them.
 *
 * Why the deadline is set when a file's task is spawned: a spawn deadline
 * starts counting at the spawn, so spawning every file up front would
 * count a file's time in the queue against it. The window (4 tasks per
 * worker) keeps that wait short.
 */
#define _POSIX_C_SOURCE 200809L

#include "batch_core.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weft/weft.h>

#define BLOCK_SIZE ((size_t)16 * 1024) /* part of the checksum's definition */
#define BLOCK_GRAIN 2                  /* blocks per parallel_for chunk: 32 KiB */
#define READ_CHUNK ((size_t)1 << 20)   /* a read() checks for cancellation between chunks */

/* ---- reading a file: a blocking job, retried ------------------------------------- */

struct run {
    const struct batch_opts *o;
    weft_retry policy;
};

/* Shared by a file task and its read job: whichever lets go last frees it,
 * so a task that gave up at its deadline just drops its reference. */
struct read_req {
    atomic_int refs;
    /* a copy: a released job may outlive batch_process's frame, which
     * holds the run */
    struct run run;
    const struct batch_file *f;
    unsigned tries;
    unsigned char *buf;
    size_t len;
};

static void read_put(struct read_req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        free(r->buf);
        free(r);
    }
}

/* spawn_opts.cleanup of the read job: runs once after it, even when the
 * file's task stopped waiting long ago. */
static void read_cleanup(void *arg)
{
    read_put(arg);
}

/* The codes a later try may not see again. */
static bool transient(int code, void *arg)
{
    (void)arg;
    switch (code) {
    case EINTR:
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EIO:
    case EBUSY:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ESTALE:
        return true;
    default:
        return false;
    }
}

/* Blocks for ms milliseconds whatever happens (a stuck disk does not look
 * at cancellation): what a wait with a deadline has to cope with. */
static void stall(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One try: the whole file into r->buf. */
static int read_once(weft_task *self, void *arg)
{
    struct read_req *r = arg;
    const struct batch_opts *o = r->run.o;
    unsigned try = ++r->tries;
    free(r->buf);
    r->buf = NULL;
    r->len = 0;
    if (weft_cancelled(self))
        return ECANCELED; /* queued past the deadline, or the run is ending */
    if (o->slow_ms > 0) {
        stall(o->slow_ms);
        if (weft_cancelled(self))
            return ECANCELED; /* nobody is waiting any more */
    }
    if (o->fail_matching != NULL && strstr(r->f->path, o->fail_matching) != NULL)
        return weft_fail(self, EACCES, "open: permission denied (injected: --fail-matching %s)",
                         o->fail_matching);
    if (try <= o->inject_transient)
        return weft_fail(self, try % 2 == 1 ? EIO : EAGAIN,
                         "read try %u failed (injected: --inject-transient %u)", try,
                         o->inject_transient);

    char *full = batch_join_path(o->dir, r->f->path);
    if (full == NULL)
        return ENOMEM;
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    free(full);
    if (fd < 0)
        return weft_fail(self, e, "open failed");
    struct stat st;
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        return weft_fail(self, e, "fstat failed");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return weft_fail(self, EINVAL, "not a regular file any more");
    }
    size_t cap = (size_t)st.st_size + 1; /* +1: see EOF without growing */
    r->buf = malloc(cap);
    int rc = r->buf == NULL ? ENOMEM : 0;
    while (rc == 0) {
        if (r->len == cap) { /* the file grew meanwhile */
            unsigned char *b = realloc(r->buf, 2 * cap);
            if (b == NULL) {
                rc = ENOMEM;
                break;
            }
            r->buf = b;
            cap *= 2;
        }
        size_t want = cap - r->len < READ_CHUNK ? cap - r->len : READ_CHUNK;
        ssize_t n = read(fd, r->buf + r->len, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = errno;
        else if (n == 0)
            break;
        else
            r->len += (size_t)n;
        if (rc == 0 && weft_cancelled(self))
            rc = ECANCELED;
    }
    close(fd);
    if (rc == ECANCELED)
        return rc;
    return rc == 0 ? 0 : weft_fail(self, rc, "read failed after %zu bytes", r->len);
}

/* The read job: the retries run here, on the blocking thread, within the
 * deadline the job inherited from its file's task. */
static int read_job(weft_task *self, void *arg)
{
    struct read_req *r = arg;
    return weft_retry_run(self, &r->run.policy, read_once, r);
}

/* ---- counting: on the CPU workers ----------------------------------------------- */

#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static uint64_t fnv1a_u64(uint64_t h, uint64_t v)
{
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    return fnv1a(h, le, sizeof le);
}

static bool space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r'); /* isspace in the C locale */
}

struct block {
    uint64_t hash, lines, words;
};

struct count {
    const unsigned char *buf;
    size_t len;
    struct block *blocks;
};

static int count_blocks(weft_task *self, size_t lo, size_t hi, void *arg)
{
    struct count *c = arg;
    for (size_t b = lo; b < hi; b++) {
        if (weft_cancelled(self))
            return ECANCELED;
        size_t at = b * BLOCK_SIZE;
        size_t n = c->len - at < BLOCK_SIZE ? c->len - at : BLOCK_SIZE;
        const unsigned char *p = c->buf + at;
        struct block k = {.hash = fnv1a(FNV_BASIS, p, n)};
        bool prev_space = at == 0 || space(p[-1]);
        for (size_t i = 0; i < n; i++) {
            bool s = space(p[i]);
            k.lines += p[i] == '\n';
            k.words += prev_space && !s;
            prev_space = s;
        }
        c->blocks[b] = k;
    }
    return 0;
}

/* ---- a file's task -------------------------------------------------------------- */

struct item {
    struct run *run;
    struct batch_file *f;
};

static int file_task(weft_task *self, void *arg)
{
    struct item *it = arg;
    struct batch_file *f = it->f;
    const struct batch_opts *o = it->run->o;
    if (weft_cancelled(self))
        return ECANCELED; /* fail-fast: a sibling failed before this one started */
    if (f->walk_err != 0)
        return weft_fail(self, f->walk_err, "cannot list this directory");

    struct read_req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return ENOMEM;
    atomic_init(&r->refs, 2); /* this task's, the job's (dropped by its cleanup) */
    r->run = *it->run;
    r->f = f;
    weft_job *job;
    weft_spawn_opts jo = {.name = "read", .cleanup = read_cleanup};
    int rc = weft_spawn_blocking(self, read_job, r, &jo, &job);
    if (rc != 0) {
        free(r); /* the job never runs, nor its cleanup */
        return weft_fail(self, rc, "cannot start the read");
    }
    /* no deadline of its own: the task's (the file's) bounds the wait */
    rc = weft_job_wait(job, WEFT_NEVER);
    bool running = !weft_job_done(job);
    weft_job_release(job); /* if still running, it ends alone and its cleanup frees r */
    if (rc != 0) {
        read_put(r);
        if (rc == ETIMEDOUT)
            return weft_fail(self, rc, "deadline (%" PRId64 " ms) passed while reading%s",
                             o->deadline_ms, running ? "; the read goes on, released" : "");
        if (rc == ECANCELED)
            return rc;
        return weft_fail(self, rc, "read failed");
    }
    /* the job ended, its cleanup too: r, and the buffer, are ours alone */
    unsigned char *buf = r->buf;
    size_t len = r->len;
    r->buf = NULL;
    read_put(r);

    size_t nblocks = (len + BLOCK_SIZE - 1) / BLOCK_SIZE;
    struct count c = {.buf = buf, .len = len, .blocks = malloc((nblocks + 1) * sizeof(struct block))};
    if (c.blocks == NULL) {
        free(buf);
        return weft_fail(self, ENOMEM, "no memory for %zu blocks", nblocks);
    }
    rc = nblocks <= BLOCK_GRAIN ? count_blocks(self, 0, nblocks, &c)
                                : weft_parallel_for(self, 0, nblocks, BLOCK_GRAIN, count_blocks, &c);
    if (rc == 0) {
        uint64_t h = fnv1a_u64(FNV_BASIS, len);
        f->lines = f->words = 0;
        for (size_t b = 0; b < nblocks; b++) {
            h = fnv1a_u64(h, c.blocks[b].hash);
            f->lines += c.blocks[b].lines;
            f->words += c.blocks[b].words;
        }
        f->bytes = len;
        f->checksum = h;
    }
    free(c.blocks);
    free(buf);
    if (rc == ETIMEDOUT)
        return weft_fail(self, rc, "deadline (%" PRId64 " ms) passed while counting",
                         o->deadline_ms);
    return rc;
}

/* ---- the run ------------------------------------------------------------------ */

struct process {
    struct run run;
    struct batch_list *l;
    struct item *items;
    size_t window;
    int rc;
    weft_errors *errs;
};

static void progress(const struct process *p, size_t done, uint64_t bytes, bool last)
{
    fprintf(stderr, "\r%6zu/%zu files, %.1f MB%s", done, p->l->n, (double)bytes / 1e6,
            last ? "\n" : "");
    fflush(stderr);
}

static int process_root(weft_task *self, void *arg)
{
    struct process *p = arg;
    const struct batch_opts *o = p->run.o;
    weft_group g;
    weft_group_opts go = {.flags = WEFT_STREAM | (o->collect ? WEFT_COLLECT : 0u),
                          .name = "files"};
    int rc = weft_group_init(&g, self, &go);
    if (rc != 0)
        return rc;
    size_t next = 0, inflight = 0, done = 0;
    uint64_t bytes = 0;
    bool stop = false;
    weft_time shown = 0;
    while (true) {
        while (!stop && inflight < p->window && next < p->l->n) {
            struct item *it = &p->items[next];
            weft_spawn_opts so = {.name = it->f->path};
            if (o->deadline_ms > 0)
                so.deadline = weft_after(o->deadline_ms * WEFT_MSEC);
            rc = weft_spawn_ex(&g, file_task, it, &so);
            if (rc != 0) {
                stop = true; /* ENOMEM: finish what runs, report it */
                p->rc = rc;
                break;
            }
            next++;
            inflight++;
        }
        if (inflight == 0)
            break;
        void *done_arg;
        int status;
        if (weft_group_next(&g, WEFT_NEVER, &done_arg, &status) != 0)
            break; /* ENOENT cannot happen with tasks in flight */
        inflight--;
        done++;
        struct item *it = done_arg;
        it->f->status = status;
        if (status == 0)
            bytes += it->f->bytes;
        else if (!o->collect && status != ECANCELED)
            stop = true; /* fail-fast: the group is cancelled, spawn no more */
        if (o->progress && weft_now() - shown >= 100 * WEFT_MSEC) {
            progress(p, done, bytes, false);
            shown = weft_now();
        }
    }
    if (o->progress)
        progress(p, done, bytes, true);
    int jrc = weft_group_join(&g, &p->errs);
    if (p->rc == 0)
        p->rc = jrc;
    return 0; /* the outcome is p->rc and p->errs: the group's tree, not wrapped */
}

/* The hash a file adds to the run's checksum. */
static uint64_t file_entry(const struct batch_file *f)
{
    uint64_t h = fnv1a(FNV_BASIS, (const unsigned char *)f->path, strlen(f->path) + 1);
    h = fnv1a_u64(h, f->checksum);
    /* finalizer (splitmix64): spreads FNV's weak high bits before the XOR */
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

int batch_process(weft_runtime *rt, const struct batch_opts *o, struct batch_list *l,
                  struct batch_totals *t, weft_errors **errs)
{
    *t = (struct batch_totals){0};
    if (errs != NULL)
        *errs = NULL;
    size_t workers = weft_runtime_workers(rt); /* --workers, $WEFT_WORKERS or the CPUs */
    struct process p = {
        .run = {.o = o,
                .policy = {.attempts = o->retries + 1,
                           .base_delay = 2 * WEFT_MSEC,
                           .max_delay = 100 * WEFT_MSEC,
                           .factor = 2.0,
                           .jitter = 0.25,
                           .retryable = transient}},
        .l = l,
        .items = calloc(l->n + 1, sizeof(struct item)),
        .window = 4 * workers,
    };
    if (p.items == NULL)
        return ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        p.items[i] = (struct item){&p.run, &l->v[i]};
        l->v[i].status = BATCH_NOT_RUN;
    }
    int rc = weft_run(rt, process_root, &p, NULL);
    if (rc == 0)
        rc = p.rc;
    free(p.items);
    for (size_t i = 0; i < l->n; i++) {
        const struct batch_file *f = &l->v[i];
        if (f->status == 0) {
            t->ok++;
            t->bytes += f->bytes;
            t->lines += f->lines;
            t->words += f->words;
            t->checksum ^= file_entry(f);
        } else if (f->status == BATCH_NOT_RUN || f->status == ECANCELED) {
            t->skipped++;
        } else {
            t->failed++;
        }
    }
    if (errs != NULL)
        *errs = p.errs;
    else
        weft_errors_free(p.errs);
    return rc;
}

void batch_print_summary(const struct batch_totals *t, FILE *out)
{
    fprintf(out,
            "files     %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " skipped\n"
            "bytes     %" PRIu64 "\n"
            "lines     %" PRIu64 "\n"
            "words     %" PRIu64 "\n"
            "checksum  %016" PRIx64 "\n",
            t->ok, t->failed, t->skipped, t->bytes, t->lines, t->words, t->checksum);
}

