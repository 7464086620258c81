/* Draws random task-tree plans (tree.h) and prints them for a failure report. */
#include "config.h"

#include <stdio.h>

#include "tests/trees/tree.h"

#define MAX_DEPTH 6
#define MAX_FAN_OUT 6

/* xorshift64 (Marsaglia 13/7/17): a seed's plans depend on this sequence,
 * so a replay line stays valid only while it does not change. */
static uint64_t next(uint64_t *rng)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return *rng;
}

/* 0 .. n-1 */
static unsigned below(uint64_t *rng, unsigned n)
{
    return (unsigned)(next(rng) % n);
}

static bool chance(uint64_t *rng, unsigned percent)
{
    return below(rng, 100) < percent;
}

/* A deadline mostly a few milliseconds ahead, now and then already past. */
static int32_t some_deadline_us(uint64_t *rng)
{
    return chance(rng, 10) ? -(int32_t)below(rng, 500) - 1 : (int32_t)(100 + below(rng, 3000));
}

static void draw_ending(struct tree_node *n, uint64_t *rng, bool root)
{
    unsigned r = below(rng, 100);
    if (n->role == TREE_JOB) {
        n->end = r < 45 ? TREE_END_OK : r < 80 ? TREE_END_FAIL : TREE_END_AWAIT_CANCEL;
        return;
    }
    if (r < 25)
        n->end = TREE_END_OK;
    else if (r < 45)
        n->end = TREE_END_FAIL;
    else if (r < 70)
        n->end = TREE_END_PASS;
    else if (r < 85)
        n->end = n->named ? TREE_END_PASS_RAW : TREE_END_PASS;
    else
        n->end = TREE_END_AWAIT_CANCEL;
    if (root && n->end == TREE_END_AWAIT_CANCEL) /* nothing would cancel it */
        n->end = TREE_END_PASS;
}

static void draw_node(struct tree_node *n, uint64_t *rng, int parent)
{
    *n = (struct tree_node){
        .parent = parent, .cancel_after = -1, .scope_cancel_after = -1, .cancels_scope_of = -1};
    bool root = parent < 0;
    n->role = !root && chance(rng, 12) ? TREE_JOB : TREE_TASK;
    n->named = n->role == TREE_JOB || (!root && chance(rng, 50));
    draw_ending(n, rng, root);
    n->sleeps = chance(rng, 30);
    n->work_us = (uint16_t)(chance(rng, 50) ? below(rng, 40) : below(rng, 400));
    if (n->role == TREE_TASK) {
        n->flags = (uint8_t)((chance(rng, 40) ? WEFT_COLLECT : 0) |
                             (!root && chance(rng, 15) ? WEFT_SHIELD : 0) |
                             (chance(rng, 15) ? WEFT_STREAM : 0));
        if (chance(rng, 20))
            n->group_deadline_us = some_deadline_us(rng);
    }
    if (n->named && chance(rng, 25))
        n->spawn_deadline_us = some_deadline_us(rng);
    if (n->role == TREE_JOB) {
        if (chance(rng, 50))
            n->job_wait_us = (int32_t)(100 + below(rng, 2000));
        n->job_cancel = chance(rng, 10);
        n->job_rewait = n->job_wait_us != 0 && chance(rng, 40);
    } else if (chance(rng, 15)) {
        n->group_wait_us = (int32_t)(50 + below(rng, 1500));
    }
}

int tree_task_children(const struct tree_plan *p, int i)
{
    const struct tree_node *n = &p->node[i];
    int k = 0;
    for (int c = n->first_child; c < n->first_child + n->children; c++)
        k += p->node[c].role == TREE_TASK;
    return k;
}

/* Stream k of its own (1: what tree_extend draws, 2: the scopes):
 * splitmix64 of the seed. */
static uint64_t other_stream(uint64_t seed, uint64_t k)
{
    uint64_t z = seed + k * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) | 1;
}

/* Task i is a failing task in a fail-fast group: the tasks above it whose
 * group's cancel reaches that group, nearest first. */
