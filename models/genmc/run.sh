#!/bin/bash
# Model-check weft's deques with GenMC: models/genmc/deque_client.c on the
# project's own deque/ sources (Chase-Lev, then the split deque), each
# configuration under RC11 and IMM, and bad variants (a sed of one line of
# the sources) that GenMC must reject, so a client that stopped checking
# anything fails too.
#
#   models/genmc/run.sh [-q] GENMC [PROJECT_DIR]
#
# GENMC is the genmc binary (not in Debian; models/genmc/README.md says how
# to build it), PROJECT_DIR the weft tree (default: this script's). -q runs
# the quick set only (what `make check-genmc` runs). One line per run; exit 0
# when every good run verifies and every bad one is rejected, 1 otherwise,
# 77 when GENMC cannot be run.
set -u
quick=0
if [ "${1:-}" = -q ]; then quick=1; shift; fi
genmc=${1:?usage: run.sh [-q] GENMC [PROJECT_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
proj=$(cd "${2:-$here/../..}" && pwd)
if ! "$genmc" --version >/dev/null 2>&1; then
    echo "genmc: cannot run '$genmc'" >&2
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/weft-genmc.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

# The sources as they are, with the allocator reduced to malloc and calloc
# (the fault injection of base/alloc.c is not what is checked; bulk memory
# comes zero-filled, as the kernel's pages do) and an empty config.h.
fresh() {
    rm -rf "$work/src" && mkdir -p "$work/src/deque" "$work/src/base" &&
    cp "$proj"/deque/*.c "$proj"/deque/*.h "$work/src/deque/" &&
    cp "$proj/base/base.h" "$work/src/base/" &&
    cp "$here/deque_client.c" "$work/src/client.c" &&
    : > "$work/src/config.h" &&
    printf '%s\n' '#include <stdlib.h>' \
        '#define weft__alloc(n) malloc(n)' '#define weft__free(p) free(p)' \
        '#define weft__free_bulk(p, n) free(p)' \
        'static void *weft__alloc_bulk(size_t n)' \
        '{' \
        '    void **w = malloc(n);' \
        '    for (size_t i = 0; i < n / sizeof *w; i++)' \
        '        w[i] = NULL; /* the kernel zero-fills */' \
        '    return w;' \
        '}' \
        > "$work/src/base/alloc.h"
}

fail=0
# run MODEL EXPECT(ok|bad) -DCONFIG...: one GenMC run on $work/src as it is
run() {
    local model=$1 expect=$2
    shift 2
    local t0 t1 out verdict n secs
    t0=$(date +%s.%N)
    out=$(cd "$work/src" && nice timeout 3600 "$genmc" "--$model" --disable-estimation -- \
          -I. "$@" client.c 2>&1)
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    # ok: verified; bad: GenMC found an execution that breaks the client
    # (its first line is the reason); anything else (no compile, a timeout)
    # is neither
    local why
    why=$(grep -m1 '^Error: ' <<<"$out")
    verdict=none
    grep -q "No errors were detected" <<<"$out" && verdict=ok
    [ -n "$why" ] && grep -q '^\*\*\* Verification unsuccessful' <<<"$out" && verdict=bad
    n=$(sed -n 's/^Number of complete executions explored: //p' <<<"$out")
    if [ "$verdict" = "$expect" ]; then
        printf 'ok   %-5s %-52s %s, %s executions, %ss\n' "$model" "$*" \
            "$([ "$expect" = ok ] && echo verified || echo "rejected as it must be: ${why#Error: }")" \
            "${n:-?}" "$secs"
    else
        printf 'FAIL %-5s %-52s %s (want %s), %s executions, %ss\n' "$model" "$*" \
            "$verdict" "$expect" "${n:-?}" "$secs"
        grep -m6 -E 'rror|Assertion|violat' <<<"$out" | sed 's/^/      /'
        fail=1
    fi
    # GENMC_SHOW=1: the offending execution of each rejected run
    [ "$verdict" = bad ] && [ "${GENMC_SHOW:-0}" = 1 ] && sed 's/^/      /' <<<"$out"
}

# bad FILE SED CONFIG...: the sources with one edit that must break them; the
# edit must change the file, or the variant would check nothing
bad() {
    local file=$1 expr=$2
    shift 2
    fresh || exit 1
    cp "$work/src/$file" "$work/orig"
    sed -i "$expr" "$work/src/$file"
    if cmp -s "$work/orig" "$work/src/$file"; then
        echo "FAIL bad variant '$expr' changes nothing in $file (the source moved on)"
        fail=1
        return
    fi
    echo "     variant: $file: $expr"
    run rc11 bad "$@"
}

fresh || exit 1
SPLIT=-DWEFT_SPLIT_DEQUE
FRAMES=-DFRAMES
# ---- good configurations -------------------------------------------------
# the quick set: seconds each
quick_ok() {
    # Chase-Lev
    run rc11 ok -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok -DPUSH1=2 -DPOP1=1 -DPUSH2=2 -DPOP2=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok -DPUSH1=3 -DPOP1=1 -DTHIEVES=2 -DSTEALS=2
    run imm  ok -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run imm  ok -DPUSH1=2 -DPOP1=1 -DPUSH2=2 -DPOP2=2 -DTHIEVES=1 -DSTEALS=2
    # split: requests answered by push and pop (thieves ask, then take);
    # everything shared, then taken back by halves against the thieves
    run rc11 ok $SPLIT -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=2 -DPOP1=1 -DPUSH2=2 -DPOP2=2 -DTHIEVES=1 -DSTEALS=3
    run rc11 ok $SPLIT -DPUSH1=2 -DPOP1=3 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=3 -DSHARE -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=3 -DSHARE -DPOP1=3 -DTHIEVES=2 -DSTEALS=1
    run imm  ok $SPLIT -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run imm  ok $SPLIT -DPUSH1=3 -DSHARE -DPOP1=3 -DTHIEVES=2 -DSTEALS=1
    # frames (deque/frame.h): the last item raced by owner and thief, growth,
    # slots reused after pops, requests answered into a reused slot, the
    # public part taken back against two thieves
    run rc11 ok $FRAMES -DPUSH1=1 -DPOP1=1 -DTHIEVES=1 -DSTEALS=1
    run rc11 ok $FRAMES -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $FRAMES -DPUSH1=2 -DPOP1=2 -DPUSH2=2 -DPOP2=1 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $FRAMES -DPUSH1=3 -DPOP1=1 -DTHIEVES=2 -DSTEALS=2
    run imm  ok $FRAMES -DPUSH1=2 -DPOP1=2 -DPUSH2=2 -DPOP2=1 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $FRAMES $SPLIT -DPUSH1=1 -DSHARE -DPOP1=1 -DTHIEVES=1 -DSTEALS=1
    run rc11 ok $FRAMES $SPLIT -DPUSH1=1 -DPOP1=1 -DPUSH2=1 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $FRAMES $SPLIT -DPUSH1=2 -DPOP1=1 -DPUSH2=2 -DPOP2=2 -DTHIEVES=1 -DSTEALS=3
    run rc11 ok $FRAMES $SPLIT -DPUSH1=2 -DSHARE -DPOP1=2 -DPUSH2=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $FRAMES $SPLIT -DPUSH1=3 -DSHARE -DPOP1=3 -DTHIEVES=2 -DSTEALS=1
    run imm  ok $FRAMES $SPLIT -DPUSH1=3 -DSHARE -DPOP1=3 -DTHIEVES=2 -DSTEALS=1
    # replaced buffers freed while thieves steal (READERS: deque/common.h)
    run rc11 ok -DREADERS -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok -DREADERS -DPUSH1=3 -DPOP1=1 -DTHIEVES=2 -DSTEALS=1
    run imm  ok -DREADERS -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok -DREADERS $FRAMES -DPUSH1=3 -DPOP1=1 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok -DREADERS $SPLIT -DPUSH1=3 -DSHARE -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    # the owner's batch of its oldest items (weft__deque_take_oldest_owner)
    # against thieves, then its pops of the rest (on the split deque the
    # batch's private items are shared first)
    run rc11 ok -DPUSH1=4 -DTAKE=2 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok -DPUSH1=3 -DTAKE=1 -DPOP1=1 -DPUSH2=1 -DPOP2=2 -DTHIEVES=2 -DSTEALS=1
    run imm  ok -DPUSH1=4 -DTAKE=2 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=4 -DTAKE=2 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=4 -DSHARE -DTAKE=2 -DPOP1=2 -DTHIEVES=2 -DSTEALS=1
    run imm  ok $SPLIT -DPUSH1=4 -DTAKE=2 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
}
# the full set adds minutes each: two growths under two thieves
full_ok() {
    run rc11 ok -DPUSH1=4 -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
    run rc11 ok -DPUSH1=5 -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
    run rc11 ok -DPUSH1=3 -DPOP1=1 -DPUSH2=2 -DPOP2=3 -DTHIEVES=2 -DSTEALS=2
    run imm  ok -DPUSH1=4 -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=4 -DPOP1=3 -DTHIEVES=1 -DSTEALS=3
    run rc11 ok $SPLIT -DPUSH1=3 -DSHARE -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=3 -DSHARE -DPOP1=1 -DPUSH2=2 -DPOP2=2 -DTHIEVES=1 -DSTEALS=3
    run imm  ok $SPLIT -DPUSH1=2 -DPOP1=1 -DPUSH2=2 -DPOP2=2 -DTHIEVES=1 -DSTEALS=3
    run rc11 ok $FRAMES -DPUSH1=4 -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
    run rc11 ok $FRAMES $SPLIT -DPUSH1=4 -DPOP1=3 -DTHIEVES=1 -DSTEALS=3
    run rc11 ok $FRAMES $SPLIT -DPUSH1=3 -DSHARE -DPOP1=1 -DPUSH2=2 -DPOP2=2 -DTHIEVES=1 -DSTEALS=3
    run rc11 ok -DPUSH1=5 -DTAKE=2 -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
    run rc11 ok $SPLIT -DPUSH1=5 -DTAKE=2 -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
}
fresh || exit 1
quick_ok
[ $quick = 0 ] && full_ok
# ---- bad variants: each must be rejected ----------------------------------
# steal's copy of the slot moved after its CAS (both deques' steal_words)
copy_after_cas='/weft__deque_slot_load(weft__deque_buf_slot(buf, t, words), copy, words);/d; s/^    weft__deque_words_copy(dst, copy, words);$/    weft__deque_slot_load(weft__deque_buf_slot(buf, t, words), copy, words);\n&/'
# Chase-Lev: pop's claim of bottom no longer a store-load barrier
bad deque/chase_lev.h 's/atomic_store_explicit(&dq->bottom, b, memory_order_seq_cst);/atomic_store_explicit(\&dq->bottom, b, memory_order_release);/' \
    -DPUSH1=2 -DPOP1=1 -DTHIEVES=1 -DSTEALS=2
# Chase-Lev: steal reads its slot after the CAS, when the owner may reuse it
bad deque/chase_lev.h "$copy_after_cas" \
    -DPUSH1=2 -DPOP1=2 -DPUSH2=1 -DTHIEVES=1 -DSTEALS=1
# a grown buffer not zero-filled: a thief with an old top reads a slot
# nobody wrote
bad base/alloc.h 's/w\[i\] = NULL;/;/' \
    -DPUSH1=4 -DPOP1=2 -DTHIEVES=2 -DSTEALS=2
# freeing replaced buffers: without the thief's fence, the owner's fence,
# the thief's release at the end of its steal, or the look at the epochs at
# all, a thief reads a buffer the owner freed
readers_bad='-DREADERS -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2'
bad deque/common.h 's|    weft__full_fence(); /\* before its loads of buf \*/||' $readers_bad
bad deque/common.c '/after the caller.s store of its buffer/{n;d}' $readers_bad
bad deque/common.h 's/atomic_store_explicit(epoch, e + 1, memory_order_release);/atomic_store_explicit(epoch, e + 1, memory_order_relaxed);/' $readers_bad
bad deque/common.c 's/if (atomic_load_explicit(epoch, memory_order_acquire) \& 1)/if (0)/' $readers_bad
# split: taking the public part back without the store-load barrier (the
# store of split, or the thief's load of it, no longer seq_cst)
bad deque/split.c 's/atomic_store_explicit(&dq->split, ns, memory_order_seq_cst);/atomic_store_explicit(\&dq->split, ns, memory_order_release);/' \
    $SPLIT -DPUSH1=3 -DSHARE -DPOP1=3 -DTHIEVES=1 -DSTEALS=2
bad deque/split.h 's/int64_t s = atomic_load_explicit(&dq->split, memory_order_seq_cst);/int64_t s = atomic_load_explicit(\&dq->split, memory_order_acquire);/' \
    $SPLIT -DPUSH1=3 -DSHARE -DPOP1=3 -DTHIEVES=1 -DSTEALS=2
# split: sharing without release: a thief reads a slot the store of split
# did not publish
bad deque/split.h 's/atomic_store_explicit(&dq->split, ns, memory_order_release);/atomic_store_explicit(\&dq->split, ns, memory_order_relaxed);/' \
    $SPLIT -DPUSH1=3 -DPOP1=2 -DTHIEVES=1 -DSTEALS=2
# split: the owner keeps [ns, s) although a thief may hold top == ns
bad deque/split.c 's/if (t < ns)/if (t <= ns)/' \
    $SPLIT -DPUSH1=3 -DSHARE -DPOP1=3 -DTHIEVES=1 -DSTEALS=2
# split: growth publishes the new buffer without release
bad deque/split.c 's/atomic_store_explicit(&dq->buf, nb, memory_order_release);/atomic_store_explicit(\&dq->buf, nb, memory_order_relaxed);/' \
    $SPLIT -DPUSH1=3 -DSHARE -DPOP1=1 -DTHIEVES=1 -DSTEALS=2
# split: steal reads its slot after the CAS
bad deque/split.h "$copy_after_cas" \
    $SPLIT -DPUSH1=2 -DSHARE -DPOP1=2 -DPUSH2=2 -DTHIEVES=1 -DSTEALS=2
# frames: steal copies the frame after its CAS (the owner has reused the slot)
bad deque/chase_lev.h "$copy_after_cas" \
    $FRAMES -DPUSH1=2 -DPOP1=2 -DPUSH2=1 -DTHIEVES=1 -DSTEALS=1
bad deque/split.h "$copy_after_cas" \
    $FRAMES $SPLIT -DPUSH1=2 -DSHARE -DPOP1=2 -DPUSH2=2 -DTHIEVES=1 -DSTEALS=2
# frames: the owner writes the frame's words after publishing the slot (after
# the release store of bottom; after the share that answers a request, here
# into a slot a pop freed): a thief copies words of no push, or of the old one
bad deque/chase_lev.h '/^static inline int weft__deque_cl_push_words/,/^}/{/weft__deque_slot_store(/{h;d};/memory_order_release);/G}' \
    $FRAMES -DPUSH1=1 -DPOP1=0 -DTHIEVES=1 -DSTEALS=1
bad deque/split.h '/^static inline void weft__deque_split_put/,/^}/{/weft__deque_slot_store(/{h;d};/weft__deque_split_push_slow(dq);/G}' \
    $FRAMES $SPLIT -DPUSH1=1 -DPOP1=1 -DPUSH2=1 -DTHIEVES=1 -DSTEALS=2
# frames: the owner's pop of the last item ignores that it lost the CAS
bad deque/chase_lev.h 's/if (!won)/if (0 \&\& !won)/' \
    $FRAMES -DPUSH1=1 -DPOP1=1 -DTHIEVES=1 -DSTEALS=1
bad deque/split.c 's/        if (won)/        if ((won = won || 1))/' \
    $FRAMES $SPLIT -DPUSH1=1 -DSHARE -DPOP1=1 -DTHIEVES=1 -DSTEALS=1
# split: a thief asks with a plain store, which can undo the owner's
# OWNER_EMPTY: the drained deque then answers ASKED for ever
bad deque/split.h 's/if (atomic_compare_exchange_strong_explicit(&dq->request, &r, WEFT__SPLIT_ASKED,/if ((atomic_store_explicit(\&dq->request, WEFT__SPLIT_ASKED, memory_order_relaxed), 1) || atomic_compare_exchange_strong_explicit(\&dq->request, \&r, WEFT__SPLIT_ASKED,/' \
    $SPLIT -DPUSH1=2 -DPOP1=3 -DTHIEVES=1 -DSTEALS=2
# the owner's batch: top moved with a plain store instead of a CAS, so a
# thief's steal of the oldest item wins too
take_store='/^static inline size_t weft__deque_claim_oldest/,/^}/s/if (!atomic_compare_exchange_strong_explicit(top, &t, t + (int64_t)k, memory_order_seq_cst,/if ((atomic_store_explicit(top, t + (int64_t)k, memory_order_seq_cst), 0) \&\& !atomic_compare_exchange_strong_explicit(top, \&t, t + (int64_t)k, memory_order_seq_cst,/'
bad deque/common.h "$take_store" -DPUSH1=2 -DTAKE=1 -DPOP1=0 -DTHIEVES=1 -DSTEALS=1
bad deque/common.h "$take_store" $SPLIT -DPUSH1=2 -DSHARE -DTAKE=1 -DPOP1=0 -DTHIEVES=1 -DSTEALS=1
# split: a batch past split without sharing it: the owner pops its private
# items again
bad deque/split.h '/^static inline size_t weft__deque_split_take_oldest_words/,/^}/s/if (dq->own_split < t + (int64_t)k)/if (0)/' \
    $SPLIT -DPUSH1=3 -DTAKE=1 -DPOP1=3 -DTHIEVES=1 -DSTEALS=1
exit $fail
