/*
 * One oracle of weft's public contract (API.md, the man pages, weft.h),
 * shared by the random trees (tests/trees/tree_check.c), the API fuzzer
 * (fuzz/expect.c and the interpreter) and the soak (soak/load_*.c).
 *
 * Each rule is stated once, as a function over a small description that
 * the checker fills from what it observed. It returns 0, or 1 with a
 * readable reason in the verdict; the checker reports that its own way
 * (tree_check fills `why`, the fuzzer aborts with fz_violation, the soak
 * counts a soak_violation).
 *
 * Races leave some outcomes open (whether a cancel came before a task's
 * return was recorded, whether a deadline passed before a join returned),
 * so a description says what was possible, not what happened: a field such
 * as `ecanceled_possible` is true when the checker cannot rule the event
 * out. A checker that knows more fills it tighter and so checks more: the
 * soak knows its plan, the fuzzer reads the clock, the trees know only
 * what their plan makes possible. Tolerances that differ between checkers
 * (tasks that may begin unaware of a cancel) are parameters.
 *
 * Public API only: the soak links libweft.la.
 */
#ifndef WEFT_TESTS_ORACLE_CONTRACT_H
#define WEFT_TESTS_ORACLE_CONTRACT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

struct oracle_verdict {
    char why[256]; /* the broken rule, when a check returned 1 */
};

/* ---- cancellation reaches down to the first shield ---- */

/* One scope on the way up from a task: a group, or a task's own deadline
 * scope. chain[k + 1] encloses chain[k]. `event`: something happened (or
 * may have) that cancels this scope itself. */
struct oracle_scope {
    bool event;
    bool shield;
};
/* Whether an event of chain[0] or of a scope above it reaches chain[0]'s
 * tasks: a scope's own always does, an enclosing one's only until a
 * shielded scope was crossed. */
bool oracle_reaches(const struct oracle_scope *chain, size_t n);

/* ---- deadlines: min(own, parent's unless shielded, the spawn's) ---- */

/* A group's effective deadline: its own (0 or WEFT_NEVER: none) and,
 * unless it is shielded, that of the task that opened it. */
weft_time oracle_group_deadline(weft_time own, bool shield, weft_time opener);
/* A task's or job's (weft_deadline as it begins): its group's effective
 * deadline (a job: its spawner's) narrowed by its spawn's (0 or
 * WEFT_NEVER: none). A detached task has none. */
weft_time oracle_spawn_deadline(weft_time group, weft_time spawn);
/* weft_deadline(self) was `seen` where `want` is the rule's. */
int oracle_check_deadline(const char *what, weft_time seen, weft_time want,
                          struct oracle_verdict *v);

/* ---- exactly once ---- */

/* What ran of one task, job or detached task (or of many, summed). Counts
 * a checker does not keep are -1. */
struct oracle_runs {
    const char *what;
    long long spawned;        /* spawns that returned 0 */
    long long runs;           /* function entries */
    long long returns;        /* function returns; -1: not counted */
    long long cleanups;       /* cleanup calls; -1: not counted */
    long long cleanups_due;   /* spawns that gave a cleanup */
    long long cleanups_early; /* cleanups before the function returned; -1: not counted */
};
/* Every spawned function runs exactly once (none that was not spawned),
 * and each cleanup once, after its function returned. */
int oracle_check_runs(const struct oracle_runs *r, struct oracle_verdict *v);

/* Tasks that began after a weft_group_cancel above them (up to a shield)
 * had returned but did not see the flag: at most `allowed` (the trees allow
 * `workers`, the fuzzer none). */
int oracle_check_late_starts(const char *what, unsigned unaware, unsigned allowed,
                             struct oracle_verdict *v);

/* ---- which task returns are failures ---- */

/* What one task returned, and what the checker knows of its group then. */
struct oracle_return {
    int rc;               /* what its function returned */
    bool saw_cancel;      /* its scope was cancelled before it returned (it read the flag) */
    int reason;           /* weft_cancel_reason it read then; 0: not read */
    bool deadline_passed; /* its group's effective deadline had passed before it returned */
    bool cancel_possible; /* its group may have been cancelled (a cancel, a fail-fast failure,
                           * a deadline, here or above up to a shield) by the time its return
                           * was recorded */
    bool own_deadline;    /* it may have a deadline scope of its own (a spawn deadline tighter
                           * than its group's), which turns its ECANCELED into ETIMEDOUT */
};