static int cancellers_above(const struct tree_plan *p, int i, int *out)
{
    const struct tree_node *n = &p->node[i];
    int j = n->parent;
    if (n->role != TREE_TASK || n->end != TREE_END_FAIL || j < 0 ||
        (p->node[j].flags & WEFT_COLLECT))
        return 0;
    int k = 0;
    for (int x = j; !(p->node[x].flags & WEFT_SHIELD) && p->node[x].parent >= 0;
         x = p->node[x].parent)
        out[k++] = p->node[x].parent;
    return k;
}

/* The detached chain and the outer cancel, drawn from their own stream. */
static void tree_extend(struct tree_plan *p, uint64_t *more)
{
    p->chain_from = p->outer_cancel = p->outer_after = -1;
    p->chain_links = 0;
    p->chain_fails = 0;
    p->chain_work_us = p->outer_delay_us = 0;
    if (chance(more, 25)) {
        int tasks[TREE_MAX_NODES], n = 0;
        for (int i = 0; i < p->count; i++)
            if (p->node[i].role == TREE_TASK)
                tasks[n++] = i;
        p->chain_from = tasks[below(more, (unsigned)n)];
        p->chain_links = 1 + (int)below(more, TREE_CHAIN_MAX);
        for (int k = 0; k < p->chain_links; k++)
            if (chance(more, 15))
                p->chain_fails |= 1u << k;
        p->chain_work_us = (uint16_t)below(more, 50);
    }
    if (chance(more, 30)) {
        int failing[TREE_MAX_NODES], n = 0, above[TREE_MAX_NODES];
        for (int i = 0; i < p->count; i++)
            if (cancellers_above(p, i, above) > 0)
                failing[n++] = i;
        if (n > 0) {
            p->outer_after = failing[below(more, (unsigned)n)];
            int k = cancellers_above(p, p->outer_after, above);
            p->outer_cancel = above[below(more, (unsigned)k)];
            p->outer_delay_us = (uint16_t)below(more, p->node[p->outer_after].work_us + 100u);
        }
    }
}

/* A task child of node i (or, sibling, of i's parent, i itself left out)
 * that cancels no scope yet; -1: none. */
static int free_canceller(struct tree_plan *p, int i, bool sibling, uint64_t *rng)
{
    int from = sibling ? p->node[i].parent : i;
    if (from < 0)
        return -1;
    const struct tree_node *f = &p->node[from];
    int can[MAX_FAN_OUT], n = 0;
    for (int c = f->first_child; c < f->first_child + f->children; c++)
        if (c != i && p->node[c].role == TREE_TASK && p->node[c].cancels_scope_of < 0)
            can[n++] = c;
    return n > 0 ? can[below(rng, (unsigned)n)] : -1;
}

/* Which tasks enter a scope around their sub-tree, and who cancels it. */
static void tree_scopes(struct tree_plan *p, uint64_t *rng)
{
    for (int i = 0; i < p->count; i++) {
        struct tree_node *n = &p->node[i];
        if (n->role != TREE_TASK || !chance(rng, 20))
            continue;
        n->scoped = true;
        n->scope_shield = chance(rng, 30);
        n->scope_named = chance(rng, 60);
        if (chance(rng, 35))
            n->scope_deadline_us = chance(rng, 15) ? -(int32_t)below(rng, 500) - 1
                                                   : (int32_t)(50 + below(rng, 1500));
        if (chance(rng, 30))
            n->scope_sleep_us = (uint16_t)(20 + below(rng, 1200));
        unsigned r = below(rng, 100);
        if (r < 15) {
            n->scope_cancel = TREE_SCOPE_BY_SELF;
            n->scope_cancel_after = (int)below(rng, (unsigned)tree_task_children(p, i) + 1);
        } else if (r < 40) {
            int c = free_canceller(p, i, r >= 28, rng);
            if (c >= 0) {
                n->scope_cancel = r >= 28 ? TREE_SCOPE_BY_SIBLING : TREE_SCOPE_BY_CHILD;
                p->node[c].cancels_scope_of = i;
            }
        }
    }
}

