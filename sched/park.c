/*
 * The idle protocol: spin, then park; wake a parked thread only when a spawn
 * finds nobody searching. No lost wake-ups, no syscall per spawn, and no
 * process-wide barrier per park.
 *
 * The race to close: a thread decides to park after finding no work while a
 * spawner pushes work and decides nobody needs waking. It is a store-load
 * (Dekker) pattern on both sides:
 *   parker:  n_idle++, (searching--)  | barrier |  look at every deque
 *   spawner: push task                | barrier |  read n_idle, n_searching
 * With a full barrier on both sides at least one sees the other. A fence per
 * spawn would cost more than the rest of the spawn, so the spawner's barrier
 * is a compiler barrier only (weft__spawner_barrier) and the parker, which
 * is about to sleep anyway, pays (WEFT__PARK_RECHECK, the default):
 *   n_idle++ (seq_cst RMW), seq_cst fence, look; if nothing, a nap of
 *   PARK_DRAIN on its futex word (a wake-up ends it), then a second look;
 *   if still nothing, sleep until woken.
 * Why the second look cannot miss the push when the spawner's read missed
 * n_idle++: that read was satisfied before n_idle++ became visible, so the
 * push, earlier in the spawner's program order, had executed by then and
 * sat at most in its store buffer (x86-TSO; on Arm a younger load may be
 * satisfied first, but the older store still executes within the
 * instruction window, or an exception squashes the load). A store buffer
 * drains within microseconds, and at once on an interrupt or exception
 * (Intel SDM vol. 3, "Store Buffer"), so a preempted or faulting spawner
 * only drains it sooner. The parker's fence completes after its n_idle++ is
 * visible, so a look PARK_DRAIN later sees the push. No C11 argument covers
 * this pair (weft__full_barrier_everywhere's grace after a failed
 * membarrier rests on the same hardware bound, with a wider margin); TSan
 * sees only the atomics. models/park.pml models it: a spawner's store
 * buffer, and a second look that waits for every store buffered when the
 * parker fenced.
 *
 * Before issue 21 the parker issued membarrier(MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED) instead of fence and nap (WEFT__PARK_MEMBARRIER): every running
 * thread of the process executes a full barrier before it returns, so the
 * first look already sees the push (the asymmetric Dekker of membarrier(2)).
 * It costs an IPI to every CPU running a thread of the process, the
 * program's own busy threads included, at every park: bench/park-bench and
 * bench/RESULTS.md ("Parking (issue 21)") measure both, and WEFT__PARK_FENCE
 * (seq_cst fences on both sides: C11's own pair), side by side. Those two
 * stay for the bench and the tests (weft__park_mode_force); cancels still
 * use the membarrier pair (scope/cancel.c, weft__full_barrier_everywhere).
 *
 * When membarrier fails after it was registered (a seccomp filter installed
 * later, say), a local fence on the heavy side (a cancel's, or a parker's
 * under WEFT__PARK_MEMBARRIER) would pair with nothing: the light sides
 * still have only a compiler barrier. So the first failure turns membarrier
 * off for good (membarrier_off): it clears sched's flag and every thread's
 * copy (group init reads its own, worker_main takes it at start), sets
 * spawner_fences under WEFT__PARK_MEMBARRIER, fences, and stamps the time.
 * From then on the light sides fence.
 * A light side that loaded its flag true before that fence may still be
 * running with a compiler barrier only; no C11 argument covers it, but a
 * hardware one does, and it is bounded in time: such a light side read the
 * flag before the switch's fence completed, so its stores (the push, the
 * new group's word) were executed before then too, and a store buffer
 * drains within microseconds (a context switch or a VM exit drains it at
 * once, and one that preempts the light side between its stores and its
 * loads leaves the loads to run later, when they see the heavy side's
 * write). So every heavy side, the switching one included, waits until
 * MEMBARRIER_GRACE after the switch before its own fence and look: by then
 * every store of a light side that skipped its fence is visible to the
 * look. Light sides that load the flag after the switch's fence see it
 * false and fence: the ordinary fence-fence pair. The wait is paid once
 * per runtime, by the heavy sides that run within the grace (parkers,
 * which are about to sleep, and cancels, which are rare).
 *
 * Searching (after Go's scheduler): a thread that runs out of work counts
 * itself in n_searching while it spins; spawners wake nobody while someone
 * searches. When a searcher finds work it stops searching and, if it was the
 * last one and threads are parked, wakes one so parallelism ramps up. A
 * thread woken by wake_one wakes up searching; if it finds nothing it parks
 * again, and its look under the barrier above covers the work it was woken
 * for.
 *
 * All of this rests on one invariant: every thread in the idle list, and
 * every searcher, can take any work weft__work_visible() reports. Otherwise
 * a wake-up spent on it, or its look before sleeping, proves nothing: it
 * sees the work, cannot take it, and the threads that could stay asleep.
 *
 * Joiners. A task in weft_group_join with nothing to do parks with one more
 * condition (its group is done); the thread that finishes the group's last
 * task elsewhere wakes it by name (weft__wake_thread), a seq_cst store-load
 * pair on `parked` against the group's counter. How it parks depends on
 * what it may take:
 *  - a joiner that may steal takes any work an idle worker takes (its own
 *    deque, every victim, the injection queue), so it parks like an idle
 *    worker: listed, counted in n_idle, covered by the argument above. It
 *    is marked `joining`, and wake_one picks it only when no idle worker is
 *    listed: work it takes runs nested inside its join, delaying the join's
 *    return. Which listed thread gets the wake-up does not matter to the
 *    argument: any of them takes any work. Nor is a wake-up lost when a
 *    woken joiner finds nothing: if its group is done it leaves the join
 *    through weft__searching_end, which as the last searcher wakes another
 *    listed thread; else it parks again like any searcher (its look covers
 *    the work);
 *  - a joiner that may not steal (its stack is more than half used) takes
 *    only its group's tasks: from its own deque, where only its own thread
 *    pushes, and from aside lists, whose put wakes it by name (aside.c).
 *    So it is not listed at all: it sets `parked` and sleeps until its
 *    group is done or a task of it is set aside (weft__park_joiner). Its
 *    group's tasks may also sit in the deque of a slot it lent during a
 *    nested timed wait (slots.c); that slot's new holder runs them, or,
 *    left unheld, thieves do (they see every slot), so its wait ends.
 *    Listed, it would break the invariant: a spawn's wake-up could pick it
 *    while real idle workers sleep, and it would spin between its look and
 *    its deque without ever taking the work, a hang if its group waits on
 *    that work. Unlisted it is, to spawners, like a thread busy running a
 *    task: not a candidate for any wake-up.
 *
 * Wake-ups bump the thread's wake_seq futex word, so a wake between the
 * parker's last look and its futex_wait is not lost. weft__wake_thread also
 * wakes an unlisted joiner: it unlinks only a listed thread.
 *
 * The pairs in C11 terms (issue 17, hole 3, checked each):
 *  - parker against spawner, WEFT__PARK_FENCE: n_idle++ (seq_cst RMW),
 *    seq_cst fence, look | push, seq_cst fence, load n_idle. C11 forbids
 *    both loads missing the other side's write when a seq_cst fence
 *    separates write and read on both sides. In the other modes the spawner
 *    has no fence: the pair rests on the bounded drain of a store buffer
 *    (RECHECK) or on the kernel's promise (MEMBARRIER: a barrier on every
 *    running thread before membarrier returns), not on C11, and is modelled
 *    in models/park.pml as a store buffer that the second look waits out,
 *    or that the barrier drains;
 *  - joiner (listed or not) against the group's finisher: store `parked`
 *    then load done_remote | RMW done_remote then load `parked`, all four
 *    seq_cst: one total order, so one side sees the other. The same holds
 *    for the timed waits of timed_wait.c and group_wait.c;
 *  - the searching hand-off (a spawner wakes nobody while n_searching > 0;
 *    the last searcher wakes a parked thread) uses seq_cst RMWs and loads
 *    of n_searching and n_idle, and its argument is the parker's own look
 *    after its barrier (first bullet); models/park.pml checks it with two
 *    workers and a spawner, under x86-TSO only.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/fault_point.h"
#include "sched/sched.h"

/* How long after membarrier was turned off a heavy side waits before it
 * relies on a fence: far above a store buffer's drain time (header). */
