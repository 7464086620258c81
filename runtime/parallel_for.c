/*
 * weft_parallel_for: a loop over [begin, end) in chunks of at least `grain`
 * indices, run in parallel on the caller's runtime, fail-fast.
 *
 * Splitting is lazy (Tzannes, Caragea, Barua and Vishkin, "Lazy
 * binary-splitting: a run-time adaptive work-stealing scheduler", PPoPP
 * 2010): a range is split only when a thief could use the other half. A
 * range task walks its range from the front; at each step, with n indices
 * left:
 *   - n < 2 * grain: the rest is the last chunk (grain..2*grain-1 indices,
 *     or all of a range smaller than grain): run the body on it, done;
 *   - else, when its thread's deque is empty (a thief would find nothing of
 *     ours to take) and another thread exists: split, that is spawn the
 *     upper half as a new range task and keep the lower half (both halves
 *     have >= grain indices);
 *   - else run the body on the next `grain` indices.
 * So chunks tile the range, each body call gets >= grain indices unless the
 * whole range is smaller, and a pool whose deques all hold work splits a
 * range only about log2(n / grain) times in all, where eager binary
 * splitting makes n / grain tasks. A thief steals the oldest, hence largest,
 * half (the deque is FIFO for thieves). The test is two relaxed loads of
 * the thread's own deque per chunk.
 *
 * Memory. A range task owns one group for the halves it spawns, initialised
 * at its first split, and keeps their arguments in an array on its stack:
 * each split halves what is left, so a task splits at most 63 times (n <
 * 2^64), and it joins the group before it returns, so the arguments outlive
 * their tasks. Nothing is allocated but what weft_group_init and weft_spawn
 * take from their pools. When either fails (ENOMEM) the split is not made
 * and the task runs the rest of its range itself, chunk by chunk.
 *
 * The caller's own frame holds the top group and the shared state; it
 * spawns the whole range as one range task into the top group and joins it
 * (the join pops that task back at once unless a thief was quicker). The
 * body therefore always runs in a range task below `top`, and the `self` it
 * gets is that task: weft_cancelled(self) there sees every cancellation of
 * the loop.
 *
 * Fail-fast. A body that fails (a non-zero code other than ECANCELED or the
 * scope's own reason while its scope is cancelled: the rule groups apply to
 * their tasks) stores its code in first_error unless one is there already
 * (a CAS: the first failure cancels) and cancels `top`, which cancels every
 * range group below it in one propagation instead of one level per join.
 * Range tasks test weft_cancelled before every body call and stop at the
 * first true: the chunks left are skipped without a call to the body and
 * without an error. Range tasks are spawned functions and run exactly once;
 * chunks are not: each chunk's body runs at most once, and exactly once
 * unless the loop was cancelled (by a failure, the caller's scope, or its
 * deadline).
 *
 * Records. The failing body's record (weft_fail's, with its causes) is
 * taken off its range task at once and pushed on the loop's own stack, and
 * the range task ends with 0. So every failing chunk leaves exactly one
 * record wherever it ran, flat, in the order they were made: a split-off
 * half that returned its child's failure through the joins would nest it
 * one level per split, and one that returned 0 would drop it. The caller
 * keeps the list as the cause of its own failure, as a join without errs
 * does.
 *
 * A body's ETIMEDOUT once the loop's deadline passed, before the timer
 * cancelled the loop, is no failure: it is the reason the loop is about to
 * stop for. Its range task stops and returns ETIMEDOUT, which its group
 * excuses in the same way (and cancels itself with ETIMEDOUT); the timer
 * stops the rest.
 *
 * Result: the first record's code when a body failed (first_error when no
 * record could be made); else top's join: 0, or ECANCELED / ETIMEDOUT when
 * the caller's scope was cancelled or its deadline passed (ETIMEDOUT too
 * when a body saw the deadline pass before the timer cancelled top).
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <weft/weft.h>

#include "errors/errors.h"
#include "runtime/runtime.h"

/* Each split halves what is left of a range below 2^64 indices. */
enum { MAX_SPLITS = 64 };

typedef int (*body_fn)(weft_task *self, size_t lo, size_t hi, void *arg);

/* One loop, in the caller's frame for the whole call. */
struct pfor {
    body_fn body;
    void *arg;
    size_t grain;
    _Atomic int first_error; /* the first body failure, 0 while none */
    _Atomic(struct weft_error *) records; /* the failing chunks' records, newest first */
    _Atomic size_t records_lost;          /* failures without a record (no memory) */
    _Atomic bool timed_out;               /* a body saw the deadline before the timer */
    weft_group top;                       /* cancelled by the first failure */
};

struct range {
    struct pfor *pf;
    size_t lo, hi;
};

/* A non-zero code from a body: a failure, unless it merely reports that its
 * scope was cancelled (as weft__group_record_failure decides for tasks). */
static bool is_failure(weft_task *self, int rc)
{
    int reason = weft_cancel_reason(self);
    return reason == 0 || (rc != ECANCELED && rc != reason);
}

/* A body of range task t failed with rc: its record goes on the loop's
 * stack, and the first failure cancels the loop. */
