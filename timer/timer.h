/*
 * The deadline timer (internal): one thread per timer fires entries at their
 * deadlines, earliest first. Entries are embedded in the caller's objects
 * (no allocation per entry). See timer.c for what is guaranteed and why.
 */
#ifndef WEFT_RUNTIME_TIMER_H
#define WEFT_RUNTIME_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

/* heap_index of an entry in no heap. A zeroed entry also counts as not
 * queued: membership is checked against the heap, not trusted. */
#define WEFT__TIMER_NOT_QUEUED SIZE_MAX

struct weft__timer;

struct weft__timer_entry {
    /* the caller's: set before add, left alone while queued */
    weft_time deadline; /* weft_now() scale; WEFT_NEVER never fires */
    /* runs on the timer thread, timer lock not held; must be short */
    void (*fire)(struct weft__timer_entry *e);
    /* the timer's, under its lock */
    size_t heap_index; /* slot in the heap, or WEFT__TIMER_NOT_QUEUED */
    uint64_t seq;      /* add order: equal deadlines fire first-added first */
};

/* Start a timer and its thread "weft-timer". 0, ENOMEM or the thread's error
 * (*out untouched, nothing leaked). */
int weft__timer_create(struct weft__timer **out);
/* Stop and join the thread, free the timer. Entries still queued are dropped
 * unfired (and marked not queued). Not from a fire callback. */
void weft__timer_destroy(struct weft__timer *t);
/* Queue e (deadline and fire set, e not queued): 0, ENOMEM (heap growth), or
 * EBUSY if e is already queued here. A past deadline fires promptly. Any thread,
 * fire callbacks included (a fire may re-add its own entry). */
int weft__timer_add(struct weft__timer *t, struct weft__timer_entry *e);
/* Unqueue e. true: e was queued and its fire will not run for that add.
 * false: e was not queued, or its fire is running or has run. On return
 * e->fire is not running for e and e is not queued, so e may be freed,
 * except when called from e's own fire (returns at once, no waiting). */
bool weft__timer_remove(struct weft__timer *t, struct weft__timer_entry *e);

#endif
