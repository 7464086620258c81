#!/bin/sh
# Builds and runs an outside program against an installed weft, found only
# through pkg-config: the way users consume the library.
#   installcheck.sh PREFIX LIBDIR CC
set -eu
prefix=$1 libdir=$2 cc=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/app.c" <<'APP'
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>
int main(void)
{
    weft_time a = weft_now(), b = weft_after(WEFT_MSEC);
    if (b < a + WEFT_MSEC || strlen(weft_version()) == 0)
        return 1;
    printf("outside program linked weft %s\n", weft_version());
    return 0;
}
APP
PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs weft)
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror "$work/app.c" -o "$work/app" $flags
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/app"
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
echo "installcheck: prefix $prefix OK (shared and static)"
