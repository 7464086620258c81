/*
 * Misuse: calls the contract says are refused (EINVAL, mostly) or ignored
 * (NULL to a void call). None may crash, hang, run a function it was given,
 * or disturb the program's own groups and jobs.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include <weft/weft.h>

#include "fuzz/fuzz.h"

weft_runtime *fz_runtime;

static _Atomic int never_runs;

static int must_not_run(weft_task *self, void *arg)
{
    (void)self;
    (void)arg;
    atomic_fetch_add(&never_runs, 1);
    return 0;
}

static int must_not_run_body(weft_task *self, size_t lo, size_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    return must_not_run(self, arg);
}

static void must_not_run_cb(void *arg)
{
    must_not_run(NULL, arg);
}

#define REFUSED(call)                                                                       \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        FZ_CHECK(rc_ == EINVAL, "%s: %d, not EINVAL", #call, rc_);                          \
    } while (0)

static void groups(struct fz_frame *f, unsigned which)
{
    weft_group g;
    weft_group_opts bad_flags = {.flags = 1u << 7};
    weft_spawn_opts so = {.name = "misuse"};
    switch (which) {
    case 0:
        REFUSED(weft_group_init(NULL, f->self, NULL));
        REFUSED(weft_group_init(&g, NULL, NULL));
        REFUSED(weft_group_init(&g, f->self, &bad_flags));
        break;
    case 1:
        REFUSED(weft_spawn(NULL, must_not_run, NULL));
        REFUSED(weft_spawn_ex(NULL, must_not_run, NULL, &so));
        REFUSED(weft_group_join(NULL, NULL));
        REFUSED(weft_group_wait(NULL, 0));
        REFUSED(weft_group_next(NULL, 0, NULL, NULL));
        weft_group_cancel(NULL);
        if (f->n_open > 0) {
            weft_group *top = &f->open[f->n_open - 1].g;
            REFUSED(weft_spawn(top, NULL, NULL));
            REFUSED(weft_spawn_ex(top, NULL, NULL, &so));
            if ((f->open[f->n_open - 1].m.flags & WEFT_STREAM) == 0)
                REFUSED(weft_group_next(top, 0, NULL, NULL));
        }
        break;
    case 2: /* a joined group: refused, and a cancel does nothing */
        if (!f->have_joined)
            break;
        REFUSED(weft_spawn(&f->joined, must_not_run, NULL));
        REFUSED(weft_spawn_ex(&f->joined, must_not_run, NULL, &so));
        REFUSED(weft_group_join(&f->joined, NULL));
        REFUSED(weft_group_wait(&f->joined, 0));
        REFUSED(weft_group_next(&f->joined, 0, NULL, NULL));
        weft_group_cancel(&f->joined);
        break;
    default: /* the group this task runs in is not its own to wait or join */
        if (f->group == NULL)
            break;
        REFUSED(weft_group_wait(f->group->handle, 0));
        REFUSED(weft_group_next(f->group->handle, 0, NULL, NULL));
        REFUSED(weft_group_join(f->group->handle, NULL));
        break;
    }
}

static void calls(struct fz_frame *f, unsigned which)
{
    weft_retry bad[] = {
        {.factor = 0.5},
        {.jitter = 1.5},
        {.jitter = NAN},
        {.base_delay = -1},
        {.max_delay = -5},
        {.base_delay = 2 * WEFT_MSEC, .max_delay = WEFT_MSEC},
    };
    weft_cancel_cb cb;
    weft_job *job = NULL;
    switch (which) {
    case 0:
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            REFUSED(weft_retry_run(f->self, &bad[i], must_not_run, NULL));
        REFUSED(weft_retry_run(NULL, NULL, must_not_run, NULL));
        REFUSED(weft_retry_run(f->self, NULL, NULL, NULL));
        break;
    case 1:
        REFUSED(weft_parallel_for(f->self, 0, 10, 0, must_not_run_body, NULL));
        REFUSED(weft_parallel_for(f->self, 5, 4, 1, must_not_run_body, NULL));
        REFUSED(weft_parallel_for(f->self, 0, 10, 1, NULL, NULL));
        REFUSED(weft_parallel_for(NULL, 0, 10, 1, must_not_run_body, NULL));
        break;
    case 2:
        REFUSED(weft_fail(f->self, 0, "code 0"));
        REFUSED(weft_fail(NULL, EIO, "no task"));
        REFUSED(weft_fail_from(NULL, NULL, EIO, "no task"));
        REFUSED(weft_sleep(NULL, 0));
        FZ_CHECK(!weft_cancelled(NULL) && weft_cancel_reason(NULL) == 0, "NULL task cancelled");
        FZ_CHECK(weft_deadline(NULL) == WEFT_NEVER, "NULL task has a deadline");
        FZ_CHECK(weft_worker_id(NULL) == -1, "NULL task has a worker");
        break;
    case 3:
        REFUSED(weft_on_cancel(NULL, &cb, must_not_run_cb, NULL));
        REFUSED(weft_on_cancel(f->self, NULL, must_not_run_cb, NULL));
        REFUSED(weft_on_cancel(f->self, &cb, NULL, NULL));
        weft_on_cancel_remove(&cb); /* after a refused registration: harmless */
        weft_on_cancel_remove(NULL);
        break;
    case 4:
        REFUSED(weft_spawn_blocking(f->self, NULL, NULL, NULL, &job));
        REFUSED(weft_spawn_blocking(f->self, must_not_run, NULL, NULL, NULL));
        REFUSED(weft_spawn_blocking(NULL, must_not_run, NULL, NULL, &job));
        FZ_CHECK(job == NULL, "a refused weft_spawn_blocking wrote the handle");
        REFUSED(weft_job_wait(NULL, 0));
        FZ_CHECK(!weft_job_done(NULL), "weft_job_done(NULL)");
        weft_job_cancel(NULL);
        weft_job_release(NULL);
        break;
    case 5: /* from inside a task these would deadlock or free what runs */
        REFUSED(weft_run(fz_runtime, must_not_run, NULL, NULL));
        REFUSED(weft_runtime_destroy(fz_runtime));
        REFUSED(weft_run(NULL, must_not_run, NULL, NULL));
        REFUSED(weft_spawn_detached(NULL, must_not_run, NULL));
        REFUSED(weft_runtime_destroy(NULL));
        break;
    default:
        FZ_CHECK(weft_errors_count(NULL) == 0 && weft_errors_at(NULL, 0) == NULL &&
                     weft_errors_lost(NULL) == 0,
                 "NULL error list not empty");
        FZ_CHECK(weft_error_code(NULL) == EINVAL && weft_error_message(NULL) != NULL &&
                     weft_error_task(NULL) != NULL && weft_error_cause(NULL) == NULL,
                 "NULL error record");
        FZ_CHECK(weft_errors_at(f->last_errs, weft_errors_count(f->last_errs)) == NULL,
                 "weft_errors_at past the end");
        weft_errors_free(NULL);
        break;
    }
}

void fz_op_misuse(struct fz_frame *f, const struct fz_node *n)
{
    unsigned which = n->a % 11u;
    if (which < 4)
        groups(f, which);
    else
        calls(f, which - 4);
    FZ_CHECK(atomic_load(&never_runs) == 0, "a refused call ran its function");
}
