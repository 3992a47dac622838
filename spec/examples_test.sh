#!/bin/sh
# Every example must validate, and its specifications (if any) must pass. $1 = tactus binary,
# $2 = source root.
set -u
tactus=$1 root=$2
fail=0
for f in "$root"/examples/*.tac "$root"/examples/*/*.tac; do
    [ -f "$f" ] || continue
    if ! "$tactus" validate "$f" >/dev/null 2>err.$$; then
        echo "FAIL validate $f"; cat err.$$; fail=1
    fi
    if grep -q "specifications(" "$f" && ! "$tactus" test "$f" >out.$$ 2>&1; then
        echo "FAIL test $f"; cat out.$$; fail=1
    fi
done
rm -f err.$$ out.$$
[ "$fail" -eq 0 ] && echo "examples: all valid"
exit "$fail"
