/*
 * park.pml: the idle protocol of sched/park.c (and its light side,
 * weft__wake_wanted in sched/sched.h), plus the unlisted joiner's park
 * against the group finisher's wake (park.c park_unlisted, group.c
 * weft__group_remote_done).
 *
 * Abstraction. NW = 2 workers and a spawner that pushes NT = 2 tasks; or
 * (-DJOIN) one joiner that may not steal, its futex_wait allowed one
 * spurious return, and the finishers of its group's NF = 2 remote tasks
 * (apart from the workers: together they only multiply the states).
 * "work" is the count of tasks any thread can see (weft__work_visible, park.c:125); taking one is an atomic decrement
 * (a successful pop or steal). Spin's interleaving is sequentially
 * consistent, so the one weak-memory effect the protocol depends on is
 * modelled explicitly: the spawner's push goes into its store buffer `buf`
 * (x86-TSO: its later loads of n_idle/n_searching may pass it, because
 * weft__spawner_barrier is only a compiler barrier unless the runtime was
 * made with WEFT__PARK_FENCE). A `flusher` drains the buffer at any time,
 * oldest store first. Stores made under idle_lock and seq_cst RMWs are visible at once
 * (they drain the owner's buffer). futex_wait is an atomic
 * compare-and-sleep, as the kernel's is.
 *
 * The parker (park_listed, WEFT__PARK_RECHECK) fences, looks, then naps
 * until woken or PARK_DRAIN passed, and looks again before it sleeps. What
 * the nap stands for is the hardware bound of park.c's header comment: a
 * store buffered when the parker's fence completed has drained PARK_DRAIN
 * later. So the nap ends when woken, or once every store buffered at the
 * fence has drained (need[me], the buffer's length at the fence, counted
 * down by each drained store: the buffer is FIFO), never sooner: spin
 * explores every interleaving of the flusher and the rest meanwhile.
 *
 * Variants (spin -D...):
 *   (none)          WEFT__PARK_RECHECK (fence, look, nap, look): must pass
 *   MEMBARRIER      WEFT__PARK_MEMBARRIER: membarrier (every running thread
 *                   runs a full barrier: the buffer drains at once), look:
 *                   must pass
 *   FENCE           WEFT__PARK_FENCE: both sides fence (the spawner's fence
 *                   drains its own buffer before its loads): must pass
 *   JOIN            the joiner and finisher instead of workers: must pass
 *   BAD_NORECHECK   the parker sleeps without looking after publishing
 *                   itself (both looks dropped): must fail
 *   BAD_NODRAIN     the second look does not wait for the drain (the nap
 *                   dropped, or made too short): must fail (store buffering)
 *   MEMBARRIER BAD_NOBARRIER  the parker looks without the membarrier
 *                   while the spawner still has only a compiler barrier:
 *                   must fail (store buffering)
 *   REACH           vacuity: the all-asleep end is reachable: must fail
 *   JOIN BAD_JOINER the unlisted joiner checks `ready` before its store of
 *                   `parked` becomes visible (park.c:283-284 with a relaxed
 *                   store that the load passes): must fail
 *   STREAM          weft_group_next's owner (timed_wait.c wait_for with
 *                   group_wait.c completion_or_end) against the one task of
 *                   its STREAM group that ends within the model (the other
 *                   waits for what the owner does with the first, as in a
 *                   pipeline): must pass
 *   STREAM BAD_STREAM_ACQUIRE  the owner's load of `completed` acquire, as
 *                   before issue 17's hole 3: ARMv8 (LDAPR) may complete it
 *                   before the earlier seq_cst store of `parked` (STLR), so
 *                   it is taken first: must fail
 *
 * Properties: (1) no lost wake-up: never does the spawner have nothing left
 * to do (done, buffer drained) while a task is visible and every worker
 * sleeps in futex_wait (the `lost` monitor asserts it); (2) the joiner (or
 * the STREAM owner) is not left asleep forever: its futex_wait is not an
 * end state, so spin's invalid-end-state check rejects a run that strands
 * it.
 */

