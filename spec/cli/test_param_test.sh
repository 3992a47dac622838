#!/bin/sh
# tactus test --param converts by the declared input type exactly as `run` does (issue 9).
# $1 = tactus binary.
set -u
tactus=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fail=0
cat >p.tac <<'TAC'
main = procedure("main", {
  input = { n = { type = "integer", required = true } },
  output = { doubled = { type = "integer", required = true } },
}, function()
  return { doubled = input.n * 2 }
end)

specifications([[
Feature: doubling
  Scenario: from the command line
    When the procedure runs
    Then the output doubled should be 6

  Scenario: a step overrides the parameter
    Given the input n is 5
    When the procedure runs
    Then the output doubled should be 10
]])
TAC
"$tactus" test p.tac --param n=3 >out 2>&1
rc=$?
if [ "$rc" -ne 0 ] || ! grep -qF "2 scenarios: 2 passed, 0 failed" out; then
    echo "FAIL integer --param: exit $rc"; cat out; fail=1
fi
# A value that is no integer fails with the same message `run` gives.
"$tactus" test p.tac --param n=x >out 2>&1
"$tactus" run p.tac --param n=x >run.out 2>&1
if ! grep -qF "invalid value for input 'n': expected integer, got \"x\"" out ||
   ! grep -qF "invalid value for input 'n': expected integer, got \"x\"" run.out; then
    echo "FAIL bad --param: test and run disagree"; cat out run.out; fail=1
fi
[ "$fail" -eq 0 ] && echo "test_param: all checks passed"
exit "$fail"
