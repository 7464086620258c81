#!/bin/sh
# <weft/weft.h> compiles cleanly as C++ (C++ callers include it too): the
# header itself and WEFT_CONFIG_INIT, with every warning -Wextra gives an
# error, C++11 to C++20, and as C11 with -pedantic. Syntax only. Run by
# `make check`; CXX defaults to g++, CC to cc.
set -eu
top=${srcdir:-$(dirname "$0")/..}
cxx=${CXX:-g++}
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! command -v "${cxx%% *}" >/dev/null 2>&1; then
    echo "header-cxx: no C++ compiler ($cxx)"
    exit 77
fi
cat >"$work/use.cpp" <<'SRC'
#include <weft/weft.h>

static int task(weft_task *self, void *arg)
{
    (void)arg;
    return weft_fail(self, 5, "failed at %d", 1);
}

int use(void);
int use(void)
{
    weft_config cfg = WEFT_CONFIG_INIT;
    cfg.workers = 2;
    weft_group_opts opts = { WEFT_COLLECT, WEFT_NEVER, "g" };
    (void)opts;
    weft_runtime *rt = weft_runtime_create(&cfg);
    if (rt == NULL)
        return 1;
    int rc = weft_run(rt, task, NULL, NULL);
    return weft_runtime_destroy(rt) != 0 || rc == 0;
}
SRC
fail=0
warn="-Wall -Wextra -Werror -Wmissing-field-initializers"
for std in c++11 c++17 c++20; do
    if ! $cxx -std=$std $warn -pedantic -fsyntax-only -I"$top/api" "$work/use.cpp"; then
        echo "header-cxx: weft.h does not compile cleanly as -std=$std"
        fail=1
    fi
done
cp "$work/use.cpp" "$work/use.c"
if ! $cc -std=c11 $warn -pedantic -fsyntax-only -I"$top/api" "$work/use.c"; then
    echo "header-cxx: weft.h does not compile cleanly as -std=c11"
    fail=1
fi
[ $fail -eq 0 ] && echo "header-cxx: weft.h compiles cleanly as C++11/17/20 and C11"
exit $fail