#define NW 2          /* workers 0..NW-1 */
#define J  NW         /* the joiner's thread index */
#define NTHR (NW + 1)
#define NT 2          /* tasks the spawner pushes */
#define NONE 255

byte work = 0;        /* visible tasks (deques + inject queue) */
byte buf = 0;         /* the spawner's pushes still in its store buffer */
byte need[NTHR];      /* a napping parker: stores buffered at its fence, not yet drained */
bool spawner_done = false;

bit  idle_lock = 0;   /* rt->idle_lock */
byte n_idle = 0;      /* rt->n_idle */
byte n_searching = 0; /* rt->n_searching */
bool in_list[NTHR];   /* thr->in_idle_list */
bool searching[NTHR]; /* thr->searching */
bool parked[NTHR];    /* thr->parked */
byte wake_seq[NTHR];  /* thr->wake_seq (the futex word) */
bool asleep[NTHR];    /* blocked in the kernel's futex_wait */

#define NF 2          /* the joiner's group: tasks finished by other threads */
byte done_remote = 0; /* g->done_remote; finished() when it reaches NF */
byte spurious = 0;    /* the joiner's futex_wait returned without a wake */

inline lock()   { atomic { idle_lock == 0 -> idle_lock = 1 } }
inline unlock() { idle_lock = 0 }

/* park.c:93 weft__futex_wait: compare and sleep, atomically in the kernel */
inline futex_wait_begin(t, seq) {
    atomic { if :: wake_seq[t] == seq -> asleep[t] = true :: else fi }
}
/* park.c:113 weft__futex_wake */
inline futex_wake(t) {
    atomic { if :: asleep[t] -> asleep[t] = false :: else fi }
}

/* park.c:136 unlink_locked */
inline unlink_locked(t) {
    in_list[t] = false;
    n_idle--                          /* park.c:146 */
}

/* park.c:150 wake_locked */
inline wake_locked(t) {
    if :: in_list[t] -> unlink_locked(t) :: else fi;  /* park.c:152-153 */
    parked[t] = false;                                /* park.c:154 */
    wake_seq[t]++                                     /* park.c:155 */
}

/* park.c:170 weft__wake_one; pick_locked (park.c:162) picks the first
 * listed thread: here any listed worker (a superset of the real choice). */
inline wake_one(t) {
    lock();                                           /* park.c:172 */
    if
    :: in_list[0] -> t = 0
    :: in_list[1] -> t = 1
    :: else -> t = NONE
    fi;
    if
    :: t != NONE ->
        wake_locked(t);                               /* park.c:175 */
        searching[t] = true;                          /* park.c:177 */
        n_searching++                                 /* park.c:178 */
    :: else
    fi;
    unlock();                                         /* park.c:180 */
    if :: t != NONE -> futex_wake(t) :: else fi       /* park.c:182-183 */
}

/* park.c:200 weft__wake_thread */
inline wake_thread(t) {
    lock(); wake_locked(t); unlock();                 /* park.c:202-204 */
    futex_wake(t)                                     /* park.c:205 */
}

/* park.c:208 weft__searching_begin */
inline searching_begin(me) {
    if
    :: !searching[me] ->
        searching[me] = true;                         /* park.c:212 */
        n_searching++                                 /* park.c:213 */
    :: else
    fi
}

/* park.c:216 weft__searching_end */
inline searching_end(me, t, old) {
    if
    :: searching[me] ->
        searching[me] = false;                        /* park.c:220 */
        atomic { old = n_searching; n_searching-- };  /* park.c:225 fetch_sub */
        if
        :: old == 1 && n_idle != 0 -> wake_one(t)     /* park.c:226-227 */
        :: else
        fi
    :: else
    fi
}

/* take one visible task: a successful pop/steal in next_task (scheduler.c:225)
 * or weft__find_work (scheduler.c:232) */
#define TAKE   atomic { work > 0 -> work-- }
#define NOWORK (work == 0)

