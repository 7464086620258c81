/*
 * batch_core: the parallel batch job shared by examples/batch (one process)
 * and examples/batch-mpi (several ranks). Nothing in here knows about MPI:
 * a rank runs the same job on its share of the file list, and the MPI
 * program only moves the list and the totals between ranks.
 *
 * The job: walk a directory tree (a blocking job), then for every regular
 * file read it through the blocking pool under a per-file deadline, retrying
 * transient failures, and count bytes, lines and words and checksum it on
 * the CPU workers. The totals are deterministic: they depend neither on the
 * number of workers nor on the number of ranks, nor on the order in which
 * files finish.
 */
#ifndef BATCH_CORE_H
#define BATCH_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weft/weft.h>

/* Exit statuses of both programs. */
enum {
    BATCH_EXIT_OK = 0,     /* every file processed */
    BATCH_EXIT_FAILED = 1, /* some files failed (the error tree says which) */
    BATCH_EXIT_USAGE = 2   /* bad arguments, unreadable top directory, no memory */
};

struct batch_opts {
    const char *dir;
    bool collect;             /* --collect: WEFT_COLLECT; default fail-fast */
    int64_t deadline_ms;      /* --deadline-ms: per file, 0 = none */
    unsigned retries;         /* --retries: tries after the first (default 3) */
    unsigned workers;         /* --workers: 0 = $WEFT_WORKERS, else online CPUs */
    const char *affinity;     /* --affinity: NULL = $WEFT_AFFINITY, else none */
    bool progress;            /* set by the program: stderr is a TTY */
    /* demo/test switches: deterministic failures for the smoke tests */
    unsigned inject_transient; /* the first N read tries of each file fail (EIO, EAGAIN) */
    const char *fail_matching; /* files whose path contains this fail for good (EACCES) */
    int64_t slow_ms;           /* each read try first blocks this long (a stuck disk) */
};

/* One file of the tree. `path` is relative to the top directory. */
struct batch_file {
    char *path;
    uint64_t size;   /* from the walk (lstat), for splitting work by bytes */
    int walk_err;    /* a subdirectory that could not be listed: fails as such */
    /* results, written by the file's task */
    int status;      /* 0, the failure's code, or ECANCELED when skipped */
    uint64_t bytes, lines, words, checksum;
};

#define BATCH_NOT_RUN (-1) /* batch_file.status before its task ended */

struct batch_list {
    struct batch_file *v;
    size_t n, cap;
};

/* What a run (or a reduction over ranks) adds up to. */
struct batch_totals {
    uint64_t ok, failed, skipped; /* files */
    uint64_t bytes, lines, words;
    uint64_t checksum; /* XOR over ok files of hash(path, file checksum) */
};

/* Parses argv into *o. Returns -1 to go on; else the exit status to end
 * with (0 after --help, BATCH_EXIT_USAGE after a message on `err`). With
 * err NULL it prints nothing, not even --help's text. */
int batch_parse(int argc, char **argv, struct batch_opts *o, const char *prog, FILE *err);

/* A runtime as the options ask; NULL after a message on stderr. */
weft_runtime *batch_runtime(const struct batch_opts *o);

/* Lists the regular files below o->dir, sorted by path (symlinks and
 * special files are skipped). 0, or an errno value after a message on
 * stderr (the top directory cannot be listed, no memory). */
int batch_walk(weft_runtime *rt, const struct batch_opts *o, struct batch_list *out);

/* Keeps only the files rank `rank` of `nranks` processes: each file in list
 * order goes to the rank with the fewest bytes so far (ties: the lowest),
 * so every rank computes the same split from the same list. */
void batch_share(struct batch_list *l, int rank, int nranks);

/* Processes every file of l (fail-fast, or all of them with --collect) and
 * adds them up in *t. Returns 0 when every file succeeded, else the first
 * failure's code; *errs (if non-NULL) receives the error tree. */
int batch_process(weft_runtime *rt, const struct batch_opts *o, struct batch_list *l,
                  struct batch_totals *t, weft_errors **errs);

/* The summary: the same bytes for the same tree however it was split. */
void batch_print_summary(const struct batch_totals *t, FILE *out);

/* The list as one buffer (size, NUL, path, NUL, ...) and back, for a rank
 * that walked to hand it to the others. NULL / ENOMEM, EINVAL on bad data. */
char *batch_list_pack(const struct batch_list *l, size_t *len);
int batch_list_unpack(const char *buf, size_t len, struct batch_list *out);

void batch_list_free(struct batch_list *l);

/* "a/b" (just b when a is ""), malloc'ed; NULL when out of memory. */
char *batch_join_path(const char *a, const char *b);

#endif /* BATCH_CORE_H */
