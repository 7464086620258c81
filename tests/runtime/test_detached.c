/* Detached tasks. At destroy: destroy cancels every one still running or
 * queued (each runs once, the queued ones cancelled from their first
 * instruction), so a task that loops until cancelled ends; one that ignores
 * the cancel is named and destroy returns ETIMEDOUT after shutdown_timeout,
 * while the workers keep serving it and the runtime is freed, its threads
 * gone, once it ends. With options (weft_spawn_detached_ex): the name
 * reaches on_unhandled, the deadline cancels the task's subtree with
 * ETIMEDOUT, the cleanup runs once, whatever ends the task. A task that
 * starts without memory for its record still runs, cancellable, and says
 * it lost its deadline. */
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

#include "base/alloc.h"
#include "runtime/runtime.h"
#include "tests/job/blocking_helpers.h"
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
static _Atomic int cleanups[2 * QUEUED];

static void count_cleanup(void *p)
{
    atomic_fetch_add(&cleanups[((struct slot_arg *)p)->i], 1);
}

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
    weft_spawn_opts o = {.name = "queued", .cleanup = count_cleanup};
    for (int i = 0; i < QUEUED; i++) /* onto the injection queue */
        ck_assert_int_eq(weft_spawn_detached_ex(q.rt, queued_task, &args[i], &o), 0);
    ck_assert_int_eq(weft_runtime_destroy(q.rt), 0);
    for (int i = 0; i < 2 * QUEUED; i++) {
        ck_assert_int_eq(atomic_load(&q.runs[i]), 1);
        ck_assert_int_eq(atomic_load(&cleanups[i]), i < QUEUED ? 1 : 0);
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
    _Atomic int started, children_ran, ended, cleanups;
    int saw_cancel, shielded_join_rc, late_spawn_rc;
    weft_runtime *rt;
};

static void straggler_cleanup(void *p)
{
    atomic_fetch_add(&((struct straggler *)p)->cleanups, 1);
}

static int never_runs(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    abort();
}

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
    weft_spawn_opts late = {.cleanup = straggler_cleanup};
    s->late_spawn_rc = weft_spawn_detached_ex(s->rt, never_runs, s, &late);
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
        struct straggler s = {.rt = rt};
        gate_init(&s.gate);
        /* named through on_unhandled, unnamed on stderr */
        weft_spawn_opts o = {.name = to_stderr ? NULL : "stubborn", .cleanup = straggler_cleanup};
        ck_assert_int_eq(weft_spawn_detached_ex(rt, ignore_cancel, &s, &o), 0);
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
            ck_assert_str_eq(u.task, "stubborn");
        }
        ck_assert(ended);
        ck_assert_int_eq(s.saw_cancel, 1);
        ck_assert_int_eq(s.late_spawn_rc, ESHUTDOWN);
        ck_assert_int_eq(atomic_load(&s.cleanups), 1); /* its own; the refused spawn's never */
        /* the workers served its spawns, spare threads included */
        ck_assert_int_eq(s.shielded_join_rc, 0);
        ck_assert_int_eq(atomic_load(&s.children_ran), STRAGGLER_CHILDREN);
        ck_assert_uint_eq(freed_later, freed + 1);
        ck_assert_int_eq(threads_after, threads_before);
    }
}
END_TEST

/* ---- a deadline cancels the task's subtree with ETIMEDOUT ---- */

struct timed {
    weft_time deadline;
    weft_time own_deadline, child_deadline;
    int reason, child_reason, join_rc;
    _Atomic int ended, cleanups;
};

static int timed_child(weft_task *self, void *p)
{
    struct timed *t = p;
    t->child_deadline = weft_deadline(self);
    while (!weft_cancelled(self))
        usleep(100);
    t->child_reason = weft_cancel_reason(self);
    return ECANCELED;
}

static int timed_task(weft_task *self, void *p)
{
    struct timed *t = p;
    t->own_deadline = weft_deadline(self);
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, timed_child, t);
    t->join_rc = weft_group_join(&g, NULL);
    while (!weft_cancelled(self))
        usleep(100);
    t->reason = weft_cancel_reason(self);
    return ECANCELED; /* stopped by its deadline: counts as ETIMEDOUT */
}

