/*
 * Randomized task trees. A tree is data (a plan): each node is a task or a
 * blocking job with an ending chosen in advance (succeed, fail, pass its
 * children's failure on, wait for a cancel), a group of its own with flags
 * and a deadline, a spawn deadline, work to do, maybe a cancel of its group
 * part-way through its spawns. A task may enter a cancel scope around all
 * of that (weft_scope_enter: a shield or not, a deadline or none, named or
 * not, a sleep inside) that it, one of its children or a sibling cancels.
 * A plan may also start a chain of detached tasks from one node, and have a
 * second thread cancel one node's group while a fail-fast group below it
 * fails. tree_gen.c draws plans from a seed;
 * tree_run.c runs one on weft and records what every node saw; tree_check.c
 * describes those records and the error tree to the oracle of the contract
 * (tests/oracle/contract.h), which holds them against the API's promises:
 * exactly-once, cleanup once, effective deadlines, every failure listed once
 * and nothing else, cancels seen by every task that began after them and
 * by none that nothing could cancel, what each scope's exit reports.
 */
#ifndef WEFT_TESTS_TREE_H
#define WEFT_TESTS_TREE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weft/weft.h>

#define TREE_MAX_NODES 48
/* A node waiting for a cancel gives up after this long and returns 0. */
#define TREE_AWAIT_US 2000
/* A task that cancels a sibling's scope gives it this long to enter it. */
#define TREE_SIBLING_WAIT_US 400
/* A node's own failure code: above every errno, so never a cancel's code. */
#define TREE_CODE_BASE 1000
/* Links of a detached chain; link k fails with TREE_LINK_CODE + k. */
#define TREE_CHAIN_MAX 24
#define TREE_LINK_CODE (TREE_CODE_BASE + TREE_MAX_NODES)

enum tree_role { TREE_TASK, TREE_JOB };

/* Who calls weft_scope_cancel on a node's scope. */
enum tree_scope_cancel {
    TREE_SCOPE_NO_CANCEL,
    TREE_SCOPE_BY_SELF,    /* the node, after scope_cancel_after task children */
    TREE_SCOPE_BY_CHILD,   /* a task of the group it began inside, as it starts */
    TREE_SCOPE_BY_SIBLING, /* a task of the node's own group: maybe before the node
                            * entered (no effect on the zero-filled storage), while
                            * it is inside, or after it exited (no effect) */
};

enum tree_end {
    TREE_END_OK,           /* returns 0, whatever failed below */
    TREE_END_FAIL,         /* weft_fail_from(its group's errors) with its own code */
    TREE_END_PASS,         /* passes the join's (else a job's) code on with weft_fail_from */
    TREE_END_PASS_RAW,     /* returns that code; the runtime keeps the errors as cause */
    TREE_END_AWAIT_CANCEL, /* waits for a cancel (bounded): ECANCELED if one came, else 0 */
};

struct tree_node {
    int parent;                /* -1: the root */
    uint8_t role;              /* enum tree_role; a job has no children */
    uint8_t end;               /* enum tree_end */
    uint8_t flags;             /* WEFT_COLLECT / WEFT_SHIELD / WEFT_STREAM of its group */
    bool named;                /* spawned with weft_spawn_ex: a name and a cleanup */
    bool sleeps;               /* works and waits with weft_sleep rather than a spin */
    int cancel_after;          /* weft_group_cancel after this many task children; -1: never */
    int32_t group_deadline_us; /* of its group; 0: none; < 0: already past */
    int32_t spawn_deadline_us; /* named tasks and jobs; 0: none; < 0: already past */
    int32_t job_wait_us;       /* a job: its parent's wait limit; 0: none */
    bool job_cancel;           /* a job: its parent cancels it before the wait */
    bool job_rewait;           /* a job: a timed-out wait is followed by one without a limit */
    int32_t group_wait_us;     /* weft_group_wait on its group before the join; 0: none */
    uint16_t work_us;
    int first_child, children; /* its children are first_child .. first_child+children-1 */
    /* A task may run all of the above (its group, jobs, waits, work and
     * join) inside a scope it enters first and exits before its ending. */
    bool scoped;
    bool scope_shield, scope_named;
    uint8_t scope_cancel;       /* enum tree_scope_cancel */
    int scope_cancel_after;     /* TREE_SCOPE_BY_SELF: after this many task children */
    int32_t scope_deadline_us;  /* 0: none; < 0: already past */
    uint16_t scope_sleep_us;    /* a weft_sleep inside, before its work; 0: none */
    int cancels_scope_of;       /* this task cancels that node's scope; -1: none */
};

