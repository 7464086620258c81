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
 * after its CAS); one pushed down from an ancestor notes that ancestor and
 * its gen. The join reads the note after every task ended. The ancestor is
 * still live then (the group's owner runs below it), so its name can be
 * read; a gen that no longer matches ends the walk. A note not yet visible
 * (a cancel racing with the join's end) leaves the plain reason.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "runtime/errors.h"
#include "runtime/internal.h"

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

/* who cancelled g's life (its note), or -1 while not known */
static int by_of(struct weft__group *g)
{
    return (int)atomic_load_explicit(&g->cancel_by, memory_order_acquire) - 1;
}

/* "deadline exceeded", and how long after the group began when it knows */
static void deadline_text(struct weft__group *g, char *buf, size_t size)
{
    if (g->started != 0 && g->deadline != WEFT_NEVER && g->deadline >= g->started)
        snprintf(buf, size, "deadline exceeded, %.3f ms after it started",
                 (double)(g->deadline - g->started) / 1e6);
    else
        snprintf(buf, size, "deadline exceeded");
}

/* The reason of a life whose note is `by` (not an ancestor's). */
static void own_text(struct weft__group *g, int by, int reason, char *buf, size_t size)
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

weft_errors *weft__cancel_record(struct weft__group *g, uint64_t w)
{
    int reason = (int)weft__cancel_reason_of(w);
    int by = by_of(g);
    char text[192];
    struct weft_error *rec;
    if (by != WEFT__BY_ANCESTOR) {
        own_text(g, by, reason, text, sizeof text);
        rec = record(reason, g->name, "cancelled: %s", text);
        return rec != NULL ? weft__errors_of(rec) : NULL;
    }
    /* up the notes to the cancel that began it */
    struct weft__group *a = g->cancel_from;
    uint32_t gen = g->cancel_from_gen;
    int hops = 0;
    for (;;) {
        uint64_t aw = a != NULL ? atomic_load_explicit(&a->cancel, memory_order_acquire) : 0;
        if (a == NULL || weft__cancel_gen(aw) != gen || ++hops > MAX_HOPS) {
            rec = record(reason, g->name, "cancelled: an enclosing scope was");
            return rec != NULL ? weft__errors_of(rec) : NULL;
        }
        int aby = by_of(a);
        if (aby != WEFT__BY_ANCESTOR || a->cancel_from == NULL) {
            own_text(a, aby, (int)weft__cancel_reason_of(aw), text, sizeof text);
            break;
        }
        gen = a->cancel_from_gen;
        a = a->cancel_from;
    }
    if (a->name != NULL)
        rec = record(reason, g->name, "cancelled: the enclosing '%s' was, %s", a->name, text);
    else
        rec = record(reason, g->name, "cancelled: an enclosing scope was, %s", text);
    return rec != NULL ? weft__errors_of(rec) : NULL;
}