/* Whether a return must, or may, be in its group's error list, and with
 * which code. */
struct oracle_listing {
    bool must, may;
    int code;     /* its record's code */
    int alt_code; /* also allowed; 0: none */
};

/* A task is no failure when it returns ECANCELED, or its group's cancel
 * reason, after its group was cancelled, or ETIMEDOUT once its group's
 * deadline passed; a code no cancel explains is always one; a task's own
 * deadline lists its ECANCELED as ETIMEDOUT. */
struct oracle_listing oracle_listing_of(const struct oracle_return *r);

/* ---- error lists ---- */

enum oracle_cause {
    ORACLE_CAUSE_ANY,      /* not checked */
    ORACLE_CAUSE_COUNT,    /* exactly cause_count records */
    ORACLE_CAUSE_AT_LEAST, /* cause_count or more */
    ORACLE_CAUSE_LIST      /* checked against cause_list */
};

struct oracle_list;

/* One failure a list may hold. */
struct oracle_entry {
    const char *what;              /* its name in a reason: "n5", "task 7" */
    struct oracle_listing listing; /* must / may it be listed, with which code */
    const char *message;           /* its record's message, which identifies it;
                                    * NULL: it is identified by name and code */
    const char *name;              /* its record's task name ("" when unnamed); NULL: not
                                    * checked (with a message only) */
    enum oracle_cause cause;
    size_t cause_count;
    const struct oracle_list *cause_list;
};

enum oracle_cancel_record {
    ORACLE_NO_CANCEL_RECORD,
    ORACLE_CANCEL_RECORD_ALONE, /* a join's list may be the record of why the group was
                                 * cancelled (tests/scope/cancel_record.h), alone */
    ORACLE_CANCEL_RECORD_ONCE   /* a cause may hold it once, beside other records */
};

#define ORACLE_MAX_ENTRIES 64

struct oracle_list {
    const char *what; /* "n3's cause", "the collect group's join" */
    const struct oracle_entry *entry;
    size_t n; /* at most ORACLE_MAX_ENTRIES */
    enum oracle_cancel_record cancel_record;
};

/* Every failure that must be listed is, exactly once, with its code, name,
 * message and causes; nothing else is but the cancel record where allowed;
 * nothing was lost (the checks run with memory to spare). */
int oracle_check_list(const struct oracle_list *l, const weft_errors *got,
                      struct oracle_verdict *v);

/* ---- joins ---- */

struct oracle_join {
    const char *what;               /* "n3's join" */
    int rc;                         /* what weft_group_join returned */
    const struct oracle_list *tasks; /* its tasks' failures; NULL: none can fail */
    bool cancelled;                 /* known cancelled: a weft_group_cancel returned before the
                                     * join began, tasks that end only when cancelled, or its
                                     * own deadline past at init */
    bool ecanceled_possible;        /* a cancel or a fail-fast failure in the group or above
                                     * it, up to a shield, may have happened */
    bool etimedout_possible;        /* its effective deadline had passed (or may have) when
                                     * the join returned */
    /* What it handed out, when the caller asked for the list: */
    bool took;
    bool errs_kept;          /* errs is the list (NULL: none), checked with `tasks`; else
                              * the checker kept only a summary: */
    const weft_errors *errs;
    size_t count;            /*   records, the cancel record not counted */
    int first_code;          /*   the first one's code, when count > 0 */
    bool only_cancel_record; /*   it was the record of why the group was cancelled, alone */
};
/* A join returns the earliest listed failure's code (the first record's),
 * else 0, ECANCELED or ETIMEDOUT, each only when allowed: ECANCELED after a
 * cancel or fail-fast in the group or above it up to a shield, ETIMEDOUT
 * once the effective deadline passed or a task's own deadline turned its
 * ECANCELED into ETIMEDOUT. A cancelled group, or one whose own deadline
 * had passed, never joins with 0. A non-zero join hands out a record; the
 * list holds what oracle_check_list says. */
