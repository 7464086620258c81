/*
 * Failures nobody can observe: a detached task's, or a blocking job's
 * released before any wait saw its end (or still held, unseen, at destroy:
 * weft__blocking_report_unobserved). asyncio logs "Task exception was never retrieved"; weft
 * counts them in the stats and hands each to the runtime's on_unhandled,
 * whose default prints one line on stderr. So go the detached tasks that
 * destroy gave up on, as asyncio.run names the tasks it could not cancel.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "errors/errors.h"
#include "runtime/runtime.h"

static void print_line(const char *what, const weft_error *e)
{
    const char *task = weft_error_task(e);
    char num[16];
    const char *code = weft__errno_label(weft_error_code(e), num);
    size_t nested = weft_errors_count(weft_error_cause(e));
    fprintf(stderr, "weft: %s %s failed: %s: %s%s (error never retrieved)\n", what,
            task[0] != '\0' ? task : "(unnamed)", code, weft_error_message(e),
            nested != 0 ? " (with nested errors)" : "");
}

void weft__unhandled(weft_runtime *rt, const char *what, const char *name, int rc,
                     struct weft_error *rec)
{
    atomic_fetch_add_explicit(&rt->unhandled_errors, 1, memory_order_relaxed);
    struct weft_error local;
    char text[128];
    const struct weft_error *e = rec;
    if (e == NULL) /* no memory for a record: one on the stack is enough here */
        e = weft__error_local(&local, rc, name, text, sizeof text);
    if (rt->on_unhandled != NULL)
        rt->on_unhandled(e, rt->on_unhandled_arg);
    else
        print_line(what, e);
    weft__error_free(rec);
}

void weft__unhandled_straggler(weft_runtime *rt, const char *name)
{
    atomic_fetch_add_explicit(&rt->unhandled_errors, 1, memory_order_relaxed);
    if (rt->on_unhandled == NULL) {
        fprintf(stderr,
                "weft: detached task %s still running at shutdown: weft_runtime_destroy "
                "returned ETIMEDOUT, the runtime is freed when it ends\n",
                name[0] != '\0' ? name : "(unnamed)");
        return;
    }
    struct weft_error e;
    char text[128];
    weft__error_local(&e, ETIMEDOUT, name, text, sizeof text);
    e.message = "still running at shutdown";
    rt->on_unhandled(&e, rt->on_unhandled_arg);
}
