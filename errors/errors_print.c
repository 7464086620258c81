/*
 * weft_errors_print: an error tree as indented text a person reads at a
 * glance, one failure per line, causes indented below their task:
 *
 *   2 errors:
 *     load: EIO: cannot read a.txt
 *     build: EPROTO: 2 steps failed
 *       caused by 2 errors:
 *         step1: ETIMEDOUT: Connection timed out
 *         (unnamed): ENOENT: No such file or directory
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errors/errors.h"

#ifndef HAVE_STRERRORNAME_NP
/* The codes a task runtime's users meet most; others print as numbers. */
static const struct {
    int code;
    const char *name;
} names[] = {
    {EPERM, "EPERM"},         {ENOENT, "ENOENT"},       {EINTR, "EINTR"},
    {EIO, "EIO"},             {EBADF, "EBADF"},         {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},       {EACCES, "EACCES"},       {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},       {EINVAL, "EINVAL"},       {ENOSPC, "ENOSPC"},
    {EPIPE, "EPIPE"},         {ERANGE, "ERANGE"},       {EDOM, "EDOM"},
    {ENOSYS, "ENOSYS"},       {EPROTO, "EPROTO"},       {ECONNREFUSED, "ECONNREFUSED"},
    {ECONNRESET, "ECONNRESET"}, {ESHUTDOWN, "ESHUTDOWN"}, {ETIMEDOUT, "ETIMEDOUT"},
    {ECANCELED, "ECANCELED"}, {EOVERFLOW, "EOVERFLOW"}, {ENOTSUP, "ENOTSUP"},
};
#endif

const char *weft__errno_name(int code)
{
#ifdef HAVE_STRERRORNAME_NP
    return code > 0 ? strerrorname_np(code) : NULL;
#else
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == code)
            return names[i].name;
    return NULL;
#endif
}

const char *weft__errno_label(int code, char buf[static 16])
{
    const char *name = weft__errno_name(code);
    if (name != NULL)
        return name;
    snprintf(buf, 16, "error %d", code);
    return buf;
}

static void print_list(const weft_errors *l, FILE *out, int indent, const char *lead);

static void print_one(const weft_error *e, FILE *out, int indent)
{
    const char *task = weft_error_task(e);
    char num[16];
    fprintf(out, "%*s%s: %s: %s\n", indent, "", task[0] != '\0' ? task : "(unnamed)",
            weft__errno_label(weft_error_code(e), num), weft_error_message(e));
    if (weft_error_cause(e) != NULL)
        print_list(weft_error_cause(e), out, indent + 2, "caused by ");
}

static void print_list(const weft_errors *l, FILE *out, int indent, const char *lead)
{
    size_t n = weft_errors_count(l);
    fprintf(out, "%*s%s%zu error%s:\n", indent, "", lead, n, n == 1 ? "" : "s");
    for (const struct weft_error *e = l->first; e != NULL; e = e->next)
        print_one(e, out, indent + 2);
    if (l->lost != 0)
        fprintf(out, "%*s(%zu more not recorded: out of memory)\n", indent + 2, "", l->lost);
}

void weft_errors_print(const weft_errors *l, FILE *out)
{
    if (out == NULL)
        return;
    if (l == NULL) {
        fprintf(out, "no errors\n");
        return;
    }
    print_list(l, out, 0, "");
}
