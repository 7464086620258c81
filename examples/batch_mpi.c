/*
 * batch-mpi: examples/batch over MPI ranks, weft parallelising inside each.
 *
 *   mpirun -np 2 ./examples/batch-mpi [batch's options] DIR
 *
 * Rank 0 walks DIR and broadcasts the sorted file list; every rank then takes
 * its share (each file, in list order, to the rank with the fewest bytes so
 * far: every rank computes the same split) and runs the same job as
 * examples/batch on it (batch_core.c). The totals are reduced to every rank
 * and rank 0 prints the summary, the very bytes examples/batch prints for
 * the same tree; then the error trees of all ranks, each rendered to text by
 * weft_errors_print on its rank and gathered by rank 0. Every rank exits
 * with the same status (0, 1 some file failed, 2 bad usage or DIR). DIR must
 * be readable at the same path on every rank (one machine, or a shared
 * filesystem).
 *
 * Threads: weft runs worker and blocking threads in every rank, but only
 * the main thread, the one that called MPI_Init_thread, ever calls MPI, and
 * only outside weft_run (before the job, after it). That is
 * MPI_THREAD_FUNNELED: requested, and checked against what the library
 * provides. Workers default to the CPUs divided among the ranks on the same
 * node, and to no more than the CPUs the rank is bound to (mpirun
 * --bind-to, a cgroup): --workers or $WEFT_WORKERS override it. weft keeps
 * every thread inside the rank's binding; --affinity compact (or
 * $WEFT_AFFINITY) pins one worker per CPU of it.
 *
 * Uses only <weft/weft.h>, <mpi.h> and POSIX (and sched_getaffinity on
 * Linux). Built when configure finds MPI; run by `make check`
 * (examples/batch-mpi-test.sh).
 */
#define _POSIX_C_SOURCE 200809L
#ifdef __linux__
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif

#include <errno.h>
#include <limits.h>
#ifdef __linux__
#include <sched.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include <weft/weft.h>

#include "batch_core.h"

static int rank, nranks;

/* True on every rank when ok is true on every rank: a failure on one rank
 * must not leave the others waiting in a collective call. */
static bool all_ok(bool ok)
{
    int mine = ok, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all != 0;
}

/* The CPUs of this node divided among its ranks, at least 1. */
static unsigned node_share(void)
{
    MPI_Comm node;
    int local = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long share = cpus > 0 ? cpus / (local > 0 ? local : 1) : 1;
#ifdef __linux__
    /* a rank bound to fewer CPUs (mpirun --bind-to core) runs no more workers than it has */
    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) == 0 && CPU_COUNT(&mine) < share)
        share = CPU_COUNT(&mine);
#endif
    return share > 0 ? (unsigned)share : 1u;
}

