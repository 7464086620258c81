#!/usr/bin/env bash
# CI: build fuzz/fuzz-api out of tree and fuzz for $FUZZ_SECONDS (default
# 120) from the seed corpus. Installs nothing (clang and libclang-rt-14-dev
# must be there: configure --enable-fuzz fails without them). Exits non-zero
# on any crash, invariant violation, leak or timeout, after printing the
# input in hex (fuzz/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
secs=${FUZZ_SECONDS:-120}
if [ -f "$top/config.status" ]; then
    # configured in place (a developer's tree): use that build
    cd "$top"
else
    # CI, after `make distclean`: a build of its own beside the sources
    [ -x "$top/configure" ] || autoreconf -fi
    mkdir -p "$top/build-fuzz"
    cd "$top/build-fuzz"
    "$top/configure" -q --enable-fuzz --enable-werror
fi
make -j2 fuzz
WEFT_FUZZ_REQUIRED=1 make check-fuzz FUZZ_SECONDS="$secs"
