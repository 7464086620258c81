/*
 * weft_retry_run: call a function until it succeeds, backing off
 * exponentially between tries.
 *
 * Every try runs as the calling task itself (a plain call, no spawn), so
 * what the function does with self (weft_fail, groups, weft_cancelled) is
 * what it would do without the retry. Between tries the task sleeps with
 * weft_sleep: a timed wait that lends the worker's slot to a spare thread and
 * ends at once on cancellation, so a back-off never costs the pool a worker
 * and never outlives the task's scope.
 *
 * Records: a try that fails leaves its record (weft_fail's, or a plain one
 * for its code) pending on the task. Before each try that record is taken
 * off and kept aside as "the last failure"; it is dropped when another try
 * follows, and becomes the task's pending record again when retrying ends,
 * alone or as the cause of the ETIMEDOUT that says the deadline came first.
 * A record the task had pending before weft_retry_run combines with what the
 * retry leaves as two weft_fail calls do: kept when the retry leaves none,
 * else replaced by it, which takes over its causes.
 */
#include "config.h"

#include <errno.h>
#include <math.h> /* isnan, a macro: no libm */
#include <stdint.h>

#include <weft/weft.h>

#include "errors/errors.h"
#include "runtime/runtime.h"

#define DEFAULT_ATTEMPTS 3u
#define DEFAULT_BASE (10 * WEFT_MSEC)
#define DEFAULT_MAX WEFT_SEC
#define DEFAULT_FACTOR 2.0

struct policy {
    unsigned attempts;
    double base, max, factor, jitter; /* ns */
    bool (*retryable)(int code, void *arg);
};

static bool default_retryable(int code, void *arg)
{
    (void)arg;
    return code != ECANCELED && code != ETIMEDOUT;
}

/* p's zero fields take their defaults; EINVAL for values that make no sense. */
static int resolve(const weft_retry *p, struct policy *out)
{
    weft_retry z = { 0 };
    if (p == NULL)
        p = &z;
    if (p->base_delay < 0 || p->max_delay < 0 || !(p->jitter >= 0.0 && p->jitter <= 1.0) ||
        isnan(p->factor) || (p->factor != 0.0 && p->factor < 1.0))
        return EINVAL;
    weft_time base = p->base_delay != 0 ? p->base_delay : DEFAULT_BASE;
    if (p->base_delay == 0 && p->max_delay != 0 && p->max_delay < base)
        base = p->max_delay; /* only a cap given: the default base obeys it */
    weft_time max = p->max_delay;
    if (max == 0)
        max = base > DEFAULT_MAX ? base : DEFAULT_MAX;
    if (max < base)
        return EINVAL;
    out->attempts = p->attempts != 0 ? p->attempts : DEFAULT_ATTEMPTS;
    out->base = (double)base;
    out->max = (double)max;
    out->factor = p->factor != 0.0 ? p->factor : DEFAULT_FACTOR;
    out->jitter = p->jitter;
    out->retryable = p->retryable != NULL ? p->retryable : default_retryable;
    return 0;
}

/* A uniform double in [0, 1), from a state per thread (blocking threads
 * retry too, so not the worker's), seeded from the clock and the thread's
 * own address so that threads backing off together spread. */
static double uniform(void)
{
    static _Thread_local uint64_t state;
    if (state == 0)
        state = ((uint64_t)weft_now() ^ (uint64_t)(uintptr_t)&state) | 1;
    return (double)(weft__rng_next(&state) >> 11) * 0x1.0p-53;
}

/* f^k by squaring (inf once it overflows): keeps libm out of the link. */
static double power(double f, unsigned k)
{
    double r = 1.0;
    for (; k != 0; k >>= 1, f *= f)
        if (k & 1u)
            r *= f;
    return r;
}

/* The wait before try k+2 (k = 0 after the first failure), in ns. */
static weft_time delay_after(const struct policy *p, unsigned k)
{
    double d = p->base * power(p->factor, k); /* inf for huge k: min below */
    if (!(d <= p->max))
        d = p->max;
    if (p->jitter > 0.0)
        d *= 1.0 + p->jitter * (2.0 * uniform() - 1.0);
    if (!(d < 0x1p63)) /* a delay of WEFT_NEVER or so: no wrap-around */
        return WEFT_NEVER;
    return d < 1.0 ? 0 : (weft_time)d;
}

weft_time weft__retry_delay(const weft_retry *policy, unsigned k)
{
    struct policy p;
    return resolve(policy, &p) == 0 ? delay_after(&p, k) : -1;
}

/* Retrying ended with ETIMEDOUT: the deadline came first; last is the last
 * try's record (may be NULL without memory), which becomes the cause. */
static int deadline_first(struct weft_task *t, struct weft_error *last, unsigned tries)
{
    weft_errors *cause = last != NULL ? weft__errors_of(last) : NULL;
    return weft_fail_from(t, cause, ETIMEDOUT,
                          "retry: the deadline came before try %u", tries + 1);
}

/* How retrying ended: what the caller gets and what stays pending on it. */
static int finish(struct weft_task *t, int rc, bool final, struct weft_error *last,
                  unsigned tries)
{
    if (final) { /* a try's own result: 0, or its failure as weft_fail left it */
        weft__task_put_pending(t, last);
        return rc;
    }
    if (rc == ETIMEDOUT && tries > 0)
        return deadline_first(t, last, tries);
    weft__error_free(last); /* cancelled: the failure was going to be retried */
    return rc;
}

int weft_retry_run(weft_task *self, const weft_retry *policy, weft_fn fn, void *arg)
{
    struct policy p;
    struct weft_task *t = weft__task_running(self);
    if (t == NULL || fn == NULL || resolve(policy, &p) != 0)
        return EINVAL;
    struct weft_error *before = weft__task_take_pending(t);
    struct weft_error *last = NULL;
    unsigned tries = 0;
    bool final = false;
    int rc;
    for (;;) {
        rc = weft_cancel_reason(self);
        if (rc == 0 && weft_now() >= weft_deadline(self))
            rc = ETIMEDOUT; /* passed; the timer has not fired yet */
        if (rc != 0)
            break;
        rc = fn(self, arg);
        tries++;
        weft__error_free(last);
        last = weft__task_attempt_failure(t, rc);
        final = rc == 0 || tries >= p.attempts || !p.retryable(rc, arg);
        if (final)
            break;
        weft_time delay = delay_after(&p, tries - 1), deadline = weft_deadline(self);
        if (deadline != WEFT_NEVER && delay >= deadline - weft_now()) {
            rc = ETIMEDOUT; /* the next try would start past the deadline */
            break;
        }
        rc = weft_sleep(self, weft_after(delay)); /* 0, or the cancel's reason */
        if (rc != 0)
            break;
    }
    weft__task_put_pending(t, before);
    return finish(t, rc, final, last, tries);
}
