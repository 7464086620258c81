/*
 * WEFT_TRACE (runtime/trace.c): small workloads traced into a file in a
 * temporary directory, then the file read back. The writer puts one event
 * per line, which is what these checks parse; `.ci/run` also loads a
 * trace with Python's json module. Nothing here asserts on timing.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "base/trace_log.h"
#include "tests/job/blocking_helpers.h"
#include "tests/suites.h"
#include "tests/wait_cancelled.h"

extern _Atomic unsigned long weft__runtimes_freed;

/* ---- a temporary directory and the file read back ---- */

struct tmp {
    char dir[64];
    char path[96];
};

static void tmp_init(struct tmp *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/weft-trace-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/trace.json", t->dir);
}

static void tmp_fini(struct tmp *t)
{
    unlink(t->path);
    rmdir(t->dir);
}

/* The whole file, NUL-terminated (freed by the caller). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    size_t got;
    while ((got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            s = realloc(s, cap);
            ck_assert_ptr_nonnull(s);
        }
    }
    fclose(f);
    s[n] = '\0';
    return s;
}

/* Opening, ending, and brackets balanced outside strings, no dangling comma. */
static void assert_well_formed(const char *s)
{
    ck_assert_msg(strncmp(s, "{\"traceEvents\":[\n", 17) == 0, "bad start: %.40s", s);
    size_t n = strlen(s);
    ck_assert_msg(n > 3 && strcmp(s + n - 3, "}}\n") == 0, "bad end: %s", s + (n > 40 ? n - 40 : 0));
    ck_assert_ptr_nonnull(strstr(s, "\"displayTimeUnit\":\"ns\""));
    int depth = 0;
    bool in_string = false;
    char last = 0; /* the last character outside strings that is not blank */
    for (const char *p = s; *p != '\0'; p++) {
        if (in_string) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_string = false;
            continue;
        }
        if (*p == '"') {
            in_string = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            ck_assert_msg(last != ',', "a comma before a closing bracket at %ld", (long)(p - s));
            depth--;
            ck_assert_int_ge(depth, 0);
        }
        if (*p != ' ' && *p != '\n')
            last = *p;
    }
    ck_assert(!in_string);
    ck_assert_int_eq(depth, 0);
}

/* A trace file, checked well-formed (freed by the caller). */
static char *read_trace(const char *path)
{
    char *s = slurp(path);
    assert_well_formed(s);
    return s;
}

/* Occurrences of needle in s. */
static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The tid of the track named `name` exactly, or -1. */
static int tid_of(const char *s, const char *name)
{
    char want[64];
    snprintf(want, sizeof want, "\"args\":{\"name\":\"%s\"}}", name);
    for (const char *p = s; (p = strstr(p, "{\"name\":\"thread_name\"")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *hit = strstr(p, want);
        if (hit != NULL && (eol == NULL || hit < eol))
            return atoi(strstr(p, "\"tid\":") + 6);
    }
    return -1;
}

/* Whether the track of tid is named with this prefix. */
static bool track_named(const char *s, int tid, const char *prefix)
{
    char want[64];
    snprintf(want, sizeof want, "\"tid\":%d,\"args\":{\"name\":\"%s", tid, prefix);
    return strstr(s, want) != NULL;
}

/* Lines that contain every one of the (NULL-terminated) strings. */
static int lines_with(const char *s, ...)
{
    int n = 0;
    for (const char *line = s; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        char *copy = strndup(line, len);
        ck_assert_ptr_nonnull(copy);
        va_list ap;
        va_start(ap, s);
        bool all = true;
        for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
            all &= strstr(copy, w) != NULL;
        va_end(ap);
        n += all;
        free(copy);
        line = eol != NULL ? eol + 1 : NULL;
    }
    return n;
}

/* The tid of the first line that holds `what`, or -1. */
static int tid_of_event(const char *s, const char *what)
{
    const char *p = strstr(s, what);
    if (p == NULL)
        return -1;
    while (p > s && p[-1] != '\n')
        p--;
    const char *tid = strstr(p, "\"tid\":");
    return tid != NULL ? atoi(tid + 6) : -1;
}

static unsigned long long other_data(const char *s, const char *key)
{
    char want[64];
    snprintf(want, sizeof want, "\"%s\":", key);
    const char *p = strstr(s, want);
    ck_assert_ptr_nonnull(p);
    return strtoull(p + strlen(want), NULL, 10);
}

static weft_runtime *traced_runtime(unsigned workers, const char *path, weft_time grace)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    cfg.trace_path = path;
    cfg.shutdown_timeout = grace;
    weft_runtime *rt = weft_runtime_create(&cfg);
    ck_assert_ptr_nonnull(rt);
    return rt;
}

