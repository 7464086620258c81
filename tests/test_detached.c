/* Detached tasks at destroy: destroy cancels every one still running or
 * queued (each runs once, the queued ones cancelled from their first
 * instruction), so a task that loops until cancelled ends; one that ignores
 * the cancel is named and destroy returns ETIMEDOUT after shutdown_timeout,
 * while the workers keep serving it and the runtime is freed, its threads
 * gone, once it ends. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "runtime/internal.h"
#include "tests/blocking_helpers.h"
#include "tests/suites.h"

/* Spins (yielding) until *flag is set or BUDGET passed; whether it was. */
static bool wait_flag(_Atomic int *flag)
{
    weft_time end = weft_after(BUDGET);
    while (atomic_load(flag) == 0 && weft_now() < end)
        usleep(200);
    return atomic_load(flag) != 0;
}

static unsigned long freed_now(void)
{
    return atomic_load_explicit(&weft__runtimes_freed, memory_order_acquire);
}

/* Waits (BUDGET at most) until a runtime more than `before` was freed. */
static unsigned long wait_freed(unsigned long before)
{
    weft_time end = weft_after(BUDGET);
    while (freed_now() == before && weft_now() < end)
        usleep(1000);
    return freed_now();
}

/* ---- a detached task that loops until cancelled ends at destroy ---- */

struct looping {
    _Atomic int started, children_started, callback_runs;
    int reason, join_rc, child_reason[2];
    weft_cancel_cb cb;
};

static void count_callback(void *p)
{
    atomic_fetch_add(&((struct looping *)p)->callback_runs, 1);
}

struct child {
    struct looping *l;
    int i;
};

static int loop_child(weft_task *self, void *p)
{
    struct child *c = p;
    atomic_fetch_add(&c->l->children_started, 1);
    while (!weft_cancelled(self))
        usleep(100);
    c->l->child_reason[c->i] = weft_cancel_reason(self);
    return ECANCELED;
}

static int loop_until_cancelled(weft_task *self, void *p)
{
    struct looping *l = p;
    weft_on_cancel(self, &l->cb, count_callback, l);
    weft_group g;
    struct child c[2] = {{l, 0}, {l, 1}};
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, loop_child, &c[0]);
    weft_spawn(&g, loop_child, &c[1]);
    atomic_store(&l->started, 1);
    l->join_rc = weft_group_join(&g, NULL);
    while (!weft_cancelled(self))
        usleep(100);
    l->reason = weft_cancel_reason(self);
    weft_on_cancel_remove(&l->cb);
    return ECANCELED; /* it merely stopped: no failure */
}

static int fail_once_cancelled(weft_task *self, void *p)
{
    atomic_store((_Atomic int *)p, 1);
    while (!weft_cancelled(self))
        usleep(100);
    return weft_fail(self, EIO, "flushing the log failed");
}

START_TEST(test_destroy_cancels_a_detached_task_that_loops_until_cancelled)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u); /* shutdown_timeout: 5 s */
    struct looping l = {0};
    _Atomic int fails_started = 0; /* both workers may be busy with the first one */
    ck_assert_int_eq(weft_spawn_detached(rt, loop_until_cancelled, &l), 0);
    ck_assert_int_eq(weft_spawn_detached(rt, fail_once_cancelled, &fails_started), 0);
    ck_assert(wait_flag(&l.started)); /* the other one may start only at destroy */
    unsigned long freed = freed_now();
    ck_assert_int_eq(weft_runtime_destroy(rt), 0); /* 0: both ended, none abandoned */
    ck_assert_uint_eq(freed_now(), freed + 1);
    ck_assert_int_eq(l.reason, ECANCELED);
    ck_assert_int_eq(atomic_load(&l.callback_runs), 1);
    ck_assert_int_eq(l.join_rc, ECANCELED); /* the cancel reached its group */
    ck_assert_int_eq(l.child_reason[0], ECANCELED);
    ck_assert_int_eq(l.child_reason[1], ECANCELED);
    /* the ECANCELED of the cancelled one is no failure; the EIO is one */
    ck_assert_int_eq(atomic_load(&u.calls), 1);
    ck_assert_int_eq(u.code, EIO);
    ck_assert_str_eq(u.message, "flushing the log failed");
}
END_TEST

/* ---- queued detached tasks run once at destroy, cancelled from their start ---- */

enum { QUEUED = 16 };

struct queued {
    _Atomic int blocker_started;
    _Atomic int runs[2 * QUEUED];
    int cancelled_at_start[2 * QUEUED], reason_at_start[2 * QUEUED];
    weft_runtime *rt;
};

struct slot_arg {
    struct queued *q;
    int i;
};

static int queued_task(weft_task *self, void *p)
{
    struct slot_arg *a = p;
    a->q->cancelled_at_start[a->i] = weft_cancelled(self);
    a->q->reason_at_start[a->i] = weft_cancel_reason(self);
    atomic_fetch_add(&a->q->runs[a->i], 1);
    return 0;
}

static struct slot_arg args[2 * QUEUED];

/* Holds the only worker until cancelled, without a timed wait (which would
 * hand the worker's slot to a spare thread that runs the queued tasks). */
static int blocker(weft_task *self, void *p)
{
    struct queued *q = p;
    for (int i = QUEUED; i < 2 * QUEUED; i++) /* onto this worker's own deque */
        if (weft_spawn_detached(q->rt, queued_task, &args[i]) != 0)
            return EIO;
    atomic_store(&q->blocker_started, 1);
    while (!weft_cancelled(self))
        sched_yield();
    return 0;
}

