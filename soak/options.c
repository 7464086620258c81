/*
 * Command line of soak/soak. The run length comes from --minutes or
 * --seconds, else $SOAK_SECONDS (what `make check-soak` passes), else 600 s.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak/soak.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: soak [--minutes M | --seconds S] [--workers N] [--drivers N] [--seed X]\n"
            "            [--report-every S] [--csv FILE] [--leak-bytes-per-round N]\n"
            "            [--only SCENARIO,...]\n"
            "Runs a mixed weft load, checks its invariants every round, samples RSS,\n"
            "threads and fds, and exits 1 when an invariant broke or RSS grew.\n"
            "  --minutes, --seconds  run length (default $SOAK_SECONDS, else 600 s)\n"
            "  --workers N           CPU workers (default: online CPUs)\n"
            "  --drivers N           threads calling weft_run at once (default 2)\n"
            "  --seed X              seed of the load (default: from the clock; printed)\n"
            "  --report-every S      seconds between table rows (default: ~10 rows, <= 10 s)\n"
            "  --csv FILE            every sample (one a second) as CSV\n"
            "  --leak-bytes-per-round N  test only: leak N bytes per round (the verdict\n"
            "                        must then fail)\n"
            "  --only A,B            only these scenarios (to narrow down a failure): fib,\n"
            "                        fan-out, parallel_for, fail-fast, collect,\n"
            "                        deadline+shield, outside cancel, stream, jobs,\n"
            "                        job cancel callback, retry, detached\n");
}

static bool number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool integer(const char *s, unsigned long long hi, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || v > hi)
        return false;
    *out = v;
    return true;
}

int soak_options_parse(struct soak_options *o, int argc, char **argv)
{
    enum { MINUTES = 1, SECONDS, WORKERS, DRIVERS, SEED, REPORT, CSV, LEAK, ONLY, HELP };
    static const struct option longs[] = {
        {"minutes", required_argument, NULL, MINUTES},
        {"seconds", required_argument, NULL, SECONDS},
        {"workers", required_argument, NULL, WORKERS},
        {"drivers", required_argument, NULL, DRIVERS},
        {"seed", required_argument, NULL, SEED},
        {"report-every", required_argument, NULL, REPORT},
        {"csv", required_argument, NULL, CSV},
        {"leak-bytes-per-round", required_argument, NULL, LEAK},
        {"only", required_argument, NULL, ONLY},
        {"help", no_argument, NULL, HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct soak_options){.seconds = -1, .drivers = 2};
    int c;
    double d;
    unsigned long long u;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case MINUTES:
            ok = number(optarg, 0.001, 1e6, &d);
            o->seconds = d * 60;
            break;
        case SECONDS:
            ok = number(optarg, 0.1, 1e8, &o->seconds);
            break;
        case WORKERS:
            ok = integer(optarg, 1024, &u) && u > 0;
            o->workers = (unsigned)u;
            break;
        case DRIVERS:
            ok = integer(optarg, 64, &u) && u > 0;
            o->drivers = (unsigned)u;
            break;
        case SEED:
            ok = integer(optarg, UINT64_MAX, &u);
            o->seed = u;
            o->seed_given = true;
            break;
        case REPORT:
            ok = number(optarg, 0.1, 1e6, &o->report_every);
            break;
        case CSV:
            o->csv_path = optarg;
            break;
        case LEAK:
            ok = integer(optarg, 1ull << 30, &u);
            o->leak_bytes_per_round = (size_t)u;
            break;
        case ONLY:
            o->only = optarg;
            break;
        case HELP:
            usage(stdout);
            return 1;
        default:
            ok = false;
        }
        if (!ok) {
            if (c != '?')
                fprintf(stderr, "soak: bad value for --%s: %s\n", longs[c - 1].name, optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "soak: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (o->seconds < 0) {
        const char *env = getenv("SOAK_SECONDS");
        o->seconds = 600;
        if (env != NULL && env[0] != '\0' && !number(env, 0.1, 1e8, &o->seconds)) {
            fprintf(stderr, "soak: bad SOAK_SECONDS: %s\n", env);
            return 2;
        }
    }
    return 0;
}
