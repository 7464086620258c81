/*
 * The record a join hands out when its group ended cancelled with no
 * failure of its own (scope/cancel_cause.c): the one rule the tests, the
 * random trees' oracle, the fuzzer and the soak share for telling it from a
 * task's failure. Public API only.
 */
#ifndef WEFT_TESTS_CANCEL_RECORD_H
#define WEFT_TESTS_CANCEL_RECORD_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <weft/weft.h>

/* e says why its group was cancelled: a deadline, weft_group_cancel, a
 * fail-fast, or an enclosing scope's cancel; its message opens so. */
static inline bool weft_test_is_cancel_record(const weft_error *e)
{
    int code = weft_error_code(e);
    return (code == ECANCELED || code == ETIMEDOUT) &&
           strncmp(weft_error_message(e), "cancelled: ", 11) == 0;
}

/* A join's list is that record alone, with the join's code. */
static inline bool weft_test_only_cancel_record(const weft_errors *errs, int rc)
{
    return errs != NULL && weft_errors_count(errs) == 1 && weft_errors_lost(errs) == 0 &&
           weft_error_code(weft_errors_at(errs, 0)) == rc &&
           weft_test_is_cancel_record(weft_errors_at(errs, 0));
}

#endif
