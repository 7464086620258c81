/*
 * nqueens_common.h: what nqueens.c (weft) and nqueens_seq.c (its sequential
 * twin) share: the board as bit masks, the sequential count below the split
 * depth, the known answers, the command line and the result line. The two
 * programs differ only in how the top rows are searched:
 *   diff -u examples/nqueens_seq.c examples/nqueens.c
 *
 * The including file defines _POSIX_C_SOURCE (for clock_gettime) first.
 */
#ifndef NQUEENS_COMMON_H
#define NQUEENS_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NQ_MAX 20 /* the answer for 20 fits 64 bits; counting it takes hours */
/* The first NQ_SPLIT rows are searched with one task per queen placed;
 * below, a subtree is counted by plain recursion (thousands of nodes). */
#define NQ_SPLIT 3

/* A partial placement: queens on rows 0..row-1, as the columns and the two
 * diagonals they attack on the next row. */
struct board {
    int n, row;
    uint32_t cols, left, right;
    uint64_t solutions; /* of the subtree below this board */
};

/* The squares of the next row no queen attacks. */
static inline uint32_t nq_free(const struct board *b)
{
    uint32_t all = (1u << b->n) - 1;
    return ~(b->cols | b->left | b->right) & all;
}

/* The board after a queen on square `bit` of the next row. */
static inline struct board nq_place(const struct board *b, uint32_t bit)
{
    return (struct board){.n = b->n,
                          .row = b->row + 1,
                          .cols = b->cols | bit,
                          .left = (b->left | bit) << 1,
                          .right = (b->right | bit) >> 1};
}

/* Sequential count of the solutions below b. */
static inline uint64_t nq_count(struct board b)
{
    if (b.row == b.n)
        return 1;
    uint64_t count = 0;
    for (uint32_t free = nq_free(&b); free != 0; free &= free - 1)
        count += nq_count(nq_place(&b, free & -free));
    return count;
}

/* OEIS A000170 */
static const uint64_t nq_known[NQ_MAX + 1] = {
    1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596, 2279184,
    14772512, 95815104, 666090624, 4968057848, 39029188884};

static inline void nq_usage(FILE *out, const char *prog, bool parallel)
{
    fprintf(out, "usage: %s [N%s]\n  counts the ways to place N queens (1 to %d, default 12)\n"
                 "  on an NxN board with none attacking another%s\n",
            prog, parallel ? " [WORKERS]" : "", NQ_MAX,
            parallel ? ", on WORKERS weft workers\n  (default 0: $WEFT_WORKERS, else one per CPU)"
                     : ", sequentially");
}

/* A decimal number in [0, max], nothing else. */
static inline bool nq_number(const char *s, unsigned max, unsigned *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;
    unsigned v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (max - (unsigned)(*s - '0')) / 10)
            return false;
        v = v * 10 + (unsigned)(*s - '0');
    }
    *out = v;
    return true;
}

/* -1 to go on, else the exit status: 0 after --help, 2 after a usage error. */
static inline int nq_parse(int argc, char **argv, const char *prog, bool parallel, int *n,
                           unsigned *workers)
{
    unsigned v;
    *n = 12;
    *workers = 0;
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        nq_usage(stdout, prog, parallel);
        return 0;
    }
    if (argc > (parallel ? 3 : 2)) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[parallel ? 3 : 2]);
        goto usage;
    }
    if (argc > 1) {
        if (!nq_number(argv[1], NQ_MAX, &v) || v == 0) {
            fprintf(stderr, "%s: N must be 1 to %d, not \"%s\"\n", prog, NQ_MAX, argv[1]);
            goto usage;
        }
        *n = (int)v;
    }
    if (argc > 2) {
        if (!nq_number(argv[2], 256, &v)) {
            fprintf(stderr, "%s: WORKERS must be 0 to 256, not \"%s\"\n", prog, argv[2]);
            goto usage;
        }
        *workers = v;
    }
    return -1;
usage:
    nq_usage(stderr, prog, parallel);
    return 2;
}

static inline double nq_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Prints the result line (the same for both programs); 0 if it is right. */
static inline int nq_report(int n, uint64_t solutions)
{
    bool ok = solutions == nq_known[n];
    printf("n=%d solutions=%llu known=%s\n", n, (unsigned long long)solutions, ok ? "yes" : "no");
    return ok ? 0 : 1;
}

#endif /* NQUEENS_COMMON_H */
