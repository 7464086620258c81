/*
 * kernels.h - the five benchmark kernels shared by every implementation.
 *
 * Every bench-IMPL binary (seq, omp-gcc, omp-clang, tbb, weft) computes the same
 * thing with the same algorithm; only the way a child computation is started
 * differs (a plain call, an OpenMP task, a tbb::task_group run, a weft spawn).
 * This header holds what must be identical everywhere: deterministic inputs, the
 * per-node step of each algorithm, the sequential reference (which is also the
 * sequential twin, bench-seq), and the expected results used for verification.
 *
 *   fib      naive fib(n); spawn fib(n-1), call fib(n-2), join; no cutoff.
 *            tasks = fib(n+1) - 1 spawns.
 *   nqueens  N-queens solution count with bit masks; every valid placement in a
 *            row is a task that handles the next row; no cutoff.
 *            tasks = number of valid partial placements (tree nodes minus root).
 *   uts      unbalanced tree search, binomial shape: the root has SIZE children,
 *            every other node has KERNEL_UTS_M children with probability
 *            KERNEL_UTS_Q (q*m = 0.999), decided by a splitmix64-style hash of
 *            the node's 64-bit state; one task per node.  result = node count,
 *            tasks = nodes - 1.
 *   sort     quicksort of SIZE 64-bit keys (median-of-3 Hoare partition); above
 *            KERNEL_SORT_CUTOFF keys both halves are spawned, below it the
 *            range is sorted sequentially.  tasks = 2 * partitions above cutoff.
 *   spawn    one task spawns SIZE empty tasks, then joins them all.
 *
 * Valid C11 and C++17; everything is static inline so any translation unit
 * (C or C++) can include it without link-time conflicts.
 */
#ifndef WEFT_BENCH_KERNELS_H
#define WEFT_BENCH_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- hashing */

#define KERNEL_GOLDEN UINT64_C(0x9e3779b97f4a7c15)

/* The splitmix64 finaliser: a bijective, well-avalanching 64-bit mix. */
static inline uint64_t kernel_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* splitmix64 generator: *state advances by the golden gamma per draw. */
static inline uint64_t kernel_rand64(uint64_t *state)
{
    *state += KERNEL_GOLDEN;
    return kernel_mix64(*state);
}

/* ---------------------------------------------------------------- fib */

#define KERNEL_FIB_MAX 60u

static inline uint64_t kernel_fib_seq(unsigned n)
{
    if (n < 2)
        return n;
    return kernel_fib_seq(n - 1) + kernel_fib_seq(n - 2);
}

