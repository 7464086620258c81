/*
 * weft: a work-stealing task runtime for C.
 *
 * This is the one public header. It is hermetic: it includes only standard
 * headers, never config.h or concurrencykit. The contract of every name here
 * is in API.md; each declaration carries a one-line summary of it.
 *
 * Conventions: functions that can fail return int, 0 on success or a positive
 * errno value. Nothing aborts on bad input: it returns EINVAL.
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ---------------------------------------------------------- */

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH"; never NULL. */
WEFT_API const char *weft_version(void);

/* ---- Time ------------------------------------------------------------- */

/* Nanoseconds on CLOCK_MONOTONIC, absolute. */
typedef int64_t weft_time;
#define WEFT_NEVER INT64_MAX /* no deadline */
#define WEFT_USEC 1000LL
#define WEFT_MSEC 1000000LL
#define WEFT_SEC 1000000000LL

/* The current time on CLOCK_MONOTONIC, in ns. */
WEFT_API weft_time weft_now(void);
/* weft_now() + ns, saturating at WEFT_NEVER (and at INT64_MIN for large negative ns). */
WEFT_API weft_time weft_after(int64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_WEFT_H */
