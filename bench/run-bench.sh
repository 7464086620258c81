#!/bin/sh
# run-bench.sh - run every built bench-IMPL on every kernel and print one table.
#
#   run-bench.sh [BENCH_DIR]
#
# BENCH_DIR (argument, else $BENCH_DIR, else this script's directory) holds the
# binaries bench-seq, bench-omp-gcc, bench-omp-clang, bench-tbb, bench-weft;
# those that are missing are skipped with a note.  Each binary prints one line
#   kernel=K size=N workers=W impl=I seconds=S tasks=T result=R
# and the table shows medians over BENCH_REPS runs.  Environment:
#   BENCH_REPS=5        runs per (kernel, impl, workers)
#   BENCH_QUICK=1       tiny sizes and 1 rep (smoke test, well under 30 s)
#   BENCH_FIB=33 BENCH_NQUEENS=13 BENCH_UTS=20000 BENCH_SORT=10000000
#   BENCH_SPAWN=2000000 problem sizes (see bench/README.md)
#   BENCH_KERNELS="fib nqueens uts sort spawn"  BENCH_WORKERS="1 2"
#   BENCH_IMPLS="seq omp-gcc omp-clang tbb weft"
#   BENCH_TIMEOUT=300   seconds before one run is killed (needs timeout(1))
#   BENCH_RAW=FILE      also append the raw result lines to FILE
# Exit status: 0, or 1 when a run failed or implementations disagree.

set -u

dir=${1:-${BENCH_DIR:-$(dirname "$0")}}
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
    reps=${BENCH_REPS:-1}
    d_fib=20 d_nqueens=8 d_uts=1000 d_sort=100000 d_spawn=10000
else
    reps=${BENCH_REPS:-5}
    d_fib=33 d_nqueens=13 d_uts=20000 d_sort=10000000 d_spawn=2000000
fi
kernels=${BENCH_KERNELS:-"fib nqueens uts sort spawn"}
workers=${BENCH_WORKERS:-"1 2"}
impls=${BENCH_IMPLS:-"seq omp-gcc omp-clang tbb weft"}
tmo=${BENCH_TIMEOUT:-300}

case $reps in
'' | *[!0-9]* | 0) echo "run-bench.sh: BENCH_REPS must be a positive integer" >&2; exit 2 ;;
esac
if [ ! -d "$dir" ]; then
    echo "run-bench.sh: no such directory: $dir" >&2
    exit 2
fi

size_of() {
    case $1 in
    fib) echo "${BENCH_FIB:-$d_fib}" ;;
    nqueens) echo "${BENCH_NQUEENS:-$d_nqueens}" ;;
    uts) echo "${BENCH_UTS:-$d_uts}" ;;
    sort) echo "${BENCH_SORT:-$d_sort}" ;;
    spawn) echo "${BENCH_SPAWN:-$d_spawn}" ;;
    *) echo "run-bench.sh: unknown kernel $1" >&2; exit 2 ;;
    esac
}

# Which implementations exist.
have=''
skipped=''
for i in $impls; do
    if [ -x "$dir/bench-$i" ]; then
        have="$have $i"
    else
        skipped="$skipped $i"
    fi
done
if [ -z "$have" ]; then
    echo "run-bench.sh: no bench-* binaries in $dir" >&2
    exit 1
fi

runner=
if [ "$tmo" != 0 ] && command -v timeout >/dev/null 2>&1; then
    runner="timeout $tmo"
fi

# The machine may be shared: record how busy it was (shown in the table header).
load=''
if [ -r /proc/loadavg ]; then
    read -r l1 l5 l15 _ </proc/loadavg && load="$l1 $l5 $l15"
fi
ncpu=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
raw=$tmp/raw
errs=$tmp/errors
: >"$raw"
: >"$errs"

# run IMPL KERNEL SIZE WORKERS: one run, its line (or a failure line) into $raw.
run() {
    out=$($runner "$dir/bench-$1" "$2" "$3" "$4" 2>"$tmp/stderr")
    rc=$?
    if [ "$rc" -eq 0 ] && case $out in *seconds=*) true ;; *) false ;; esac; then
        echo "$out" >>"$raw"
    else
        echo "kernel=$2 size=$3 workers=$4 impl=$1 status=fail" >>"$raw"
        {
            if [ "$rc" -eq 124 ] && [ -n "$runner" ]; then
                echo "bench-$1 $2 $3 $4: killed after $tmo s (BENCH_TIMEOUT)"
            else
                echo "bench-$1 $2 $3 $4: failed (exit status $rc)"
            fi
            sed 's/^/    /' "$tmp/stderr"
        } >>"$errs"
    fi
}

for k in $kernels; do
    n=$(size_of "$k") || exit 2
    echo "run-bench.sh: $k size=$n, $reps rep(s):$have" >&2
    r=0
    while [ "$r" -lt "$reps" ]; do
        for i in $have; do
            if [ "$i" = seq ]; then
                run seq "$k" "$n" 1
            else
                for w in $workers; do
                    run "$i" "$k" "$n" "$w"
                done
            fi
        done
        r=$((r + 1))
    done
