/*
 * Settings: an explicit weft_config field wins, then the environment (read
 * once per runtime), then the default.
 *
 * Every setting has one valid range, the same for the field and the
 * variable. A field outside it is the caller's mistake: create fails with
 * EINVAL. A variable outside it, or malformed, comes from whoever started
 * the program: it is ignored with one line on stderr naming it, and the
 * default applies. An empty variable counts as unset.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime.h"

enum { MAX_WORKERS = 1024, DEFAULT_BLOCKING = 64, MAX_BLOCKING = 4096 };
#define DEFAULT_BLOCKING_IDLE (10 * WEFT_SEC)
#define DEFAULT_SHUTDOWN_TIMEOUT (5 * WEFT_SEC)
#define MAX_STACK ((size_t)1 << 30)
#define DEFAULT_STACK ((size_t)8 << 20)

/* One line on stderr: the value (cut short, control bytes shown as '?')
 * and why it is refused. */
static void ignoring(const char *name, const char *value, const char *why)
{
    char shown[64];
    size_t n = 0;
    for (; value[n] != '\0' && n < sizeof shown - 4; n++)
        shown[n] = iscntrl((unsigned char)value[n]) ? '?' : value[n];
    if (value[n] != '\0')
        memcpy(shown + n, "...", 3), n += 3;
    shown[n] = '\0';
    fprintf(stderr, "weft: ignoring %s=\"%s\": %s\n", name, shown, why);
}

/* A size as the variables take it: "64k", "1g", else bytes. */
static void size_text(char *buf, size_t size, unsigned long long v)
{
    static const char unit[] = "gmk";
    for (int i = 0; i < 3; i++) {
        unsigned shift = 30u - 10u * (unsigned)i;
        if (v != 0 && (v & ((1ULL << shift) - 1)) == 0) {
            snprintf(buf, size, "%llu%c", v >> shift, unit[i]);
            return;
        }
    }
    snprintf(buf, size, "%llu", v);
}

/*
 * $name as a whole number in [lo, hi], with a k/m/g suffix (powers of 1024)
 * when `sized`: the number, or 0 when unset or empty, or refused (then
 * said on stderr). Only digits and the suffix: strtoull alone would take
 * "-3" as 2^64 - 3, and " 3" or "+3" as 3.
 */