#define MEMBARRIER_GRACE (10 * WEFT_MSEC)
#define MEMBARRIER_SWITCHING ((weft_time)-1)
/* WEFT__PARK_RECHECK's nap between the two looks: far above a store
 * buffer's drain time (header), far below a pause worth parking for */
#define PARK_DRAIN (50 * WEFT_USEC)

/* relaxed: set by a benchmark or test before it creates the runtime */
static _Atomic int park_mode_next = WEFT__PARK_RECHECK;

void weft__park_mode_force(enum weft__park_mode mode)
{
    atomic_store_explicit(&park_mode_next, (int)mode, memory_order_relaxed);
}

static struct weft__fault_point expedited; /* fault_point.h */

void weft__membarrier_fail_from(unsigned long n)
{
    weft__fault_arm(&expedited, n, ULONG_MAX);
}

void weft__membarrier_fail_nth(unsigned long n)
{
    weft__fault_arm(&expedited, n, n);
}

unsigned long weft__membarrier_calls(void)
{
    return weft__fault_calls(&expedited);
}

static long sys_membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

void weft__park_init(struct weft__sched *sched)
{
    long cmds = sys_membarrier(MEMBARRIER_CMD_QUERY);
    bool use = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
               sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
    atomic_init(&sched->use_membarrier, use);
    atomic_init(&sched->membarrier_off_at, 0);
    sched->park_mode = (enum weft__park_mode)atomic_load_explicit(&park_mode_next,
                                                                  memory_order_relaxed);
    atomic_init(&sched->spawner_fences,
                sched->park_mode == WEFT__PARK_FENCE ||
                    (sched->park_mode == WEFT__PARK_MEMBARRIER && !use));
}

