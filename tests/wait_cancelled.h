/* Shared by the suites whose tasks only a cancel ends. */
#ifndef WEFT_TESTS_WAIT_CANCELLED_H
#define WEFT_TESTS_WAIT_CANCELLED_H

#include <sched.h>

#include <weft/weft.h>

/* Spin (yielding) until self is cancelled or `budget` passed: the reason
 * seen, or 0 when the budget ran out first. */
static inline int test_wait_cancelled(weft_task *self, weft_time budget)
{
    weft_time end = weft_after(budget);
    while (!weft_cancelled(self) && weft_now() < end)
        sched_yield();
    return weft_cancel_reason(self);
}

#endif