int oracle_check_join(const struct oracle_join *j, struct oracle_verdict *v);

/* weft_run returned rc; its root returned root_rc, and its failure (when
 * rc != 0) is `root`. The run returns the root's code, and its tree is
 * NULL or the root's record alone. */
int oracle_check_run(int rc, int root_rc, const weft_errors *errs, const struct oracle_entry *root,
                     struct oracle_verdict *v);

/* ---- streams (WEFT_STREAM, weft_group_next) ---- */

struct oracle_completion {
    const char *what;
    bool mine;  /* the arg is one of the group's tasks */
    bool ended; /* its function had returned (true when not known) */
    int times;  /* completions of it handed out so far, this one included */
    int status;
    const struct oracle_return *task; /* its return (rc, own_deadline) */
};
/* Each completion is handed out once, after the task ended, with its code
 * (a task's own deadline may show its ECANCELED as ETIMEDOUT). */
int oracle_check_completion(const struct oracle_completion *c, struct oracle_verdict *v);
/* weft_group_next returned rc after `handed_out` completions of `spawned`
 * tasks: ENOENT only when all were handed out, ECANCELED / ETIMEDOUT only
 * when possible for the caller; rc 0 (not an end): no more than spawned. */
int oracle_check_stream_end(const char *what, int rc, unsigned handed_out, unsigned spawned,
                            bool ecanceled_possible, bool etimedout_possible,
                            struct oracle_verdict *v);

/* ---- waits and the cancel state ---- */

/* A timed wait (or a call that stops like one) returns ECANCELED only when
 * its caller may be cancelled, ETIMEDOUT only once min(its limit, the
 * caller's deadline) passed; other codes are the call's own business. */
int oracle_check_stop(const char *what, int rc, bool ecanceled_possible, bool deadline_passed,
                      struct oracle_verdict *v);
/* weft_sleep: 0 only once `until` passed, else a stop. */
int oracle_check_sleep(const char *what, int rc, bool until_passed, bool ecanceled_possible,
                       bool deadline_passed, struct oracle_verdict *v);
/* weft_group_wait: 0 only once every task ended (`unended`: one had not),
 * else a stop. */
int oracle_check_group_wait(const char *what, int rc, bool unended, bool ecanceled_possible,
                            bool deadline_passed, struct oracle_verdict *v);

struct oracle_job_wait {
    const char *what;
    int rc;                   /* what weft_job_wait returned */
    bool done;                /* the job had ended (weft_job_done, or its own record) */
    int status;               /* what its function returned (or was planned to) */
    bool own_deadline_passed; /* the job's deadline had passed when the wait returned */
    bool cancel_possible;     /* something besides its deadline (weft_job_cancel, its
                               * spawner's scope) may have cancelled the job */
    bool ecanceled_possible;  /* the waiter may be cancelled */
    bool deadline_passed;     /* min(the wait's limit, the waiter's deadline) had passed */
};
/* A wait returns the job's status (its ECANCELED at its own deadline as
 * ETIMEDOUT, always so when nothing else could cancel it), or stops. */
int oracle_check_job_wait(const struct oracle_job_wait *w, struct oracle_verdict *v);

/* weft_cancelled / weft_cancel_reason as read by a task: a reason is 0,
 * ECANCELED or ETIMEDOUT; a cancelled task has one; ECANCELED only after
 * a cancel could come, ETIMEDOUT only after the deadline. */
int oracle_check_cancel_state(const char *what, bool cancelled, int reason,
                              bool ecanceled_possible, bool deadline_passed,
                              struct oracle_verdict *v);

/* weft_on_cancel: the callback runs at most once, only when the scope is
 * cancelled, and at once when registered in a scope already cancelled.
 * `calls`: how often it ran so far. */
int oracle_check_cancel_callback(const char *what, int calls, bool cancelled_at_registration,
                                 bool cancel_possible, struct oracle_verdict *v);

/* ---- cancel scopes inside a task (weft_scope_enter(3)) ---- */

/* A scope's effective deadline: its own (0 or WEFT_NEVER: none) and,
 * unless it is shielded, the enclosing one (the task's before enter). The
 * rule of a group's, oracle_group_deadline, restated for the scope. */