/* stderr into a file for the test's duration (one runner, so no other
 * thread of the test prints meanwhile). */
struct captured {
    int saved;
    char path[96];
};

static void capture_stderr(struct captured *c, const struct tmp *t)
{
    snprintf(c->path, sizeof c->path, "%s/stderr", t->dir);
    fflush(stderr);
    c->saved = dup(2);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
}

static char *release_stderr(struct captured *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    char *out = slurp(c->path);
    unlink(c->path);
    return out;
}

/* ---- every task, every worker ---- */

enum { NAMED = 1000, PLAIN = 100 };

static int leaf(weft_task *self, void *arg)
{
    (void)self;
    (void)arg;
    return 0;
}

static int spawn_leaves(weft_task *self, void *arg)
{
    (void)arg;
    weft_group g;
    ck_assert_int_eq(weft_group_init(&g, self, NULL), 0);
    weft_spawn_opts o = {.name = "leaf"};
    for (int i = 0; i < NAMED; i++)
        if (weft_spawn_ex(&g, leaf, NULL, &o) != 0)
            return EIO;
    for (int i = 0; i < PLAIN; i++)
        if (weft_spawn(&g, leaf, NULL) != 0)
            return EIO;
    return weft_group_join(&g, NULL);
}

START_TEST(test_trace_has_one_event_per_task_and_a_named_track_per_worker)
{
    struct tmp t;
    tmp_init(&t);
    weft_runtime *rt = traced_runtime(2, t.path, 0);
    ck_assert_int_eq(weft_run(rt, spawn_leaves, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *s = read_trace(t.path);
    ck_assert_int_eq(count(s, "{\"name\":\"leaf\",\"cat\":\"task\",\"ph\":\"X\""), NAMED);
    ck_assert_int_eq(count(s, "{\"name\":\"task\",\"cat\":\"task\",\"ph\":\"X\""), PLAIN);
    ck_assert_int_eq(count(s, "{\"name\":\"root\",\"cat\":\"task\",\"ph\":\"X\""), 1);
    ck_assert_int_eq(tid_of(s, "weft-w0"), 1);
    ck_assert_int_eq(tid_of(s, "weft-w1"), 2);
    ck_assert_int_eq(count(s, "\"name\":\"process_name\""), 1);
    ck_assert_uint_eq(other_data(s, "weft_dropped_events"), 0);
    /* weft_events counts every event line: all but the metadata */
    ck_assert_uint_eq(other_data(s, "weft_events"),
                      (unsigned long long)(count(s, "\n{") - count(s, "\"ph\":\"M\"")));
    free(s);
    tmp_fini(&t);
}
END_TEST

/* ---- steals and parks ---- */

struct stolen {
    _Atomic int ran;
};

static int note_run(weft_task *self, void *arg)
{
    (void)self;
    atomic_fetch_add(&((struct stolen *)arg)->ran, 1);
    return 0;
}

/* Spawns two tasks and spins without joining until they ran: only a thief
 * can run them, since this worker never pops its own deque meanwhile. */
static int root_forces_steals(weft_task *self, void *arg)
{
    struct stolen *st = arg;
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, note_run, st);
    weft_spawn(&g, note_run, st);
    weft_time end = weft_after(BUDGET);
    while (atomic_load(&st->ran) < 2 && weft_now() < end)
        sched_yield();
    return weft_group_join(&g, NULL);
}

START_TEST(test_trace_shows_the_steals_and_parks_the_stats_count)
{
    struct tmp t;
    tmp_init(&t);
    weft_runtime *rt = traced_runtime(2, t.path, 0);
    /* idle workers park: wait until one did */
    weft_stats s0;
    weft_time end = weft_after(BUDGET);
    do {
        usleep(1000);
        weft_runtime_stats(rt, &s0);
    } while (s0.parks == 0 && weft_now() < end);
    ck_assert_uint_ge(s0.parks, 1);
    struct stolen st = {0};
    ck_assert_int_eq(weft_run(rt, root_forces_steals, &st, NULL), 0);
    ck_assert_int_eq(atomic_load(&st.ran), 2);
    weft_stats s;
    weft_runtime_stats(rt, &s); /* no task is left to steal after this */
    ck_assert_uint_ge(s.steals, 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *f = read_trace(t.path);
    ck_assert_int_eq(count(f, "{\"name\":\"steal\",\"cat\":\"steal\",\"ph\":\"i\""), (int)s.steals);
    ck_assert_int_eq(lines_with(f, "\"name\":\"steal\"", "\"s\":\"t\"", "\"victim_slot\":", NULL),
                     (int)s.steals);
    /* a park is written when it ends, and destroy wakes every sleeper */
    ck_assert_int_ge(count(f, "{\"name\":\"park"), (int)s.parks);
    free(f);
    tmp_fini(&t);
}
END_TEST

/* ---- cancellations: a group cancel and a deadline ---- */

static int spin_until_cancelled(weft_task *self, void *arg)
{
    (void)arg;
    return test_wait_cancelled(self, BUDGET) != 0 ? ECANCELED : 0;
}

static int fail_eio(weft_task *self, void *arg)
{
    (void)self;
    (void)arg;
    return EIO;
}

static int root_cancels(weft_task *self, void *arg)
{
    (void)arg;
    weft_group g;
    weft_group_opts doomed = {.name = "doomed"};
    weft_group_init(&g, self, &doomed);
    for (int i = 0; i < 3; i++)
        weft_spawn(&g, spin_until_cancelled, NULL);
    weft_group_cancel(&g);
    int rc = weft_group_join(&g, NULL);
    if (rc != ECANCELED)
        return EIO;
    weft_group_opts late = {.name = "late", .deadline = weft_after(2 * WEFT_MSEC)};
    weft_group_init(&g, self, &late);
    weft_spawn(&g, spin_until_cancelled, NULL);
    rc = weft_group_join(&g, NULL);
    if (rc != ETIMEDOUT)
        return EIO;
    weft_group_opts failing = {.name = "failing"};
    weft_group_init(&g, self, &failing);
    weft_spawn(&g, fail_eio, NULL);
    return weft_group_join(&g, NULL) == EIO ? 0 : EINVAL;
}

START_TEST(test_trace_shows_a_group_cancel_and_a_deadline_fired_by_the_timer)
{
    struct tmp t;
    tmp_init(&t);
    weft_runtime *rt = traced_runtime(2, t.path, 0);
    ck_assert_int_eq(weft_run(rt, root_cancels, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *s = read_trace(t.path);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"cancel\"", "\"ph\":\"i\"", "\"reason\":\"ECANCELED\"",
                                "\"by\":\"weft_group_cancel\"", "\"group\":\"doomed\"", NULL),
                     1);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"deadline\"", "\"ph\":\"i\"",
                                "\"reason\":\"ETIMEDOUT\"", "\"by\":\"deadline\"",
                                "\"group\":\"late\"", NULL),
                     1);
    /* fail-fast: the failed task's code, then its group's cancel */
    ck_assert_int_eq(lines_with(s, "{\"name\":\"task\"", "\"rc\":5}", NULL), 1);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"cancel\"", "\"by\":\"failure\"",
                                "\"group\":\"failing\"", NULL),
                     1);
    ck_assert_int_eq(count(s, "\"cat\":\"cancel\""), 3);
    /* the timer thread fired it, on a track of its own */
    int timer = tid_of(s, "weft-timer");
    ck_assert_int_gt(timer, 0);
    ck_assert_int_eq(tid_of_event(s, "{\"name\":\"deadline\""), timer);
    /* the tasks that stopped say so: 3 cancelled, 1 timed out (ECANCELED
     * returned in a timed-out group) */
    ck_assert_int_eq(lines_with(s, "{\"name\":\"task\"", "\"rc\":125", NULL), 4);
    free(s);
    tmp_fini(&t);
}
END_TEST

