#!/bin/sh
# Smoke test of examples/batch-mpi (run by `make check` when configure found
# MPI; skipped, exit 77, otherwise): `mpirun -np 2` on this machine must print
# the very summary examples/batch prints, for a clean run and for a --collect
# run with files failing for good (whose failures, from both ranks, rank 0
# prints); with each rank bound to a core, --affinity compact pins within the
# rank's binding; bad usage and a bad DIR end every rank with exit status 2.
set -u
srcdir=${srcdir:-$(dirname "$0")/..}
batch=${BATCH:-./examples/batch}
batch_mpi=${BATCH_MPI:-./examples/batch-mpi}
mpirun=${MPIRUN:-}
data=$srcdir/examples/data
LC_ALL=C
export LC_ALL

if [ -z "$mpirun" ] || [ ! -x "$batch_mpi" ]; then
    echo "SKIP: no MPI (configure did not find ompi-c / mpi-c and mpirun)"
    exit 77
fi
# Open MPI refuses root unless told (CI containers run as root); two ranks may
# be more than the slots it detects on a small machine. A hang fails, late.
OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe
# Under ASan, leak checking is off for these runs: Open MPI leaves its own
# allocations (in MCA components it dlopen()ed and unloaded) at exit, which
# LeakSanitizer reports with no usable stack. batch-test.sh leak-checks the
# shared core; everything else ASan and UBSan catch still fails the runs.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS
# Under TSan, Open MPI's own lock-order inversion is suppressed (the file says
# which); every report about weft or the example still fails the runs.
TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$(cd "$srcdir" && pwd)/examples/batch-mpi.tsan-supp
export TSAN_OPTIONS
timeout=
command -v timeout >/dev/null 2>&1 && timeout="timeout 300"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/batch-mpi-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# mpi NAME EXPECTED_STATUS ARGS...
mpi() {
    name=$1 want=$2
    shift 2
    $timeout "$mpirun" -np 2 "$batch_mpi" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    got=$?
    echo "== $name: $mpirun -np 2 batch-mpi $* -> exit $got"
    if [ "$got" != "$want" ]; then
        fail "$name: exit status $got, wanted $want"
        sed 's/^/  err: /' "$tmp/$name.err" | head -30
    fi
}

# same NAME: batch-mpi's summary equals batch's for the same arguments
same() {
    if ! cmp -s "$tmp/$1.out" "$tmp/$1.single"; then
        fail "$1: batch-mpi's summary differs from batch's"
        diff "$tmp/$1.single" "$tmp/$1.out"
    fi
}

"$batch" "$data" >"$tmp/clean.single" 2>/dev/null
mpi clean 0 "$data"
cat "$tmp/clean.out"
same clean

# every .txt file fails for good: they are on both ranks
"$batch" --collect --fail-matching .txt "$data" >"$tmp/collect.single" 2>/dev/null
mpi collect 1 --collect --fail-matching .txt "$data"
same collect
(cd "$data" && find . -type f -name '*.txt' | sed 's|^\./||') >"$tmp/txt.list"
while IFS= read -r f; do
    grep -F -q "$f: EACCES:" "$tmp/collect.err" || fail "collect: $f not in the error trees"
done <"$tmp/txt.list"
{ grep -q '^rank 0: ' "$tmp/collect.err" && grep -q '^rank 1: ' "$tmp/collect.err"; } ||
    fail "collect: not every rank's failures printed"

mpi transient 0 --inject-transient 2 "$data"
cp "$tmp/clean.single" "$tmp/transient.single"
same transient

# The rank's binding passes through: with each rank bound to a core of its
# own (Open MPI's --bind-to core), --affinity compact pins each rank's first
# worker to that core and runs the second, past the binding, over it
# ("any"), so the two ranks name two different CPUs. Not pinned outside
# the binding, both would name the first CPU of the machine.
if [ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ]; then
    WEFT_STATS=1 $timeout "$mpirun" -np 2 --bind-to core "$batch_mpi" --affinity compact --workers 2 \
        "$data" >"$tmp/bound.out" 2>"$tmp/bound.err"
    got=$?
    echo "== bound: $mpirun -np 2 --bind-to core batch-mpi --affinity compact --workers 2 -> exit $got"
    [ "$got" = 0 ] || { fail "bound: exit status $got"; sed 's/^/  err: /' "$tmp/bound.err" | head -30; }
    cp "$tmp/clean.single" "$tmp/bound.single"
    same bound
    sed -n 's/^weft stats: affinity compact, workers on cpus \([0-9][0-9]*\) any$/\1/p' "$tmp/bound.err" |
        sort -u >"$tmp/bound.cpus"
    grep '^weft stats: affinity' "$tmp/bound.err"
    [ "$(wc -l <"$tmp/bound.cpus")" -eq 2 ] || fail "bound: the ranks' workers are not on one core each"
else
    echo "== bound: skipped, one CPU"
fi

mpi missing 2 "$tmp/no-such-dir"
grep -q "No such file or directory" "$tmp/missing.err" || fail "missing: no message"
mpi badflag 2 --frobnicate "$data"
[ "$(grep -c "unknown option" "$tmp/badflag.err")" -eq 1 ] || fail "badflag: not one message (rank 0's)"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all batch-mpi checks passed"
exit 0
