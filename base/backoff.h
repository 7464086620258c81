/*
 * Spin-wait with exponential back-off (concurrencykit's ck_backoff), for a
 * thread that looks for work before it parks. Only delays: no shared state.
 */
#ifndef WEFT_RUNTIME_BACKOFF_H
#define WEFT_RUNTIME_BACKOFF_H

#include <stdbool.h>

#include <ck_backoff.h>

typedef struct weft__backoff {
    unsigned int delay; /* iterations of the next wait */
} weft__backoff;

/* About 60 us of spinning in all on the development machine before parking. */
#define WEFT__BACKOFF_FIRST 64u
#define WEFT__BACKOFF_LAST (1u << 14)

static inline void weft__backoff_init(weft__backoff *b)
{
    b->delay = WEFT__BACKOFF_FIRST;
}

/* Wait once, longer each time; false when the spinning budget is spent. */
static inline bool weft__backoff_wait(weft__backoff *b)
{
    if (b->delay > WEFT__BACKOFF_LAST)
        return false;
    ck_backoff_eb(&b->delay);
    return true;
}

#endif
