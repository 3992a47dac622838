#!/bin/sh
# tactus test: passing and failing scenarios, exit codes, reports. $1 = tactus binary.
set -u
tactus=$1
dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fail=0
expect() { # name, expected exit, command...; output in $work/out
    name=$1 want=$2; shift 2
    "$@" >"$work/out" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; cat "$work/out"; fail=1
    fi
}
contains() { # name, text
    if ! grep -qF -- "$2" "$work/out"; then
        echo "FAIL $1: output lacks: $2"; cat "$work/out"; fail=1
    fi
}
expect passing 0 "$tactus" test "$dir/passing.tac"
contains passing "2 scenarios: 2 passed, 0 failed"
expect counter 1 "$tactus" test "$dir/counter.tac"
contains counter "3 scenarios: 2 passed, 1 failed"
contains counter "output final_count is 5, expected 6"
expect filter 0 "$tactus" test "$dir/counter.tac" --scenario "custom target"
contains filter "1 scenarios: 1 passed, 0 failed"
expect failing 1 "$tactus" test "$dir/failing.tac"
contains failing "PASS failure is expected"
contains failing "FAIL success is not"
contains failing "undefined Then the moon should be made of cheese"
expect json 1 "$tactus" test "$dir/failing.tac" --json
contains json '"failed": 2'
expect nospecs 1 "$tactus" test "$dir/nospecs.tac"
contains nospecs "no specifications found"
expect badgherkin 1 "$tactus" test "$dir/badgherkin.tac"
contains badgherkin "scenario outlines are not supported"
expect usage 2 "$tactus" test
expect help 0 "$tactus" test --help
[ "$fail" -eq 0 ] && echo "bdd: all checks passed"
exit "$fail"
