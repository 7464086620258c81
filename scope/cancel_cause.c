/*
 * Why a group was cancelled, as the record its join hands out.
 *
 * weft_group_join promises that whenever it returns non-zero and the caller
 * asks for the errors, the first record carries the returned code. A group
 * ended by a cancel, with no failure of its own, would otherwise hand out
 * nothing; this record says why instead: its deadline (and how long after
 * the group started), a weft_group_cancel, or the ancestor whose cancel
 * reached it, named, with that ancestor's own reason. Every such message
 * begins "cancelled: ", which no task's own record does unless it says so:
 *   cancelled: deadline exceeded, 2.000 ms after it started
 *   cancelled: by weft_group_cancel
 *   cancelled: the enclosing 'batch' was, deadline exceeded, 5.000 ms after it started
 *
 * The cancel that wins a life's word notes who it was (weft__cancel_note,
 * after its CAS), tagged with that life's gen; one pushed down from an
 * ancestor says only that. The join reads the note after every task ended
 * and, for an ancestor's, walks the parent links up to the first ancestor
 * whose note is its own: those are live then (the group's owner runs below
 * them), so their names can be read. A note of another life (the winner of
 * an earlier life's cancel, storing late) or none yet (a cancel racing with
 * the join's end) tells nothing: the reason alone is described.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "errors/errors.h"
#include "scope/scope.h"

enum { MAX_HOPS = 1024 }; /* a cycle cannot happen; the bound is belt and braces */

static struct weft_error *record(int code, const char *group, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct weft_error *record(int code, const char *group, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct weft_error *e = weft__error_new(code, group, fmt, ap);
    va_end(ap);
    return e;
}

/* who cancelled g's life `gen` (its note), or -1 while not known */
static int by_of(struct weft__scope *g, uint32_t gen)
{
    uint64_t note = atomic_load_explicit(&g->cancel_note, memory_order_relaxed);
    return (uint32_t)(note >> 32) == gen ? (int)(uint32_t)note - 1 : -1;
}

/* "deadline exceeded", and how long after the group began when it knows */
static void deadline_text(struct weft__scope *g, char *buf, size_t size)
{
    if (g->started != 0 && g->deadline != WEFT_NEVER && g->deadline >= g->started)
        snprintf(buf, size, "deadline exceeded, %.3f ms after it started",
                 (double)(g->deadline - g->started) / 1e6);
    else
        snprintf(buf, size, "deadline exceeded");
}

/* The reason of a life whose note is `by` (not an ancestor's). */
static void own_text(struct weft__scope *g, int by, int reason, char *buf, size_t size)
{
    switch (by) {
    case WEFT__BY_DEADLINE:
        deadline_text(g, buf, size);
        return;
    case WEFT__BY_CALL:
        snprintf(buf, size, "by weft_group_cancel");
        return;
    case WEFT__BY_FAILURE:
        snprintf(buf, size, "a task failed");
        return;
    case WEFT__BY_SCOPE_CALL:
        snprintf(buf, size, "by weft_scope_cancel");
        return;
    case WEFT__BY_SHUTDOWN:
        snprintf(buf, size, "by weft_runtime_destroy");
        return;
    default: /* its note is not visible yet: the reason alone tells */
        if (reason == ETIMEDOUT)
            deadline_text(g, buf, size);
        else
            snprintf(buf, size, "by a cancel");
    }
}

weft_errors *weft__cancel_record(struct weft__scope *g, uint64_t w)
{
    int reason = (int)weft__cancel_reason_of(w);
    int by = by_of(g, weft__cancel_gen(w));
    char text[192];
    struct weft_error *rec;
    if (by != WEFT__BY_ANCESTOR) {
        own_text(g, by, reason, text, sizeof text);
        rec = record(reason, g->name, "cancelled: %s", text);
        return rec != NULL ? weft__errors_of(rec) : NULL;
    }
    /* up the parent links to the cancel that began it: each is live, since
     * g's owner runs below it; a shield ends the inheritance */
    struct weft__scope *a = g;
    int aby = -1, areason = 0;
    for (int hops = 0; hops < MAX_HOPS; hops++) {
        uint64_t pw;
        struct weft__scope *p = weft__scope_enclosing(a, &pw);
        if (p == NULL || weft__cancel_reason_of(pw) == 0)
            break;
        a = p;
        areason = (int)weft__cancel_reason_of(pw);
        if ((aby = by_of(p, weft__cancel_gen(pw))) != WEFT__BY_ANCESTOR)
            break;
    }
    if (a == g) {
        rec = record(reason, g->name, "cancelled: an enclosing scope was");
        return rec != NULL ? weft__errors_of(rec) : NULL;
    }
    own_text(a, aby, areason, text, sizeof text);
    if (a->name != NULL)
        rec = record(reason, g->name, "cancelled: the enclosing '%s' was, %s", a->name, text);
    else
        rec = record(reason, g->name, "cancelled: an enclosing scope was, %s", text);
    return rec != NULL ? weft__errors_of(rec) : NULL;
}
