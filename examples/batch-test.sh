#!/bin/sh
# Smoke test of examples/batch on examples/data (run by `make check` from the
# build directory; srcdir may differ, as in `make distcheck`). Checks:
#   - the summary equals examples/batch-expected.txt with the default, 1 and 2
#     workers, and its bytes/lines/words equal what wc(1) counts;
#   - injected transient read failures are retried away (same summary, exit 0),
#     and are reported once the retries are used up;
#   - files that fail for good: --collect lists every one in the error tree,
#     fail-fast stops early (fewer failures, files skipped); exit status 1;
#   - a per-file deadline shorter than a (slowed) read gives ETIMEDOUT entries;
#   - bad usage and a bad DIR end with a message and exit status 2.
# Timing: only generous bounds (a 300 ms stall against a 50 ms deadline).
set -u
srcdir=${srcdir:-$(dirname "$0")/..}
batch=${BATCH:-./examples/batch}
data=$srcdir/examples/data
expected=$srcdir/examples/batch-expected.txt
LC_ALL=C
export LC_ALL

tmp=$(mktemp -d "${TMPDIR:-/tmp}/batch-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run NAME EXPECTED_STATUS ARGS...: stdout to $tmp/NAME.out, stderr to $tmp/NAME.err
run() {
    name=$1 want=$2
    shift 2
    "$batch" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    got=$?
    echo "== $name: batch $* -> exit $got"
    if [ "$got" != "$want" ]; then
        fail "$name: exit status $got, wanted $want"
        sed 's/^/  err: /' "$tmp/$name.err" | head -20
    fi
}

same_as_expected() {
    if ! cmp -s "$expected" "$tmp/$1.out"; then
        fail "$1: summary differs from examples/batch-expected.txt"
        diff "$expected" "$tmp/$1.out"
    fi
}

# has NAME FILE PATTERN: the output contains the fixed string
has() {
    grep -F -q -- "$3" "$tmp/$1.$2" || fail "$1: no '$3' in its std$2"
}

summary_field() { # NAME FIELD -> the number after FIELD (for "files", the ok count)
    awk -v k="$2" '$1 == k { print $2 }' "$tmp/$1.out"
}

files_field() { # NAME WHICH (ok|failed|skipped)
    sed -n "s/^files *\([0-9]*\) ok, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p" \
        "$tmp/$1.out" | awk -v w="$2" '{ print (w == "ok" ? $1 : w == "failed" ? $2 : $3) }'
}

# 1. the same summary however many workers, and the counts agree with wc(1)
run default 0 "$data"
same_as_expected default
cat "$tmp/default.out"
run workers1 0 --workers 1 "$data"
same_as_expected workers1
run workers2 0 --workers=2 --collect "$data"
same_as_expected workers2
nfiles=$(find "$data" -type f | wc -l)
bytes=$(find "$data" -type f -exec cat {} + | wc -c)
lines=$(find "$data" -type f -exec cat {} + | wc -l)
words=$(find "$data" -type f -exec sh -c 'for f do wc -w <"$f"; done' sh {} + |
    awk '{ s += $1 } END { print s + 0 }')
[ "$(files_field default ok)" -eq "$nfiles" ] || fail "files: $(files_field default ok), find says $nfiles"
[ "$(summary_field default bytes)" -eq "$bytes" ] || fail "bytes: wc says $bytes"
[ "$(summary_field default lines)" -eq "$lines" ] || fail "lines: wc says $lines"
[ "$(summary_field default words)" -eq "$words" ] || fail "words: wc says $words"

# 2. transient failures: two failed tries per file, three retries allowed
run transient 0 --inject-transient 2 "$data"
same_as_expected transient
#    ... and five failed tries against two retries: every file fails with the last
run transient-exhausted 1 --collect --inject-transient 5 --retries 2 "$data"
[ "$(files_field transient-exhausted failed)" -eq "$nfiles" ] || fail "transient-exhausted: not every file failed"
has transient-exhausted err "read try 3 failed (injected: --inject-transient 5)"

# 3. permanent failures: --collect lists all 8 files under nested/
nested=$(find "$data/nested" -type f | wc -l)
run collect 1 --collect --fail-matching nested/ "$data"
[ "$(files_field collect failed)" -eq "$nested" ] || fail "collect: $(files_field collect failed) failed, wanted $nested"
[ "$(files_field collect skipped)" -eq 0 ] || fail "collect: files skipped"
has collect err "$nested of $nfiles files failed"
has collect err "$nested errors:"
for f in $(cd "$data" && find nested -type f); do
    has collect err "$f: EACCES:"
done
#    fail-fast (one worker, so at most 4 files in flight): stops before the rest
run failfast 1 --workers 1 --fail-matching nested/ "$data"
ff=$(files_field failfast failed)
sk=$(files_field failfast skipped)
{ [ "$ff" -ge 1 ] && [ "$ff" -lt "$nested" ]; } || fail "failfast: $ff failed, wanted 1..$((nested - 1))"
[ "$sk" -gt 0 ] || fail "failfast: nothing skipped"
has failfast err "fail-fast: stopped at the first"
has failfast err "nested/"

# 4. per-file deadline: every read stalls 300 ms, each file may take 50 ms
run deadline 1 --collect --deadline-ms 50 --slow-ms 300 "$data"
[ "$(files_field deadline failed)" -eq "$nfiles" ] || fail "deadline: not every file timed out"
has deadline err "ETIMEDOUT: deadline (50 ms) passed while reading"
#    ... while slow reads well within their deadline succeed
run slow-ok 0 --deadline-ms 20000 --slow-ms 5 "$data"
same_as_expected slow-ok

# 5. bad input: a message and exit status 2, never a crash
run missing 2 "$tmp/no-such-dir"
has missing err "No such file or directory"
run notdir 2 "$expected"
has notdir err "Not a directory"
run noargs 2
has noargs err "no DIR given"
run badflag 2 --frobnicate "$data"
has badflag err "unknown option '--frobnicate'"
run badnum 2 --workers lots "$data"
has badnum err "--workers needs a whole number"
run nonum 2 "$data" --deadline-ms
has nonum err "--deadline-ms needs a whole number"
run twodirs 2 "$data" "$data"
has twodirs err "one DIR only"
run help 0 --help
has help out "usage:"
mkdir "$tmp/empty"
run empty 0 "$tmp/empty"
has empty out "files     0 ok, 0 failed, 0 skipped"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all batch checks passed"
exit 0
