/*
 * batch_args: the command line of examples/batch and examples/batch-mpi,
 * and the runtime it asks for (see batch_core.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "batch_core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

/* ---- options ---------------------------------------------------------------- */

static void usage(const char *prog, FILE *out)
{
    fprintf(out,
            "usage: %s [options] DIR\n"
            "Counts bytes, lines and words of every regular file below DIR and\n"
            "checksums them, in parallel; prints a summary that does not depend on\n"
            "the number of workers, and the error tree of the files that failed.\n"
            "  --fail-fast         stop at the first file that fails (default)\n"
            "  --collect           process every file, report every failure\n"
            "  --deadline-ms N     give each file N ms (read and count); 0: no limit\n"
            "  --retries N         retry a transient read failure N times (default 3)\n"
            "  --workers N         CPU workers (default: $WEFT_WORKERS, else CPUs;\n"
            "                      batch-mpi: the CPUs the rank is bound to, at most\n"
            "                      its share of the node's)\n"
            "  --affinity A        where the workers run: none (not pinned), compact\n"
            "                      (one per CPU in order) or a CPU list like 0-3,8; always\n"
            "                      within the CPUs the process may use, so under mpirun\n"
            "                      within the rank's binding (default: $WEFT_AFFINITY,\n"
            "                      else none; see weft_runtime_create(3))\n"
            "  --help              this text\n"
            "demo/test switches (deterministic failures):\n"
            "  --inject-transient N  the first N read tries of each file fail (EIO, EAGAIN)\n"
            "  --fail-matching STR   files whose path contains STR fail for good (EACCES)\n"
            "  --slow-ms N           each read try first blocks N ms, uninterruptibly\n"
            "exit status: 0 all files done, 1 some failed, 2 bad usage or DIR\n",
            prog);
}

/* A whole decimal number in [lo, hi]. */
static bool number(const char *s, long long lo, long long hi, long long *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* fprintf to err, unless it is NULL (the ranks of batch-mpi but rank 0) */
static void say(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
}

int batch_parse(int argc, char **argv, struct batch_opts *o, const char *prog, FILE *err)
{
    *o = (struct batch_opts){.retries = 3};
    static const struct {
        const char *name;
        long long lo, hi;
    } nums[] = {
        {"--deadline-ms", 0, 86400000}, {"--retries", 0, 100},
        {"--workers", 0, 1024},         {"--inject-transient", 0, 1000},
        {"--slow-ms", 0, 600000},
    };
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || strcmp(a, "-") == 0) {
            if (o->dir != NULL) {
                say(err, "%s: one DIR only (got '%s' and '%s')\n", prog, o->dir, a);
                return BATCH_EXIT_USAGE;
            }
            o->dir = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (err != NULL)
                usage(prog, stdout);
            return BATCH_EXIT_OK;
        }
        if (strcmp(a, "--collect") == 0) {
            o->collect = true;
            continue;
        }
        if (strcmp(a, "--fail-fast") == 0) {
            o->collect = false;
            continue;
        }
        /* options with a value: "--name V" or "--name=V" */
        const char *eq = strchr(a, '=');
        size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
        const char *val = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        bool known = false;
        if (len == strlen("--fail-matching") && strncmp(a, "--fail-matching", len) == 0) {
            if (val == NULL || *val == '\0') {
                say(err, "%s: --fail-matching needs a non-empty string\n", prog);
                return BATCH_EXIT_USAGE;
            }
            o->fail_matching = val;
            known = true;
        }
        if (len == strlen("--affinity") && strncmp(a, "--affinity", len) == 0) {
            if (val == NULL || *val == '\0') {
                say(err, "%s: --affinity needs none, compact or a CPU list\n", prog);
                return BATCH_EXIT_USAGE;
            }
            o->affinity = val; /* checked by weft_runtime_create */
            known = true;
        }
        for (size_t k = 0; !known && k < sizeof nums / sizeof nums[0]; k++) {
            if (len != strlen(nums[k].name) || strncmp(a, nums[k].name, len) != 0)
                continue;
            long long v;
            if (!number(val, nums[k].lo, nums[k].hi, &v)) {
                say(err, "%s: %s needs a whole number from %lld to %lld, not '%s'\n", prog,
                        nums[k].name, nums[k].lo, nums[k].hi, val != NULL ? val : "");
                return BATCH_EXIT_USAGE;
            }
            switch (k) {
            case 0: o->deadline_ms = v; break;
            case 1: o->retries = (unsigned)v; break;
            case 2: o->workers = (unsigned)v; break;
            case 3: o->inject_transient = (unsigned)v; break;
            default: o->slow_ms = v; break;
            }
            known = true;
        }
        if (!known) {
            say(err, "%s: unknown option '%s' (try --help)\n", prog, a);
            return BATCH_EXIT_USAGE;
        }
        if (eq == NULL)
            i++; /* the value was the next argument */
    }
    if (o->dir == NULL) {
        say(err, "%s: no DIR given (try --help)\n", prog);
        return BATCH_EXIT_USAGE;
    }
    return -1;
}

weft_runtime *batch_runtime(const struct batch_opts *o)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = o->workers;
    cfg.affinity = o->affinity;
    /* reads slowed down on purpose may still block when the run ends */
    cfg.shutdown_timeout = 5 * WEFT_SEC + o->slow_ms * WEFT_MSEC;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL)
        perror("weft_runtime_create");
    return rt;
}
