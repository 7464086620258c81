#!/bin/sh
# A short soak for CI: builds soak/soak and runs `make check-soak` for
# $1 seconds (default 120), from the top of a configured build tree (the
# current directory, or $SOAK_BUILDDIR). Exits non-zero when the soak fails.
set -eu
seconds=${1:-120}
cd "${SOAK_BUILDDIR:-.}"
make soak/soak
exec make check-soak SOAK_SECONDS="$seconds"
