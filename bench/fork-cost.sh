#!/bin/sh
# fork-cost.sh - instructions per spawn + join on fib, counted by callgrind
# (valgrind), the repeatable figure issue 20's targets are stated in.
#
#   fork-cost.sh [BENCH_WEFT]     (default: bench-weft beside this script)
#
# Runs BENCH_WEFT fib 24 and fib 20 on 1 worker under callgrind, collecting
# only inside the kernel (kw_fib_task: start-up and the warm-up are out),
# and prints
#   fork-cost: fib spawn+join = I instructions (fib 24 - fib 20 over 64079 tasks)
# Above the sequential twin: subtract what bench-seq's fib costs a task
# (bench/RESULTS.md: ~15). Exit status 0, 1 when a run failed, 2 without
# valgrind.
set -u
bin=${1:-$(dirname "$0")/bench-weft}
command -v valgrind >/dev/null 2>&1 || { echo "fork-cost.sh: valgrind not found" >&2; exit 2; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

count() { # fib size -> instructions collected in the kernel
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" --toggle-collect=kw_fib_task \
        "$bin" fib "$1" 1 >"$tmp/out.$1" 2>"$tmp/err.$1" || {
        echo "fork-cost.sh: $bin fib $1 failed:" >&2
        cat "$tmp/err.$1" >&2
        exit 1
    }
    sed -n 's/^==[0-9]*== Collected : *\([0-9]*\).*/\1/p' "$tmp/err.$1"
}
big=$(count 24)
small=$(count 20)
# fib(n) spawns fib(n+1) - 1 tasks: 75024 - 10945 = 64079 between the sizes
awk -v a="$big" -v b="$small" 'BEGIN {
    if (a == "" || b == "") { print "fork-cost.sh: no count in valgrind output" > "/dev/stderr"; exit 1 }
    printf "fork-cost: fib spawn+join = %.1f instructions (fib 24 - fib 20 over 64079 tasks)\n", (a - b) / 64079 }'
