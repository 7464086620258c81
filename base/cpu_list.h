/*
 * CPU lists as Linux prints them ("0-3,8": ranges and single CPUs, comma
 * separated, a CPU may repeat) and where a runtime's worker threads run
 * (WEFT_AFFINITY): cpu_list.c.
 */
#ifndef WEFT_BASE_CPU_LIST_H
#define WEFT_BASE_CPU_LIST_H

#include <sched.h>
#include <stdbool.h>

/* Calls each(cpu, arg), when each is not NULL, for every CPU of text in
 * order (a range ascending): 0, or EINVAL when text is empty, malformed
 * (anything but digits, "a-b" with a <= b, and single commas between
 * items) or names a CPU >= CPU_SETSIZE. each is called only for a good
 * text, so a caller never sees part of a bad one. */
int weft__cpu_list_parse(const char *text, void (*each)(unsigned cpu, void *arg), void *arg);

/* How the workers are placed. */
enum weft__affinity_mode { WEFT__AFFINITY_NONE, WEFT__AFFINITY_COMPACT, WEFT__AFFINITY_LIST };

/* "none", "compact" (either in any case) or a CPU list: its mode, or -1
 * when text is none of these. A list is not parsed here. */
int weft__affinity_mode_of(const char *text);

/* Where workers run when they are pinned: made once at runtime create. */
struct weft__placement {
    enum weft__affinity_mode mode;
    unsigned workers;
    /* the creating thread's CPUs (sched_getaffinity) at create: where
     * threads started from a pinned worker run (blocking, timer) */
    cpu_set_t allowed;
    /* where workers not pinned to one CPU, and spare threads, run: the
     * allowed set (compact), or the list's CPUs within it */
    cpu_set_t spread;
    int cpu[]; /* per worker: its one CPU, or -1 (spread) */
};

/*
 * The placement of `workers` workers for mode (not NONE) and list (the
 * CPU list of LIST; ignored for COMPACT) within `allowed`: compact pins
 * worker i to the i-th CPU of allowed, ascending; a list pins worker i to
 * the i-th of its CPUs that lie in allowed (the others are dropped). The
 * workers past the allowed set's size or the kept list's length run over
 * `spread`. out may be NULL to check only. 0, or EINVAL for a bad list or
 * one whose CPUs all lie outside allowed (or an empty allowed set).
 */
int weft__placement_fill(enum weft__affinity_mode mode, const char *list, const cpu_set_t *allowed,
                         unsigned workers, struct weft__placement *out);
/* The size of a placement for `workers` workers. */
static inline size_t weft__placement_size(unsigned workers)
{
    return sizeof(struct weft__placement) + (size_t)workers * sizeof(int);
}

#endif
