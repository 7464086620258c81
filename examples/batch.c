/*
 * batch: a parallel batch job over a directory tree, on one machine.
 *
 *   ./examples/batch [--collect|--fail-fast] [--deadline-ms N] [--retries N]
 *                    [--workers N] DIR
 *
 * Every regular file below DIR is read through weft's blocking pool (with a
 * per-file deadline and retries for transient failures) and its bytes,
 * lines and words counted and checksummed on the CPU workers. stdout gets a
 * summary that is the same for any number of workers (and for
 * examples/batch-mpi on any number of ranks); stderr gets a progress line
 * when it is a terminal and, at the end, the error tree of the files that
 * failed. Fail-fast (default) stops at the first failure; --collect
 * processes every file and lists every failure. Exit status: 0 all files
 * done, 1 some failed, 2 bad usage or DIR. The job itself is batch_core.c.
 *
 * Uses only <weft/weft.h> and POSIX. Built by `make`, run by `make check`
 * (examples/batch-test.sh).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <weft/weft.h>

#include "batch_core.h"

int main(int argc, char **argv)
{
    struct batch_opts o;
    int rc = batch_parse(argc, argv, &o, "batch", stderr);
    if (rc >= 0)
        return rc;
    o.progress = isatty(STDERR_FILENO);

    weft_runtime *rt = batch_runtime(&o);
    if (rt == NULL)
        return BATCH_EXIT_USAGE;
    struct batch_list files;
    if (batch_walk(rt, &o, &files) != 0) {
        weft_runtime_destroy(rt);
        return BATCH_EXIT_USAGE;
    }

    struct batch_totals t;
    weft_errors *errs = NULL;
    rc = batch_process(rt, &o, &files, &t, &errs);
    batch_print_summary(&t, stdout);
    fflush(stdout);
    if (errs != NULL) {
        fprintf(stderr, "batch: %llu of %zu files failed%s:\n", (unsigned long long)t.failed,
                files.n, o.collect ? "" : " (fail-fast: stopped at the first)");
        weft_errors_print(errs, stderr);
        weft_errors_free(errs);
    } else if (rc != 0) {
        fprintf(stderr, "batch: %s\n", strerror(rc)); /* e.g. ENOMEM before any file ran */
    }
    /* the runtime first: a read released at its deadline may still be
     * reading a file of the list */
    if (weft_runtime_destroy(rt) != 0)
        fprintf(stderr, "batch: some reads were still blocked at exit, abandoned\n");
    else
        batch_list_free(&files);
    return rc == 0 && t.failed == 0 ? BATCH_EXIT_OK : BATCH_EXIT_FAILED;
}
