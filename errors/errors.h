/*
 * Error records and lists (errors.c, errors_print.c, fail.c).
 *
 * A failed task leaves one record: its code, a message (weft_fail's, or the
 * code's description), its name and, from weft_fail_from or an inner group
 * joined without asking for its errors, the errors of that inner group as
 * its cause. A group collects its tasks' records newest first in a lock-free
 * stack; its join turns them into a list in completion order.
 *
 * A list needs no allocation of its own: its header lives in its first
 * record, so a list is handed out even when memory is gone. A record that
 * cannot be allocated comes from a small static reserve (with its text
 * truncated); past that the failure is only counted (`lost`), and the code
 * still reaches the joiner through the group's earliest-failure code.
 */
#ifndef WEFT_RUNTIME_ERRORS_H
#define WEFT_RUNTIME_ERRORS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

struct weft_errors {
    size_t count;               /* records reachable from first */
    size_t lost;                /* failures that got no record (no memory) */
    struct weft_error *first;   /* the record this header lives in */
    struct weft_error *last;
    struct weft_error **index;  /* count entries for weft_errors_at; NULL: walk */
};

struct weft_error {
    struct weft_error *next; /* completion order in a list; newer first in a group's stack */
    weft_errors *cause;      /* owned; NULL for none */
    const char *message;     /* never NULL */
    const char *task;        /* never NULL: "" without a name */
    void *arg;               /* the failed task's or job's arg; NULL: made by the runtime */
    int code;
    int reserve; /* -1: heap; else its index in the static reserve */
    struct weft_errors list; /* used while this record heads a list */
};

/* A record for a failure with `code` of the task named `task` (NULL: none):
 * message from fmt (NULL: the code's description). NULL when neither the
 * heap nor the reserve has room. */
struct weft_error *weft__error_new(int code, const char *task, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* The same without a format: the code's description. */
struct weft_error *weft__error_plain(int code, const char *task);
/* A record in caller's storage, for one call (no copy of task): e. */
struct weft_error *weft__error_local(struct weft_error *e, int code, const char *task,
                                     char *text, size_t size);
/* Free one record and its cause (not its `next`). */
void weft__error_free(struct weft_error *e);

/* Append list b (may be NULL) to record e's cause, taking b. */
void weft__error_add_cause(struct weft_error *e, weft_errors *b);

/* A group's stack of records, newest first (Treiber: failures are rare). */
static inline void weft__errors_push(_Atomic(struct weft_error *) *stack, struct weft_error *e)
{
    struct weft_error *head = atomic_load_explicit(stack, memory_order_relaxed);
    do
        e->next = head;
    /* release: the record's fields before the joiner's acquire exchange */
    while (!atomic_compare_exchange_weak_explicit(stack, &head, e, memory_order_release,
                                                  memory_order_relaxed));
}
/* Take a stack (newest first) and `lost` failures as a list in completion
 * order; NULL when both are empty. With lost failures but no record, a
 * reserve record says how many (or NULL when even that is gone). */
weft_errors *weft__errors_from_stack(struct weft_error *newest_first, size_t lost);
/* Append list b to list a (either may be NULL); returns the result. */
weft_errors *weft__errors_concat(weft_errors *a, weft_errors *b);
/* One list holding e alone (e not in any list). */
weft_errors *weft__errors_of(struct weft_error *e);
/* Build the list's index for O(1) weft_errors_at (no-op without memory). */
void weft__errors_index(weft_errors *l);

/* The name of an errno code, e.g. "ETIMEDOUT"; NULL if it has none. */
const char *weft__errno_name(int code);
/* Its name, or "error N" written in buf. */
const char *weft__errno_label(int code, char buf[static 16]);

#endif
