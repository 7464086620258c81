#!/bin/bash
# medians.sh RUNS WORKERS "KERNEL SIZE" BIN... - the binaries (bench-weft,
# bench-weft-inline, bench-seq, ...) run in turn RUNS times, so that a
# shared machine's drift hits them alike; prints each one's median of the
# `seconds=` it reports, and every run.
set -eu
runs=$1 workers=$2 kernel=$3
shift 3
declare -A times
for ((i = 0; i < runs; i++)); do
    for bin in "$@"; do
        # shellcheck disable=SC2086
        s=$("$bin" $kernel "$workers" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
        times[$bin]="${times[$bin]:-} $s"
    done
done
for bin in "$@"; do
    # shellcheck disable=SC2086
    median=$(printf '%s\n' ${times[$bin]} | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    echo "$kernel, $workers workers, $(basename "$bin"): median $median s (${times[$bin]# })"
done
