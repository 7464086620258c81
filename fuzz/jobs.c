/*
 * Blocking-job commands: spawn (a job sleeps briefly, then returns 0, fails,
 * or stops for its cancel), wait with a short deadline, cancel, release.
 * Each job counts its runs and cleanups; fz_jobs_outstanding tells the
 * driver when released jobs, which finish in the background, have all ended.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "fuzz/fuzz.h"

enum { JOB_OK, JOB_FAIL, JOB_STOP_IF_CANCELLED, JOB_SLEEP_RC, JOB_KINDS };

static int job_main(weft_task *self, void *arg)
{
    struct fz_job *j = arg;
    char what[16];
    snprintf(what, sizeof what, "job %u", j->id);
    struct oracle_runs runs = {.what = what, .spawned = 1, .runs = atomic_fetch_add(&j->runs, 1) + 1,
                               .returns = -1, .cleanups = -1, .cleanups_early = -1};
    struct oracle_verdict v;
    fz_verdict(oracle_check_runs(&runs, &v), &v);
    FZ_CHECK(weft_worker_id(self) == -1, "job %u runs on CPU worker %d", j->id,
             weft_worker_id(self));
    fz_verdict(oracle_check_deadline(what, weft_deadline(self), j->expect_deadline, &v), &v);
    weft_scope refused; /* scopes are for tasks on the workers */
    int erc = weft_scope_enter(self, &refused, NULL);
    FZ_CHECK(erc == EINVAL, "weft_scope_enter from job %u: %d, not EINVAL", j->id, erc);
    /* anything may have cancelled it (weft_job_cancel, its spawner's scope) */
    bool cancelled = weft_cancelled(self);
    fz_verdict(oracle_check_cancel_state(what, cancelled, weft_cancel_reason(self), true,
                                         weft_now() >= j->expect_deadline, &v),
               &v);
    weft_time until = weft_after((int64_t)(j->param & 15) * 128 * WEFT_USEC);
    int slept = weft_sleep(self, until);
    weft_time now = weft_now();
    fz_verdict(oracle_check_sleep(what, slept, now >= until, true,
                                  now >= fz_min(until, j->expect_deadline), &v),
               &v);
    int rc = 0;
    switch (j->kind) {
    case JOB_FAIL: rc = weft_fail(self, fz_fail_code(j->param), "fz-job %u", j->id); break;
    case JOB_STOP_IF_CANCELLED: rc = weft_cancelled(self) ? ECANCELED : 0; break;
    case JOB_SLEEP_RC: rc = slept; break;
    default: break;
    }
    atomic_store(&j->rc, rc);
    atomic_store(&j->done, true);
    return rc;
}

static void job_cleanup(void *arg)
{
    struct fz_job *j = arg;
    char what[16];
    snprintf(what, sizeof what, "job %u", j->id);
    struct oracle_runs runs = {.what = what, .spawned = 1, .runs = 1, .returns = -1,
                               .cleanups = -1, .cleanups_early = !atomic_load(&j->done)};
    struct oracle_verdict v;
    fz_verdict(oracle_check_runs(&runs, &v), &v);
    atomic_fetch_add(&j->cleanups, 1);
    atomic_fetch_sub(&fz_jobs_outstanding, 1); /* the last touch of j */
}

void fz_op_job(struct fz_frame *f, struct fz_node *n)
{
    struct fz_job_slot *slot = NULL;
    for (unsigned i = 0; i < FZ_MAX_JOBS && slot == NULL; i++)
        if (f->jobs[i].handle == NULL)
            slot = &f->jobs[i];
    if (slot == NULL)
        return;
    struct fz_job *j = &n->u.job;
    memset(j, 0, sizeof *j);
    j->id = n->id;
    snprintf(j->name, sizeof j->name, "j%u", j->id);
    j->kind = (uint8_t)(n->a % JOB_KINDS);
    j->param = n->b;
    weft_time d = fz_deadline_choice((uint8_t)(n->a >> 2));
    j->expect_deadline = oracle_spawn_deadline(f->deadline, d);
    weft_spawn_opts o = {.name = (n->a & 0x40) ? j->name : NULL,
                         .deadline = d,
                         .cleanup = job_cleanup};
    atomic_fetch_add(&fz_jobs_outstanding, 1);
    int rc = weft_spawn_blocking(f->self, job_main, j, &o, &slot->handle);
    if (rc != 0) {
        atomic_fetch_sub(&fz_jobs_outstanding, 1);
        fz_violation("weft_spawn_blocking: %d", rc);
    }
    j->spawned = true;
    slot->rec = j;
    slot->cause_kept = false;
}

static struct fz_job_slot *slot_of(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_job_slot *s = &f->jobs[n->a % FZ_MAX_JOBS];
    return s->handle != NULL ? s : NULL;
}

void fz_op_job_wait(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_job_slot *s = slot_of(f, n);
    if (s == NULL)
        return;
    weft_time until = fz_wait_choice(n->b);
    int rc = weft_job_wait(s->handle, until);
    bool done = atomic_load(&s->rec->done);
    int status = atomic_load(&s->rec->rc);
    weft_time now = weft_now();
    struct oracle_job_wait w = {.what = s->rec->name,
                                .rc = rc,
                                .done = done,
                                .status = status,
                                .own_deadline_passed = now >= s->rec->expect_deadline,
                                .cancel_possible = true,
                                .ecanceled_possible = fz_ecanceled_possible(f->scope),
                                .deadline_passed = now >= fz_min(until, f->deadline)};
    struct oracle_verdict v;
    fz_verdict(oracle_check_job_wait(&w, &v), &v);
    if (done && rc == status && fz_is_fail_code(status) && !s->cause_kept) {
        s->cause_kept = true; /* its record became self's cause (weft_job_wait(3)) */
        f->kept_causes++;
    }
}

void fz_op_job_cancel(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_job_slot *s = slot_of(f, n);
    if (s != NULL)
        weft_job_cancel(s->handle);
}

void fz_op_job_release(struct fz_frame *f, const struct fz_node *n)
{
    struct fz_job_slot *s = slot_of(f, n);
    if (s == NULL)
        return;
    weft_job_release(s->handle);
    s->handle = NULL;
    s->rec = NULL;
}

void fz_jobs_release_all(struct fz_frame *f)
{
    for (unsigned i = 0; i < FZ_MAX_JOBS; i++)
        if (f->jobs[i].handle != NULL) {
            weft_job_release(f->jobs[i].handle);
            f->jobs[i].handle = NULL;
        }
}
