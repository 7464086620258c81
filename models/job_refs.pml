/*
 * job_refs.pml: the references of a blocking job (job/job.c, job.h,
 * blocking_pool.c): the handle's, the run's, one per waiter while it waits,
 * one per weft_job_cancel while it cancels outside the lock, and recycling
 * into the pool's free list (weft__job_put_locked) on the last.
 *
 * Abstraction. One job, already taken off the queue by a blocking thread
 * (state RUNNING, refs 2: job.c:139). Processes, all using the pool's one
 * lock bp->lock:
 *   run      weft__job_run (job.c:210): cleanup, then under the lock the
 *            end: DONE, wake every listed waiter, drop the run's reference;
 *   waiter1  weft_job_wait with no limit, off the CPU workers
 *            (job.c:310 with wait_off_worker, job.c:274: a futex word);
 *   waiter2  the same with a limit: it may give up at any time;
 *   releaser weft_job_release (job.c:399), racing with both waits;
 *   canceller weft_job_cancel (job.c:382).
 * Job memory is type-stable, so reading it after recycling is not a crash:
 * the handle checks (handle_ok, job.c:47) read a recycled job and refuse.
 * What must never happen is what the model asserts: a process that got past
 * handle_ok touches the job (its state, waiter list, status, scope) after
 * it went back to the free list (`recycled`), as it could then be the next
 * life's job.
 *
 * Properties: recycled exactly once (put asserts it was not), never while
 * a process holds a reference (every access by a holder asserts
 * !recycled), the cleanup runs exactly once and the job is recycled once
 * everyone is gone (checked in the final state), and a waiter with no limit
 * is always woken (its futex sleep is not an end state: spin's
 * invalid-end-state check rejects a run that strands it).
 *
 * Bad variant (-DBAD_WAITER_NOREF): the wait does not take a reference
 * (job.c:324 and its drop at job.c:355 removed), the bug a review found:
 * the run's end and a release recycle the job under the waiter.
 */

#define FREE    0
#define RUNNING 2
#define DONE    3

bit  lock_ = 0;          /* bp->lock */
byte state = RUNNING;    /* job->state */
byte refs = 2;           /* job->refs: the handle, the run (job.c:139) */
bool released = false;   /* job->released */
bool observed = false;   /* job->observed */
bool recycled = false;   /* weft__job_put_locked ran */
bool cancelled = false;  /* the job's scope is cancelled */
byte cleanups = 0;       /* job->task.cleanup ran */
byte listed = 0;         /* bitmask of waiters listed in job->waiters */
byte word[2];            /* each waiter's futex word (w.word, job.c:31) */
bool asleep[2];          /* blocked in futex_wait on it */
byte finished = 0;       /* processes that returned */

#define NPROC 5

inline lock()   { atomic { lock_ == 0 -> lock_ = 1 } }
inline unlock() { lock_ = 0 }

/* an access to the job by a process that holds (or believes it holds) a
 * reference */
#define USE assert(!recycled)

/* blocking_pool.c:116 weft__job_put_locked */
inline put_locked() {
    assert(!recycled);                 /* recycled exactly once */
    assert(refs == 0);
    recycled = true;
    state = FREE                       /* blocking_pool.c:123 */
}

/* job.c:47 handle_ok: reads type-stable memory, recycled or not */
#define HANDLE_OK (state != FREE && !released)

proctype jobrun()
{
    USE;
    cleanups++;                        /* job.c:236-237 the cleanup */
    lock();                            /* job.c:241 */
    USE;
    state = DONE;                      /* job.c:247 release store */
    /* job.c:248-253: wake every listed waiter (futex_post: word, then wake) */
    if :: listed & 1 -> word[0] = 1; asleep[0] = false :: else fi;
    if :: listed & 2 -> word[1] = 1; asleep[1] = false :: else fi;
    refs--;                            /* job.c:258 */
    if :: refs == 0 -> put_locked() :: else fi;
    unlock();                          /* job.c:260 */
    finished++
}

/* job.c:274 wait_off_worker's loop; `limited`: a finite deadline */
inline wait_loop(me, limited) {
    do
    :: atomic { USE; now_done = (state == DONE) };  /* job_ended, job.c:268 */
        if
        :: now_done -> break
        :: else
        fi;
        if
        :: limited -> break                      /* now >= end: gives up */
        :: true ->
            /* job.c:282 futex_wait_until(&w->word, 0, end) */
            atomic { if :: word[me] == 0 -> asleep[me] = true :: else fi };
            if
            :: !asleep[me]                       /* woken, or word != 0 */
            :: limited && asleep[me] -> asleep[me] = false  /* timed out */
            fi
        fi
    od
}

/* job.c:310 weft_job_wait */
proctype waiter(byte me; bool limited)
{
    bool ended, now_done;
    lock();                                      /* job.c:319 */
    if
    :: !HANDLE_OK -> unlock(); goto out           /* job.c:320-322 EINVAL */
    :: else
    fi;
#ifndef BAD_WAITER_NOREF
    refs++;                                      /* job.c:324 */
#endif
    USE;
    ended = (state == DONE);                     /* job.c:325 */
    if :: !ended -> listed = listed | (1 << me) :: else fi;  /* job.c:326-329 */
    unlock();                                    /* job.c:330 */
    if :: !ended -> wait_loop(me, limited) :: else fi;       /* job.c:333-335 */
    lock();                                      /* job.c:337 */
    USE;
    if :: !ended -> listed = listed & ~(1 << me) :: else fi; /* job.c:338-339 unlist */
    if
    :: state == DONE -> observed = true          /* job.c:340-346 status, record */
    :: else                                      /* job.c:348 give_up_locked */
    fi;
    USE;                                         /* job.c:350-354 job->rt, trace */
#ifndef BAD_WAITER_NOREF
    refs--;                                      /* job.c:355 */
    if :: refs == 0 -> put_locked() :: else fi;
#endif
    unlock();                                    /* job.c:356 */
out:
    finished++
}

/* job.c:371 job_unref */
inline job_unref() {
    lock();                                      /* job.c:375 */
    USE;
    refs--;                                      /* job.c:376 */
    if :: refs == 0 -> put_locked() :: else fi;
    unlock()
}

/* job.c:399 weft_job_release */
proctype releaser()
{
    lock();                                      /* job.c:405 */
    if
    :: !HANDLE_OK -> unlock(); goto out           /* never: one release */
    :: else
    fi;
    USE;
    released = true;                             /* job.c:410 */
    /* job.c:414-420: give up, or take the record of an unseen failure */
    unlock();                                    /* job.c:421 */
    USE;                                         /* job.c:424-425 job->rt: the handle's ref */
    job_unref();
out:
    finished++
}

/* job.c:382 weft_job_cancel (before the release: a handle still held) */
proctype canceller()
{
    bool live;
    lock();                                      /* job.c:387 */
    live = HANDLE_OK && state != DONE;           /* job.c:388-389 */
    if :: live -> refs++ :: else fi;             /* job.c:390-391 */
    unlock();
    if
    :: live ->
        USE; cancelled = true;                   /* job.c:395 weft__job_cancel */
        job_unref()                              /* job.c:396 */
    :: else
    fi;
    finished++
}

/* the end: every process returned */
proctype theend()
{
end_final:
    atomic {
        finished == NPROC ->
        assert(recycled && refs == 0 && cleanups == 1 && listed == 0)
    }
}

init
{
    atomic {
        run jobrun();
        run waiter(0, false);
        run waiter(1, true);
        run releaser();
        run canceller();
        run theend()
    }
}
