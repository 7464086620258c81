/*
 * Error records: allocation (heap, else a static reserve), lists in
 * completion order, and the public read-only API (see errors.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "errors/errors.h"

/* ---- the reserve: records for when malloc fails ---- */

enum { RESERVE_RECORDS = 32, RESERVE_TEXT = 160 };

struct reserve_record {
    struct weft_error e;
    char text[RESERVE_TEXT];
};

static struct reserve_record reserve[RESERVE_RECORDS];
static _Atomic uint32_t reserve_used; /* bit i: reserve[i] is handed out */
_Static_assert(RESERVE_RECORDS <= 32, "one bit per reserve record");

static struct weft_error *reserve_take(char **text, size_t *cap)
{
    uint32_t used = atomic_load_explicit(&reserve_used, memory_order_relaxed);
    for (;;) {
        if (used == UINT32_MAX)
            return NULL;
        int i = __builtin_ctz(~used);
        /* acquire: the last user's writes to reserve[i] came before its release */
        if (atomic_compare_exchange_weak_explicit(&reserve_used, &used, used | 1u << i,
                                                  memory_order_acquire, memory_order_relaxed)) {
            reserve[i].e.reserve = i;
            *text = reserve[i].text;
            *cap = RESERVE_TEXT;
            return &reserve[i].e;
        }
    }
}

static void reserve_give_back(int i)
{
    /* release: this record's last reads before the next taker's writes */
    atomic_fetch_and_explicit(&reserve_used, ~(1u << i), memory_order_release);
}

/* ---- records ---- */

/* The code's description, as strerror gives it, in buf; a deadline's
 * ETIMEDOUT reads "deadline exceeded", not "Connection timed out". */
static const char *describe(int code, char *buf, size_t size)
{
    if (code == ETIMEDOUT)
        return "deadline exceeded";
#ifdef STRERROR_R_CHAR_P
    return strerror_r(code, buf, size);
#else
    if (strerror_r(code, buf, size) != 0)
        snprintf(buf, size, "Unknown error %d", code);
    return buf;
#endif
}

/* A record with room for `text_len` bytes of text; NULL when none can be had. */
static struct weft_error *record_alloc(size_t text_len, char **text, size_t *cap)
{
    struct weft_error *e = weft__alloc(sizeof *e + text_len);
    if (e != NULL) {
        e->reserve = -1;
        *text = (char *)(e + 1);
        *cap = text_len;
        return e;
    }
    return reserve_take(text, cap);
}

/* A record holding copies of task (NULL: "") and msg: exact on the heap,
 * truncated in a reserve record. */
static struct weft_error *record_with(int code, const char *task, const char *msg)
{
    size_t tl = task != NULL ? strlen(task) : 0;
    size_t ml = strlen(msg);
    char *text;
    size_t cap;
    struct weft_error *e = record_alloc(tl + 1 + ml + 1, &text, &cap);
    if (e == NULL)
        return NULL;
    if (tl + 1 + ml + 1 > cap && tl > cap / 3)
        tl = cap / 3; /* short of room: the message keeps the larger part */
    memcpy(text, task != NULL ? task : "", tl);
    text[tl] = '\0';
    snprintf(text + tl + 1, cap - tl - 1, "%s", msg);
    e->next = NULL;
    e->cause = NULL;
    e->task = text;
    e->message = text + tl + 1;
    e->arg = NULL;
    e->code = code;
    e->list = (struct weft_errors){0};
    return e;
}

struct weft_error *weft__error_new(int code, const char *task, const char *fmt, va_list ap)
{
    if (fmt == NULL)
        return weft__error_plain(code, task);
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return weft__error_plain(code, task);
    char *msg = weft__alloc((size_t)n + 1);
    if (msg == NULL) { /* keep what fits a reserve record */
        char buf[RESERVE_TEXT];
        vsnprintf(buf, sizeof buf, fmt, ap);
        return record_with(code, task, buf);
    }
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    struct weft_error *e = record_with(code, task, msg);
    weft__free(msg);
    return e;
}

