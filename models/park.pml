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
 * weft__wake_wanted issues only a compiler barrier when membarrier is in
 * use). A `flusher` drains the buffer at any time;
 * membarrier (park.c:254, weft__full_barrier_everywhere) drains it at once,
 * as a full barrier run by every running thread does. Stores made under
 * idle_lock and seq_cst RMWs are visible at once (they drain the owner's
 * buffer). futex_wait is an atomic compare-and-sleep, as the kernel's is.
 *
 * Variants (spin -D...):
 *   (none)          membarrier scheme: must pass
 *   JOIN            the joiner and finisher instead of workers: must pass
 *   NO_MEMBARRIER   the fallback (use_membarrier = false): both sides fence
 *                   (weft__wake_wanted, park.c weft__full_barrier_everywhere): must pass
 *   BAD_NORECHECK   the parker sleeps without its look after publishing
 *                   itself (park.c:255 dropped): must fail
 *   BAD_NOBARRIER   the parker looks without the membarrier (park.c:254
 *                   dropped) while the spawner still has only a compiler
 *                   barrier: must fail (store buffering)
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

/* park.c:232 park_listed (an idle worker: weft__park, scheduler.c:242) */
inline park_listed(me, seq) {
    lock();                                           /* park.c:238 */
    if
    :: searching[me] ->
        searching[me] = false;                        /* park.c:241 */
        n_searching--                                 /* park.c:242 */
    :: else
    fi;
    seq = wake_seq[me];                               /* park.c:244 */
    in_list[me] = true;                               /* park.c:245-247 */
    n_idle++;                                         /* park.c:249 */
    parked[me] = true;                                /* park.c:251 */
    unlock();                                         /* park.c:252 */
#if !defined(BAD_NOBARRIER) && !defined(NO_MEMBARRIER)
    /* park.c:254 membarrier: every running thread executes a full barrier */
    atomic { work = work + buf; buf = 0 };
#endif
    /* NO_MEMBARRIER: park.c:90 weft__full_fence, which orders only this
     * thread (it has no buffered store here: its stores were under the lock) */
#ifndef BAD_NORECHECK
    if
    :: work > 0 -> skip                               /* park.c:255 look: work */
    :: else ->
#endif
        futex_wait_begin(me, seq);                    /* park.c:261 */
end_sleep:
        !asleep[me];
#ifndef BAD_NORECHECK
    fi;
#endif
    lock();                                           /* park.c:263 */
    if :: in_list[me] -> unlink_locked(me) :: else fi;/* park.c:264-265 */
    parked[me] = false;                               /* park.c:266 */
    unlock()                                          /* park.c:267 */
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
            park_listed(me, seq)                      /* scheduler.c:242 */
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
#ifdef NO_MEMBARRIER
        atomic { work = work + buf; buf = 0 };        /* weft__wake_wanted: full fence */
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
    :: atomic { buf > 0 -> work++; buf-- }
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
