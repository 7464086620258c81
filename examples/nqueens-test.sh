#!/bin/sh
# Smoke test of examples/nqueens (weft) against examples/nqueens-seq (its
# sequential twin): the same result line, with known=yes, for N = 1 to 11 on
# 1 and 2 workers; usage errors exit 2 with a message. No timing decides
# pass or fail. Run by `make check` from the build directory; QS_BINDIR
# overrides where the programs are.
set -u

bindir=${QS_BINDIR:-./examples}
par=$bindir/nqueens
seq=$bindir/nqueens-seq
for prog in "$par" "$seq"; do
    if [ ! -x "$prog" ]; then
        echo "$prog not built" >&2
        exit 99
    fi
done

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

for n in 1 2 3 4 5 6 7 8 9 10 11; do
    want=$("$seq" "$n" 2>/dev/null) || fail "nqueens-seq $n: exit status $?"
    for workers in 1 2; do
        got=$("$par" "$n" "$workers" 2>/dev/null) || fail "nqueens $n $workers: exit status $?"
        if [ "$got" != "$want" ]; then
            fail "nqueens $n $workers: \"$got\", nqueens-seq: \"$want\""
        fi
    done
    case $want in
    *" known=yes") echo "ok   $want" ;;
    *) fail "nqueens-seq $n: \"$want\"" ;;
    esac
done

# usage STATUS PROGRAM ARGS...
usage() {
    want=$1
    shift
    msg=$("$@" 2>&1 >/dev/null)
    got=$?
    if [ $got -ne "$want" ]; then
        fail "$*: exit status $got, wanted $want"
    elif [ "$want" -ne 0 ] && [ -z "$msg" ]; then
        fail "$*: no message on stderr"
    else
        echo "ok   $* -> $got"
    fi
}
for prog in "$par" "$seq"; do
    usage 2 "$prog" 0
    usage 2 "$prog" 21
    usage 2 "$prog" -3
    usage 2 "$prog" x
    usage 0 "$prog" --help
done
usage 2 "$seq" 8 2
usage 2 "$par" 8 2 1
usage 2 "$par" 8 300

if [ $failures -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
