/*
 * twin_uts.c - uts-weft, weft's twin of Lace's benchmarks/uts/uts-lace.c
 * (and, with -s, of uts-seq.c): the Unbalanced Tree Search benchmark with
 * its SHA-1 node generator and its command line (`-t 0 -b 2000 -q 0.124875
 * -m 8 -r 42` is UTS's T3 tree, 4,112,897 nodes).
 *
 * It needs Lace's checkout: the tree parameters, the parser and the node
 * generator are UTS's own uts.c and rng/brg_sha1.c, compiled from LACE_DIR
 * (bench/lace.am) and linked into this program, Lace's and the sequential
 * one alike, so that all three walk the same tree with the same code. This
 * file only supplies UTS's implementation hooks and the walk on weft: a
 * node makes all its children (type, height, SHA-1 state), spawns each,
 * joins them and folds their (depth, size, leaves) into its own, as
 * uts-lace's parTreeSearch does; the children live in the parent's frame
 * until the join, as Lace's alloca'd nodes do.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <weft/weft.h>

#include "twin_common.h"

/* UTS's header declares its functions without prototypes. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include "uts.h"
#pragma GCC diagnostic pop

/* ---- UTS's implementation hooks (uts.c calls them) ---- */
char *impl_getName(void);    /* the prototypes uts.h leaves out */
void impl_helpMessage(void);

char *impl_getName(void)
{
    static char name[] = "weft fork-join (twin of uts-lace)";
    return name;
}

int impl_paramsToStr(char *strBuf, int ind)
{
    return ind + sprintf(strBuf + ind, "Execution strategy:  %s\n", impl_getName());
}

/* No options of its own: every UTS option goes to UTS. */
int impl_parseParam(char *param, char *value)
{
    (void)param;
    (void)value;
    return 1;
}

void impl_helpMessage(void)
{
    printf("   none.\n");
}

void impl_abort(int err)
{
    exit(err == 0 ? 0 : 2);
}

/* ---- the walk ---- */
typedef struct {
    counter_t maxdepth, size, leaves;
} uts_result;

static void fold(uts_result *r, const uts_result *c)
{
    if (c->maxdepth > r->maxdepth)
        r->maxdepth = c->maxdepth;
    r->size += c->size;
    r->leaves += c->leaves;
}

/* Child i of parent: uts-lace's initialisation, granularity included. */
static void make_child(Node *parent, Node *child, int child_type, int i)
{
    child->type = child_type;
    child->height = parent->height + 1;
    child->numChildren = -1;
    for (int j = 0; j < computeGranularity; j++)
        rng_spawn(parent->state.state, child->state.state, i);
}

/* The sequential twin: uts-seq's parTreeSearch. */
static uts_result search_seq(int depth, Node *parent)
{
    uts_result r = {(counter_t)depth, 1, 0};
    int n = uts_numChildren(parent);
    int child_type = uts_childType(parent);
    parent->numChildren = n;
    if (n == 0) {
        r.leaves = 1;
        return r;
    }
    for (int i = 0; i < n; i++) {
        Node child;
        make_child(parent, &child, child_type, i);
        uts_result c = search_seq(depth + 1, &child);
        fold(&r, &c);
    }
    return r;
}

struct uts_frame {
    Node node;
    int depth;
    uts_result result;
};

static int search_task(weft_task *self, void *p);

/* Spawns the n children of f (their frames in child[]), joins them. */
static int search_children(weft_task *self, struct uts_frame *f, struct uts_frame *child, int n,
                           int child_type)
{
    weft_group g;
    int rc = weft_group_init(&g, self, NULL);
    if (rc != 0)
        return rc;
    int spawned = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        make_child(&f->node, &child[i].node, child_type, i);
        child[i].depth = f->depth + 1;
        rc = weft_spawn(&g, search_task, &child[i]);
        spawned += rc == 0;
    }
    int rc2 = weft_group_join(&g, NULL);
    for (int i = 0; i < spawned; i++)
        fold(&f->result, &child[i].result);
    return rc != 0 ? rc : rc2;
}

static int search_task(weft_task *self, void *p)
{
    struct uts_frame *f = (struct uts_frame *)p;
    f->result = (uts_result){(counter_t)f->depth, 1, 0};
    int n = uts_numChildren(&f->node);
    int child_type = uts_childType(&f->node);
    f->node.numChildren = n;
    if (n == 0) {
        f->result.leaves = 1;
        return 0;
    }
    /* Below the root UTS caps a node's children at MAXNUMCHILDREN: their
     * frames go on the stack, exactly n of them (the tree is ~1600 deep),
     * as Lace's alloca'd nodes; only a binomial root's b_0 children may
     * need the heap. */
    if (n <= MAXNUMCHILDREN) {
        struct uts_frame child[n];
        return search_children(self, f, child, n, child_type);
    }
    struct uts_frame *child = (struct uts_frame *)malloc((size_t)n * sizeof *child);
    if (child == NULL)
        return ENOMEM;
    int rc = search_children(self, f, child, n, child_type);
    free(child);
    return rc;
}

int main(int argc, char **argv)
{
    twin_opts o;
    if (!twin_parse(argc, argv, &o))
        return twin_usage(argv[0], "[UTS options: -h lists them]");
    /* UTS parses what follows the options, as uts-lace after -w. */
    argv[o.next - 1] = argv[0];
    uts_parseParams(argc - o.next + 1, argv + o.next - 1);
    uts_printParams();

    weft_runtime *rt = NULL;
    if (!o.seq && (rt = twin_runtime(argv[0], o.workers)) == NULL)
        return 1;

    struct uts_frame root;
    uts_initRoot(&root.node, type);
    root.depth = 0;
    int rc = 0;
    double t1 = uts_wctime();
    if (o.seq)
        root.result = search_seq(0, &root.node);
    else
        rc = weft_run(rt, search_task, &root, NULL);
    double t2 = uts_wctime();

    rc = twin_stop(rt, rc);
    if (rc != 0)
        return twin_failed(argv[0], rc);
    uts_showStats(o.seq ? 1 : (int)o.workers, 0, t2 - t1, root.result.size, root.result.leaves,
                  root.result.maxdepth);
    return twin_time(t2 - t1);
}
