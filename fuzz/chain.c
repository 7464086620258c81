/*
 * The CHAIN command: a chain of detached tasks started from a task. Each
 * link opens a group, spawns a child into it, spawns the next link with
 * weft_spawn_detached, joins, and returns a failure code or 0. Nothing can
 * cancel a link and no link has a deadline; every link and every child runs
 * exactly once; a failing link reaches on_unhandled once (fuzz_api.c counts
 * those after destroy). fz_links_outstanding tells the driver when the
 * last link, which may outlive the whole program, has ended.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <weft/weft.h>

#include "fuzz/fuzz.h"

_Atomic int fz_links_outstanding;

static int link_child(weft_task *self, void *arg)
{
    (void)self;
    struct fz_link *l = arg;
    atomic_fetch_add(&l->child_runs, 1);
    return 0;
}

static bool link_fails(const struct fz_chain *c, unsigned k)
{
    return (c->fails >> (k % 8)) & 1;
}

/* Spawns link k of c; a refusal is a violation (no destroy runs meanwhile). */
static void spawn_link(struct fz_chain *c, unsigned k);

static int link_main(weft_task *self, void *arg)
{
    struct fz_link *l = arg;
    struct fz_chain *c = l->chain;
    char what[32];
    snprintf(what, sizeof what, "chain %u: link %u", c->id, l->k);
    struct oracle_runs runs = {.what = what, .spawned = 1, .runs = atomic_fetch_add(&l->runs, 1) + 1,
                               .returns = -1, .cleanups = -1, .cleanups_early = -1};
    struct oracle_verdict v;
    fz_verdict(oracle_check_runs(&runs, &v), &v);
    /* a detached task has no deadline, and nothing cancels it before destroy */
    fz_verdict(oracle_check_deadline(what, weft_deadline(self),
                                     oracle_spawn_deadline(WEFT_NEVER, WEFT_NEVER), &v),
               &v);
    bool cancelled = weft_cancelled(self);
    fz_verdict(oracle_check_cancel_state(what, cancelled, weft_cancel_reason(self), false, false,
                                         &v),
               &v);
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    FZ_CHECK(rc == 0, "chain %u: link %u: weft_group_init %d", c->id, l->k, rc);
    rc = weft_spawn(&g, link_child, l);
    FZ_CHECK(rc == 0, "chain %u: link %u: weft_spawn %d", c->id, l->k, rc);
    if (l->k + 1 < c->n_links)
        spawn_link(c, l->k + 1);
    rc = weft_group_join(&g, NULL);
    struct oracle_join join = {.what = what, .rc = rc}; /* its child returns 0 */
    char child[48];
    snprintf(child, sizeof child, "%s's child", what);
    struct oracle_runs child_runs = {.what = child, .spawned = 1,
                                     .runs = atomic_load(&l->child_runs), .returns = -1,
                                     .cleanups = -1, .cleanups_early = -1};
    fz_verdict(oracle_check_join(&join, &v), &v);
    fz_verdict(oracle_check_runs(&child_runs, &v), &v);
    rc = link_fails(c, l->k)
             ? weft_fail(self, fz_fail_code((uint8_t)l->k), FZ_LINK_MESSAGE " %u.%u", c->id, l->k)
             : 0;
    atomic_fetch_sub(&fz_links_outstanding, 1); /* the last touch of the input */
    return rc;
}

static void spawn_link(struct fz_chain *c, unsigned k)
{
    atomic_fetch_add(&fz_links_outstanding, 1);
    int rc = weft_spawn_detached(fz_runtime, link_main, &c->links[k]);
    if (rc != 0) {
        atomic_fetch_sub(&fz_links_outstanding, 1);
        fz_violation("chain %u: weft_spawn_detached of link %u: %d", c->id, k, rc);
    }
    /* the link may run already, but never reads this; the checks read it
     * once fz_links_outstanding, decremented after it, is 0 */
    c->links[k].spawn_rc = rc;
}

void fz_op_chain(struct fz_frame *f, struct fz_node *n)
{
    (void)f;
    struct fz_chain *c = &n->u.chain;
    memset(c, 0, sizeof *c);
    c->id = n->id;
    c->n_links = 1 + n->a % FZ_CHAIN_MAX;
    c->fails = n->b;
    for (unsigned k = 0; k < c->n_links; k++)
        c->links[k] = (struct fz_link){.chain = c, .k = k, .spawn_rc = -1};
    c->started = true;
    spawn_link(c, 0);
}

unsigned fz_check_chains(const struct fz_input *in)
{
    unsigned n = 0;
    for (unsigned i = 0; i < in->n_nodes; i++) {
        const struct fz_chain *c = &in->nodes[i].u.chain;
        if (in->nodes[i].op != OP_CHAIN || !c->started)
            continue;
        for (unsigned k = 0; k < c->n_links; k++) {
            const struct fz_link *l = &c->links[k];
            /* no destroy runs meanwhile: every link is spawned */
            FZ_CHECK(l->spawn_rc == 0, "chain %u: link %u spawned with %d", c->id, k, l->spawn_rc);
            char what[32], child[48];
            snprintf(what, sizeof what, "chain %u: link %u", c->id, k);
            snprintf(child, sizeof child, "%s's child", what);
            struct oracle_runs runs = {.what = what, .spawned = 1, .runs = atomic_load(&l->runs),
                                       .returns = -1, .cleanups = -1, .cleanups_early = -1};
            struct oracle_runs child_runs = runs;
            child_runs.what = child;
            child_runs.runs = atomic_load(&l->child_runs);
            struct oracle_verdict v;
            fz_verdict(oracle_check_runs(&runs, &v), &v);
            fz_verdict(oracle_check_runs(&child_runs, &v), &v);
            n += link_fails(c, k);
        }
    }
    return n;
}