struct tree_plan {
    int count;
    struct tree_node node[TREE_MAX_NODES];
    /* Drawn after the nodes, from a stream of their own, so that the nodes
     * of a seed are those it drew before these existed. */
    int chain_from;         /* this task spawns link 0 detached; -1: no chain */
    int chain_links;        /* each link opens a group, spawns a child into it,
                             * spawns the next link detached, joins */
    uint32_t chain_fails;   /* bit k: link k fails with TREE_LINK_CODE + k */
    uint16_t chain_work_us; /* what each link's child works */
    int outer_cancel;       /* a second thread cancels this task's group; -1: none */
    int outer_after;        /* ... once this task began: it fails, in a fail-fast
                             * group below, so both cancels race */
    uint16_t outer_delay_us; /* ... and this long after that */
    /* The nodes' scope fields are drawn from a third stream, after the
     * rest, for the same reason. */
};

/* What a node saw. Fields are written by one thread each, as marked:
 * (self) the node's own function, (parent) the task that spawned it, and
 * read by the test once weft_run returned (tasks) or destroy did (jobs). */
struct tree_seen {
    atomic_int ran, cleanups, cleanups_early; /* early: a cleanup before fn returned */
    atomic_int returned;      /* (self) set just before its function returns */
    atomic_int cancel_done;   /* (self, or the outer canceller) a weft_group_cancel of
                               * its group has returned */
    bool outer_before_join;   /* (self) the outer cancel returned before its join began */
    int spawn_rc;             /* (parent) weft_spawn(_ex) or weft_spawn_blocking */
    bool spawned;             /* (parent) */
    weft_time spawn_deadline; /* (parent, before the spawn) absolute, WEFT_NEVER: none */
    bool opened;              /* (self) it opened a group */
    int init_rc, join_rc, group_wait_rc; /* (self) */
    size_t join_count;        /* (self) records the join handed out (ends that asked) */
    int first_code;           /* (self) the first of them's code */
    bool join_cancel_record;  /* (self) they were only the record of why the group was cancelled */
    weft_time group_deadline; /* (self) absolute, WEFT_NEVER: none */
    weft_time deadline;       /* (self) weft_deadline(self) as it began */
    int rc;                   /* (self) what its function returned */
    int reason_at_end;        /* (self) weft_cancel_reason(self) just before that */
    int job_wait_rc;          /* (parent) a job: what its last wait returned */
    int streamed, stream_status; /* (parent) a task of a STREAM group: weft_group_next's */
    int stream_end;           /* (self) its STREAM group's last weft_group_next code */
    bool unended_at_wait;     /* (self) a task child had not returned when group_wait said 0 */
    char join_message[96];    /* (self) the first record its join handed out */
    char name[32];            /* (before the run) */
    /* Its scope, when it enters one: (self) but the two atomics. */
    atomic_int scope_state;        /* 1 once entered, 2 once exited */
    atomic_int scope_cancel_done;  /* (whoever cancels it) a weft_scope_cancel returned in
                                    * its life: called once it was entered, before its exit */
    int scope_enter_rc, scope_exit_rc, scope_sleep_rc;
    weft_time scope_deadline;      /* its own, absolute; WEFT_NEVER: none */
    weft_time scope_deadline_in;   /* weft_deadline(self) once entered */
    weft_time deadline_after_exit; /* weft_deadline(self) once exited */
    weft_time scope_sleep_until, scope_sleep_end; /* the sleep's limit, the clock after it */
    weft_time scope_exit_at;       /* the clock after the exit */
    bool scope_cancel_before_join; /* a cancel of it had returned when its join began */
    bool scope_cancel_before_exit; /* ... when it read its flag before the exit */
    bool scope_saw_cancel, scope_cancelled_after;
    int scope_reason;              /* weft_cancel_reason(self) before the exit */
    char scope_name[32];           /* (before the run) */
};

