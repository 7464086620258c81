/* Monotonic time in nanoseconds, and the library's version string. */
#include "config.h"

#include <time.h>

#include <weft/weft.h>

weft_time weft_now(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (weft_time)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

weft_time weft_after(int64_t ns)
{
    weft_time now = weft_now();
    if (ns > 0 && now > WEFT_NEVER - ns)
        return WEFT_NEVER;
    if (ns < 0 && now < INT64_MIN - ns)
        return INT64_MIN;
    return now + ns;
}

const char *weft_version(void)
{
    return PACKAGE_VERSION;
}
