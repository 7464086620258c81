/*
 * flat-bench: flat spawn throughput. One task spawns N empty tasks into one
 * group and joins it, R times in one process: the first run pays the page
 * faults of the descriptors and the grown deque, the later ones reuse them
 * (the steady state). Prints each run's rate, the steals it took and the
 * resident memory after it.
 *
 *   flat-bench [tasks [workers [runs]]]     (default 10^7, 2, 4)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <weft/weft.h>

#include "kernels_weft.h"

/* Resident memory in MiB (0 when /proc is not there). */
static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    unsigned workers = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2;
    unsigned runs = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 4;
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = workers;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL) {
        perror("weft_runtime_create");
        return 1;
    }
    printf("flat spawn, %llu empty tasks, %u workers:", (unsigned long long)n, workers);
    for (unsigned r = 0; r < runs; r++) {
        weft_stats before, after;
        weft_runtime_stats(rt, &before);
        double t0 = now_seconds();
        int rc = kw_spawn(rt, n);
        double secs = now_seconds() - t0;
        weft_runtime_stats(rt, &after);
        if (rc != 0) {
            fprintf(stderr, "run %u: rc %d\n", r, rc);
            return 1;
        }
        printf(" %s%.1f M/s (%llu steals, %.0f MiB)", r == 0 ? "first " : "",
               (double)n / secs / 1e6, (unsigned long long)(after.steals - before.steals),
               rss_mib());
        fflush(stdout);
    }
    printf("\n");
    weft_runtime_destroy(rt);
    return 0;
}