weft_time oracle_scope_deadline(weft_time own, bool shield, weft_time enclosing);

/* One life of an entered scope, as its task saw it around the exit. */
struct oracle_scope_exit {
    const char *what;          /* "n4's scope", "scope 12" */
    int rc;                    /* what weft_scope_exit returned (a correct exit) */
    bool shield;               /* WEFT_SHIELD: nothing enclosing reaches inside */
    bool outer_possible;       /* the enclosing scope (self's before enter) may have been
                                * cancelled, by a cancel or its deadline, by the last read */
    bool cancel_possible;      /* a weft_scope_cancel of this scope may have come in its life */
    bool cancel_returned;      /* one did, and returned before `saw_cancel` was read */
    bool past_at_enter;        /* its own deadline had passed when enter was called */
    bool own_deadline_passed;  /* it has a deadline of its own, past when exit returned */
    bool saw_cancel;           /* weft_cancelled(self), read inside just before exit */
    int reason;                /* weft_cancel_reason(self) then */
    bool cancelled_after;      /* weft_cancelled(self), read just after exit */
};
/* Trio's cancelled_caught: exit returns ECANCELED only when this scope was
 * cancelled with weft_scope_cancel, ETIMEDOUT only when its own deadline
 * fired, whichever came first; 0 when neither did or an enclosing cancel
 * came first (never for a shield), and the task then stays cancelled; a
 * scope that ended its work itself never exits with 0. Inside, a cancel
 * that returned and a deadline already past at enter show in the flag,
 * and the reason is one something could give; after the exit the task is
 * cancelled only if the enclosing scope may be. */
int oracle_check_scope_exit(const struct oracle_scope_exit *s, struct oracle_verdict *v);

/* `message` is the record a join hands out (tests/scope/cancel_record.h) for a
 * group begun inside a scope that weft_scope_cancel alone cancelled, before
 * the join began: it names the scope (`scope_name`, NULL when unnamed) and
 * the call. */
int oracle_check_scope_cancel_record(const char *what, const char *message,
                                     const char *scope_name, struct oracle_verdict *v);

/* ---- calls that run a function several times ---- */

struct oracle_retry {
    const char *what;
    int rc;
    unsigned attempts; /* the policy's, after defaults */
    unsigned fails;    /* tries that fail (retryably, with fail_code) before one succeeds */
    unsigned calls;    /* tries made */
    int fail_code;
    bool ecanceled_possible;
    bool etimedout_possible; /* the caller has a deadline */
};
/* weft_retry_run tries at most `attempts` times: 0 after the first success,
 * the last failure's code when every try failed, or a stop. */
int oracle_check_retry(const struct oracle_retry *r, struct oracle_verdict *v);

struct oracle_parallel_for {
    const char *what;
    int rc;
    size_t n;                        /* indices */
    const _Atomic unsigned char *hits; /* visits of each index */
    size_t fail_at;                  /* the index whose chunk fails; >= n: none */
    int fail_code;
    bool fail_must_run;              /* nothing can stop the loop before that chunk */
    bool ecanceled_possible;
    bool etimedout_possible;
};
/* weft_parallel_for visits each index at most once, every one when it
 * returns 0; it returns the failing chunk's code when that chunk ran, and
 * otherwise 0 or a stop (fail-fast, like a group). */
int oracle_check_parallel_for(const struct oracle_parallel_for *p, struct oracle_verdict *v);

/* ---- unhandled failures (on_unhandled) ---- */

struct oracle_reports {
    const char *what;
    uint64_t due;      /* failures that must reach it (a failing detached task, a released
                        * job's failure no wait saw) */
    uint64_t seen;     /* reports it got */
    uint64_t unknown;  /* reports of no due failure */
    uint64_t repeated; /* reports of a failure reported before */
    bool final;        /* after destroy: every due one has arrived */
    bool summed;       /* the checker keeps sums of a hash of the ids, not the ids: */
    uint64_t due_sum, seen_sum;
};
/* Every due failure is reported exactly once, and nothing else is. */
int oracle_check_reports(const struct oracle_reports *r, struct oracle_verdict *v);

#endif
