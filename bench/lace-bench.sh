#!/bin/sh
# lace-bench.sh - weft beside Lace itself, on Lace's own fib, queens and uts
# programs and weft's twins of them (issue 20; built by `make bench-lace
# LACE_DIR=...`, see bench/lace.am and bench/README.md).
#
#   lace-bench.sh [BENCH_DIR]
#
# BENCH_DIR (argument, else $BENCH_DIR, else this script's directory) holds
# fib-weft, queens-weft, uts-weft and lace/{fib,queens,uts}-{lace,seq}; fib
# also gets the rows of bench-omp-gcc, bench-omp-clang and bench-tbb when they
# are there (their fib is the same work). Rows per kernel:
#   seq         Lace's K-seq N                  (Tseq of every ratio)
#   seq-twin    weft's twin, sequential: K-weft -s N
#   lace W      Lace's K-lace -w W N
#   weft W      K-weft -w W N
#   PEER W      bench-PEER fib N W              (fib only)
# Every program times its kernel alone and prints it (Lace: "Time: S";
# bench-PEER: "seconds=S"). Runs are interleaved: each repetition runs every
# row once, starting one row later than the repetition before, so that no row
# always runs right after the same neighbour. Every run's result must agree
# with the others' (fib value; solutions; UTS tree size, depth and leaves).
#
# Environment:
#   BENCH_REPS=5  BENCH_WORKERS="1 2"  BENCH_TIMEOUT=300 (s per run)
#   BENCH_QUICK=1             tiny sizes, 1 rep (a smoke test of a few seconds)
#   BENCH_LACE_KERNELS="fib queens uts"
#   BENCH_LACE_FIB=38  BENCH_LACE_QUEENS=12
#   BENCH_LACE_UTS="-t 0 -b 2000 -q 0.124875 -m 8 -r 42"   (UTS's T3, 4.1 M nodes)
#   BENCH_LACE_PEERS="omp-gcc omp-clang tbb"   ("" for none)
#   BENCH_RAW=FILE            also append the raw result lines to FILE
#   BENCH_LACE_CPU=1          also the CPU time of each whole process (perf stat
#                             task-clock: start-up included, and Lace's idle
#                             workers' spinning), a column that preemption by
#                             other programs does not inflate
# Exit status: 0, or 1 when a run failed or results disagree; 2 for bad usage.

set -u

dir=${1:-${BENCH_DIR:-$(dirname "$0")}}
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
    reps=${BENCH_REPS:-1}
    d_fib=20 d_queens=8 d_uts="-t 0 -b 20 -q 0.124875 -m 8 -r 42"
else
    reps=${BENCH_REPS:-5}
    d_fib=38 d_queens=12 d_uts="-t 0 -b 2000 -q 0.124875 -m 8 -r 42"
fi
fib=${BENCH_LACE_FIB:-$d_fib}
queens=${BENCH_LACE_QUEENS:-$d_queens}
uts=${BENCH_LACE_UTS:-$d_uts}
kernels=${BENCH_LACE_KERNELS:-"fib queens uts"}
workers=${BENCH_WORKERS:-"1 2"}
peers=${BENCH_LACE_PEERS-"omp-gcc omp-clang tbb"}
tmo=${BENCH_TIMEOUT:-300}

case $reps in
'' | *[!0-9]* | 0) echo "lace-bench.sh: BENCH_REPS must be a positive integer" >&2; exit 2 ;;
esac
for n in "$fib" "$queens"; do
    case $n in
    '' | *[!0-9]*) echo "lace-bench.sh: BENCH_LACE_FIB and BENCH_LACE_QUEENS must be numbers" >&2; exit 2 ;;
    esac
done
if [ ! -d "$dir" ]; then
    echo "lace-bench.sh: no such directory: $dir" >&2
    exit 2
fi

cpu=${BENCH_LACE_CPU:-0}
if [ "$cpu" = 1 ] && ! perf stat -x, -e task-clock true >/dev/null 2>&1; then
    echo "lace-bench.sh: BENCH_LACE_CPU=1 needs a working perf stat" >&2
    exit 2
fi

runner=
if [ "$tmo" != 0 ] && command -v timeout >/dev/null 2>&1; then
    runner="timeout $tmo"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lace-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
rows=$tmp/rows
raw=$tmp/raw
errs=$tmp/errors
: >"$rows"
: >"$raw"
: >"$errs"

# row KERNEL IMPL WORKERS PROGRAM ARGS...: one row of the table, if PROGRAM exists.
missing=''
row() {
    row_prog=$4
    if [ -x "$dir/$row_prog" ]; then
        row_head="$1 $2 $3"
        shift 4
        echo "$row_head $dir/$row_prog $*" >>"$rows"
    else
        case " $missing " in *" $row_prog "*) ;; *) missing="$missing $row_prog" ;; esac
    fi
}

