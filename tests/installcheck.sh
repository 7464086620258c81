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
echo "installcheck: prefix $prefix OK (shared and static)"
