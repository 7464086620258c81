#!/bin/sh
# Smoke test of examples/quicksort (weft) against examples/quicksort-seq (its
# sequential twin): on the same input both must print the same result line,
# with sorted=yes; usage errors must exit 2 with a message, never crash.
# No timing decides pass or fail. Run by `make check` from the build
# directory (the programs are built there, also under `make distcheck`);
# QS_BINDIR overrides where they are.
set -u

bindir=${QS_BINDIR:-./examples}
par=$bindir/quicksort
seq=$bindir/quicksort-seq
tmp=${TMPDIR:-/tmp}/quicksort-test.$$
mkdir "$tmp" || exit 99
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# same ARGS... [-- WORKERS]: both programs on ARGS (the parallel one with
# WORKERS too, default 2); identical stdout, sorted=yes, exit 0.
same() {
    workers=2
    args=
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then
            workers=$2
            break
        fi
        args="$args $1"
        shift
    done
    # shellcheck disable=SC2086 # word splitting of args is wanted
    "$seq" $args >"$tmp/seq.out" 2>"$tmp/seq.err"
    s=$?
    # shellcheck disable=SC2086
    "$par" $args "$workers" >"$tmp/par.out" 2>"$tmp/par.err"
    p=$?
    what="[$args ] workers=$workers"
    if [ $s -ne 0 ] || [ $p -ne 0 ]; then
        fail "$what: exit status seq=$s par=$p"
        cat "$tmp/seq.err" "$tmp/par.err"
    elif ! cmp -s "$tmp/seq.out" "$tmp/par.out"; then
        fail "$what: outputs differ"
        cat "$tmp/seq.out" "$tmp/par.out"
    elif ! grep -q ' sorted=yes ' "$tmp/par.out"; then
        fail "$what: not sorted"
        cat "$tmp/par.out"
    else
        echo "ok   $what: $(cat "$tmp/par.out")"
    fi
}

# usage STATUS PROGRAM ARGS...: exits with STATUS and says something on stderr.
usage() {
    want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ $got -ne "$want" ]; then
        fail "$*: exit status $got, wanted $want"
        cat "$tmp/err"
    elif [ "$want" -ne 0 ] && [ ! -s "$tmp/err" ]; then
        fail "$*: no message on stderr"
    else
        echo "ok   $* -> $got: $(head -n 1 "$tmp/err")"
    fi
}

for prog in "$par" "$seq"; do
    if [ ! -x "$prog" ]; then
        echo "$prog not built" >&2
        exit 99
    fi
done

# A large random input, on 1 and 2 workers and the default.
same 1000000 42 -- 2
same 1000000 42 -- 1
same 1000000 42 -- 0
# Every pattern, at the edges (0, 1, 2, 3 keys), around the cutoff and above.
for pattern in random equal sorted reverse few; do
    for n in 0 1 2 3 4096 4097 100000; do
        same --pattern "$pattern" "$n" 7
    done
done

# A deadline that has passed before the sort starts: ETIMEDOUT, exit 3.
usage 3 "$par" --deadline-ms 0 1000000 1 2
grep -q ETIMEDOUT "$tmp/err" || fail "--deadline-ms 0: no ETIMEDOUT on stderr"
# A generous deadline changes nothing.
"$seq" 100000 3 >"$tmp/seq.out" 2>/dev/null
if "$par" --deadline-ms 600000 100000 3 2 >"$tmp/par.out" 2>/dev/null && cmp -s "$tmp/seq.out" "$tmp/par.out"; then
    echo "ok   --deadline-ms 600000: $(cat "$tmp/par.out")"
else
    fail "--deadline-ms 600000: status or output differs"
fi

# Usage errors: exit 2 with a message; --help exits 0.
for prog in "$par" "$seq"; do
    usage 2 "$prog" -5
    usage 2 "$prog" abc
    usage 2 "$prog" 10x
    usage 2 "$prog" 99999999999999999999999
    usage 2 "$prog" 10 -1
    usage 2 "$prog" --pattern
    usage 2 "$prog" --pattern bogus
    usage 2 "$prog" --bogus
    usage 0 "$prog" --help
done
usage 2 "$seq" 10 1 2
usage 2 "$seq" --deadline-ms 5 10
usage 2 "$par" 10 1 2 3
usage 2 "$par" 10 1 999999
usage 2 "$par" --deadline-ms
usage 2 "$par" --deadline-ms -1 10

if [ $failures -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
exit 0