static unsigned long long env_number(const char *name, unsigned long long lo,
                                     unsigned long long hi, bool sized)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return 0;
    const char *end = s;
    unsigned long long v = 0;
    bool overflow = false;
    for (; isdigit((unsigned char)*end); end++) {
        unsigned d = (unsigned)(*end - '0');
        if (v > (~0ULL - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    unsigned shift = 0;
    if (sized && end != s) {
        switch (*end) {
        case 'k': case 'K': shift = 10; end++; break;
        case 'm': case 'M': shift = 20; end++; break;
        case 'g': case 'G': shift = 30; end++; break;
        default: break;
        }
    }
    char why[96];
    if (end == s || *end != '\0') {
        ignoring(name, s, sized ? "not a size (a whole number of bytes, or with k, m or g)"
                                : "not a whole number");
        return 0;
    }
    if (overflow || v > (~0ULL >> shift) || (v << shift) < lo || (v << shift) > hi) {
        char l[24], h[24];
        if (sized) {
            size_text(l, sizeof l, lo);
            size_text(h, sizeof h, hi);
        } else {
            snprintf(l, sizeof l, "%llu", lo);
            snprintf(h, sizeof h, "%llu", hi);
        }
        snprintf(why, sizeof why, "out of range %s..%s", l, h);
        ignoring(name, s, why);
        return 0;
    }
    return v << shift;
}

/* The smallest stack taken: 64 KiB, or the system's minimum for a thread
 * where that is more (128 KiB on 64 KiB-page arm64), which pthread_create
 * would refuse later. */
static size_t min_stack(void)
{
    long sys = sysconf(_SC_THREAD_STACK_MIN);
    size_t least = (size_t)64 << 10;
    return sys > 0 && (size_t)sys > least ? (size_t)sys : least;
}

/* The CPUs this process may run on (taskset, a cgroup's cpuset, mpirun
 * --bind-to), else the online ones: a worker per CPU it can have. */
static long usable_cpus(void)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0)
        return CPU_COUNT(&allowed);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* The field if cfg is big enough to have it (older callers pass a smaller struct). */
#define CFG_HAS(cfg, field) \
    ((cfg) != NULL && (cfg)->size >= offsetof(weft_config, field) + sizeof((cfg)->field))

int weft__settings_resolve(const weft_config *cfg, struct weft__settings *out)
{
    if (cfg != NULL && cfg->size < offsetof(weft_config, stack_size))
        return EINVAL; /* not initialised with WEFT_CONFIG_INIT */

    /* each field: 0 takes the default, a value out of range is a mistake */
    unsigned long long workers = CFG_HAS(cfg, workers) ? cfg->workers : 0;
    unsigned long long stack = CFG_HAS(cfg, stack_size) ? cfg->stack_size : 0;
    unsigned long long blocking = CFG_HAS(cfg, blocking_max) ? cfg->blocking_max : 0;
    size_t stack_min = min_stack();
    if (workers > MAX_WORKERS || (stack != 0 && (stack < stack_min || stack > MAX_STACK)) ||
        blocking > MAX_BLOCKING)
        return EINVAL;

    if (workers == 0)
        workers = env_number("WEFT_WORKERS", 1, MAX_WORKERS, false);
    if (workers == 0) {
        long n = usable_cpus();
        workers = n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (unsigned long long)n;
    }
    out->workers = (unsigned)workers;

    if (stack == 0)
        stack = env_number("WEFT_STACK_SIZE", stack_min, MAX_STACK, true);
    if (stack == 0)
        stack = DEFAULT_STACK;
    long page = sysconf(_SC_PAGESIZE);
    size_t pg = page > 0 ? (size_t)page : 4096;
    out->stack_size = ((size_t)stack + pg - 1) / pg * pg;

    if (blocking == 0)
        blocking = env_number("WEFT_BLOCKING_MAX", 1, MAX_BLOCKING, false);
    out->blocking_max = blocking != 0 ? (unsigned)blocking : DEFAULT_BLOCKING;

    /* times: 0 takes the default, a negative one is a mistake */
    weft_time idle = CFG_HAS(cfg, blocking_idle) ? cfg->blocking_idle : 0;
    weft_time grace = CFG_HAS(cfg, shutdown_timeout) ? cfg->shutdown_timeout : 0;
    if (idle < 0 || grace < 0)
        return EINVAL;
    out->blocking_idle = idle != 0 ? idle : DEFAULT_BLOCKING_IDLE;
    out->shutdown_timeout = grace != 0 ? grace : DEFAULT_SHUTDOWN_TIMEOUT;

    /* used at once (runtime create): neither string needs to outlive it */
    const char *trace = CFG_HAS(cfg, trace_path) ? cfg->trace_path : NULL;
    if (trace == NULL) /* unset: the environment's; "": none, whatever it says */
        trace = getenv("WEFT_TRACE");
    out->trace_path = trace != NULL && *trace != '\0' ? trace : NULL;

    /* used at once too: where the workers run, within the caller's CPUs */
    const char *aff = CFG_HAS(cfg, affinity) ? cfg->affinity : NULL;
    bool from_env = aff == NULL;
    if (from_env) {
        aff = getenv("WEFT_AFFINITY");
        if (aff != NULL && *aff == '\0')
            aff = NULL;
    }
    out->affinity = WEFT__AFFINITY_NONE;
    out->affinity_list = NULL;
    CPU_ZERO(&out->allowed);
    int mode = aff != NULL ? weft__affinity_mode_of(aff) : WEFT__AFFINITY_NONE;
    if (mode > WEFT__AFFINITY_NONE) {
        if (sched_getaffinity(0, sizeof out->allowed, &out->allowed) != 0)
            return errno;
        if (weft__placement_fill((enum weft__affinity_mode)mode, aff, &out->allowed, 0, NULL) != 0)
            mode = -1;
    }
    if (mode < 0) {
        if (!from_env)
            return EINVAL;
        ignoring("WEFT_AFFINITY", aff,
                 weft__affinity_mode_of(aff) < 0 || weft__cpu_list_parse(aff, NULL, NULL) != 0
                     ? "not none, compact or a CPU list like 0-3,8"
                     : "no CPU of the list is in the process's allowed set");
        mode = WEFT__AFFINITY_NONE;
    }
    out->affinity = (enum weft__affinity_mode)mode;
    out->affinity_list = mode == WEFT__AFFINITY_LIST ? aff : NULL;

    const char *st = getenv("WEFT_STATS");
    out->print_stats = st != NULL && strcmp(st, "1") == 0;
    if (st != NULL && *st != '\0' && strcmp(st, "0") != 0 && !out->print_stats)
        ignoring("WEFT_STATS", st, "not 0 or 1");
    return 0;
}
