/*
 * The API fuzzer's shared types (fuzz/): the command language's decoded
 * program (program.c), what each command records while it runs (interp.c,
 * jobs.c, misuse.c, scopes.c) and the checks made from those records (expect.c, through
 * the oracle of the contract shared with the random trees and the soak:
 * tests/oracle/contract.h).
 *
 * A program is a tree: a SPAWN command carries its child's program. The
 * tree is decoded once, before anything runs, with hard bounds on its size,
 * and every node executes at most once (a task runs its program once), so a
 * node can hold the record of what it started: nothing is allocated while
 * the runtime runs, and after the run every record is still there to check.
 */
#ifndef WEFT_FUZZ_FUZZ_H
#define WEFT_FUZZ_FUZZ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/weft.h>

#include "tests/oracle/contract.h"

/* Bounds that keep one input to milliseconds. */
enum {
    FZ_MAX_NODES = 96,   /* commands in the whole tree */
    FZ_MAX_DEPTH = 4,    /* nested SPAWNs */
    FZ_MAX_CHILD = 6,    /* commands of one child's program */
    FZ_MAX_KIDS = 8,     /* spawns into one group */
    FZ_MAX_OPEN = 3,     /* groups a task has open at once */
    FZ_MAX_JOBS = 2,     /* job handles a task holds at once */
    FZ_PFOR_MAX = 48,    /* parallel_for range */
    FZ_CHAIN_MAX = 16,   /* links of a detached chain */
    FZ_MAX_SCOPES = 3,   /* scopes a task has entered at once */
    /* links from a task's scope up to the root's: per task, its group and
     * the scopes it entered */
    FZ_MAX_CHAIN = (FZ_MAX_DEPTH + 2) * (FZ_MAX_SCOPES + 1)
};

enum fz_op {
    OP_OPEN,          /* a: flags, b: deadline choice */
    OP_SPAWN,         /* a: options, b: child's length; the child follows */
    OP_JOIN,          /* a: bit 0 takes the error tree */
    OP_CANCEL,        /* cancel the innermost open group */
    OP_CANCEL_SCOPE,  /* a task cancels the group it runs in */
    OP_FAIL,          /* a: code; the task returns it (weft_fail) at its end */
    OP_SLEEP,         /* a: microseconds x 8 */
    OP_CHECK_CANCEL,  /* a cancelled task stops its program */
    OP_DEADLINE,      /* weft_deadline(self) is the expected one */
    OP_JOB,           /* a: job's kind, b: its deadline / sleep */
    OP_JOB_WAIT,      /* a: job slot, b: wait choice */
    OP_JOB_CANCEL,
    OP_JOB_RELEASE,
    OP_GROUP_WAIT,    /* b: wait choice */
    OP_GROUP_NEXT,    /* b: wait choice */
    OP_PFOR,          /* a: range, b: grain and failing index */
    OP_RETRY,         /* a: attempts, b: failures before success */
    OP_ON_CANCEL,
    OP_ON_CANCEL_REMOVE,
    OP_MISUSE,        /* a: which misuse */
    OP_CHAIN,         /* a: links, b: which fail; a chain of detached tasks */
    OP_OUTER_CANCEL,  /* a: delay; a second thread cancels the innermost open group */
    OP_SCOPE_ENTER,   /* a: shield, name, deadline choice; b: misuse, left open */
    OP_SCOPE_EXIT,    /* a: the innermost, or a misuse */
    OP_SCOPE_CANCEL,  /* a: the innermost, the spawner's, or a no-op one */
    OP_COUNT
};

struct fz_prog;
struct fz_group;
struct fz_scope;
struct fz_frame;

/* A task spawned by a SPAWN node (also the task's arg). */
struct fz_task {
    unsigned id;
    char name[16];
    const struct fz_prog *prog;
    unsigned depth;
    bool named, has_cleanup, timed;
    weft_time spawn_deadline;   /* what the spawn passed, 0: none */
    weft_time expect_deadline;  /* weft_deadline(self) must be this */
    struct fz_group *group;     /* the group it runs in; valid while that is open */
    struct fz_scope *spawner_scope; /* its spawner's innermost scope then (NULL: none);
                                 * the storage lives until the spawner returns */
    bool spawned;               /* weft_spawn* returned 0 */
    _Atomic int runs, cleanups;
    _Atomic bool done;          /* its function returned */
    int rc;                     /* what its function returned */
    bool streamed;              /* handed out by weft_group_next (owner only) */
    bool stopped_in_scope;      /* its ECANCELED is for a scope it entered */
    bool explicit_cause;        /* failed with weft_fail_from this many causes: */
    size_t cause_count;
    bool cause_at_least;        /* ... or more: a join left records it did not take */
};

/* A blocking job started by a JOB node (also the job's arg). */
struct fz_job {
    unsigned id;
    char name[16];
    uint8_t kind, param;
    weft_time expect_deadline;
    bool spawned;
    _Atomic int runs, cleanups;
    _Atomic bool done;
    _Atomic int rc;
};

