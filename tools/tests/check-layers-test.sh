#!/bin/sh
# tools/check-layers on two fixture trees compiled here, out of tree (as a
# VPATH build is): `clean` must pass with its one summary line, and `dirty`
# must report exactly the violations planted in it (expected-dirty.txt: an
# upward include, an upward call, a sideways call between peers, an include
# of a header marked to go away, a stale mapping line, a name of one layer
# defined in another, and a call cycle and an include cycle inside one
# folder), fail with 1, and exit 0 under
# --report. Run by `make check`; CC defaults to cc.
set -eu
here=${srcdir:+$srcdir/tools/tests}
here=${here:-$(dirname "$0")}
checker="$here/../check-layers"
cc=${CC:-cc}
if ! command -v python3 >/dev/null 2>&1; then
    echo "check-layers-test: no python3"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: >"$work/config.h"
fail=0

# Objects named as automake and libtool name them: DIR/TARGET-NAME.o for
# base/ and top/, a bare DIR/NAME.o for left/ and right/, and only a PIC
# copy in DIR/.libs/ for flat/.
build() {
    tree=$1
    (cd "$here/$tree" && find . -name '*.c') | while read -r src; do
        dir=$(dirname "$src")
        name=$(basename "$src" .c)
        case $dir in
        ./base | ./top) obj=$dir/libfix_la-$name.o ;;
        ./flat) obj=$dir/.libs/libfix_la-$name.o ;;
        *) obj=$dir/$name.o ;;
        esac
        mkdir -p "$work/$tree/$(dirname "$obj")"
        $cc -c -I"$here/$tree" -I"$work" -o "$work/$tree/$obj" "$here/$tree/$src"
    done
}

# run TREE EXPECTED-STATUS [OPTIONS]: the checker's output lands in $work/out
run() {
    tree=$1 want=$2
    shift 2
    status=0
    python3 "$checker" --srcdir "$here/$tree" --build "$work/$tree" "$@" >"$work/out" 2>&1 ||
        status=$?
    if [ "$status" != "$want" ]; then
        echo "FAIL: $tree $*: exit $status, want $want; output:"
        cat "$work/out"
        fail=1
    fi
}

build clean
build dirty

run clean 0
if ! grep -q '^layers: ok: 10 files in 4 layers; ' "$work/out" || [ "$(wc -l <"$work/out")" != 1 ]; then
    echo "FAIL: clean: want one summary line, got:"
    cat "$work/out"
    fail=1
fi

for mode in strict report; do
    if [ $mode = strict ]; then run dirty 1; else run dirty 0 --report; fi
    sed '$d' "$work/out" >"$work/got"
    if ! diff -u "$here/expected-dirty.txt" "$work/got"; then
        echo "FAIL: dirty ($mode): the violations differ from expected-dirty.txt (above)"
        fail=1
    fi
    if ! tail -n 1 "$work/out" | grep -q '^layers: 8 violations among 12 library files'; then
        echo "FAIL: dirty ($mode): bad summary: $(tail -n 1 "$work/out")"
        fail=1
    fi
done

# without its objects the check cannot be made: a usage error, not a pass
run dirty 2 --build "$work/nowhere"
grep -q 'no object under' "$work/out" || { echo "FAIL: missing objects not named"; fail=1; }

[ $fail = 0 ] && echo "check-layers-test: clean passes, dirty fails with each planted violation"
exit $fail
