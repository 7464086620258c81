/*
 * The command language: bytes to a program tree.
 *
 * Every command is three bytes, `op a b` (missing bytes read as 0); op is
 * taken modulo OP_COUNT, so any input decodes. A SPAWN's child program is
 * the next `b % (FZ_MAX_CHILD + 1)` commands, decoded recursively (and
 * empty at FZ_MAX_DEPTH); the top program takes the rest of the input.
 * Decoding stops at FZ_MAX_NODES commands. The layout is in fuzz/README.md
 * and fuzz/make_corpus.py writes inputs in it.
 */
#include "config.h"

#include <string.h>

#include "fuzz/fuzz.h"

struct cursor {
    const uint8_t *p;
    size_t left;
};

static uint8_t next_byte(struct cursor *c)
{
    if (c->left == 0)
        return 0;
    c->left--;
    return *c->p++;
}

static struct fz_prog *new_prog(struct fz_input *in)
{
    struct fz_prog *p = &in->progs[in->n_progs++];
    p->first = NULL;
    return p;
}

/* Up to max commands (SIZE_MAX: until the input ends) at depth. */
static void decode_into(struct fz_input *in, struct fz_prog *prog, struct cursor *c, size_t max,
                        unsigned depth)
{
    struct fz_node **tail = &prog->first;
    for (size_t i = 0; i < max && c->left > 0 && in->n_nodes < FZ_MAX_NODES; i++) {
        struct fz_node *n = &in->nodes[in->n_nodes++];
        memset(n, 0, sizeof *n);
        n->id = in->n_nodes;
        n->op = (uint8_t)(next_byte(c) % OP_COUNT);
        n->a = next_byte(c);
        n->b = next_byte(c);
        *tail = n;
        tail = &n->next;
        if (n->op == OP_SPAWN) {
            n->child = new_prog(in);
            size_t len = depth + 1 < FZ_MAX_DEPTH ? n->b % (FZ_MAX_CHILD + 1) : 0;
            decode_into(in, n->child, c, len, depth + 1);
        }
    }
}

void fz_decode(struct fz_input *in, const uint8_t *data, size_t size)
{
    struct cursor c = {data, size};
    in->n_nodes = 0;
    in->n_progs = 0;
    in->top = new_prog(in);
    decode_into(in, in->top, &c, SIZE_MAX, 0);
}