/* parallel_for's record (PFOR node). */
struct fz_pfor {
    size_t n, grain, fail_at; /* fail_at >= n: no failure */
    weft_time expect_deadline;
    _Atomic uint8_t cover[FZ_PFOR_MAX];
    _Atomic int bad_chunk;
};

/* A detached chain (CHAIN node): each link opens a group, spawns a child
 * into it, spawns the next link detached, joins, and fails or not. */
struct fz_chain;
struct fz_link {
    struct fz_chain *chain;
    unsigned k;
    _Atomic int runs, child_runs;
    int spawn_rc; /* by whoever spawned it, once weft_spawn_detached returned */
};

struct fz_chain {
    unsigned id, n_links;
    uint8_t fails; /* link k fails when bit k % 8 is set */
    bool started;
    struct fz_link links[FZ_CHAIN_MAX];
};

struct fz_node {
    uint8_t op, a, b;
    unsigned id;           /* 1 + its index: names tasks and jobs */
    struct fz_node *next;  /* the next command of the same program */
    struct fz_prog *child; /* OP_SPAWN */
    union {
        struct fz_task task;
        struct fz_job job;
        struct fz_pfor pfor;
        struct fz_chain chain;
    } u;
};

struct fz_prog {
    struct fz_node *first; /* NULL: empty */
};

/* A decoded input: the arena of nodes and the top-level program. */
struct fz_input {
    struct fz_node nodes[FZ_MAX_NODES];
    struct fz_prog progs[FZ_MAX_NODES + 1];
    unsigned n_nodes, n_progs;
    struct fz_prog *top;
};

/* What the fuzzer knows of one open group: enough to predict its join; or
 * of one entered scope (handle NULL), a link of the same chains. */
struct fz_group {
    weft_group *handle;
    unsigned flags;
    weft_time own_deadline;   /* WEFT_NEVER: none */
    weft_time eff_deadline;   /* min(own, owner's unless shielded) */
    bool born_cancelled;      /* own deadline already past at init */
    struct fz_group *up;      /* the group its owner runs in; NULL for the root */
    /* someone cancelled it, or a task of this fail-fast group failed:
     * set before the cancel can happen */
    _Atomic bool ecanceled_source;
    bool cancelled_by_owner;
    /* a weft_group_cancel of it returned: every task that begins in it (or
     * below, up to a shield) from then on must see the flag */
    _Atomic bool cancel_returned;
    bool outer_before_join;   /* OUTER_CANCEL's cancel returned before the join began */
    bool cancel_known_before_join; /* a cancel of it or above had returned by then */
    struct fz_task *kids[FZ_MAX_KIDS];
    unsigned n_kids, handed_out;
    /* a scope: set when another task may cancel its storage, in any life */
    const _Atomic bool *foreign_source;
};

/* ---- program.c ---- */
/* Decode data into in (bounded; never fails: any bytes are a program). */
void fz_decode(struct fz_input *in, const uint8_t *data, size_t size);

/* ---- expect.c ---- */
/* Abort with a message: libFuzzer reports it as a crash with the input. */
_Noreturn void fz_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define FZ_CHECK(cond, ...)                                                                 \
    do {                                                                                    \
        if (!(cond))                                                                        \
            fz_violation(__VA_ARGS__);                                                      \
    } while (0)
/* An oracle check that returned `broken` (contract.h): abort with its reason. */
void fz_verdict(int broken, const struct oracle_verdict *v);
/* Whether an ECANCELED can have reached g: a cancel or a fail-fast failure
 * in g or above it, up to the first shield. */
bool fz_ecanceled_possible(const struct fz_group *g);
/* Whether a weft_group_cancel of g or of a group above it, up to the first
 * shield, has returned. */
bool fz_cancel_returned(const struct fz_group *g);
/* The oracle's checks of a join that returned rc; errs is the tree when taken. */
void fz_check_join(struct fz_group *g, int rc, const weft_errors *errs, bool took_errs);
/* A task's view of its own cancellation is consistent with what caused it. */
void fz_check_cancel_state(weft_task *self, const struct fz_group *scope, weft_time deadline);
/* After the run: each started task, cleanup and job ran exactly once. */
void fz_check_input(const struct fz_input *in);
/* The deliberate failure codes (never ECANCELED / ETIMEDOUT). */
int fz_fail_code(uint8_t a);
bool fz_is_fail_code(int code);
/* A deadline choice: 0 none, or an absolute time near now (some past). */
weft_time fz_deadline_choice(uint8_t c);
weft_time fz_wait_choice(uint8_t c);
static inline weft_time fz_min(weft_time a, weft_time b)
{
    return a < b ? a : b;
}