void tree_generate(struct tree_plan *p, uint64_t *rng)
{
    uint64_t more = other_stream(*rng, 1), scopes = other_stream(*rng, 2);
    int target = 1 + (int)below(rng, TREE_MAX_NODES);
    int depth[TREE_MAX_NODES];
    draw_node(&p->node[0], rng, -1);
    depth[0] = 0;
    p->count = 1;
    /* breadth first, so that each node's children are contiguous */
    for (int q = 0; q < p->count && p->count < target; q++) {
        struct tree_node *n = &p->node[q];
        if (n->role == TREE_JOB || depth[q] >= MAX_DEPTH)
            continue;
        int k = (int)below(rng, MAX_FAN_OUT + 1);
        if (q == 0 && k == 0)
            k = 1;
        if (k > target - p->count)
            k = target - p->count;
        n->first_child = p->count;
        n->children = k;
        for (int c = 0; c < k; c++) {
            draw_node(&p->node[p->count], rng, q);
            depth[p->count] = depth[q] + 1;
            p->count++;
        }
        int tasks = tree_task_children(p, q);
        if (tasks > 0 && chance(rng, 15))
            n->cancel_after = (int)below(rng, (unsigned)tasks + 1);
    }
    tree_extend(p, &more);
    tree_scopes(p, &scopes);
}

static const char *end_name[] = {"ok", "fail", "pass", "pass-raw", "await-cancel"};

void tree_print(const struct tree_plan *p, FILE *out)
{
    for (int i = 0; i < p->count; i++) {
        const struct tree_node *n = &p->node[i];
        fprintf(out, "  n%d <- %d %s %s%s%s%s%s work %uus%s", i, n->parent,
                n->role == TREE_JOB ? "job" : "task", end_name[n->end],
                n->named ? " named" : "", (n->flags & WEFT_COLLECT) ? " collect" : "",
                (n->flags & WEFT_SHIELD) ? " shield" : "",
                (n->flags & WEFT_STREAM) ? " stream" : "", (unsigned)n->work_us,
                n->sleeps ? " (sleep)" : "");
        if (n->group_deadline_us != 0)
            fprintf(out, " group-deadline %dus", (int)n->group_deadline_us);
        if (n->spawn_deadline_us != 0)
            fprintf(out, " spawn-deadline %dus", (int)n->spawn_deadline_us);
        if (n->job_wait_us != 0)
            fprintf(out, " wait %dus%s", (int)n->job_wait_us, n->job_rewait ? " then again" : "");
        if (n->job_cancel)
            fprintf(out, " job-cancel");
        if (n->group_wait_us != 0)
            fprintf(out, " group-wait %dus", (int)n->group_wait_us);
        if (n->cancel_after >= 0)
            fprintf(out, " cancel-after %d", n->cancel_after);
        if (n->scoped) {
            static const char *by[] = {"", " cancelled-by-self", " cancelled-by-child",
                                       " cancelled-by-sibling"};
            fprintf(out, " scope(%s%s", n->scope_shield ? "shield" : "plain",
                    n->scope_named ? " named" : "");
            if (n->scope_deadline_us != 0)
                fprintf(out, " deadline %dus", (int)n->scope_deadline_us);
            if (n->scope_sleep_us != 0)
                fprintf(out, " sleep %uus", (unsigned)n->scope_sleep_us);
            fprintf(out, "%s", by[n->scope_cancel]);
            if (n->scope_cancel == TREE_SCOPE_BY_SELF)
                fprintf(out, " after %d", n->scope_cancel_after);
            fputc(')', out);
        }
        if (n->cancels_scope_of >= 0)
            fprintf(out, " cancels n%d's scope", n->cancels_scope_of);
        if (n->children > 0)
            fprintf(out, " children n%d..n%d", n->first_child, n->first_child + n->children - 1);
        fputc('\n', out);
    }
    if (p->chain_from >= 0)
        fprintf(out, "  n%d starts a detached chain of %d links (failing: %#x), children work %uus\n",
                p->chain_from, p->chain_links, (unsigned)p->chain_fails,
                (unsigned)p->chain_work_us);
    if (p->outer_cancel >= 0)
        fprintf(out, "  a second thread cancels n%d's group %uus after n%d began\n",
                p->outer_cancel, (unsigned)p->outer_delay_us, p->outer_after);
}
