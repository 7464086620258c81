#!/bin/sh
# Check the spin models of models/: each good variant must verify with the
# whole state space explored and no error; each bad variant must be rejected
# (errors >= 1), so the checks are known to bite. One line per model.
# Exit 0: as expected; 1: an unexpected result; 77: spin is not installed
# (automake's skip; CI sets WEFT_MODELS_REQUIRED=1 to make that a failure).
# CHECK_MODELS_TRAIL=1 also prints the counterexample of each bad variant.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v spin >/dev/null 2>&1; then
    echo "check-models: spin is not installed (Debian package 'spin')" >&2
    [ "${WEFT_MODELS_REQUIRED:-0}" = 1 ] && exit 1
    exit 77
fi
CC=${CC:-gcc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-models.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

fail=0
# check NAME MODEL EXPECT(pass|fail) [-DFLAG...]
check() {
    name=$1 model=$2 expect=$3
    shift 3
    dir=$tmp/$name
    mkdir "$dir" && cp "$here/$model" "$dir/" || { fail=1; return; }
    t0=$(date +%s.%N)
    # spin -a: pan.c from the model; -DSAFETY: assertions and end states
    # (no cycles needed); COLLAPSE halves the memory; MEMLIM bounds it (MB)
    if ! (cd "$dir" && spin "$@" -a "$model" >spin.out 2>&1 &&
          $CC -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=1024 -o pan pan.c >cc.out 2>&1); then
        echo "FAIL $name: spin -a or cc failed:"; cat "$dir/spin.out" "$dir/cc.out"
        fail=1
        return
    fi
    # -m: depth bound (the models need < 300); -E is not used: end states count
    (cd "$dir" && ./pan -m20000 >pan.out 2>&1)
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    out=$dir/pan.out
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$out" | tail -n 1)
    states=$(awk '/states, stored/ { print $1 }' "$out" | tail -n 1)
    first=$(grep -m 1 -E '^pan:[0-9]+: ' "$out" | sed 's/^pan:[0-9]*: //')
    truncated=no
    if grep -qE 'max search depth too small|reached -DMEMLIM bound|Search not completed|out of memory' "$out"; then
        truncated=yes
    fi
    if [ -z "$errors" ] || [ -z "$states" ]; then
        echo "FAIL $name: no verdict from pan:"; cat "$out"
        fail=1
        return
    fi
    case $expect in
    pass)
        if [ "$errors" = 0 ] && [ $truncated = no ]; then
            echo "ok   $name: verified, $states states, ${secs}s"
        else
            echo "FAIL $name: expected 0 errors over the whole state space; errors $errors, truncated $truncated, $states states, ${secs}s${first:+: $first}"
            cat "$out"
            fail=1
        fi
        ;;
    fail)
        if [ "$errors" -ge 1 ]; then
            echo "ok   $name: rejected as it must be ($first), $states states, ${secs}s"
            if [ "${CHECK_MODELS_TRAIL:-0}" = 1 ]; then
                (cd "$dir" && spin "$@" -t -p -g -l "$model") | sed 's/^/    /'
            fi
        else
            echo "FAIL $name: a bad variant verified (the check does not bite), $states states, ${secs}s"
            fail=1
        fi
        ;;
    esac
}

check park                 park.pml     pass
check park-membarrier      park.pml     pass -DMEMBARRIER
check park-fence           park.pml     pass -DFENCE
check park-joiner          park.pml     pass -DJOIN
check park-reach           park.pml     fail -DREACH
check park-bad-norecheck   park.pml     fail -DBAD_NORECHECK
check park-bad-nodrain     park.pml     fail -DBAD_NODRAIN
check park-bad-nobarrier   park.pml     fail -DMEMBARRIER -DBAD_NOBARRIER
check park-bad-joiner      park.pml     fail -DJOIN -DBAD_JOINER
check park-stream          park.pml     pass -DSTREAM
check park-bad-stream      park.pml     fail -DSTREAM -DBAD_STREAM_ACQUIRE
check job-refs             job_refs.pml pass
check job-refs-bad-noref   job_refs.pml fail -DBAD_WAITER_NOREF
exit $fail
