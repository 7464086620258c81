/*
 * quicksort_common.h: everything quicksort.c (weft) and quicksort_seq.c (its
 * sequential twin) share, so that the two differ only in how the recursion
 * is run:  diff -u examples/quicksort_seq.c examples/quicksort.c
 *
 * Nothing here knows about weft: the algorithm's steps (median-of-3 Hoare
 * partition, insertion sort, a sequential quicksort for small ranges), the
 * input (a seeded PRNG and a few key patterns), the verification (ascending,
 * and the same keys as the input) and the command line.
 *
 * Every function is static inline: the header is the whole "library" and
 * each program includes it once. The including file defines
 * _POSIX_C_SOURCE (for clock_gettime) before any system header.
 */
#ifndef QUICKSORT_COMMON_H
#define QUICKSORT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Ranges of at most QS_CUTOFF keys are sorted by plain sequential recursion:
 * a task for fewer keys would cost more to hand out than it saves. */
#define QS_CUTOFF 4096u
/* Below this many keys, insertion sort beats partitioning. */
#define QS_INSERTION 24u

/* ---- the algorithm's steps ------------------------------------------------ */

static inline void qs_swap(uint64_t *a, size_t i, size_t j)
{
    uint64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/*
 * Hoare partition of a[0..n), n >= 2, around the median of the first, middle
 * and last keys. Returns p, 1 <= p < n, with every key of a[0..p) <= every key
 * of a[p..n). Equal keys are swapped across, so an all-equal range splits in
 * the middle instead of degenerating.
 */
static inline size_t qs_partition(uint64_t *a, size_t n)
{
    size_t mid = (n - 1) / 2; /* the lower middle: guarantees p < n */
    if (a[mid] < a[0])
        qs_swap(a, mid, 0);
    if (a[n - 1] < a[0])
        qs_swap(a, n - 1, 0);
    if (a[n - 1] < a[mid])
        qs_swap(a, n - 1, mid);
    uint64_t pivot = a[mid];
    size_t i = 0, j = n - 1;
    for (;;) {
        while (a[i] < pivot)
            i++;
        while (pivot < a[j])
            j--;
        if (i >= j)
            return j + 1;
        qs_swap(a, i, j);
        i++;
        j--;
    }
}

static inline void qs_insertion_sort(uint64_t *a, size_t n)
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

/* Sequential quicksort for the ranges below the cutoff. It recurses into the
 * smaller side and loops on the larger, so its stack stays O(log n). */
static inline void qs_sort_small(uint64_t *a, size_t n)
{
    while (n > QS_INSERTION) {
        size_t p = qs_partition(a, n);
        if (p < n - p) {
            qs_sort_small(a, p);
            a += p;
            n -= p;
        } else {
            qs_sort_small(a + p, n - p);
            n = p;
        }
    }
    qs_insertion_sort(a, n);
}

/* ---- input ---------------------------------------------------------------- */

enum qs_pattern { QS_RANDOM, QS_EQUAL, QS_SORTED, QS_REVERSE, QS_FEW };
static const char *const qs_pattern_names[] = {"random", "equal", "sorted", "reverse", "few"};
#define QS_PATTERNS (sizeof qs_pattern_names / sizeof qs_pattern_names[0])

/* splitmix64 (Steele, Lea, Flood 2014): a seeded stream of 64-bit keys,
 * the same on every platform. */
static inline uint64_t qs_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint64_t qs_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15u;
    return qs_mix(*state);
}

/* n keys of the pattern (the seed matters to random, equal and few), in
 * memory to free(); NULL when it cannot be allocated. (calloc, not malloc:
 * GCC 12 cannot see that the switch writes every key.) */
static inline uint64_t *qs_generate(size_t n, uint64_t seed, enum qs_pattern pattern)
{
    uint64_t *a = calloc(n > 0 ? n : 1, sizeof *a);
    if (a == NULL)
        return NULL;
    uint64_t state = seed;
    uint64_t same = qs_next(&state);
    for (size_t i = 0; i < n; i++) {
        switch (pattern) {
        case QS_RANDOM:
            a[i] = qs_next(&state);
            break;
        case QS_EQUAL:
            a[i] = same;
            break;
        case QS_SORTED:
            a[i] = i;
            break;
        case QS_REVERSE:
            a[i] = n - i;
            break;
        case QS_FEW: /* 16 distinct keys: many duplicates */
            a[i] = qs_next(&state) % 16;
            break;
        }
    }
    return a;
}

/* ---- verification --------------------------------------------------------- */

/* Order-independent: the same before and after any permutation of a. */
static inline uint64_t qs_fingerprint(const uint64_t *a, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += qs_mix(a[i]);
    return sum;
}

/* Order-dependent (FNV-1a over the keys): the same for every correct sort. */
static inline uint64_t qs_checksum(const uint64_t *a, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ a[i]) * 0x100000001b3u;
    return h;
}

static inline bool qs_ascending(const uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (a[i - 1] > a[i])
            return false;
    return true;
}

/* ---- the command line ----------------------------------------------------- */

