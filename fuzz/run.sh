#!/bin/sh
# Runs the fuzzer for $FUZZ_SECONDS (default 60): run.sh BINARY SEEDS OUTDIR
# New inputs go to OUTDIR/work-corpus (SEEDS, in the source tree, is only
# read); findings (crash-*, leak-*, timeout-*, oom-*) to OUTDIR/artifacts/,
# each printed in hex. Exits non-zero on any finding. Replay one with
#   ./fuzz/fuzz-api OUTDIR/artifacts/crash-...
set -u
bin=$1 seeds=$2 out=$3
secs=${FUZZ_SECONDS:-60}
mkdir -p "$out/work-corpus" "$out/artifacts"
rm -f "$out"/artifacts/crash-* "$out"/artifacts/leak-* "$out"/artifacts/timeout-* \
    "$out"/artifacts/oom-* "$out"/artifacts/slow-unit-*
echo "check-fuzz: $bin for ${secs} s, seeds $seeds, log $out/fuzz.log"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/" "$out/work-corpus" "$seeds" >"$out/fuzz.log" 2>&1
rc=$?
# the progress lines say how far it got: the last status line and the stats
grep -E '^#[0-9]+.*(pulse|DONE|NEW)' "$out/fuzz.log" | tail -n 1
grep -E '^stat::' "$out/fuzz.log"
found=0
for f in "$out"/artifacts/crash-* "$out"/artifacts/leak-* "$out"/artifacts/timeout-* \
         "$out"/artifacts/oom-*; do
    [ -f "$f" ] || continue
    found=1
    echo "check-fuzz: finding $f ($(wc -c <"$f") bytes), replay: $bin $f"
    od -An -tx1 -v "$f"
done
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    echo "check-fuzz: FAILED (exit $rc); the report:" >&2
    grep -E -A40 'ERROR: |invariant violated|==[0-9]+==|runtime error' "$out/fuzz.log" | head -n 120 >&2
    exit 1
fi
echo "check-fuzz: PASS"
