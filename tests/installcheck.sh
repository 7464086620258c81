#!/bin/sh
# Builds and runs an outside program against an installed weft, found only
# through pkg-config: the way users consume the library.
#   installcheck.sh PREFIX LIBDIR CC
set -eu
prefix=$1 libdir=$2 cc=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/app.c" <<'APP'
/* A fork-join sum with a failure in its error tree, a retried call and a
 * blocking job: the runtime's main paths, linked as users link them. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

struct sum { long lo, hi, total; };

static int sum(weft_task *self, void *arg)
{
    struct sum *s = arg;
    if (s->hi - s->lo <= 1000) {
        for (long i = s->lo; i < s->hi; i++)
            s->total += i;
        return 0;
    }
    long mid = s->lo + (s->hi - s->lo) / 2;
    struct sum a = { s->lo, mid, 0 }, b = { mid, s->hi, 0 };
    weft_group g;
    weft_group_init(&g, self, NULL);
    weft_spawn(&g, sum, &a);
    sum(self, &b);
    int rc = weft_group_join(&g, NULL);
    s->total = a.total + b.total;
    return rc;
}

static int flaky(weft_task *self, void *arg)
{
    return ++*(int *)arg < 3 ? weft_fail(self, EAGAIN, "try %d", *(int *)arg) : 0;
}

static int blocking(weft_task *self, void *arg)
{
    (void)self;
    *(int *)arg = 42;
    return 0;
}

static int fails(weft_task *self, void *arg)
{
    (void)arg;
    return weft_fail(self, EIO, "outside failure");
}

static int root(weft_task *self, void *arg)
{
    long *out = arg;
    struct sum s = { 0, 1000000, 0 };
    if (sum(self, &s) != 0 || s.total != 499999500000L)
        return EPROTO;
    int tries = 0;
    weft_retry r = { .base_delay = WEFT_MSEC };
    if (weft_retry_run(self, &r, flaky, &tries) != 0 || tries != 3)
        return EPROTO;
    int answer = 0;
    weft_job *job;
    if (weft_spawn_blocking(self, blocking, &answer, NULL, &job) != 0)
        return EPROTO;
    int rc = weft_job_wait(job, weft_after(10 * WEFT_SEC));
    weft_job_release(job);
    if (rc != 0 || answer != 42)
        return EPROTO;
    *out = s.total;
    weft_group g;
    weft_group_init(&g, self, &(weft_group_opts){ .flags = WEFT_COLLECT });
    weft_spawn_ex(&g, fails, NULL, &(weft_spawn_opts){ .name = "outside" });
    weft_errors *errs = NULL;
    rc = weft_group_join(&g, &errs);
    return weft_fail_from(self, errs, rc, "joined");
}

int main(void)
{
    weft_runtime *rt = weft_runtime_create(NULL);
    if (rt == NULL)
        return 1;
    long total = 0;
    weft_errors *errs = NULL;
    int rc = weft_run(rt, root, &total, &errs);
    const weft_errors *cause = weft_error_cause(weft_errors_at(errs, 0));
    int ok = rc == EIO && total == 499999500000L && weft_errors_count(cause) == 1 &&
             strcmp(weft_error_message(weft_errors_at(cause, 0)), "outside failure") == 0;
    weft_errors_free(errs);
    if (weft_runtime_destroy(rt) != 0 || !ok) {
        fprintf(stderr, "outside program: rc %d total %ld\n", rc, total);
        return 1;
    }
    printf("outside program linked weft %s: fork-join, retry, blocking job, error tree OK\n",
           weft_version());
    return 0;
}
APP
PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs weft)
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror "$work/app.c" -o "$work/app" $flags
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/app"
# the same with the inline fast path, from the installed <weft/inline.h>
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror -DWEFT_INLINE "$work/app.c" -o "$work/app-inline" $flags
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/app-inline"
# shellcheck disable=SC2086
$cc -std=c11 "$work/app.c" -o "$work/app-static" -Wl,-Bstatic $(pkg-config --cflags weft) -L"$libdir" -lweft -Wl,-Bdynamic $(pkg-config --static --libs-only-other --libs-only-l weft | sed 's/-lweft//')
"$work/app-static"

# The man pages: weft(7), and a section-3 page (or '.so' link page) for every
# function and type of the installed header, whose link resolves.
mandir=$prefix/share/man
test -f "$mandir/man7/weft.7" || { echo "installcheck: no $mandir/man7/weft.7" >&2; exit 1; }
names=$(
    {
        grep 'WEFT_API' "$prefix/include/weft/weft.h" | grep -oE 'weft_[a-z0-9_]+ *\(' | tr -d ' ('
        grep -E '^ *typedef|^\} *weft_' "$prefix/include/weft/weft.h" |
            grep -oE '\(\*weft_[a-z0-9_]+\)|weft_[a-z0-9_]+;' | tr -d '(*);'
    } | sort -u
)
pages=0
for name in $names; do
    page=$mandir/man3/$name.3
    if [ ! -f "$page" ]; then
        echo "installcheck: $name has no page $page" >&2
        exit 1
    fi
    target=$(sed -n '1s/^\.so //p' "$page")
    if [ -n "$target" ] && [ ! -f "$mandir/$target" ]; then
        echo "installcheck: $page links to $target, not installed" >&2
        exit 1
    fi
    pages=$((pages + 1))
done
# (a man(1) that cannot find weft(7) at all is a stub, as minimised images have)
if command -v man >/dev/null 2>&1 && man -M "$mandir" -w 7 weft >/dev/null 2>&1; then
    for name in weft_spawn_blocking weft_job_done weft_config; do
        found=$(man -M "$mandir" -w "$name")
        case $found in
        "$mandir"/man3/*) ;;
        *) echo "installcheck: man -M $mandir -w $name found '$found'" >&2; exit 1 ;;
        esac
    done
    how="files and man -w"
else
    how="files; no working man(1) here"
fi
echo "installcheck: $pages names of weft.h have a man page under $mandir ($how)"
echo "installcheck: prefix $prefix OK (shared, shared with WEFT_INLINE, and static)"