void weft__park_thread_start(struct weft__thread *thr)
{
    struct weft__sched *sched = thr->sched;
    /* seq_cst, these and membarrier_off's stores: if the re-read below
     * still sees sched's flag set, the switch's store to sched's flag, and so its
     * store to ours, come after our store in the one order, and win */
    atomic_store_explicit(&thr->use_membarrier,
                          atomic_load_explicit(&sched->use_membarrier, memory_order_seq_cst),
                          memory_order_seq_cst);
    if (!atomic_load_explicit(&sched->use_membarrier, memory_order_seq_cst))
        atomic_store_explicit(&thr->use_membarrier, false, memory_order_seq_cst);
}

/* membarrier failed: both sides fence from now on (the header comment). */
static void membarrier_off(struct weft__sched *sched)
{
    weft_time never = 0;
    if (!atomic_compare_exchange_strong_explicit(&sched->membarrier_off_at, &never,
                                                 MEMBARRIER_SWITCHING, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return; /* another heavy side switches, or did */
    /* seq_cst: after the SWITCHING mark, so a heavy side that reads the
     * flag clear reads the mark or the time (full_barrier_everywhere) */
    atomic_store_explicit(&sched->use_membarrier, false, memory_order_seq_cst);
    if (sched->park_mode == WEFT__PARK_MEMBARRIER) /* its parkers' pair: spawners fence */
        atomic_store_explicit(&sched->spawner_fences, true, memory_order_seq_cst);
    /* every thread struct, started or not: a thread starting now re-reads
     * sched's flag after taking its copy (weft__park_thread_start) */
    for (unsigned i = 0; sched->threads != NULL && i < sched->max_threads; i++)
        atomic_store_explicit(&sched->threads[i].use_membarrier, false, memory_order_seq_cst);
    weft__full_fence(); /* the flags are visible to every light side from here */
    atomic_store_explicit(&sched->membarrier_off_at, weft_now(), memory_order_release);
}

/* Membarrier is off: wait until MEMBARRIER_GRACE after the switch. */
static void wait_out_switch(struct weft__sched *sched)
{
    weft_time at;
    /* acquire: the switcher's time, stored after its flags and fence */
    while ((at = atomic_load_explicit(&sched->membarrier_off_at, memory_order_acquire)) ==
           MEMBARRIER_SWITCHING)
        sched_yield();
    if (at == 0)
        return; /* the kernel had none from the start: both sides always fenced */
    weft_time until = at + MEMBARRIER_GRACE;
    while (weft_now() < until) {
        weft_time left = until - weft_now();
        struct timespec ts = {.tv_sec = left / WEFT_SEC, .tv_nsec = left % WEFT_SEC};
        nanosleep(&ts, NULL);
    }
}

void weft__full_barrier_everywhere(struct weft__sched *sched)
{
    /* acquire: reading the flag clear, read the switch's mark or time */
    if (atomic_load_explicit(&sched->use_membarrier, memory_order_acquire)) {
        if (!weft__fault_hit(&expedited) &&
            sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
            return;
        membarrier_off(sched);
    }
    wait_out_switch(sched);
    weft__full_fence();
}

void weft__futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
    /* returns at once if *word != expected; EINTR and spurious returns are fine:
     * the caller re-checks */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void weft__futex_wait_until(_Atomic uint32_t *word, uint32_t expected, weft_time until)
{
    if (until == WEFT_NEVER) {
        weft__futex_wait(word, expected);
        return;
    }
    struct timespec ts = {.tv_sec = until / WEFT_SEC, .tv_nsec = until % WEFT_SEC};
    /* an absolute CLOCK_MONOTONIC timeout (weft_now's clock); EINTR, EAGAIN
     * and ETIMEDOUT all lead back to the caller's checks */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, NULL,
            FUTEX_BITSET_MATCH_ANY);
}

void weft__futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void weft__futex_post(void *arg)
{
    _Atomic uint32_t *word = arg;
    atomic_store_explicit(word, 1, memory_order_release);
    weft__futex_wake(word);
}

bool weft__work_visible(struct weft__sched *sched)
{
    if (atomic_load_explicit(&sched->inject.count, memory_order_relaxed) != 0)
        return true;
    unsigned n = weft__nthreads(sched);
    for (unsigned i = 0; i < n; i++)
        if (weft__deque_frames_size(&sched->slots[i]->deque) != 0 || !weft__aside_empty(sched->slots[i]) ||
            weft__batch_ready(sched->slots[i]))
            return true;
    return false;
}

static void unlink_locked(struct weft__sched *sched, struct weft__thread *thr)
{
    for (struct weft__thread **p = &sched->idle_list; *p != NULL; p = &(*p)->idle_next) {
        if (*p == thr) {
            *p = thr->idle_next;
            break;
        }
    }
    thr->in_idle_list = false;
    thr->idle_next = NULL;
    atomic_fetch_sub_explicit(&sched->n_idle, 1, memory_order_relaxed);
}

/* Under idle_lock: take thr off the list and bump its futex word. */
static void wake_locked(struct weft__sched *sched, struct weft__thread *thr)
{
    if (thr->in_idle_list)
        unlink_locked(sched, thr);
    atomic_store_explicit(&thr->parked, false, memory_order_relaxed);
    atomic_fetch_add_explicit(&thr->wake_seq, 1, memory_order_release);
}

/* Under idle_lock: the first idle worker listed, else the first joiner
 * (NULL if nobody is listed). A joiner would run the work nested inside
 * its join and delay the join's return, so it only gets a wake-up when no
 * idle worker can take it instead. */
static struct weft__thread *pick_locked(struct weft__sched *sched)
{
    for (struct weft__thread *t = sched->idle_list; t != NULL; t = t->idle_next)
        if (!t->joining)
            return t;
    return sched->idle_list;
}

void weft__wake_one(struct weft__sched *sched)
{
    pthread_mutex_lock(&sched->idle_lock);
    struct weft__thread *thr = pick_locked(sched);
    if (thr != NULL) {
        wake_locked(sched, thr);
        /* it wakes up searching, so other spawners need not wake another */
        thr->searching = true;
        atomic_fetch_add_explicit(&sched->n_searching, 1, memory_order_seq_cst);
    }
    pthread_mutex_unlock(&sched->idle_lock);
    /* thread structs live until destroy joined every thread: safe after unlock */
    if (thr != NULL)
        weft__futex_wake(&thr->wake_seq);
}

void weft__wake_all(struct weft__sched *sched)
{
    for (;;) {
        pthread_mutex_lock(&sched->idle_lock);
        struct weft__thread *thr = sched->idle_list;
        if (thr != NULL)
            wake_locked(sched, thr);
        pthread_mutex_unlock(&sched->idle_lock);
        if (thr == NULL)
            return;
        weft__futex_wake(&thr->wake_seq);
    }
}

void weft__wake_thread(struct weft__sched *sched, struct weft__thread *thr)
{
    pthread_mutex_lock(&sched->idle_lock);
    wake_locked(sched, thr);
    pthread_mutex_unlock(&sched->idle_lock);
    weft__futex_wake(&thr->wake_seq);
}

void weft__pushed(struct weft__slot *slot)
{
    struct weft__sched *sched = slot->sched;
#ifdef WEFT_SPLIT_DEQUE
    weft__deque_frames_share_owner(&slot->deque);
    /* Wake as weft__wake_wanted would have. relaxed, both: loaded again
     * after weft__push_wanted's barrier, which is what the pair with a
     * parker rests on; a searcher counted since then finds the task, or
     * wakes a parked thread when it stops (weft__searching_end) */
    if (atomic_load_explicit(&sched->n_idle, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&sched->n_searching, memory_order_relaxed) != 0)
        return;
#endif
    weft__wake_one(sched);
}

void weft__searching_begin(struct weft__thread *thr)
{
    if (thr->searching)
        return;
    thr->searching = true;
    atomic_fetch_add_explicit(&thr->sched->n_searching, 1, memory_order_seq_cst);
}

void weft__searching_end(struct weft__thread *thr)
{
    if (!thr->searching)
        return;
    thr->searching = false;
    struct weft__sched *sched = thr->sched;
    /* no work_visible() check here: without a barrier on the spawner's side
     * it could miss a fresh push (store buffering); a woken thread that finds
     * nothing parks again, as Go's resetspinning -> wakep does */
    if (atomic_fetch_sub_explicit(&sched->n_searching, 1, memory_order_seq_cst) == 1 &&
        atomic_load_explicit(&sched->n_idle, memory_order_seq_cst) != 0)
        weft__wake_one(sched);
}

/* The parker's look: nothing it could take, and not ready. */
static bool nothing_to_do(struct weft__sched *sched, bool (*ready)(void *arg), void *arg)
{
    return !(ready != NULL && ready(arg)) && !weft__work_visible(sched);
}

/* WEFT__PARK_RECHECK's second look (header comment): nap until PARK_DRAIN
 * from now, unless woken, then look again. False when woken or work shows. */
static bool still_nothing_after_drain(struct weft__thread *thr, uint32_t seq,
                                      bool (*ready)(void *arg), void *arg)
{
    weft_time until = weft_now() + PARK_DRAIN;
    /* acquire: as the futex_wait's own compare, a wake-up's bump */
    while (atomic_load_explicit(&thr->wake_seq, memory_order_acquire) == seq) {
        if (weft_now() >= until) /* not before: EINTR and spurious returns loop */
            return nothing_to_do(thr->sched, ready, arg);
        weft__futex_wait_until(&thr->wake_seq, seq, until);
    }
    return false; /* woken: it goes searching */
}

/* Sleep in the idle list: wake_one may pick thr, so thr must be able to take
 * any work it is woken for (an idle worker, or a joiner that may steal). */
static void park_listed(struct weft__thread *thr, bool joining, bool (*ready)(void *arg),
                        void *arg)
{
    struct weft__sched *sched = thr->sched;
    /* a victim's owner holds private tasks and was asked to share them: it
     * does at its next push or pop, or before it stops (weft__slot_share),
     * so this thread retries, searching, instead of sleeping */
    if (thr->asked)
        return;
    weft__slot_share(thr);
    if (thr->slot != NULL)
        weft__task_flush_returns(thr->slot); /* its owner may need them */
    pthread_mutex_lock(&sched->idle_lock);
    /* under the lock: a waker sets `searching` again when it picks us */
    if (thr->searching) {
        thr->searching = false;
        atomic_fetch_sub_explicit(&sched->n_searching, 1, memory_order_seq_cst);
    }
    uint32_t seq = atomic_load_explicit(&thr->wake_seq, memory_order_acquire);
    thr->idle_next = sched->idle_list;
    sched->idle_list = thr;
    thr->in_idle_list = true;
    thr->joining = joining;
    atomic_fetch_add_explicit(&sched->n_idle, 1, memory_order_seq_cst);
    /* seq_cst: pairs with a finisher's counter RMW then load of `parked` */
    atomic_store_explicit(&thr->parked, true, memory_order_seq_cst);
    pthread_mutex_unlock(&sched->idle_lock);
    /* the spawners' half of the barrier pair: see the header comment */
    if (sched->park_mode == WEFT__PARK_MEMBARRIER)
        weft__full_barrier_everywhere(sched);
    else
        weft__full_fence(); /* after n_idle++ (and `parked`), before the look */
    if (nothing_to_do(sched, ready, arg)) {
        if (thr->slot != NULL)
            weft__count(&thr->slot->stats.parks);
        weft_time begin = WEFT__UNLIKELY(thr->trace != NULL) ? weft_now() : 0;
        if (sched->park_mode != WEFT__PARK_RECHECK ||
            still_nothing_after_drain(thr, seq, ready, arg))
            weft__futex_wait(&thr->wake_seq, seq);
        if (WEFT__UNLIKELY(thr->trace != NULL)) /* the nap and the sleep, one event */
            weft__trace_append(sched->trace_log, thr->trace,
                               joining ? WEFT__TR_PARK_JOIN : WEFT__TR_PARK, NULL, begin,
                               weft_now() - begin, 0, 0);
    }
    pthread_mutex_lock(&sched->idle_lock);
    if (thr->in_idle_list)
        unlink_locked(sched, thr);
    atomic_store_explicit(&thr->parked, false, memory_order_relaxed);
    pthread_mutex_unlock(&sched->idle_lock);
}

/* Sleep outside the idle list until woken by name: for a joiner that may not
 * steal, which no spawn's wake-up must pick (see the header comment). */
static void park_unlisted(struct weft__thread *thr, bool (*ready)(void *arg), void *arg)
{
    weft__slot_share(thr);
    weft__task_flush_returns(thr->slot); /* their owner may need them */
    /* A joiner does not search and is never picked by wake_one, so this is a
     * no-op; were it searching, stopping without a look hands the duty on. */
    weft__searching_end(thr);
    uint32_t seq = atomic_load_explicit(&thr->wake_seq, memory_order_acquire);
    /* seq_cst: pairs with a finisher's counter RMW then load of `parked`.
     * A waker that sees `parked` bumps wake_seq after our load above (that
     * load is sequenced before this store, which the waker reads), so the
     * futex_wait below returns at once or is woken: no lock needed. */
    atomic_store_explicit(&thr->parked, true, memory_order_seq_cst);
    if (!ready(arg)) {
        weft__count(&thr->slot->stats.parks);
        if (WEFT__UNLIKELY(thr->trace != NULL))
            weft__park_traced(thr, WEFT__TR_PARK_JOIN, seq);
        else
            weft__futex_wait(&thr->wake_seq, seq);
    }
    atomic_store_explicit(&thr->parked, false, memory_order_relaxed);
}

void weft__park(struct weft__thread *thr, bool (*ready)(void *arg), void *arg)
{
    park_listed(thr, false, ready, arg);
}

void weft__park_joiner(struct weft__thread *thr, bool may_steal, bool (*ready)(void *arg),
                       void *arg)
{
    if (may_steal)
        park_listed(thr, true, ready, arg);
    else
        park_unlisted(thr, ready, arg);
}

void weft__park_traced(struct weft__thread *thr, enum weft__trace_kind kind, uint32_t seq)
{
    weft_time begin = weft_now();
    weft__futex_wait(&thr->wake_seq, seq);
    weft__trace_append(thr->sched->trace_log, thr->trace, kind, NULL, begin, weft_now() - begin, 0,
                       0);
}