struct tree_run;

struct tree_arg {
    struct tree_run *run;
    int index; /* the node's, or the link's */
};

/* What a link of the detached chain saw; written by the link (self) or by
 * the link before it (prev), read after destroy. */
struct tree_link_seen {
    atomic_int ran, child_ran, returned;
    int spawn_rc;             /* (prev; node chain_from for link 0) -1: not tried */
    int init_rc, child_spawn_rc, join_rc; /* (self) */
    weft_time deadline;       /* (self) weft_deadline(self) */
};

struct tree_run {
    const struct tree_plan *plan;
    weft_runtime *rt; /* for the detached chain's spawns */
    unsigned id; /* the tree's number: in names and messages; consecutive in a batch */
    struct tree_seen seen[TREE_MAX_NODES];
    struct tree_arg arg[TREE_MAX_NODES];
    struct tree_link_seen link[TREE_CHAIN_MAX];
    struct tree_arg link_arg[TREE_CHAIN_MAX];
    /* each node's scope storage, zero-filled: a sibling may cancel it before
     * the node entered it, which must do nothing */
    weft_scope scope[TREE_MAX_NODES];
    /* the outer cancel: node outer_cancel's group while open, and where the
     * canceller is (0 waiting, 1 cancelling, 2 done; 3: the node withdrew
     * it, its group joined, before it began) */
    _Atomic(weft_group *) outer_group;
    atomic_int outer_state;
    atomic_uint unaware_after_cancel; /* began after a cancel above it returned, flag unset */
    int root_rc;
    weft_errors *errs; /* weft_run's */
};

/* Failures reported to on_unhandled (released jobs), for one runtime. */
struct tree_unhandled {
#define TREE_UNHANDLED_MAX 1024
    atomic_int count; /* may exceed the max: those beyond are counted only */
    int code[TREE_UNHANDLED_MAX];
    char message[TREE_UNHANDLED_MAX][48];
};

/* Draws a plan from *rng (xorshift64 state, non-zero). */
void tree_generate(struct tree_plan *p, uint64_t *rng);
void tree_print(const struct tree_plan *p, FILE *out);
/* How many of node i's children are tasks (they go into the group it opens). */
int tree_task_children(const struct tree_plan *p, int i);

/* Runs the plan on rt (weft_run), recording into r. */
void tree_run(weft_runtime *rt, const struct tree_plan *p, unsigned id, struct tree_run *r);
/* The on_unhandled handler that fills a struct tree_unhandled. */
void tree_on_unhandled(const weft_error *err, void *arg);
/* The message every failure of node i of tree id carries. */
void tree_message(char *buf, size_t len, unsigned id, int i);
/* The one a failing link k of the chain carries. */
void tree_link_message(char *buf, size_t len, unsigned id, int k);

/* 0 when r kept every promise checkable at weft_run's return, else 1 with
 * the first broken one in why. workers bounds the tasks that may begin
 * unaware of a cancel that returned (in fact none should). */
int tree_check(const struct tree_run *r, unsigned workers, char *why, size_t len);
/* After destroy: every job ran and cleaned up once, saw its deadline and
 * any cancel above it; every link of a detached chain whose spawn returned
 * 0 ran once, its child too, and no other; exactly the job failures no wait
 * saw and the links' failures reached on_unhandled, once each. runs[k].id
 * is runs[0].id + k. */
int tree_check_jobs(const struct tree_run *runs, size_t n, unsigned workers,
                    const struct tree_unhandled *u, char *why, size_t len);

#endif