for k in $kernels; do
    case $k in
    fib) args=$fib ;;
    queens) args=$queens ;;
    uts) args=$uts ;;
    *) echo "lace-bench.sh: unknown kernel $k (fib, queens, uts)" >&2; exit 2 ;;
    esac
    row "$k" seq 1 "lace/$k-seq" $args
    row "$k" seq-twin 1 "$k-weft" -s $args
    for w in $workers; do
        row "$k" lace "$w" "lace/$k-lace" -w "$w" $args
        row "$k" weft "$w" "$k-weft" -w "$w" $args
        if [ "$k" = fib ]; then
            for p in $peers; do
                row fib "$p" "$w" "bench-$p" fib "$fib" "$w"
            done
        fi
    done
done
nrows=$(wc -l <"$rows")
if [ "$nrows" -eq 0 ]; then
    echo "lace-bench.sh: nothing to run in $dir (build with make bench-lace LACE_DIR=...)" >&2
    exit 1
fi

# What a run printed -> "seconds result", or nothing when it printed neither.
parse() {
    awk '
    /^Time: / { t = $2 }
    /seconds=/ { for (i = 1; i <= NF; i++) if ($i ~ /^(seconds|result)=/) {
                     split($i, kv, "="); if (kv[1] == "seconds") t = kv[2]; else r = kv[2] } }
    /^fib\(.*\) = / { r = $NF }
    /^[0-9]+$/ { r = $1 }
    /^Result: Q\(/ { r = $NF }
    /^Tree size = / { gsub(/[,%()]/, ""); r = $4 "/" $8 "/" $12 }
    END { if (t != "" && r != "") print t, r }'
}

read -r l1 l5 l15 _ </proc/loadavg 2>/dev/null || l1='?' l5='?' l15='?'
load_before="$l1 $l5 $l15"
echo "lace-bench.sh: $nrows rows x $reps rep(s), load average $load_before" >&2

r=0
while [ "$r" -lt "$reps" ]; do
    j=0
    while [ "$j" -lt "$nrows" ]; do
        line=$(sed -n "$(((j + r) % nrows + 1))p" "$rows")
        set -- $line
        k=$1 i=$2 w=$3
        shift 3
        if [ "$cpu" = 1 ]; then
            out=$($runner perf stat -x, -o "$tmp/perf" -e task-clock -- "$@" 2>"$tmp/stderr")
        else
            out=$($runner "$@" 2>"$tmp/stderr")
        fi
        rc=$?
        tr=$(printf '%s\n' "$out" | parse)
        if [ "$rc" -eq 0 ] && [ -n "$tr" ]; then
            set -- $tr
            c=''
            if [ "$cpu" = 1 ]; then
                c=$(awk -F, '$3 == "task-clock" { printf " cpu=%.6f", $1 / 1000 }' "$tmp/perf")
            fi
            echo "kernel=$k impl=$i workers=$w seconds=$1 result=$2$c" >>"$raw"
        else
            echo "kernel=$k impl=$i workers=$w status=fail" >>"$raw"
            {
                echo "$line: failed (exit status $rc)"
                sed 's/^/    /' "$tmp/stderr"
            } >>"$errs"
        fi
        j=$((j + 1))
    done
    r=$((r + 1))
done

read -r l1 l5 l15 _ </proc/loadavg 2>/dev/null || l1='?' l5='?' l15='?'
load_after="$l1 $l5 $l15"
if [ -n "${BENCH_RAW:-}" ]; then
    cat "$raw" >>"$BENCH_RAW"
fi

awk -v reps="$reps" -v dir="$dir" -v lb="$load_before" -v la="$load_after" \
    -v ncpu="$(nproc 2>/dev/null || echo '?')" -v missing="$missing" \
    -v nfib="$fib" -v nqueens="$queens" -v uts="$uts" -v cpucol="$cpu" '
function median(key) { return median_of(t, cnt[key], key) }
function median_of(arr, n, key,    i, j, v, a) {
    for (i = 1; i <= n; i++) {
        v = arr[key, i]
        for (j = i - 1; j >= 1 && a[j] > v; j--)
            a[j + 1] = a[j]
        a[j + 1] = v
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# Spawns of each program: fib(n) spawns fib(n+1) - 1 tasks; queens one per
# valid partial placement (bench/kernels.h, kernel_nqueens_tasks); uts one
# per node but the root.
function fibnum(n,    a, b, c, i) { a = 0; b = 1; for (i = 0; i < n; i++) { c = a + b; a = b; b = c }; return a }
function tasks(k, res,    q, p) {
    if (k == "fib") return fibnum(nfib + 1) - 1
    if (k == "queens") {
        split("1 2 5 16 53 152 551 2056 8393 35538 166925 856188 4674889 27358552 171129071", q, " ")
        return (nqueens >= 1 && nqueens <= 15) ? q[nqueens] : 0
    }
    split(res, p, "/")
    return p[1] - 1
}
{
    split("", f)
    for (i = 1; i <= NF; i++) {
        e = index($i, "=")
        if (e) f[substr($i, 1, e - 1)] = substr($i, e + 1)
    }
    k = f["kernel"]; key = k SUBSEP f["impl"] SUBSEP f["workers"]
    if (!(key in seen)) { seen[key] = 1; order[++nrow] = key }
    if (f["status"] == "fail") { failed[key] = 1; next }
    cnt[key]++
    if ("cpu" in f) { ccnt[key]++; cpu_t[key, ccnt[key]] = f["cpu"] + 0 }
    t[key, cnt[key]] = f["seconds"] + 0
    if (!(key in lo) || f["seconds"] + 0 < lo[key]) lo[key] = f["seconds"] + 0
    if (!(k in res)) { res[k] = f["result"]; first[k] = f["impl"] " " f["workers"] }
    else if (res[k] != f["result"] && !(key in bad)) {
        bad[key] = 1
        badmsg = badmsg sprintf("# MISMATCH %s: %s %s gave %s, %s gave %s\n", k,
                                f["impl"], f["workers"], f["result"], first[k], res[k])
    }
}
END {
    printf "# weft beside Lace: medians of %d interleaved run(s), kernel time only; binaries from %s\n", reps, dir
    printf "# load average before %s, after %s (on %s CPUs)\n", lb, la, ncpu
    if (missing != "") printf "# not built (rows skipped):%s\n", missing
    printf "# sizes: fib %s, queens %s, uts %s\n", nfib, nqueens, uts
    printf "%-8s %-10s %7s %10s %10s %8s %8s %8s %12s", "kernel", "impl", "workers",
           "median_s", "min_s", "vs_seq", "speedup", "vs_lace", "overhead_ns"
    if (cpucol) printf " %10s", "cpu_s"
    printf "\n"
    for (o = 1; o <= nrow; o++) {
        key = order[o]
        split(key, kk, SUBSEP)
        k = kk[1]; im = kk[2]; w = kk[3]
        if (!(key in cnt)) { printf "%-8s %-10s %7s %10s\n", k, im, w, "FAIL"; status = 1; continue }
        tm = median(key)
        sk = k SUBSEP "seq" SUBSEP 1
        ts = (sk in cnt) ? median(sk) : -1
        vs = "-"; sp = "-"; vl = "-"; ov = "-"
        if (im != "seq" && ts > 0) vs = sprintf("%.2f", tm / ts)
        k1 = k SUBSEP im SUBSEP 1
        if (w != 1 && (k1 in cnt) && tm > 0) sp = sprintf("%.2f", median(k1) / tm)
        lk = k SUBSEP "lace" SUBSEP w
        if (im != "lace" && im !~ /^seq/ && (lk in cnt)) vl = sprintf("%.2f", tm / median(lk))
        n = tasks(k, res[k])
        if (im != "seq" && ts >= 0 && n > 0) ov = sprintf("%.2f", (tm - ts) * 1e9 / n)
        mark = (key in bad || key in failed) ? " !" : ""
        if (mark != "") status = 1
        printf "%-8s %-10s %7s %10.6f %10.6f %8s %8s %8s %12s", k, im, w, tm, lo[key], vs, sp, vl, ov
        if (cpucol) printf " %10s", (key in ccnt) ? sprintf("%.6f", median_of(cpu_t, ccnt[key], key)) : "-"
        printf "%s\n", mark
    }
    printf "# vs_seq = T / T(seq: Lace'"'"'s own sequential program); speedup = T(1 worker) / T;\n"
    printf "# vs_lace = T / T(lace, same workers): above 1, Lace is faster;\n"
    printf "# overhead_ns = (T - T(seq)) / spawns (fib %d, queens %d, uts nodes - 1)\n", tasks("fib", ""), tasks("queens", "")
    if (cpucol) printf "# cpu_s = median CPU time of the whole process (perf stat task-clock)\n"
    for (k in res) printf "# result %s: %s\n", k, res[k]
    if (badmsg != "") printf "%s", badmsg
    exit status
}' "$raw"
status=$?

if [ -s "$errs" ]; then
    echo "lace-bench.sh: failed runs:" >&2
    cat "$errs" >&2
    status=1
fi
exit $status