/* ---- interp.c ---- */
/* A task's function: runs the fz_task's program. */
int fz_task_main(weft_task *self, void *arg);
/* The root's: runs the input's top program; *expect: what weft_run returns. */
int fz_root_main(weft_task *self, void *arg, int *expect);
/* Removes the frame's cancel callback, if registered. */
void fz_op_on_cancel_remove(struct fz_frame *f);
/* Jobs still running somewhere (released ones finish in the background). */
extern _Atomic int fz_jobs_outstanding;

/* ---- jobs.c ---- */
struct fz_frame;
void fz_op_job(struct fz_frame *f, struct fz_node *n);
void fz_op_job_wait(struct fz_frame *f, const struct fz_node *n);
void fz_op_job_cancel(struct fz_frame *f, const struct fz_node *n);
void fz_op_job_release(struct fz_frame *f, const struct fz_node *n);
/* Releases every handle the frame still holds. */
void fz_jobs_release_all(struct fz_frame *f);

/* ---- calls.c: parallel_for and retry ---- */
void fz_op_pfor(struct fz_frame *f, struct fz_node *n);
void fz_op_retry(struct fz_frame *f, const struct fz_node *n);

/* ---- misuse.c ---- */
extern weft_runtime *fz_runtime; /* the input's runtime (set by fuzz_api.c) */
void fz_op_misuse(struct fz_frame *f, const struct fz_node *n);

/* ---- scopes.c: weft_scope_enter / _exit / _cancel ---- */
void fz_op_scope_enter(struct fz_frame *f, const struct fz_node *n);
void fz_op_scope_exit(struct fz_frame *f, const struct fz_node *n);
void fz_op_scope_cancel(struct fz_frame *f, const struct fz_node *n);
/* At a task's end: exits what it entered, or leaves it entered when the
 * program said so; then true (the task fails with EINVAL unless it failed
 * already). */
bool fz_scopes_finish(struct fz_frame *f);

/* ---- chain.c ---- */
void fz_op_chain(struct fz_frame *f, struct fz_node *n);
/* Links spawned that have not finished yet (they outlive their spawner). */
extern _Atomic int fz_links_outstanding;
/* Once no link is outstanding: every link and its child ran exactly once.
 * Returns how many links failed: each reaches on_unhandled once. */
unsigned fz_check_chains(const struct fz_input *in);
/* What a failing link's message starts with. */
#define FZ_LINK_MESSAGE "fz-link"

/* ---- the interpreter's frame, shared by the op files ---- */
struct fz_open_group {
    weft_group g;
    struct fz_group m;
    unsigned scope_level;     /* scopes the task had entered when it began it */
    /* OUTER_CANCEL: the thread that cancels g, joined by the join of g */
    pthread_t outer;
    bool outer_on;
    unsigned outer_delay_us;
    _Atomic bool outer_done;
};

/* A scope a task enters: its storage and what the fuzzer knows of it. */
struct fz_scope {
    weft_scope s;              /* zero-filled until first entered */
    struct fz_group m;         /* its link of the chains while entered */
    struct fz_group *outer;    /* the frame's scope before it was entered */
    weft_time outer_deadline;  /* the frame's deadline then */
    weft_time own_deadline;    /* WEFT_NEVER: none */
    bool entered_once;         /* exited since, when it is above the frame's count */
    bool cancel_called;        /* the owner's weft_scope_cancel of this life returned */
    _Atomic bool foreign;      /* a task it spawned may cancel it (set before) */
};

struct fz_job_slot {
    weft_job *handle;
    struct fz_job *rec;
    bool cause_kept; /* a wait returned its failure, which became the task's cause */
};

struct fz_frame {
    weft_task *self;
    struct fz_task *me;       /* NULL for the root */
    unsigned depth;
    weft_time deadline;       /* weft_deadline(self), as expected */
    struct fz_group *group;   /* the group self runs in; NULL for the root */
    struct fz_group *scope;   /* self's scope: its group's, or the innermost entered */
    struct fz_scope scopes[FZ_MAX_SCOPES];
    unsigned n_scopes;
    bool leave_scopes;        /* its end leaves what it entered entered */
    struct fz_open_group open[FZ_MAX_OPEN];
    unsigned n_open;
    weft_group joined;        /* a joined group, for misuse */
    bool have_joined;
    struct fz_job_slot jobs[FZ_MAX_JOBS];
    weft_cancel_cb cb;
    bool cb_on;
    unsigned cb_level;        /* scopes entered when it was registered */
    struct fz_group *cb_scope; /* the scope it was registered on, and its deadline */
    weft_time cb_deadline;
    _Atomic int cb_calls;
    weft_errors *last_errs;   /* the last join's tree, when taken */
    /* records kept as the cause of self's failure, should it fail: a
     * parallel_for's failing index, a job failure a wait returned; and
     * whether a join that did not take its records, or a failed retry's
     * pending record, may have kept more */
    size_t kept_causes;
    bool kept_unknown;
    int fail_code;            /* FAIL's, 0: none */
    bool stop;                /* CHECK_CANCEL saw the flag */
};

#endif