START_TEST(test_detached_tasks_queued_at_destroy_each_run_once_cancelled_from_their_start)
{
    struct queued q = {0};
    q.rt = weft_test_runtime(1, 0);
    for (int i = 0; i < 2 * QUEUED; i++)
        args[i] = (struct slot_arg){&q, i};
    ck_assert_int_eq(weft_spawn_detached(q.rt, blocker, &q), 0);
    ck_assert(wait_flag(&q.blocker_started));
    for (int i = 0; i < QUEUED; i++) /* onto the injection queue */
        ck_assert_int_eq(weft_spawn_detached(q.rt, queued_task, &args[i]), 0);
    ck_assert_int_eq(weft_runtime_destroy(q.rt), 0);
    for (int i = 0; i < 2 * QUEUED; i++) {
        ck_assert_int_eq(atomic_load(&q.runs[i]), 1);
        ck_assert_int_eq(q.cancelled_at_start[i], 1);
        ck_assert_int_eq(q.reason_at_start[i], ECANCELED);
    }
}
END_TEST

/* ---- a straggler: named, ETIMEDOUT, served after destroy, then freed ---- */

/* Threads of this process that weft named (weft-w0, weft-b1, weft-timer):
 * not those of the sanitizers or of Check. */
static long weft_threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* it just ended */
        if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, "weft-", 5) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

enum { STRAGGLER_CHILDREN = 8 };

struct straggler {
    struct gate gate;
    _Atomic int started, children_ran, ended;
    int saw_cancel, shielded_join_rc;
};

static int straggler_child(weft_task *self, void *p)
{
    struct straggler *s = p;
    /* in a shielded group it may wait: its slot goes to a spare thread, which
     * the runtime starts after destroy returned */
    if (weft_sleep(self, weft_after(2 * WEFT_MSEC)) == 0)
        atomic_fetch_add(&s->children_ran, 1);
    return 0;
}

static int ignore_cancel(weft_task *self, void *p)
{
    struct straggler *s = p;
    atomic_store(&s->started, 1);
    gate_pass(&s->gate); /* only the gate ends it, long after destroy gave up */
    s->saw_cancel = weft_cancelled(self);
    weft_group g;
    weft_group_opts o = {.flags = WEFT_SHIELD};
    weft_group_init(&g, self, &o);
    for (int i = 0; i < STRAGGLER_CHILDREN; i++)
        weft_spawn(&g, straggler_child, s);
    s->shielded_join_rc = weft_group_join(&g, NULL);
    atomic_store(&s->ended, 1);
    return 0;
}

/* Runs destroy with stderr going to a file; returns destroy's code and what
 * it printed in `out`. */
static int destroy_capturing_stderr(weft_runtime *rt, char *out, size_t size)
{
    char path[] = "/tmp/weft-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    int rc = weft_runtime_destroy(rt);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    return rc;
}

START_TEST(test_destroy_names_a_straggler_returns_etimedout_and_frees_the_runtime_when_it_ends)
{
    for (int to_stderr = 0; to_stderr <= 1; to_stderr++) {
        long threads_before = weft_threads_now();
        struct unhandled u = {0};
        weft_runtime *rt = pool_runtime(2, 0, 0, 100 * WEFT_MSEC, to_stderr ? NULL : &u);
        struct straggler s = {0};
        gate_init(&s.gate);
        ck_assert_int_eq(weft_spawn_detached(rt, ignore_cancel, &s), 0);
        ck_assert(wait_flag(&s.started));
        unsigned long freed = freed_now();
        weft_time t0 = weft_now();
        char printed[512] = "";
        int rc = to_stderr ? destroy_capturing_stderr(rt, printed, sizeof printed)
                           : weft_runtime_destroy(rt);
        weft_time took = weft_now() - t0;
        unsigned long freed_at_return = freed_now();
        gate_open(&s.gate, 1); /* the straggler goes on after destroy returned */
        unsigned long freed_later = wait_freed(freed);
        bool ended = wait_flag(&s.ended);
        /* its threads all go: the last one detaches itself, then exits */
        weft_time end = weft_after(BUDGET);
        while (weft_threads_now() != threads_before && weft_now() < end)
            usleep(1000);
        long threads_after = weft_threads_now();
        gate_close(&s.gate);


        ck_assert_int_eq(rc, ETIMEDOUT);
        ck_assert_int_ge(took, 100 * WEFT_MSEC);
        ck_assert_uint_eq(freed_at_return, freed); /* kept while it runs */
        if (to_stderr) {
            ck_assert_msg(strstr(printed, "detached task (unnamed) still running at shutdown") !=
                              NULL,
                          "stderr: %s", printed);
        } else {
            ck_assert_int_eq(atomic_load(&u.calls), 1);
            ck_assert_int_eq(u.code, ETIMEDOUT);
            ck_assert_str_eq(u.message, "still running at shutdown");
            ck_assert_str_eq(u.task, "");
        }
        ck_assert(ended);
        ck_assert_int_eq(s.saw_cancel, 1);
        /* the workers served its spawns, spare threads included */
        ck_assert_int_eq(s.shielded_join_rc, 0);
        ck_assert_int_eq(atomic_load(&s.children_ran), STRAGGLER_CHILDREN);
        ck_assert_uint_eq(freed_later, freed + 1);
        ck_assert_int_eq(threads_after, threads_before);
    }
}
END_TEST

Suite *detached_suite(void)
{
    Suite *s = suite_create("detached");
    TCase *tc = tcase_create("detached");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_destroy_cancels_a_detached_task_that_loops_until_cancelled);
    tcase_add_test(tc, test_detached_tasks_queued_at_destroy_each_run_once_cancelled_from_their_start);
    tcase_add_test(tc, test_destroy_names_a_straggler_returns_etimedout_and_frees_the_runtime_when_it_ends);
    suite_add_tcase(s, tc);
    return s;
}
