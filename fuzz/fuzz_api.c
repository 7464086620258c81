/*
 * libFuzzer target: each input is a program of the command language
 * (program.c), run as the root task of a weft runtime; the interpreter
 * (interp.c) checks each call against the contract, and this driver checks
 * the whole run after it: weft_run's result and error tree, that every task,
 * cleanup, job and detached link ran exactly once, that weft_runtime_destroy
 * returns 0, and that each failing link reached on_unhandled once.
 *
 * A runtime per input (2 workers): destroy runs after every program, with
 * whatever the program left behind (released jobs, spare threads, the
 * timer's thread, pooled groups), and leaks are per input. It costs about
 * as much as a short program (fuzz/README.md has the numbers), so it is
 * the default; WEFT_FUZZ_SHARED=1 shares one runtime for throughput.
 *
 * Replay a finding: ./fuzz/fuzz-api crash-<sha1> (or a directory of them).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/weft.h>

#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Atomic unsigned long unhandled; /* released jobs' failures: expected, not printed */
static _Atomic unsigned long link_unhandled; /* failing links' (chain.c), this input's */
static weft_runtime *shared_rt;
static bool share;

static void on_unhandled(const weft_error *err, void *arg)
{
    (void)arg;
    atomic_fetch_add(&unhandled, 1);
    if (strncmp(weft_error_message(err), FZ_LINK_MESSAGE " ", strlen(FZ_LINK_MESSAGE) + 1) == 0)
        atomic_fetch_add(&link_unhandled, 1);
}

static weft_runtime *new_runtime(void)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 2;
    cfg.blocking_max = 4;
    cfg.shutdown_timeout = 5 * WEFT_SEC;
    cfg.on_unhandled = on_unhandled;
    weft_runtime *rt = weft_runtime_create(&cfg);
    FZ_CHECK(rt != NULL, "weft_runtime_create failed");
    return rt;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *s = getenv("WEFT_FUZZ_SHARED");
    share = s != NULL && strcmp(s, "1") == 0;
    if (share)
        shared_rt = new_runtime();
    return 0;
}

/* Released jobs and detached links end in the background: wait (bounded)
 * until every one did. */
static void wait_outstanding(void)
{
    weft_time give_up = weft_after(5 * WEFT_SEC);
    while (atomic_load(&fz_jobs_outstanding) != 0 || atomic_load(&fz_links_outstanding) != 0) {
        FZ_CHECK(weft_now() < give_up,
                 "%d blocking jobs and %d detached links still running 5 s after the run",
                 atomic_load(&fz_jobs_outstanding), atomic_load(&fz_links_outstanding));
        nanosleep(&(struct timespec){.tv_nsec = 50000}, NULL);
    }
}

/* The root fails only with FAIL's code, through weft_fail(_from) with
 * "fz-fail 0" (interp.c's finish; nothing can cancel a root), or with
 * EINVAL when it returned inside a scope it entered. */
static void check_run(int rc, int root_rc, const weft_errors *errs)
{
    bool failed = root_rc != 0;
    struct oracle_entry root = {.what = "the root",
                                .listing = {failed, failed, root_rc, 0},
                                .message = fz_is_fail_code(root_rc) ? "fz-fail 0" : NULL,
                                .name = ""};
    struct oracle_verdict v;
    fz_verdict(oracle_check_run(rc, root_rc, errs, &root, &v), &v);
}

struct root_arg {
    struct fz_input *in;
    int rc;
};

static int root(weft_task *self, void *arg)
{
    struct root_arg *r = arg;
    return fz_root_main(self, r->in, &r->rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_input *in = malloc(sizeof *in);
    FZ_CHECK(in != NULL, "out of memory");
    fz_decode(in, data, size);
    weft_runtime *rt = share ? shared_rt : new_runtime();
    fz_runtime = rt;
    atomic_store(&link_unhandled, 0);
    struct root_arg r = {.in = in};
    weft_errors *errs = NULL;
    int rc = weft_run(rt, root, &r, &errs);
    check_run(rc, r.rc, errs);
    weft_errors_free(errs);
    wait_outstanding();
    fz_check_input(in);
    unsigned link_failures = fz_check_chains(in);
    if (!share) {
        int drc = weft_runtime_destroy(rt);
        FZ_CHECK(drc == 0, "weft_runtime_destroy: %d with every job ended", drc);
        /* destroy waited for the links' ends, on_unhandled included */
        struct oracle_reports reports = {.what = "on_unhandled, for detached links",
                                         .due = link_failures,
                                         .seen = atomic_load(&link_unhandled),
                                         .final = true};
        struct oracle_verdict v;
        fz_verdict(oracle_check_reports(&reports, &v), &v);
    }
    fz_runtime = NULL;
    free(in);
    return 0;
}