/* ---- a detached task's name: its run, its deadline, destroy's cancel ---- */

struct detached_pair {
    _Atomic int poller_ended, sweeper_started;
};

static int poll_until_cancelled(weft_task *self, void *arg)
{
    struct detached_pair *d = arg;
    while (!weft_cancelled(self))
        sched_yield();
    atomic_store(&d->poller_ended, 1);
    return ECANCELED; /* its deadline stopped it: ETIMEDOUT */
}

static int sweep_until_cancelled(weft_task *self, void *arg)
{
    struct detached_pair *d = arg;
    atomic_store(&d->sweeper_started, 1);
    while (!weft_cancelled(self))
        usleep(100);
    return ECANCELED; /* destroy stopped it: no failure */
}

START_TEST(test_trace_names_a_detached_task_its_deadline_and_the_shutdown_cancel)
{
    struct tmp t;
    tmp_init(&t);
    struct captured c;
    capture_stderr(&c, &t); /* the poller's timeout is reported there */
    weft_runtime *rt = traced_runtime(2, t.path, 0);
    struct detached_pair d = {0};
    weft_spawn_opts poller = {.name = "poller", .deadline = weft_after(2 * WEFT_MSEC)};
    weft_spawn_opts sweeper = {.name = "sweeper"};
    ck_assert_int_eq(weft_spawn_detached_ex(rt, poll_until_cancelled, &d, &poller), 0);
    ck_assert_int_eq(weft_spawn_detached_ex(rt, sweep_until_cancelled, &d, &sweeper), 0);
    weft_time end = weft_after(BUDGET);
    while ((!atomic_load(&d.poller_ended) || !atomic_load(&d.sweeper_started)) && weft_now() < end)
        usleep(1000);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *err = release_stderr(&c);
    char *s = read_trace(t.path);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"poller\"", "\"cat\":\"task\"",
                                "\"error\":\"ETIMEDOUT\"", NULL),
                     1);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"deadline\"", "\"by\":\"deadline\"",
                                "\"group\":\"poller\"", NULL),
                     1);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"sweeper\"", "\"cat\":\"task\"",
                                "\"error\":\"ECANCELED\"", NULL),
                     1);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"cancel\"", "\"reason\":\"ECANCELED\"",
                                "\"by\":\"shutdown\"", "\"group\":\"sweeper\"", NULL),
                     1);
    ck_assert_msg(strstr(err, "detached task poller failed: ETIMEDOUT") != NULL, "stderr: %s",
                  err);
    ck_assert_ptr_null(strstr(err, "sweeper"));
    free(err);
    free(s);
    tmp_fini(&t);
}
END_TEST

