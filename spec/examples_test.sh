#!/bin/sh
# Every example must validate, and its specifications (if any) must pass. $1 = tactus binary,
# $2 = source root.
set -u
tactus=$1 root=$2
fail=0
# Scratch files in a temporary directory: the build tree may not be writable (the suite
# also runs as an unprivileged user, see spec/run).
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for f in "$root"/examples/*.tac "$root"/examples/*/*.tac; do
    [ -f "$f" ] || continue
    if ! "$tactus" validate "$f" >/dev/null 2>"$tmp/err"; then
        echo "FAIL validate $f"; cat "$tmp/err"; fail=1
    fi
    if grep -q "specifications(" "$f" && ! "$tactus" test "$f" >"$tmp/out" 2>&1; then
        echo "FAIL test $f"; cat "$tmp/out"; fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "examples: all valid"
exit "$fail"
