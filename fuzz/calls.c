/*
 * The two calls that run a function several times: weft_parallel_for (every
 * index covered once, chunks of at least `grain`, the failure's code wins)
 * and weft_retry_run (the number of tries and the result follow from the
 * policy and from how many tries fail).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <weft/weft.h>

#include "fuzz/fuzz.h"

struct pfor_ctx {
    struct fz_pfor *p;
    size_t begin, end;
};

static int pfor_body(weft_task *self, size_t lo, size_t hi, void *arg)
{
    struct pfor_ctx *c = arg;
    struct fz_pfor *p = c->p;
    bool whole = lo == c->begin && hi == c->end;
    if (lo < c->begin || hi > c->end || lo >= hi || (hi - lo < p->grain && !whole))
        atomic_store(&p->bad_chunk, 1);
    if (weft_deadline(self) != p->expect_deadline)
        atomic_store(&p->bad_chunk, 2);
    int rc = 0;
    for (size_t i = lo; i < hi && i < c->end; i++) {
        atomic_fetch_add(&p->cover[i - c->begin], 1);
        if (i - c->begin == p->fail_at)
            rc = weft_fail(self, EDOM, "fz-pfor %zu", i);
    }
    return rc;
}

void fz_op_pfor(struct fz_frame *f, struct fz_node *n)
{
    struct fz_pfor *p = &n->u.pfor;
    memset(p, 0, sizeof *p);
    p->n = n->a % (FZ_PFOR_MAX + 1);
    p->grain = (n->b & 7u) + 1;
    p->fail_at = (n->b & 8) ? (size_t)(n->b >> 4) : SIZE_MAX;
    p->expect_deadline = oracle_spawn_deadline(f->deadline, WEFT_NEVER); /* the caller's */
    struct pfor_ctx c = {.p = p, .begin = (size_t)(n->b >> 6), .end = (size_t)(n->b >> 6) + p->n};
    int rc = weft_parallel_for(f->self, c.begin, c.end, p->grain, pfor_body, &c);
    if (rc == EDOM) /* its one failing index's record is kept as self's cause */
        f->kept_causes++;
    int bad = atomic_load(&p->bad_chunk);
    FZ_CHECK(bad == 0, "weft_parallel_for: %s", bad == 1 ? "a chunk out of range or under grain"
                                                         : "a chunk with the wrong deadline");
    struct oracle_parallel_for pf = {.what = "weft_parallel_for",
                                     .rc = rc,
                                     .n = p->n,
                                     .hits = p->cover,
                                     .fail_at = p->fail_at,
                                     .fail_code = EDOM,
                                     .ecanceled_possible = fz_ecanceled_possible(f->scope),
                                     .etimedout_possible = weft_now() >= f->deadline};
    struct oracle_verdict v;
    fz_verdict(oracle_check_parallel_for(&pf, &v), &v);
}

struct retry_ctx {
    unsigned calls, fails;
};

static int retry_fn(weft_task *self, void *arg)
{
    struct retry_ctx *c = arg;
    return ++c->calls <= c->fails ? weft_fail(self, EIO, "fz-try %u", c->calls) : 0;
}

static bool only_eio(int code, void *arg)
{
    (void)arg;
    return code == EIO;
}

void fz_op_retry(struct fz_frame *f, const struct fz_node *n)
{
    weft_retry policy = {
        .attempts = n->a % 5u, /* 0: the default, 3 */
        .base_delay = (weft_time)(1 + (n->a >> 3) % 4u) * 20 * WEFT_USEC,
        .max_delay = 200 * WEFT_USEC,
        .factor = 1.0 + 0.5 * (double)((n->a >> 5) & 3u),
        .jitter = 0.25 * (double)((n->b >> 4) & 3u),
        .retryable = (n->b & 0x80) ? only_eio : NULL,
    };
    struct retry_ctx c = {.fails = n->b % 5u};
    unsigned attempts = policy.attempts != 0 ? policy.attempts : 3;
    int rc = weft_retry_run(f->self, (n->a & 0x80) && n->b == 0 ? NULL : &policy, retry_fn, &c);
    struct oracle_retry check = {.what = "weft_retry_run",
                                 .rc = rc,
                                 .attempts = attempts,
                                 .fails = c.fails,
                                 .calls = c.calls,
                                 .fail_code = EIO,
                                 .ecanceled_possible = fz_ecanceled_possible(f->scope),
                                 /* it stops early when its next back-off would cross it */
                                 .etimedout_possible = f->deadline != WEFT_NEVER};
    struct oracle_verdict v;
    fz_verdict(oracle_check_retry(&check, &v), &v);
    /* a failed retry leaves its last record pending on self, with the last
     * failure as cause when the deadline ended it: a weft_fail_from later
     * moves those causes over (weft_fail(3)) */
    if (rc != 0)
        f->kept_unknown = true;
}