struct weft_error *weft__error_plain(int code, const char *task)
{
    char buf[128];
    return record_with(code, task, describe(code, buf, sizeof buf));
}

struct weft_error *weft__error_local(struct weft_error *e, int code, const char *task,
                                     char *text, size_t size)
{
    *e = (struct weft_error){.code = code, .reserve = -1, .task = task != NULL ? task : ""};
    e->message = describe(code, text, size);
    return e;
}

void weft__error_free(struct weft_error *e)
{
    if (e == NULL)
        return;
    weft_errors_free(e->cause);
    if (e->reserve >= 0)
        reserve_give_back(e->reserve);
    else
        weft__free(e);
}

void weft__error_add_cause(struct weft_error *e, weft_errors *b)
{
    e->cause = weft__errors_concat(e->cause, b);
}

/* ---- lists ---- */

weft_errors *weft__errors_of(struct weft_error *e)
{
    e->next = NULL;
    e->list = (struct weft_errors){.count = 1, .first = e, .last = e};
    return &e->list;
}

weft_errors *weft__errors_concat(weft_errors *a, weft_errors *b)
{
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    a->last->next = b->first;
    a->last = b->last;
    a->count += b->count;
    a->lost += b->lost;
    weft__free(a->index); /* stale: rebuilt when handed out */
    weft__free(b->index);
    a->index = NULL;
    *b = (struct weft_errors){0}; /* b's header is just a record now */
    return a;
}

weft_errors *weft__errors_from_stack(struct weft_error *newest_first, size_t lost)
{
    struct weft_error *first = NULL;
    size_t count = 0;
    while (newest_first != NULL) { /* reverse: completion order */
        struct weft_error *e = newest_first;
        newest_first = e->next;
        e->next = first;
        first = e;
        count++;
    }
    if (first == NULL) {
        if (lost == 0)
            return NULL;
        /* the list must exist to carry `lost` */
        first = record_with(ENOMEM, NULL, "out of memory while recording failures");
        if (first == NULL)
            return NULL; /* the joiner still gets the earliest code */
        count = 1;
    }
    struct weft_error *last = first;
    while (last->next != NULL)
        last = last->next;
    first->list = (struct weft_errors){.count = count, .lost = lost, .first = first, .last = last};
    return &first->list;
}

void weft__errors_index(weft_errors *l)
{
    if (l == NULL || l->index != NULL || l->count < 2)
        return;
    l->index = weft__alloc(l->count * sizeof *l->index);
    if (l->index == NULL)
        return; /* weft_errors_at walks */
    size_t i = 0;
    for (struct weft_error *e = l->first; e != NULL; e = e->next)
        l->index[i++] = e;
}

/* ---- public API ---- */

size_t weft_errors_count(const weft_errors *l)
{
    return l != NULL ? l->count : 0;
}

const weft_error *weft_errors_at(const weft_errors *l, size_t i)
{
    if (l == NULL || i >= l->count)
        return NULL;
    if (l->index != NULL)
        return l->index[i];
    const struct weft_error *e = l->first;
    while (i-- > 0)
        e = e->next;
    return e;
}

int weft_error_code(const weft_error *e)
{
    return e != NULL ? e->code : EINVAL;
}

const char *weft_error_message(const weft_error *e)
{
    return e != NULL ? e->message : "";
}

const char *weft_error_task(const weft_error *e)
{
    return e != NULL ? e->task : "";
}

void *weft_error_arg(const weft_error *e)
{
    return e != NULL ? e->arg : NULL;
}

const weft_errors *weft_error_cause(const weft_error *e)
{
    return e != NULL ? e->cause : NULL;
}

size_t weft_errors_lost(const weft_errors *l)
{
    return l != NULL ? l->lost : 0;
}

void weft_errors_free(weft_errors *l)
{
    if (l == NULL)
        return;
    struct weft_error *e = l->first;
    weft__free(l->index);
    /* l lives in the first record: read nothing from it after freeing that */
    while (e != NULL) {
        struct weft_error *next = e->next;
        weft__error_free(e);
        e = next;
    }
}
