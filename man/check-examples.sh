#!/bin/sh
# The C in every page's EXAMPLES section compiles against api/weft/
# (syntax and types only: -fsyntax-only, warnings are errors). Literal blocks
# that start with #include or #define are C; the others (shell lines) are
# skipped, and so is a page whose own name the headers do not declare yet.
# Run by `make check`; CC defaults to cc.
set -eu
top=${srcdir:-$(dirname "$0")/..}
cc=${CC:-cc}
headers="$top/api/weft/weft.h $top/api/weft/inline.h"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0 n=0
for page in "$top"/man/*.[37]; do
    head -n 1 "$page" | grep -q '^\.so ' && continue
    base=$(basename "$page")
    name=${base%.*}
    case $base in
    *.3)
        if ! cat $headers | grep -Eq "(WEFT_API|^static inline).*[ *]$name *\(|[ }]$name;"; then
            echo "check-examples: $base skipped: api/weft/ does not declare $name"
            continue
        fi
        ;;
    esac
    awk '
        /^\.Sh / { ex = ($0 ~ /^\.Sh EXAMPLES/); next }
        ex && /^\.Bd -literal/ { inblock = 1; first = 1; c = 0; next }
        ex && inblock && /^\.Ed/ { inblock = 0; next }
        ex && inblock {
            if (first) { c = ($0 ~ /^#(include|define)/); first = 0 }
            if (c) {
                line = $0
                gsub(/\\e/, "\\", line)
                gsub(/\\&/, "", line)
                print line
            }
        }
    ' "$page" >"$work/$name.c"
    [ -s "$work/$name.c" ] || continue
    n=$((n + 1))
    if ! $cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wno-unused-function \
        -fsyntax-only -I"$top/api" "$work/$name.c"; then
        echo "check-examples: the EXAMPLES of man/$base do not compile (above)" >&2
        fail=1
    fi
done
[ $fail = 0 ] && echo "check-examples: the EXAMPLES of $n pages compile"
exit $fail