static void timed_cleanup(void *p)
{
    struct timed *t = p;
    atomic_fetch_add(&t->cleanups, 1);
    atomic_store(&t->ended, 1);
}

START_TEST(test_a_detached_deadline_cancels_the_subtree_with_etimedout_reported_by_name)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u);
    struct timed t = {.deadline = weft_after(20 * WEFT_MSEC)};
    weft_spawn_opts o = {.name = "refresher", .deadline = t.deadline, .cleanup = timed_cleanup};
    ck_assert_int_eq(weft_spawn_detached_ex(rt, timed_task, &t, &o), 0);
    bool ended = wait_flag(&t.ended); /* by its deadline, long before destroy */
    int reports = wait_for_count(&u.calls, 1); /* made after the cleanup */
    weft_stats st = stats_of(rt);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert(ended);
    ck_assert_int_eq(t.own_deadline, t.deadline);
    ck_assert_int_eq(t.child_deadline, t.deadline);
    ck_assert_int_eq(t.child_reason, ETIMEDOUT);
    ck_assert_int_eq(t.join_rc, ETIMEDOUT);
    ck_assert_int_eq(t.reason, ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&t.cleanups), 1);
    ck_assert_int_eq(reports, 1);
    ck_assert_int_eq(atomic_load(&u.calls), 1);
    ck_assert_int_eq(u.code, ETIMEDOUT);
    ck_assert_str_eq(u.task, "refresher");
    ck_assert_uint_eq(st.unhandled_errors, 1); /* before destroy: at the task's end */
}
END_TEST

/* ---- options taken as weft_spawn_ex takes them ---- */

struct seen_at_start {
    int cancelled, reason;
    weft_time deadline;
    _Atomic int runs, cleanups;
};

static int note_start(weft_task *self, void *p)
{
    struct seen_at_start *a = p;
    a->cancelled = weft_cancelled(self);
    a->reason = weft_cancel_reason(self);
    a->deadline = weft_deadline(self);
    atomic_fetch_add(&a->runs, 1);
    return 0;
}

static void note_cleanup(void *p)
{
    atomic_fetch_add(&((struct seen_at_start *)p)->cleanups, 1);
}

START_TEST(test_spawn_detached_ex_takes_options_as_weft_spawn_ex_does)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u);
    struct seen_at_start none = {0}, zero = {0}, never = {0}, past = {0}, refused = {0};
    weft_spawn_opts cleanup_only = {.cleanup = note_cleanup};
    weft_spawn_opts o_zero = {.deadline = 0, .cleanup = note_cleanup};
    weft_spawn_opts o_never = {.deadline = WEFT_NEVER, .cleanup = note_cleanup};
    weft_spawn_opts o_past = {.name = "late", .deadline = weft_now() - WEFT_SEC,
                              .cleanup = note_cleanup};
    ck_assert_int_eq(weft_spawn_detached_ex(NULL, note_start, &refused, &cleanup_only), EINVAL);
    ck_assert_int_eq(weft_spawn_detached_ex(rt, NULL, &refused, &cleanup_only), EINVAL);
    ck_assert_int_eq(weft_spawn_detached_ex(rt, note_start, &none, NULL), 0);
    ck_assert_int_eq(weft_spawn_detached_ex(rt, note_start, &zero, &o_zero), 0);
    ck_assert_int_eq(weft_spawn_detached_ex(rt, note_start, &never, &o_never), 0);
    ck_assert_int_eq(weft_spawn_detached_ex(rt, note_start, &past, &o_past), 0);
    /* each runs before destroy, which would cancel it */
    weft_time end = weft_after(BUDGET);
    while ((atomic_load(&none.runs) == 0 || atomic_load(&zero.runs) == 0 ||
            atomic_load(&never.runs) == 0 || atomic_load(&past.runs) == 0) &&
           weft_now() < end)
        usleep(1000);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0);
    ck_assert_int_eq(atomic_load(&refused.runs), 0);
    ck_assert_int_eq(atomic_load(&refused.cleanups), 0);
    ck_assert_int_eq(atomic_load(&none.runs), 1);
    ck_assert_int_eq(none.cancelled, 0);
    ck_assert_int_eq(none.deadline, WEFT_NEVER);
    ck_assert_int_eq(atomic_load(&none.cleanups), 0);
    ck_assert_int_eq(atomic_load(&zero.runs), 1); /* 0: no deadline */
    ck_assert_int_eq(zero.cancelled, 0);
    ck_assert_int_eq(zero.deadline, WEFT_NEVER);
    ck_assert_int_eq(atomic_load(&zero.cleanups), 1);
    ck_assert_int_eq(atomic_load(&never.runs), 1);
    ck_assert_int_eq(never.cancelled, 0);
    ck_assert_int_eq(never.deadline, WEFT_NEVER);
    ck_assert_int_eq(atomic_load(&never.cleanups), 1);
    /* already past: it runs once all the same, cancelled from its start */
    ck_assert_int_eq(atomic_load(&past.runs), 1);
    ck_assert_int_eq(past.cancelled, 1);
    ck_assert_int_eq(past.reason, ETIMEDOUT);
    ck_assert_int_eq(past.deadline, o_past.deadline);
    ck_assert_int_eq(atomic_load(&past.cleanups), 1);
    ck_assert_int_eq(atomic_load(&u.calls), 0); /* it returned 0: no failure */
}
END_TEST

