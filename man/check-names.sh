#!/bin/sh
# Every function and type that api/weft/weft.h and api/weft/inline.h
# declare (but the inline header's layout names, which end in `_`) has a
# section-3 page that `make install` installs (man/man.am), so `man NAME`
# finds it; every link page points at a page that is installed too. Run by `make
# check`; after adding a page or a name, run man/gen-links.sh.
set -eu
top=${srcdir:-$(dirname "$0")/..}
headers="$top/api/weft/weft.h $top/api/weft/inline.h"
am=$top/man/man.am
fail=0

# the header's names: WEFT_API functions, and typedefs (plain, struct and
# function pointer)
names=$(
    {
        cat $headers | grep -E 'WEFT_API|^static inline' | grep -oE 'weft_[a-z0-9_]+ *\(' |
            tr -d ' ('
        cat $headers | grep -E '^ *typedef|^\} *weft_' |
            grep -oE '\(\*weft_[a-z0-9_]+\)|weft_[a-z0-9_]+;' | tr -d '(*);'
    } | grep -v '_$' | sort -u
)
# the section-3 pages installed
installed=$(grep -oE 'man/[A-Za-z0-9_]+\.3' "$am" | sed 's|^man/||; s|\.3$||' | sort -u)

n=0
for name in $names; do
    n=$((n + 1))
    if ! echo "$installed" | grep -qx "$name"; then
        echo "check-names: $name (api/weft/) has no installed page man/$name.3" >&2
        fail=1
    fi
done
for page in $installed; do
    f=$top/man/$page.3
    if [ ! -f "$f" ]; then
        echo "check-names: man/man.am installs man/$page.3, which does not exist" >&2
        fail=1
        continue
    fi
    target=$(sed -n '1s/^\.so man3\///p' "$f")
    if [ -n "$target" ] && ! echo "$installed" | grep -qx "${target%.3}"; then
        echo "check-names: man/$page.3 links to $target, which is not installed" >&2
        fail=1
    fi
done
[ $fail = 0 ] && echo "check-names: all $n names of weft.h and inline.h have a page"
exit $fail