/* ---- blocking jobs, a wait that gives up, the slot hand-off ---- */

static int job_waits_for_gate(weft_task *self, void *arg)
{
    (void)self;
    return gate_pass(arg);
}

struct job_root {
    struct gate gate;
    int first, second;
};

static int root_waits_for_job(weft_task *self, void *arg)
{
    struct job_root *r = arg;
    weft_spawn_opts o = {.name = "io"};
    weft_job *job;
    if (weft_spawn_blocking(self, job_waits_for_gate, &r->gate, &o, &job) != 0)
        return EIO;
    /* the job cannot end before the gate opens: this wait gives up */
    r->first = weft_job_wait(job, weft_after(2 * WEFT_MSEC));
    gate_open(&r->gate, 1);
    r->second = weft_job_wait(job, WEFT_NEVER);
    weft_job_release(job);
    return 0;
}

START_TEST(test_trace_shows_a_job_on_a_blocking_track_and_the_wait_that_gave_up)
{
    struct tmp t;
    tmp_init(&t);
    weft_runtime *rt = traced_runtime(2, t.path, 0);
    struct job_root r = {0};
    gate_init(&r.gate);
    ck_assert_int_eq(weft_run(rt, root_waits_for_job, &r, NULL), 0);
    gate_close(&r.gate);
    ck_assert_int_eq(r.first, ETIMEDOUT);
    ck_assert_int_eq(r.second, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *s = read_trace(t.path);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"io\"", "\"cat\":\"blocking\"", "\"ph\":\"X\"", NULL), 1);
    int tid = tid_of_event(s, "{\"name\":\"io\"");
    ck_assert_msg(track_named(s, tid, "weft-b"), "job on tid %d, not a weft-b track", tid);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"job wait gave up\"", "\"error\":\"ETIMEDOUT\"", NULL),
                     1);
    /* the first wait, at least, was a timed wait: it lent the worker's slot
     * to a spare (2 ms is over the hand-off minimum) and took one back; the
     * second lends too unless the job ended before it began */
    int lends = count(s, "{\"name\":\"lend slot\"");
    ck_assert_int_ge(lends, 1);
    ck_assert_int_eq(count(s, "{\"name\":\"reclaim slot\""), lends);
    /* the first lend started a spare thread (index 2, tid 3), which says
     * what it took; later hand-offs may go to any thread that became a spare */
    ck_assert_int_eq(tid_of(s, "weft-w2"), 3);
    ck_assert_int_ge(lines_with(s, "{\"name\":\"take slot\"", "\"tid\":3,", NULL), 1);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"timed wait\"", "\"error\":\"ETIMEDOUT\"", NULL), 1);
    free(s);
    tmp_fini(&t);
}
END_TEST

