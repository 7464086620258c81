/*
 * Tests: what a stretch of a test writes to stderr, caught in a temporary
 * file (config warnings, WEFT_STATS lines). Assert-on-failure helpers for
 * the test's own thread.
 */
#ifndef WEFT_TESTS_CAUGHT_STDERR_H
#define WEFT_TESTS_CAUGHT_STDERR_H

#include <check.h>
#include <stdio.h>
#include <unistd.h>

struct caught {
    FILE *file;
    int saved_fd;
    char text[2048];
};

static inline void catch_begin(struct caught *c)
{
    fflush(stderr);
    c->file = tmpfile();
    ck_assert_ptr_nonnull(c->file);
    c->saved_fd = dup(STDERR_FILENO);
    ck_assert_int_ge(c->saved_fd, 0);
    ck_assert_int_ge(dup2(fileno(c->file), STDERR_FILENO), 0);
}

/* What was written since catch_begin (at most sizeof text - 1 bytes). */
static inline const char *catch_end(struct caught *c)
{
    fflush(stderr);
    ck_assert_int_ge(dup2(c->saved_fd, STDERR_FILENO), 0);
    close(c->saved_fd);
    rewind(c->file);
    size_t n = fread(c->text, 1, sizeof c->text - 1, c->file);
    c->text[n] = '\0';
    fclose(c->file);
    return c->text;
}

#endif