/* fib(n) by iteration, for verification. */
static inline uint64_t kernel_fib_expected(unsigned n)
{
    uint64_t a = 0, b = 1;
    for (unsigned i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* Spawns made by fib(n): S(n) = 1 + S(n-1) + S(n-2), S(0) = S(1) = 0. */
static inline uint64_t kernel_fib_tasks(unsigned n)
{
    return kernel_fib_expected(n + 1) - 1;
}

/* ---------------------------------------------------------------- nqueens */

/* Board state of one row: occupied columns and both diagonals, as bit masks. */
#define KERNEL_NQUEENS_MAX 20u

static inline uint32_t kernel_nqueens_all(unsigned n)
{
    return (uint32_t)((UINT64_C(1) << n) - 1);
}

/* Free columns in the current row. */
static inline uint32_t kernel_nqueens_free(uint32_t all, uint32_t cols,
                                           uint32_t ld, uint32_t rd)
{
    return all & ~(cols | ld | rd);
}

/* Masks of the next row after placing a queen on column bit `bit`. */
static inline uint32_t kernel_nqueens_ld(uint32_t all, uint32_t ld, uint32_t bit)
{
    return ((ld | bit) << 1) & all;
}
static inline uint32_t kernel_nqueens_rd(uint32_t rd, uint32_t bit)
{
    return (rd | bit) >> 1;
}

/* Sequential reference: solutions below this partial placement; each call is
 * what a task does in the parallel versions. */
static inline uint64_t kernel_nqueens_rec(uint32_t all, uint32_t cols,
                                          uint32_t ld, uint32_t rd)
{
    if (cols == all)
        return 1;
    uint64_t count = 0;
    uint32_t avail = kernel_nqueens_free(all, cols, ld, rd);
    while (avail) {
        uint32_t bit = avail & (0u - avail);
        avail ^= bit;
        count += kernel_nqueens_rec(all, cols | bit,
                                    kernel_nqueens_ld(all, ld, bit),
                                    kernel_nqueens_rd(rd, bit));
    }
    return count;
}

static inline uint64_t kernel_nqueens_seq(unsigned n)
{
    return kernel_nqueens_rec(kernel_nqueens_all(n), 0, 0, 0);
}

/* Same traversal, counting tree nodes (= spawns) instead of solutions. */
static inline uint64_t kernel_nqueens_count_nodes(uint32_t all, uint32_t cols,
                                                  uint32_t ld, uint32_t rd)
{
    uint64_t nodes = 0;
    uint32_t avail = cols == all ? 0 : kernel_nqueens_free(all, cols, ld, rd);
    while (avail) {
        uint32_t bit = avail & (0u - avail);
        avail ^= bit;
        nodes += 1 + kernel_nqueens_count_nodes(all, cols | bit,
                                                kernel_nqueens_ld(all, ld, bit),
                                                kernel_nqueens_rd(rd, bit));
    }
    return nodes;
}

/* Known solution counts (OEIS A000170) and spawn counts, index n.  Spawn
 * counts past the table are computed (slowly) by kernel_nqueens_count_nodes. */
static inline uint64_t kernel_nqueens_expected(unsigned n)
{
    static const uint64_t solutions[KERNEL_NQUEENS_MAX + 1] = {
        1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596,
        2279184, 14772512, UINT64_C(95815104), UINT64_C(666090624),
        UINT64_C(4968057848), UINT64_C(39029188884)};
    return n <= KERNEL_NQUEENS_MAX ? solutions[n] : 0;
}

static inline uint64_t kernel_nqueens_tasks(unsigned n)
{
    static const uint64_t spawns[] = {
        0, 1, 2, 5, 16, 53, 152, 551, 2056, 8393, 35538, 166925, 856188,
        4674889, 27358552, 171129071, UINT64_C(1141190302),
        UINT64_C(8017021931)};
    if (n < sizeof spawns / sizeof spawns[0])
        return spawns[n];
    return kernel_nqueens_count_nodes(kernel_nqueens_all(n), 0, 0, 0);
}

/* ---------------------------------------------------------------- uts */

/* Binomial UTS: q = 0.124875, m = 8 (q*m = 0.999, as UTS's T3 family), so an
 * expected 1000 nodes hang below each root child, with a huge variance: most
 * root children are leaves, a few carry subtrees of hundreds of thousands of
 * nodes and depth several hundred.  KERNEL_UTS_Q_THRESHOLD = q * 2^64. */
#define KERNEL_UTS_M 8u
#define KERNEL_UTS_Q_THRESHOLD UINT64_C(2303537166204480256)
#define KERNEL_UTS_ROOT_SEED UINT64_C(42)
#define KERNEL_UTS_MAX_ROOT 100000000u

static inline uint64_t kernel_uts_root(void)
{
    return kernel_mix64(KERNEL_UTS_ROOT_SEED);
}

/* State of child i (0-based) of the node with state s. */
static inline uint64_t kernel_uts_child(uint64_t s, unsigned i)
{
    return kernel_mix64(s + KERNEL_GOLDEN * (uint64_t)(i + 1));
}

/* Children of a non-root node: KERNEL_UTS_M with probability q, else none. */
static inline unsigned kernel_uts_fanout(uint64_t s)
{
    return kernel_mix64(s ^ UINT64_C(0x5bd1e9955bd1e995)) < KERNEL_UTS_Q_THRESHOLD
               ? KERNEL_UTS_M
               : 0u;
}

/* Nodes in the subtree of a non-root node. */
static inline uint64_t kernel_uts_node(uint64_t s)
{
    uint64_t count = 1;
    unsigned k = kernel_uts_fanout(s);
    for (unsigned i = 0; i < k; i++)
        count += kernel_uts_node(kernel_uts_child(s, i));
    return count;
}

static inline uint64_t kernel_uts_seq(unsigned root_children)
{
    uint64_t root = kernel_uts_root(), count = 1;
    for (unsigned i = 0; i < root_children; i++)
        count += kernel_uts_node(kernel_uts_child(root, i));
    return count;
}

/* Node counts for a few root fan-outs (0 = unknown: not verified).  Adding root
 * children only adds subtrees, so counts grow with SIZE, in large jumps. */
static inline uint64_t kernel_uts_expected(unsigned root_children)
{
    switch (root_children) {
    case 100: return 1085;
    case 1000: return 290137;
    case 2000: return 593825;
    case 4000: return 1187673;
    case 8000: return 2461401;
    case 16000: return 3492497;
    case 20000: return 6942849;
    case 32000: return 15371337;
    default: return 0;
    }
}

/* ---------------------------------------------------------------- sort */

#define KERNEL_SORT_CUTOFF 2048u   /* ranges of at most this many keys: sequential */
#define KERNEL_SORT_INSERTION 24u  /* insertion sort below this, inside the sequential part */
#define KERNEL_SORT_SEED UINT64_C(0x5eed5eed)

static inline void kernel_sort_fill(uint64_t *a, size_t n)
{
    uint64_t s = KERNEL_SORT_SEED;
    for (size_t i = 0; i < n; i++)
        a[i] = kernel_rand64(&s);
}

/* Order-independent checksum of the multiset of keys. */
static inline uint64_t kernel_sort_checksum(const uint64_t *a, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += kernel_mix64(a[i]);
    return sum;
}

static inline bool kernel_sort_is_sorted(const uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return false;
    return true;
}

static inline void kernel_sort_swap(uint64_t *a, size_t i, size_t j)
{
    uint64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* Hoare partition around the median of a[0], a[n/2], a[n-1], moved to a[0]
 * (a pivot in front guarantees progress).  n >= 3.  Returns p, 1 <= p < n,
 * with every key of a[0,p) <= every key of a[p,n). */
static inline size_t kernel_sort_partition(uint64_t *a, size_t n)
{
    size_t m = n / 2;
    if (a[m] < a[0])
        kernel_sort_swap(a, m, 0);
    if (a[n - 1] < a[m]) {
        kernel_sort_swap(a, n - 1, m);
        if (a[m] < a[0])
            kernel_sort_swap(a, m, 0);
    }
    kernel_sort_swap(a, 0, m);
    uint64_t pivot = a[0];
    size_t i = 0, j = n - 1;
    for (;;) {
        while (a[i] < pivot)
            i++;
        while (a[j] > pivot)
            j--;
        if (i >= j)
            return j + 1;
        kernel_sort_swap(a, i, j);
        i++;
        j--;
    }
}

static inline void kernel_sort_insertion(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* Sequential quicksort used at and below the cutoff by every implementation. */
static inline void kernel_sort_small(uint64_t *a, size_t n)
{
    while (n > KERNEL_SORT_INSERTION) {
        size_t p = kernel_sort_partition(a, n);
        if (p < n - p) {            /* recurse into the smaller side */
            kernel_sort_small(a, p);
            a += p;
            n -= p;
        } else {
            kernel_sort_small(a + p, n - p);
            n = p;
        }
    }
    kernel_sort_insertion(a, n);
}

/* Sequential twin of the parallel recursion; returns the spawns it stands for. */
static inline uint64_t kernel_sort_seq(uint64_t *a, size_t n)
{
    if (n <= KERNEL_SORT_CUTOFF) {
        kernel_sort_small(a, n);
        return 0;
    }
    size_t p = kernel_sort_partition(a, n);
    uint64_t spawns = kernel_sort_seq(a, p);
    spawns += kernel_sort_seq(a + p, n - p);
    return spawns + 2;
}

/* ---------------------------------------------------------------- spawn */

/* The body of every empty task; the sequential twin calls it through a
 * volatile pointer so the loop cannot be deleted. */
static inline void kernel_empty(void *arg)
{
    (void)arg;
}

static inline void kernel_spawn_seq(uint64_t n)
{
    void (*volatile fn)(void *) = kernel_empty;
    for (uint64_t i = 0; i < n; i++)
        fn(NULL);
}

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BENCH_KERNELS_H */