/* Rank 0's list to every rank. 0, or an errno value (the same on every rank). */
static int share_list(weft_runtime *rt, const struct batch_opts *o, struct batch_list *files)
{
    /* head[0]: the walk's status, head[1]: the packed list's length */
    long long head[2] = {0, 0};
    char *buf = NULL;
    if (rank == 0) {
        size_t len = 0;
        head[0] = batch_walk(rt, o, files);
        if (head[0] == 0 && (buf = batch_list_pack(files, &len)) == NULL)
            head[0] = ENOMEM;
        if (head[0] == 0 && len > INT_MAX) {
            fprintf(stderr, "batch-mpi: the file list is too long to broadcast\n");
            head[0] = EOVERFLOW;
        }
        head[1] = (long long)len;
    }
    MPI_Bcast(head, 2, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    if (head[0] != 0) {
        free(buf);
        return (int)head[0];
    }
    if (rank != 0 && (buf = malloc((size_t)head[1] + 1)) == NULL)
        fprintf(stderr, "batch-mpi: rank %d: no memory for the file list\n", rank);
    bool ok = all_ok(buf != NULL);
    if (ok)
        MPI_Bcast(buf, (int)head[1], MPI_CHAR, 0, MPI_COMM_WORLD);
    int rc = ok ? 0 : ENOMEM;
    if (ok && rank != 0 && (rc = batch_list_unpack(buf, (size_t)head[1], files)) != 0)
        fprintf(stderr, "batch-mpi: rank %d: cannot unpack the file list: %s\n", rank,
                strerror(rc));
    free(buf);
    if (!all_ok(rc == 0)) {
        batch_list_free(files);
        return rc != 0 ? rc : EIO;
    }
    return 0;
}

/* Every rank's error tree (as text) printed by rank 0, rank by rank. */
static void gather_errors(const weft_errors *errs)
{
    char *text = NULL;
    size_t size = 0;
    if (errs != NULL) {
        FILE *f = open_memstream(&text, &size);
        if (f != NULL) {
            weft_errors_print(errs, f);
            fclose(f);
        }
        if (text == NULL || size > INT_MAX / 2) { /* no memory: say so rather than nothing */
            free(text);
            text = strdup("(the error tree could not be rendered: no memory)\n");
            size = text != NULL ? strlen(text) : 0;
        }
    }
    int len = (int)size;
    int *lens = NULL, *displs = NULL;
    char *all = NULL;
    if (rank == 0) {
        lens = calloc((size_t)nranks, sizeof *lens);
        displs = calloc((size_t)nranks, sizeof *displs);
    }
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    long long total = 0;
    if (rank == 0 && lens != NULL && displs != NULL) {
        for (int r = 0; r < nranks; r++) {
            displs[r] = (int)total;
            total += lens[r];
        }
        if (total > INT_MAX)
            total = -1;
        else
            all = malloc((size_t)total + 1);
    }
    /* everyone learns whether rank 0 can take it all */
    bool ok = all_ok(rank != 0 || all != NULL);
    if (ok)
        MPI_Gatherv(text, len, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
    else if (rank == 0)
        fprintf(stderr, "batch-mpi: cannot gather the error trees (no memory)\n");
    if (ok && rank == 0)
        for (int r = 0; r < nranks; r++)
            if (lens[r] > 0)
                fprintf(stderr, "rank %d: %.*s", r, lens[r], all + displs[r]);
    free(all);
    free(lens);
    free(displs);
    free(text);
}

int main(int argc, char **argv)
{
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "batch-mpi: MPI_Init_thread failed\n");
        return BATCH_EXIT_USAGE;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    int status = BATCH_EXIT_USAGE;
    if (provided < MPI_THREAD_FUNNELED) {
        if (rank == 0)
            fprintf(stderr, "batch-mpi: MPI provides thread level %d, below "
                            "MPI_THREAD_FUNNELED (%d): weft's threads cannot coexist with it\n",
                    provided, MPI_THREAD_FUNNELED);
        MPI_Finalize();
        return status;
    }

    /* every rank parses the same argv to the same result; rank 0 tells */
    struct batch_opts o;
    int rc = batch_parse(argc, argv, &o, "batch-mpi", rank == 0 ? stderr : NULL);
    if (rc >= 0) {
        MPI_Finalize();
        return rc;
    }
    o.progress = rank == 0 && isatty(STDERR_FILENO); /* rank 0's share only */
    if (o.workers == 0 && getenv("WEFT_WORKERS") == NULL)
        o.workers = node_share();

    weft_runtime *rt = batch_runtime(&o);
    struct batch_list files = {0};
    if (!all_ok(rt != NULL) || share_list(rt, &o, &files) != 0)
        goto out;
    batch_share(&files, rank, nranks);

    struct batch_totals t;
    weft_errors *errs = NULL;
    rc = batch_process(rt, &o, &files, &t, &errs);
    if (rc != 0 && errs == NULL)
        fprintf(stderr, "batch-mpi: rank %d: %s\n", rank, strerror(rc));

    /* sums are order-free, the checksum is an XOR: any split adds up the same */
    uint64_t mine[6] = {t.ok, t.failed, t.skipped, t.bytes, t.lines, t.words}, sum[6];
    MPI_Allreduce(mine, sum, 6, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    uint64_t checksum = 0;
    MPI_Allreduce(&t.checksum, &checksum, 1, MPI_UINT64_T, MPI_BXOR, MPI_COMM_WORLD);
    struct batch_totals all = {.ok = sum[0], .failed = sum[1], .skipped = sum[2],
                               .bytes = sum[3], .lines = sum[4], .words = sum[5],
                               .checksum = checksum};
    bool failed = !all_ok(rc == 0 && t.failed == 0);
    if (rank == 0) {
        batch_print_summary(&all, stdout);
        fflush(stdout);
        if (failed)
            fprintf(stderr, "batch-mpi: %llu of %llu files failed on %d ranks%s:\n",
                    (unsigned long long)all.failed,
                    (unsigned long long)(all.ok + all.failed + all.skipped), nranks,
                    o.collect ? "" : " (fail-fast: each rank stopped at its first)");
    }
    gather_errors(errs);
    weft_errors_free(errs);
    status = failed ? BATCH_EXIT_FAILED : BATCH_EXIT_OK;
out:
    /* the runtime first: a read released at its deadline may still be
     * reading a file of the list */
    if (rt != NULL && weft_runtime_destroy(rt) != 0)
        fprintf(stderr, "batch-mpi: rank %d: some reads were still blocked at exit, abandoned\n",
                rank);
    else
        batch_list_free(&files);
    MPI_Finalize();
    return status;
}
