/*
 * Settings: an explicit weft_config field wins, then the environment (read
 * once per runtime, clamped), then the default.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/internal.h"

enum { MAX_WORKERS = 1024, DEFAULT_BLOCKING = 64, MAX_BLOCKING = 4096 };
#define DEFAULT_BLOCKING_IDLE (10 * WEFT_SEC)
#define DEFAULT_SHUTDOWN_TIMEOUT (5 * WEFT_SEC)
#define MIN_STACK ((size_t)64 << 10)
#define MAX_STACK ((size_t)1 << 30)
#define DEFAULT_STACK ((size_t)8 << 20)

/* A positive integer with an optional k/m/g suffix (powers of 1024); 0 if malformed. */
static unsigned long long parse_size(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return 0;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end != '\0' || v > (~0ULL >> shift))
        return 0;
    return v << shift;
}

static unsigned long long clamp(unsigned long long v, unsigned long long lo, unsigned long long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The field if cfg is big enough to have it (older callers pass a smaller struct). */
#define CFG_HAS(cfg, field) \
    ((cfg) != NULL && (cfg)->size >= offsetof(weft_config, field) + sizeof((cfg)->field))

int weft__settings_resolve(const weft_config *cfg, struct weft__settings *out)
{
    if (cfg != NULL && cfg->size < offsetof(weft_config, stack_size))
        return EINVAL; /* not initialised with WEFT_CONFIG_INIT */

    unsigned long long workers = CFG_HAS(cfg, workers) ? cfg->workers : 0;
    if (workers == 0)
        workers = parse_size(getenv("WEFT_WORKERS"));
    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (unsigned long long)n : 1;
    }
    out->workers = (unsigned)clamp(workers, 1, MAX_WORKERS);

    unsigned long long stack = CFG_HAS(cfg, stack_size) ? cfg->stack_size : 0;
    if (stack == 0)
        stack = parse_size(getenv("WEFT_STACK_SIZE"));
    if (stack == 0)
        stack = DEFAULT_STACK;
    long page = sysconf(_SC_PAGESIZE);
    size_t pg = page > 0 ? (size_t)page : 4096;
    out->stack_size = ((size_t)clamp(stack, MIN_STACK, MAX_STACK) + pg - 1) / pg * pg;

    unsigned long long blocking = CFG_HAS(cfg, blocking_max) ? cfg->blocking_max : 0;
    if (blocking == 0)
        blocking = parse_size(getenv("WEFT_BLOCKING_MAX"));
    if (blocking == 0)
        blocking = DEFAULT_BLOCKING;
    out->blocking_max = (unsigned)clamp(blocking, 1, MAX_BLOCKING);

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

    const char *st = getenv("WEFT_STATS");
    out->print_stats = st != NULL && strcmp(st, "1") == 0;
    return 0;
}