static void record_failure(struct pfor *pf, weft_task *t, int rc)
{
    struct weft_error *rec = weft__task_attempt_failure(t, rc);
    if (rec != NULL) {
        rec->arg = pf->arg; /* the range task's own arg is ours, not the caller's */
        weft__errors_push(&pf->records, rec);
    }
    else /* the code still reaches the caller through first_error */
        atomic_fetch_add_explicit(&pf->records_lost, 1, memory_order_relaxed);
    int none = 0;
    /* relaxed: the caller reads it after joining `top`, which orders every
     * range task's end (and what it did before) before the read */
    if (atomic_compare_exchange_strong_explicit(&pf->first_error, &none, rc,
                                                memory_order_relaxed, memory_order_relaxed))
        weft_group_cancel(&pf->top); /* once: the later failures find it cancelled */
}

/* A body's ETIMEDOUT is the loop's deadline, not a failure, once that
 * deadline passed: the timer may not have cancelled the loop yet. */
static bool deadline_came(weft_task *self, int rc)
{
    if (rc != ETIMEDOUT)
        return false;
    weft_time deadline = weft_deadline(self);
    return deadline != WEFT_NEVER && weft_now() >= deadline;
}

/* Would a split feed a thief? Only while this thread's deque is empty (else
 * a thief has something to take already) and there is another thread. */
static bool split_wanted(void)
{
    struct weft__thread *thr = weft__self_thread;
    struct weft__slot *slot = thr->slot; /* a timed wait in a body may change it */
    return slot != NULL && weft__deque_frames_size(&slot->deque) == 0 && weft__nthreads(thr->sched) > 1;
}

static int range_task(weft_task *self, void *p)
{
    const struct range *r = p;
    struct pfor *pf = r->pf;
    const size_t grain = pf->grain;
    size_t lo = r->lo, hi = r->hi;
    struct range halves[MAX_SPLITS]; /* the spawned halves' arguments, until the join */
    unsigned nsplit = 0;
    bool may_split = true, grouped = false;
    weft_group g;
    int rc = 0;

    while (lo < hi && !weft_cancelled(self)) {
        size_t n = hi - lo, take;
        if (n / 2 < grain) { /* n < 2 * grain, without overflow */
            take = n;
        } else if (may_split && split_wanted()) {
            if (!grouped) {
                if (weft_group_init(&g, self, NULL) != 0) {
                    may_split = false; /* ENOMEM: run it all here */
                    continue;
                }
                grouped = true;
            }
            size_t mid = lo + n / 2; /* [lo, mid) has n / 2 >= grain, [mid, hi) more */
            halves[nsplit] = (struct range){pf, mid, hi};
            if (weft_spawn(&g, range_task, &halves[nsplit]) != 0) {
                may_split = false; /* ENOMEM: run it all here */
                continue;
            }
            if (++nsplit == MAX_SPLITS)
                may_split = false; /* not reached: n halves each time */
            hi = mid;
            continue;
        } else {
            take = grain; /* leaves n - grain >= grain */
        }
        int brc = pf->body(self, lo, lo + take, pf->arg);
        lo += take;
        if (WEFT__UNLIKELY(brc != 0) && is_failure(self, brc)) {
            if (deadline_came(self, brc)) {
                atomic_store_explicit(&pf->timed_out, true, memory_order_relaxed);
                rc = ETIMEDOUT; /* excused by the group, whose deadline it is */
            } else {
                record_failure(pf, self, brc);
            }
            break;
        }
        if (WEFT__UNLIKELY(self->kind & WEFT__TASK_FAILED)) /* a weft_fail undone by returning 0 */
            weft__error_free(weft__task_take_pending(self));
    }
    if (grouped)
        (void)weft_group_join(&g, NULL); /* its tasks' failures are on pf->records */
    return rc;
}

int weft_parallel_for(weft_task *self, size_t begin, size_t end, size_t grain, body_fn body,
                      void *arg)
{
    if (self == NULL || body == NULL || grain == 0 || begin > end)
        return EINVAL;
    struct weft__thread *thr = weft__self_thread;
    if (thr == NULL || thr->current != self)
        return EINVAL; /* self must be the task running on this thread */
    if (begin == end)
        return 0;

    struct pfor pf = {.body = body, .arg = arg, .grain = grain};
    atomic_init(&pf.first_error, 0);
    atomic_init(&pf.records, NULL);
    atomic_init(&pf.records_lost, 0);
    atomic_init(&pf.timed_out, false);
    int rc = weft_group_init(&pf.top, self, NULL);
    if (rc != 0)
        return rc;
    struct range all = {&pf, begin, end};
    rc = weft_spawn(&pf.top, range_task, &all);
    int jrc = weft_group_join(&pf.top, NULL);
    if (rc != 0)
        return rc; /* ENOMEM: no body ran */
    int first = atomic_load_explicit(&pf.first_error, memory_order_relaxed);
    if (first == 0)
        return jrc == 0 && atomic_load_explicit(&pf.timed_out, memory_order_relaxed) ? ETIMEDOUT
                                                                                      : jrc;
    /* relaxed: every push happened before its range task's end, which the
     * join of `top` ordered before this point */
    struct weft_error *stack = atomic_exchange_explicit(&pf.records, NULL, memory_order_relaxed);
    size_t lost = atomic_load_explicit(&pf.records_lost, memory_order_relaxed);
    weft_errors *list = weft__errors_from_stack(stack, lost);
    /* two failures may push in one order and race for first_error in the
     * other: the first one listed is the earliest, by definition */
    if (stack != NULL)
        first = list->first->code;
    weft__task_keep_cause(self, list);
    return first;
}