/* ---- without memory for its record a task still runs, and is cancelled ---- */

struct no_record {
    _Atomic int started;
    int reason;
    weft_time deadline;
};

static int record_less(weft_task *self, void *p)
{
    struct no_record *n = p;
    n->deadline = weft_deadline(self);
    atomic_store(&n->started, 1);
    while (!weft_cancelled(self))
        usleep(100);
    n->reason = weft_cancel_reason(self);
    return 0; /* ran without its deadline: ENOMEM */
}

static int nothing(weft_task *self, void *p)
{
    (void)self;
    (void)p;
    return 0;
}

static int root_starves_a_start(weft_task *self, void *p)
{
    struct no_record *n = p;
    /* warm what the spawn needs: this worker's descriptors (a named
     * spawn's: a plain one has none), the timer */
    weft_group g;
    weft_group_opts timed = {.deadline = weft_after(BUDGET)};
    weft_spawn_opts named = {.name = "warm"};
    weft_group_init(&g, self, &timed);
    weft_spawn_ex(&g, nothing, NULL, &named);
    weft_group_join(&g, NULL);
    /* no record was ever taken: the start's is the next allocation */
    weft__alloc_fail_from(1);
    weft_spawn_opts o = {.name = "starved", .deadline = weft_after(BUDGET)};
    int rc = weft_spawn_detached_ex(weft__runtime_of_sched(weft__self_thread->sched), record_less, n, &o);
    weft_time end = weft_after(BUDGET);
    while (rc == 0 && !atomic_load(&n->started) && weft_now() < end) /* the other worker's */
        sched_yield();
    weft__alloc_fail_from(0);
    return rc;
}

START_TEST(test_a_detached_task_without_memory_for_its_record_runs_cancellable_and_says_enomem)
{
    struct unhandled u = {0};
    weft_runtime *rt = pool_runtime(2, 0, 0, 0, &u);
    struct no_record n = {0};
    ck_assert_int_eq(weft_run(rt, root_starves_a_start, &n, NULL), 0);
    ck_assert_int_eq(atomic_load(&n.started), 1);
    ck_assert_int_eq(weft_runtime_destroy(rt), 0); /* it was cancelled all the same */
    ck_assert_int_eq(n.deadline, WEFT_NEVER);      /* its deadline was lost */
    ck_assert_int_eq(n.reason, ECANCELED);
    ck_assert_int_eq(atomic_load(&u.calls), 1);
    ck_assert_int_eq(u.code, ENOMEM);
    ck_assert_str_eq(u.task, "starved");
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
    tcase_add_test(tc, test_a_detached_deadline_cancels_the_subtree_with_etimedout_reported_by_name);
    tcase_add_test(tc, test_spawn_detached_ex_takes_options_as_weft_spawn_ex_does);
    tcase_add_test(tc, test_a_detached_task_without_memory_for_its_record_runs_cancellable_and_says_enomem);
    suite_add_tcase(s, tc);
    return s;
}