/* the oldest buffered store becomes visible */
inline flush_one() {
    work++; buf--;
    if :: need[0] > 0 -> need[0]-- :: else fi;
    if :: need[1] > 0 -> need[1]-- :: else fi
}
/* every buffered store becomes visible (a fence of the spawner, a membarrier) */
inline flush_all() {
    work = work + buf; buf = 0; need[0] = 0; need[1] = 0
}

/* park.c park_listed (an idle worker: weft__park, slots.c worker_main) */
inline park_listed(me, seq) {
    lock();
    if
    :: searching[me] ->
        searching[me] = false;
        n_searching--
    :: else
    fi;
    seq = wake_seq[me];                               /* acquire load of wake_seq */
    in_list[me] = true;                               /* onto idle_list */
    n_idle++;                                         /* seq_cst RMW */
    parked[me] = true;
    unlock();
#if defined(MEMBARRIER) && !defined(BAD_NOBARRIER)
    /* weft__full_barrier_everywhere: every running thread runs a full barrier */
    atomic { flush_all() };
#endif
    /* else weft__full_fence, which orders only this thread (it has no
     * buffered store here: its stores were under the lock); the stores
     * buffered elsewhere when it completes: */
    need[me] = buf;
#ifndef BAD_NORECHECK
    if
    :: work > 0 -> skip                               /* nothing_to_do: work */
    :: else ->
#if !defined(MEMBARRIER) && !defined(FENCE)
        /* still_nothing_after_drain: nap until woken or PARK_DRAIN passed */
#ifndef BAD_NODRAIN
        atomic { wake_seq[me] != seq || need[me] == 0 };
#endif
        if
        :: wake_seq[me] != seq -> goto unlist         /* woken: it goes searching */
        :: wake_seq[me] == seq && work > 0 -> goto unlist  /* second look: work */
        :: wake_seq[me] == seq && work == 0 -> skip   /* second look: nothing */
        fi;
#endif
#endif
        futex_wait_begin(me, seq);                    /* weft__futex_wait */
end_sleep:
        !asleep[me];
#ifndef BAD_NORECHECK
    fi;
#endif
unlist:
    need[me] = 0;                                     /* (a napper woken early) */
    lock();
    if :: in_list[me] -> unlink_locked(me) :: else fi;
    parked[me] = false;
    unlock();
    seq = 0                                           /* dead: merges states */
}

/* slots.c worker_main's loop (scheduler.c:207 when the model was written) (no rebalance, no stop) */
proctype worker(byte me)
{
    byte t, old, seq;
end_loop:
    do
    :: TAKE -> searching_end(me, t, old)             /* scheduler.c:234-235: run it */
    :: atomic { NOWORK -> skip };                     /* next_task: nothing */
        searching_begin(me);                          /* scheduler.c:229 */
        if
        :: TAKE -> searching_end(me, t, old)          /* found while spinning */
        :: atomic { NOWORK -> skip };
            park_listed(me, seq)                      /* weft__park */
        fi
    od
}

/* A worker's task spawning NT tasks: weft_spawn's push then
 * weft__notify_work (group.c weft_spawn, sched.h weft__wake_wanted). */
proctype spawner()
{
    byte i = 0, t, ni, ns;
    do
    :: i < NT ->
        buf++;                                        /* deque push: buffered store */
#ifdef FENCE
        atomic { flush_all() };                       /* weft__spawner_barrier: full fence */
#endif
        /* weft__wake_wanted: compiler barrier only: the loads pass the push */
        ni = n_idle;                                  /* weft__wake_wanted */
        ns = n_searching;                             /* weft__wake_wanted */
        if
        :: ni != 0 && ns == 0 -> wake_one(t)          /* weft__notify_work */
        :: else
        fi;
        i++
    :: else -> break
    od;
    spawner_done = true
}

/* the hardware drains the store buffer at some point */
proctype flusher()
{
end_flush:
    do
    :: atomic { buf > 0 -> flush_one() }
    od
}

/* (1) no lost wake-up. -DREACH turns it into a vacuity check that must
 * fail: every task ran and both workers sleep, so the model does reach the
 * all-asleep state the property is about. */
