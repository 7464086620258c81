/*
 * idle-bench: what an idle runtime costs. Creates a runtime, runs one small
 * job so every worker has been busy, lets it go idle, then measures the
 * process's CPU time over one second (target: ~0 %, workers park) and the
 * resident memory the runtime added (target: <= 1 MiB for 2 workers).
 *
 *   idle-bench [workers]      (default 2)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <weft/weft.h>

#include "bench/bench_stats.h"
#include "kernels_weft.h"

static long rss_kib(void)
{
    return bench_proc_status("VmRSS:");
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
    long before = rss_kib();
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("weft_runtime_create");
        return 1;
    }
    uint64_t r;
    if (kw_fib(rt, 25, &r) != 0 || r != kernel_fib_expected(25)) {
        fprintf(stderr, "idle-bench: fib failed\n");
        return 1;
    }
    long after = rss_kib();
    struct timespec settle = {0, 10 * 1000 * 1000}, second = {1, 0};
    nanosleep(&settle, NULL); /* spinning ends within ~100 us; then workers park */
    double c0 = cpu_seconds();
    weft_time t0 = weft_now();
    nanosleep(&second, NULL);
    double c1 = cpu_seconds();
    weft_time t1 = weft_now();
    weft_stats st;
    weft_runtime_stats(rt, &st);
    printf("idle runtime, %u workers: %.3f %% CPU over %.2f s idle (%llu parks); "
           "RSS +%ld KiB after create + fib(25)\n",
           workers, 100.0 * (c1 - c0) / ((double)(t1 - t0) / 1e9), (double)(t1 - t0) / 1e9,
           (unsigned long long)st.parks, after - before);
    return weft_runtime_destroy(rt) == 0 ? 0 : 1;
}