/* ---- what must not break the program ---- */

START_TEST(test_an_unwritable_trace_path_warns_once_and_the_runtime_works)
{
    struct tmp t;
    tmp_init(&t);
    char bad[128];
    snprintf(bad, sizeof bad, "%s/no-such-dir/trace.json", t.dir);
    struct captured c;
    capture_stderr(&c, &t);
    weft_runtime *rt = traced_runtime(2, bad, 0);
    int rc = weft_run(rt, spawn_leaves, NULL, NULL);
    int drc = weft_runtime_destroy(rt);
    char *err = release_stderr(&c);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(drc, 0);
    ck_assert_msg(strstr(err, "WEFT_TRACE") != NULL && strstr(err, bad) != NULL, "stderr: %s", err);
    ck_assert_int_eq(count(err, "\n"), 1);
    ck_assert_int_eq(access(bad, F_OK), -1);
    free(err);
    tmp_fini(&t);
}
END_TEST

/* ---- names that are not UTF-8; two runtimes on one path ---- */

static int spawn_odd_names(weft_task *self, void *arg)
{
    (void)arg;
    static const char *names[] = {
        "a\"b\\c\n",          /* JSON's own escapes */
        "bad\xff\xfeutf8",      /* bytes that start no UTF-8 sequence */
        "trunc\xc3",            /* a sequence cut short */
        "over\xc0\xaflong",     /* an overlong '/' */
        "caf\xc3\xa9 \xe2\x9c\x93", /* well-formed: kept as is */
    };
    weft_group g;
    ck_assert_int_eq(weft_group_init(&g, self, NULL), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        weft_spawn_ex(&g, leaf, NULL, &(weft_spawn_opts){.name = names[i]});
    return weft_group_join(&g, NULL);
}

START_TEST(test_names_that_are_not_utf8_are_replaced_not_copied)
{
    struct tmp t;
    tmp_init(&t);
    weft_runtime *rt = traced_runtime(2, t.path, 0);
    ck_assert_int_eq(weft_run(rt, spawn_odd_names, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *s = read_trace(t.path);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        ck_assert_msg(*p < 0x80 || *p == 0xc3 || *p == 0xa9 || *p == 0xe2 || *p == 0x9c ||
                          *p == 0x93,
                      "a raw byte 0x%02x at %ld", *p, (long)((const char *)p - s));
    ck_assert_int_eq(count(s, "\"name\":\"a\\\"b\\\\c\\u000a\""), 1);
    ck_assert_int_eq(count(s, "\"name\":\"bad\\ufffd\\ufffdutf8\""), 1);
    ck_assert_int_eq(count(s, "\"name\":\"trunc\\ufffd\""), 1);
    ck_assert_int_eq(count(s, "\"name\":\"over\\ufffd\\ufffdlong\""), 1);
    ck_assert_int_eq(count(s, "\"name\":\"caf\xc3\xa9 \xe2\x9c\x93\""), 1);
    free(s);
    tmp_fini(&t);
}
END_TEST

START_TEST(test_two_runtimes_on_one_path_leave_one_whole_trace)
{
    struct tmp t;
    tmp_init(&t);
    weft_runtime *a = traced_runtime(2, t.path, 0);
    weft_runtime *b = traced_runtime(1, t.path, 0);
    ck_assert_int_eq(weft_run(a, spawn_leaves, NULL, NULL), 0);
    ck_assert_int_eq(weft_run(b, leaf, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(a), 0); /* the bigger file first */
    char *s = read_trace(t.path);
    ck_assert_int_eq(count(s, "{\"name\":\"leaf\",\"cat\":\"task\",\"ph\":\"X\""), NAMED);
    free(s);
    ck_assert_int_eq(weft_runtime_destroy(b), 0); /* then the smaller replaces it whole */
    s = read_trace(t.path);
    ck_assert_int_eq(count(s, "{\"name\":\"leaf\",\"cat\":\"task\",\"ph\":\"X\""), 0);
    ck_assert_int_eq(count(s, "{\"name\":\"root\",\"cat\":\"task\",\"ph\":\"X\""), 1);
    free(s);
    DIR *d = opendir(t.dir); /* and no temporary file left behind */
    ck_assert_ptr_nonnull(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        entries += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(entries, 1);
    tmp_fini(&t);
}
END_TEST

START_TEST(test_the_environment_names_the_file_and_the_config_field_wins)
{
    struct tmp t;
    tmp_init(&t);
    char env_path[128];
    snprintf(env_path, sizeof env_path, "%s/env.json", t.dir);
    setenv("WEFT_TRACE", env_path, 1);
    weft_runtime *rt = weft_test_runtime(1, 0); /* no trace_path: the environment's */
    ck_assert_int_eq(weft_run(rt, spawn_leaves, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *s = read_trace(env_path);
    ck_assert_int_eq(count(s, "{\"name\":\"leaf\""), NAMED);
    free(s);
    unlink(env_path);
    rt = traced_runtime(1, t.path, 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(access(env_path, F_OK), -1);
    rt = traced_runtime(1, "", 0); /* "": no trace, whatever the environment says */
    ck_assert_int_eq(weft_run(rt, spawn_leaves, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    unsetenv("WEFT_TRACE");
    ck_assert_int_eq(access(env_path, F_OK), -1);
    s = read_trace(t.path);
    free(s);
    tmp_fini(&t);
}
END_TEST

START_TEST(test_events_past_the_cap_are_dropped_counted_and_reported)
{
    struct tmp t;
    tmp_init(&t);
    weft__trace_cap_chunks(1);
    struct captured c;
    capture_stderr(&c, &t);
    weft_runtime *rt = traced_runtime(1, t.path, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_run(rt, spawn_leaves, NULL, NULL), 0);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    char *err = release_stderr(&c);
    weft__trace_cap_chunks(0);
    char *s = read_trace(t.path);
    unsigned long long events = other_data(s, "weft_events");
    unsigned long long dropped = other_data(s, "weft_dropped_events");
    ck_assert_uint_eq(other_data(s, "weft_event_cap"), WEFT__TRACE_CHUNK_EVENTS);
    ck_assert_uint_eq(events, WEFT__TRACE_CHUNK_EVENTS); /* one thread filled the one chunk */
    ck_assert_uint_ge(events + dropped, 3 * (NAMED + PLAIN + 1));
    ck_assert_msg(strstr(err, "dropped") != NULL && count(err, "\n") == 1, "stderr: %s", err);
    free(err);
    free(s);
    tmp_fini(&t);
}
END_TEST

struct stuck {
    struct gate gate;
    _Atomic int ended;
};

static int job_ignores_cancel(weft_task *self, void *arg)
{
    (void)self;
    struct stuck *st = arg;
    gate_pass(&st->gate);
    atomic_store(&st->ended, 1);
    return 0;
}

static int root_abandons_job(weft_task *self, void *arg)
{
    weft_spawn_opts o = {.name = "stuck"};
    weft_job *job;
    if (weft_spawn_blocking(self, job_ignores_cancel, arg, &o, &job) != 0)
        return EIO;
    weft_job_release(job);
    return 0;
}

START_TEST(test_a_job_that_outlives_destroy_loses_its_events_and_nothing_breaks)
{
    struct tmp t;
    tmp_init(&t);
    weft_runtime *rt = traced_runtime(1, t.path, 20 * WEFT_MSEC);
    struct stuck st = {0};
    gate_init(&st.gate);
    ck_assert_int_eq(weft_run(rt, root_abandons_job, &st, NULL), 0);
    unsigned long freed = atomic_load(&weft__runtimes_freed);
    ck_assert_int_eq(weft_runtime_destroy(rt), ETIMEDOUT);
    /* the file is complete now, without the job that still runs */
    char *s = read_trace(t.path);
    ck_assert_int_eq(count(s, "{\"name\":\"stuck\""), 0);
    ck_assert_int_eq(lines_with(s, "{\"name\":\"job cancel\"", "ECANCELED", NULL), 1);
    free(s);
    gate_open(&st.gate, 1); /* it ends, emits into the closed trace, frees rt */
    weft_time end = weft_after(BUDGET);
    while (atomic_load(&weft__runtimes_freed) == freed && weft_now() < end)
        usleep(1000);
    ck_assert_uint_eq(atomic_load(&weft__runtimes_freed), freed + 1);
    ck_assert_int_eq(atomic_load(&st.ended), 1);
    gate_close(&st.gate);
    s = read_trace(t.path); /* not touched after destroy */
    ck_assert_int_eq(count(s, "{\"name\":\"stuck\""), 0);
    free(s);
    tmp_fini(&t);
}
END_TEST

Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("trace");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_trace_has_one_event_per_task_and_a_named_track_per_worker);
    tcase_add_test(tc, test_trace_shows_the_steals_and_parks_the_stats_count);
    tcase_add_test(tc, test_trace_shows_a_group_cancel_and_a_deadline_fired_by_the_timer);
    tcase_add_test(tc, test_trace_shows_a_job_on_a_blocking_track_and_the_wait_that_gave_up);
    tcase_add_test(tc, test_trace_names_a_detached_task_its_deadline_and_the_shutdown_cancel);
    tcase_add_test(tc, test_an_unwritable_trace_path_warns_once_and_the_runtime_works);
    tcase_add_test(tc, test_names_that_are_not_utf8_are_replaced_not_copied);
    tcase_add_test(tc, test_two_runtimes_on_one_path_leave_one_whole_trace);
    tcase_add_test(tc, test_the_environment_names_the_file_and_the_config_field_wins);
    tcase_add_test(tc, test_events_past_the_cap_are_dropped_counted_and_reported);
    tcase_add_test(tc, test_a_job_that_outlives_destroy_loses_its_events_and_nothing_breaks);
    suite_add_tcase(s, tc);
    return s;
}
