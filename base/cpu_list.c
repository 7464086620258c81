/*
 * CPU lists ("0-3,8") and the placement of workers on CPUs, after OpenMP's
 * OMP_PLACES lists and its "close" binding: one worker per CPU in order,
 * never two on one CPU unless the list names it twice. The set a process
 * may run on (cgroups, taskset, mpirun --bind-to) bounds every choice.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <strings.h>

#include "base/cpu_list.h"

/* A decimal CPU number at *p, advanced past it; false when none or too big. */
static bool number(const char **p, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (unsigned)(*s - '0');
        if (v >= CPU_SETSIZE)
            return false;
    }
    *p = s;
    *out = v;
    return true;
}

static int scan(const char *text, void (*each)(unsigned cpu, void *arg), void *arg)
{
    const char *p = text;
    for (;;) {
        unsigned lo, hi;
        if (!number(&p, &lo))
            return EINVAL;
        hi = lo;
        if (*p == '-') {
            p++;
            if (!number(&p, &hi) || hi < lo)
                return EINVAL;
        }
        if (each != NULL)
            for (unsigned c = lo; c <= hi; c++)
                each(c, arg);
        if (*p == '\0')
            return 0;
        if (*p++ != ',')
            return EINVAL;
    }
}

int weft__cpu_list_parse(const char *text, void (*each)(unsigned cpu, void *arg), void *arg)
{
    if (text == NULL)
        return EINVAL;
    int rc = scan(text, NULL, NULL);
    if (rc == 0 && each != NULL)
        scan(text, each, arg);
    return rc;
}

int weft__affinity_mode_of(const char *text)
{
    if (text == NULL)
        return -1;
    if (strcasecmp(text, "none") == 0)
        return WEFT__AFFINITY_NONE;
    if (strcasecmp(text, "compact") == 0)
        return WEFT__AFFINITY_COMPACT;
    if (*text >= '0' && *text <= '9')
        return WEFT__AFFINITY_LIST;
    return -1;
}

/* A list's CPUs within allowed, in order: the first `workers` given to
 * workers, all of them gathered into `spread`. */
struct keep {
    const cpu_set_t *allowed;
    struct weft__placement *out; /* NULL: count only */
    unsigned kept;
    cpu_set_t spread;
};

static void keep_cpu(unsigned cpu, void *arg)
{
    struct keep *k = arg;
    if (!CPU_ISSET(cpu, k->allowed))
        return; /* outside the process's set: dropped */
    CPU_SET(cpu, &k->spread);
    if (k->out != NULL && k->kept < k->out->workers)
        k->out->cpu[k->kept] = (int)cpu;
    k->kept++;
}

int weft__placement_fill(enum weft__affinity_mode mode, const char *list, const cpu_set_t *allowed,
                         unsigned workers, struct weft__placement *out)
{
    if (out != NULL) {
        out->mode = mode;
        out->workers = workers;
        out->allowed = *allowed;
        for (unsigned i = 0; i < workers; i++)
            out->cpu[i] = -1;
    }
    if (mode == WEFT__AFFINITY_COMPACT) {
        if (CPU_COUNT(allowed) == 0)
            return EINVAL;
        if (out == NULL)
            return 0;
        out->spread = *allowed;
        unsigned i = 0;
        for (unsigned cpu = 0; cpu < CPU_SETSIZE && i < workers; cpu++)
            if (CPU_ISSET(cpu, allowed))
                out->cpu[i++] = (int)cpu;
        return 0;
    }
    if (mode != WEFT__AFFINITY_LIST)
        return EINVAL;
    struct keep k = {.allowed = allowed, .out = out, .kept = 0};
    CPU_ZERO(&k.spread);
    int rc = weft__cpu_list_parse(list, keep_cpu, &k);
    if (rc != 0)
        return rc;
    if (k.kept == 0)
        return EINVAL; /* every CPU named lies outside the allowed set */
    if (out != NULL)
        out->spread = k.spread;
    return 0;
}