done

if [ -n "${BENCH_RAW:-}" ]; then
    cat "$raw" >>"$BENCH_RAW"
fi

awk -v kernels="$kernels" -v impls="$have" -v workers="$workers" -v reps="$reps" \
    -v skipped="$skipped" -v dir="$dir" -v load="$load" -v ncpu="$ncpu" '
function median(key,    n, i, j, v, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) {
        v = t[key, i]
        for (j = i - 1; j >= 1 && a[j] > v; j--)
            a[j + 1] = a[j]
        a[j + 1] = v
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    split("", f)
    for (i = 1; i <= NF; i++) {
        p = index($i, "=")
        if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1)
    }
    key = f["kernel"] SUBSEP f["impl"] SUBSEP f["workers"]
    size[f["kernel"]] = f["size"]
    if (f["status"] == "fail" || !("seconds" in f)) { failed[key] = 1; next }
    cnt[key]++
    t[key, cnt[key]] = f["seconds"] + 0
    # Every run of every implementation must agree on result and task count.
    if (!(f["kernel"] in res)) {
        res[f["kernel"]] = f["result"]; tasks[f["kernel"]] = f["tasks"]
        first[f["kernel"]] = f["impl"]
    } else if (res[f["kernel"]] != f["result"] || tasks[f["kernel"]] != f["tasks"]) {
        if (!(key in bad))
            badmsg = badmsg sprintf("# MISMATCH %s: %s workers=%s gave result=%s tasks=%s, %s gave result=%s tasks=%s\n",
            f["kernel"], f["impl"], f["workers"], f["result"], f["tasks"],
            first[f["kernel"]], res[f["kernel"]], tasks[f["kernel"]])
        bad[key] = 1
    }
}
END {
    nk = split(kernels, K, " "); ni = split(impls, I, " "); nw = split(workers, W, " ")
    weft = 0
    for (i = 1; i <= ni; i++) if (I[i] == "weft") weft = 1
    printf "# weft peer benchmarks: medians of %d run(s), kernel time only; binaries from %s\n", reps, dir
    if (load != "") printf "# load average before the runs: %s (on %s CPUs)\n", load, ncpu
    if (skipped != "") printf "# skipped (not built):%s\n", skipped
    printf "%-18s %-10s %7s %11s %13s %7s %8s", "benchmark", "impl", "workers", "median_s", "overhead_ns", "vs_seq", "speedup"
    if (weft) printf " %9s", "vs_weft"
    printf "\n"
    for (k = 1; k <= nk; k++) {
        kn = K[k]
        bench = kn "(" size[kn] ")"
        seqkey = kn SUBSEP "seq" SUBSEP 1
        tseq = (seqkey in cnt) ? median(seqkey) : -1
        for (i = 1; i <= ni; i++) {
            im = I[i]
            nwi = (im == "seq") ? 1 : nw
            for (w = 1; w <= nwi; w++) {
                wk = (im == "seq") ? 1 : W[w]
                key = kn SUBSEP im SUBSEP wk
                if (!(key in cnt)) {
                    printf "%-18s %-10s %7s %11s\n", bench, im, wk, "FAIL"
                    status = 1
                    continue
                }
                tm = median(key)
                ov = "-"; vs = "-"
                if (im != "seq" && tseq >= 0 && tasks[kn] > 0)
                    ov = sprintf("%.1f", (tm - tseq) * 1e9 / tasks[kn])
                if (im != "seq" && tseq > 0)
                    vs = sprintf("%.2f", tm / tseq)
                sp = "-"
                k1 = kn SUBSEP im SUBSEP 1
                if (im != "seq" && wk != 1 && (k1 in cnt) && tm > 0)
                    sp = sprintf("%.2f", median(k1) / tm)
                mark = (key in bad || key in failed) ? " !" : ""
                if (key in bad || key in failed) status = 1
                printf "%-18s %-10s %7s %11.6f %13s %7s %8s", bench, im, wk, tm, ov, vs, sp
                if (weft) {
                    wfk = kn SUBSEP "weft" SUBSEP wk
                    vw = "-"
                    if (im != "weft" && (wfk in cnt) && median(wfk) > 0)
                        vw = sprintf("%.2f", tm / median(wfk))
                    printf " %9s", vw
                }
                printf "%s\n", mark
            }
        }
    }
    printf "# overhead_ns = (T - Tseq) / tasks; vs_seq = T / Tseq; speedup = T(1 worker) / T(this row), same impl"
    if (weft) printf ";\n# vs_weft = T(this row) / T(weft, same workers): > 1 means weft is faster"
    printf "\n"
    if (badmsg != "") printf "%s", badmsg
    exit status
}' "$raw"
status=$?

if [ -s "$errs" ]; then
    echo "run-bench.sh: failed runs:" >&2
    cat "$errs" >&2
    status=1
fi
exit $status
