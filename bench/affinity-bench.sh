#!/bin/sh
# bench/affinity-bench.sh: is a WEFT_AFFINITY other than none as safe for
# several processes sharing a host? (issue 21). Runs each case with
# WEFT_AFFINITY=none and =compact, alternating, ROUNDS times, and prints the
# median wall time of each (the pair's, for two processes started at once).
#
#   bench/affinity-bench.sh [ROUNDS]        from the build directory (default 11)
#
# Cases: one 2-worker fib alone (the baseline); two 2-worker fibs, two
# 2-worker nqueens, two 1-worker fibs at once; two MPI ranks without binding
# (mpirun --bind-to none) of 1 and of 2 workers, when mpirun is there.
set -eu
rounds=${1:-11}
fib=./bench/fib-weft
queens=./bench/queens-weft
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe
mpirun=$(command -v mpirun || true)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/affinity-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

run_case() {
    case $1 in
    alone) $fib -w 2 37 ;;
    fib-2x2w) $fib -w 2 37 & $fib -w 2 37; wait ;;
    queens-2x2w) $queens -w 2 12 & $queens -w 2 12; wait ;;
    fib-2x1w) $fib -w 1 36 & $fib -w 1 36; wait ;;
    mpi-2x1w) "$mpirun" -np 2 --bind-to none $fib -w 1 36 ;;
    mpi-2x2w) "$mpirun" -np 2 --bind-to none $fib -w 2 37 ;;
    esac
}

cases="alone fib-2x2w queens-2x2w fib-2x1w"
[ -n "$mpirun" ] && cases="$cases mpi-2x1w mpi-2x2w"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
r=0
while [ "$r" -lt "$rounds" ]; do
    for c in $cases; do
        for aff in none compact; do
            t0=$(date +%s.%N)
            WEFT_AFFINITY=$aff run_case "$c" >/dev/null 2>&1
            t1=$(date +%s.%N)
            echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' >>"$tmp/$c.$aff"
        done
    done
    r=$((r + 1))
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %10s %10s %8s   (median wall s of %d rounds; min-max)\n' case none compact ratio "$rounds"
for c in $cases; do
    n=$(sort -n "$tmp/$c.none" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    k=$(sort -n "$tmp/$c.compact" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    nr=$(sort -n "$tmp/$c.none" | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}')
    kr=$(sort -n "$tmp/$c.compact" | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}')
    printf '%-12s %10s %10s %8.2f   none %s, compact %s\n' "$c" "$n" "$k" "$(echo "$k $n" | awk '{print $1 / $2}')" "$nr" "$kr"
done