struct qs_opts {
    size_t n;
    uint64_t seed;
    enum qs_pattern pattern;
    unsigned workers; /* 0: weft's default ($WEFT_WORKERS, else one per CPU) */
    long deadline_ms; /* -1: none */
};

#define QS_MAX_WORKERS 256u
#define QS_MAX_DEADLINE_MS 86400000L /* a day */

static inline void qs_usage(FILE *out, const char *prog, bool parallel)
{
    fprintf(out, "usage: %s [--pattern random|equal|sorted|reverse|few]%s [N [SEED%s]]\n",
            prog, parallel ? " [--deadline-ms MS]" : "", parallel ? " [WORKERS]" : "");
    fprintf(out, "  sorts N 64-bit keys (default 1000000) generated from SEED (default 1)%s\n",
            parallel ? "\n  on WORKERS weft workers (default 0: $WEFT_WORKERS, else one per CPU)"
                     : ", sequentially");
    if (parallel)
        fprintf(out, "  --deadline-ms MS: give up with ETIMEDOUT (exit 3) if not sorted by then\n");
}

/* A decimal number in [0, max], nothing else (no sign, no blanks). */
static inline bool qs_number(const char *s, unsigned long long max, unsigned long long *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;
    unsigned long long v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Parses argv into *o. Returns -1 to go on; otherwise the status to exit with:
 * 0 after --help, 2 after a usage error (with a message on stderr). The
 * sequential twin (parallel false) takes neither WORKERS nor --deadline-ms. */
static inline int qs_parse(int argc, char **argv, const char *prog, bool parallel,
                           struct qs_opts *o)
{
    *o = (struct qs_opts){.n = 1000000, .seed = 1, .pattern = QS_RANDOM, .deadline_ms = -1};
    int positional = 0;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        unsigned long long v;
        if (options && strcmp(arg, "--") == 0) {
            options = false;
        } else if (options && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            qs_usage(stdout, prog, parallel);
            return 0;
        } else if (options && strcmp(arg, "--pattern") == 0) {
            if (++i == argc) {
                fprintf(stderr, "%s: --pattern needs a value\n", prog);
                goto usage;
            }
            size_t k = 0;
            while (k < QS_PATTERNS && strcmp(argv[i], qs_pattern_names[k]) != 0)
                k++;
            if (k == QS_PATTERNS) {
                fprintf(stderr, "%s: unknown pattern \"%s\"\n", prog, argv[i]);
                goto usage;
            }
            o->pattern = (enum qs_pattern)k;
        } else if (options && parallel && strcmp(arg, "--deadline-ms") == 0) {
            if (++i == argc || !qs_number(argv[i], QS_MAX_DEADLINE_MS, &v)) {
                fprintf(stderr, "%s: --deadline-ms needs a number of ms, 0 to %ld\n", prog,
                        QS_MAX_DEADLINE_MS);
                goto usage;
            }
            o->deadline_ms = (long)v;
        } else if (options && arg[0] == '-' && arg[1] != '\0' && (arg[1] < '0' || arg[1] > '9')) {
            fprintf(stderr, "%s: unknown option \"%s\"\n", prog, arg);
            goto usage;
        } else if (positional == 0) {
            if (!qs_number(arg, SIZE_MAX / sizeof(uint64_t), &v)) {
                fprintf(stderr, "%s: N must be a number of keys, not \"%s\"\n", prog, arg);
                goto usage;
            }
            o->n = (size_t)v;
            positional++;
        } else if (positional == 1) {
            if (!qs_number(arg, UINT64_MAX, &v)) {
                fprintf(stderr, "%s: SEED must be a number, not \"%s\"\n", prog, arg);
                goto usage;
            }
            o->seed = v;
            positional++;
        } else if (positional == 2 && parallel) {
            if (!qs_number(arg, QS_MAX_WORKERS, &v)) {
                fprintf(stderr, "%s: WORKERS must be 0 to %u, not \"%s\"\n", prog,
                        QS_MAX_WORKERS, arg);
                goto usage;
            }
            o->workers = (unsigned)v;
            positional++;
        } else {
            fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, arg);
            goto usage;
        }
    }
    return -1;
usage:
    qs_usage(stderr, prog, parallel);
    return 2;
}

/* ---- timing and the result line ------------------------------------------- */

static inline double qs_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Checks a against the input's fingerprint and prints the deterministic
 * result line on stdout: identical for both programs on the same input.
 * Returns the exit status: 0 when sorted, 1 when not. */
static inline int qs_report(const uint64_t *a, const struct qs_opts *o, uint64_t fingerprint)
{
    bool ok = qs_ascending(a, o->n) && qs_fingerprint(a, o->n) == fingerprint;
    printf("n=%zu seed=%llu pattern=%s sorted=%s checksum=%016llx\n", o->n,
           (unsigned long long)o->seed, qs_pattern_names[o->pattern], ok ? "yes" : "no",
           (unsigned long long)qs_checksum(a, o->n));
    return ok ? 0 : 1;
}

#endif /* QUICKSORT_COMMON_H */