proctype lost()
{
end_mon:
    atomic {
#ifndef REACH
        spawner_done && buf == 0 && work > 0 && asleep[0] && asleep[1] ->
        assert(false)   /* a task is visible and every worker sleeps for good */
#else
        spawner_done && buf == 0 && work == 0 && asleep[0] && asleep[1] ->
        assert(false)   /* reachable: the good end */
#endif
    }
}

#ifdef JOIN
/* group.c:384 join_wait of a joiner that may not steal: its own deque is
 * empty, so it parks unlisted (park.c:272 park_unlisted) until its group
 * is finished (group.c:371 finished(): done_remote reaches the count). */
proctype joiner()
{
    byte seq;
    bool ready;
    do
    :: done_remote == NF -> break                     /* group.c:396 finished(g) */
    :: else ->
        seq = wake_seq[J];                            /* park.c:278 */
#ifndef BAD_JOINER
        parked[J] = true;                             /* park.c:283 seq_cst store */
        ready = (done_remote == NF);                  /* park.c:284 ready(): group.c:373 */
#else
        ready = (done_remote == NF);                  /* the load passes ... */
        parked[J] = true;                             /* ... a relaxed store */
#endif
        if
        :: ready -> skip
        :: else ->
            futex_wait_begin(J, seq);                 /* park.c:289 */
            if
            :: !asleep[J]                             /* not an end state */
            :: asleep[J] && spurious < 1 ->           /* EINTR, a spurious return */
                asleep[J] = false; spurious++
            fi
        fi;
        parked[J] = false                             /* park.c:291 */
    od
}

/* group.c:360 weft__group_remote_done: each of the group's NF remote tasks
 * ends elsewhere; any of them may be the last */
proctype finisher()
{
    done_remote++;                                    /* group.c:366 seq_cst RMW */
    if
    :: parked[J] -> wake_thread(J)                    /* group.c:367-368 */
    :: else
    fi
}
#endif

#ifdef STREAM
byte completed = 0;   /* g->completed: completions pushed, not taken */

/* group_wait.c weft_group_next, deadline WEFT_NEVER: weft__timed_wait's
 * first ready(), then wait_for's loop (timed_wait.c) until
 * completion_or_end(): a completion pushed, or every task ended */
proctype next_owner()
{
    byte seq, seen;
    bool ready;
    do
    :: completed > 0 || done_remote == NF -> break    /* weft__timed_wait: ready() */
    :: else ->
        seq = wake_seq[J];                            /* timed_wait.c: acquire load */
#ifndef BAD_STREAM_ACQUIRE
        parked[J] = true;                             /* timed_wait.c: seq_cst store */
        seen = completed;                             /* completion_or_end: seq_cst load */
#else
        seen = completed;                             /* an acquire load passes ... */
        parked[J] = true;                             /* ... the seq_cst store (LDAPR, STLR) */
#endif
        ready = (seen > 0 || done_remote == NF);      /* weft__group_finished: seq_cst */
        if
        :: ready -> skip
        :: else ->
            futex_wait_begin(J, seq);                 /* timed_wait.c: futex_wait_until */
            if
            :: !asleep[J]                             /* not an end state */
            :: asleep[J] && spurious < 1 ->           /* EINTR, a spurious return */
                asleep[J] = false; spurious++
            fi
        fi;
        parked[J] = false
    od
}

/* scheduler.c weft__run_task_tail of a STREAM task on another thread:
 * weft__stream_push (seq_cst CAS), then weft__group_remote_done */
proctype stream_finisher()
{
    completed++;                                      /* group.h weft__stream_push */
    done_remote++;                                    /* group.c: seq_cst RMW */
    if
    :: parked[J] -> wake_thread(J)                    /* group.c: seq_cst load, wake */
    :: else
    fi
}
#endif

init
{
    atomic {
#if defined(STREAM)
        run next_owner();
        run stream_finisher();
#elif !defined(JOIN)
        run worker(0);
        run worker(1);
        run spawner();
        run flusher();
        run lost();
#else
        run joiner();
        run finisher();
        run finisher();
#endif
    }
}
