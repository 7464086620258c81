/*
 * From a task's failure to its record: weft_fail and weft_fail_from leave a
 * pending record on the running task (task->failure, flagged in its kind so
 * that its end takes run_task's tail); at the end the record gets the code
 * the task returned, or is dropped if it returned 0. Errors of inner groups
 * joined without taking them are kept the same way, as that record's cause,
 * so a failure that comes from an inner group carries it even when the task
 * did not call weft_fail_from: no failure is lost on the way up.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>

#include "errors/errors.h"
#include "scope/scope.h"

/* The name t, running on this thread, was given at spawn, or NULL: its
 * kind knows (weft__task_kind_ops). */
static const char *task_name(const struct weft_task *t)
{
    struct weft__thread *thr = weft__self_thread;
    struct weft__sched *sched = thr != NULL ? thr->sched
                                : weft__off_worker_scopes != NULL ? &weft__off_worker_scopes->sched
                                                           : NULL;
    if (sched == NULL)
        return NULL;
    const struct weft__task_kind_ops *kind = sched->kinds[t->kind & WEFT__TASK_KIND_MASK];
    return kind != NULL && kind->name != NULL ? kind->name(t) : NULL;
}

static struct weft_error *pending(const struct weft_task *t)
{
    return (t->kind & WEFT__TASK_FAILED) != 0 ? t->failure : NULL;
}

/* rec becomes t's pending record; an older one's cause moves over to it. */
static void set_pending(struct weft_task *t, struct weft_error *rec)
{
    struct weft_error *old = pending(t);
    if (old != NULL) {
        weft__error_add_cause(rec, old->cause);
        old->cause = NULL;
        weft__error_free(old);
    }
    t->failure = rec;
    t->kind |= WEFT__TASK_FAILED;
}

__thread struct weft_task *weft__off_worker_task __attribute__((tls_model("initial-exec")));
__thread struct weft__scopes *weft__off_worker_scopes __attribute__((tls_model("initial-exec")));

struct weft_task *weft__task_running(weft_task *self)
{
    struct weft__thread *thr = weft__self_thread;
    if (self != NULL && thr != NULL && thr->current == self)
        return self;
    return self != NULL && weft__off_worker_task == self ? self : NULL;
}

static int fail(weft_task *self, weft_errors *cause, int code, const char *fmt, va_list ap)
{
    struct weft_task *t = weft__task_running(self);
    if (t == NULL || code == 0) {
        weft_errors_free(cause);
        return EINVAL;
    }
    struct weft_error *rec = weft__error_new(code, task_name(t), fmt, ap);
    if (rec != NULL) {
        set_pending(t, rec);
    } else if ((rec = pending(t)) == NULL) {
        /* no memory for any record: its end tries again, without the cause */
        weft_errors_free(cause);
        return code;
    }
    weft__error_add_cause(rec, cause);
    return code;
}

int weft_fail(weft_task *self, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail(self, NULL, code, fmt, ap);
    va_end(ap);
    return rc;
}

int weft_fail_from(weft_task *self, weft_errors *cause, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail(self, cause, code, fmt, ap);
    va_end(ap);
    return rc;
}

struct weft_error *weft__task_take_pending(struct weft_task *t)
{
    struct weft_error *rec = pending(t);
    t->kind &= ~(uint32_t)WEFT__TASK_FAILED;
    return rec;
}

void weft__task_put_pending(struct weft_task *t, struct weft_error *rec)
{
    if (rec != NULL)
        set_pending(t, rec);
}

struct weft_error *weft__task_attempt_failure(struct weft_task *t, int rc)
{
    return weft__task_failure(t, task_name(t), rc);
}

void weft__task_keep_cause(struct weft_task *t, weft_errors *errs)
{
    if (errs == NULL)
        return;
    struct weft_error *rec = pending(t);
    if (rec == NULL) {
        /* code 0: no weft_fail yet; weft__task_failure describes the code */
        rec = weft__error_plain(0, task_name(t));
        if (rec == NULL) {
            weft_errors_free(errs);
            return;
        }
        set_pending(t, rec);
    }
    weft__error_add_cause(rec, errs);
}

struct weft_error *weft__task_failure(struct weft_task *t, const char *name, int rc)
{
    struct weft_error *rec = pending(t);
    t->kind &= ~(uint32_t)WEFT__TASK_FAILED;
    if (rc == 0) {
        weft__error_free(rec);
        return NULL;
    }
    if (rec == NULL) {
        rec = weft__error_plain(rc, name);
        if (rec != NULL)
            rec->arg = t->arg;
        return rec;
    }
    if (rec->code == 0) { /* kept causes only: the message is the code's description */
        struct weft_error *d = weft__error_plain(rc, name);
        if (d != NULL) {
            d->cause = rec->cause;
            rec->cause = NULL;
            weft__error_free(rec);
            rec = d;
        } else {
            rec->message = "(no description: out of memory)";
        }
    }
    rec->code = rc;
    rec->arg = t->arg;
    return rec;
}
