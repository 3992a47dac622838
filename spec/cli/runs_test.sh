#!/bin/sh
# CLI around runs: run --run-id, runs, show, replay --check (match and divergence), resume of a
# finished run, bad run ids. $1 = tactus binary.
set -u
tactus=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fail=0
check() { # name, expected exit, command...
    name=$1 want=$2; shift 2
    "$@" >out 2>err
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; cat out err; fail=1
    fi
}
has() { # name, file, text
    grep -qF -- "$3" "$2" || { echo "FAIL $1: $2 lacks: $3"; cat "$2"; fail=1; }
}
cat > steps.tac <<'TAC'
Procedure {
  function(input)
    local a = Step.checkpoint(function() return 1 end)
    local b = Step.run("second", function() return 2 end)
    return { sum = a + b }
  end,
}
TAC
check run 0 "$tactus" run steps.tac --run-id r1 --quiet
has run out '"sum": 3'
for f in stream.jsonl steps.json result.json run.json journal.jsonl; do
    [ -f ".tactus/runs/r1/$f" ] || { echo "FAIL: r1 has no $f"; fail=1; }
done
check runs 0 "$tactus" runs
has runs out "r1"
check show 0 "$tactus" show r1
has show out 'status:     ok'
check replay-match 0 "$tactus" replay --check r1
has replay-match err "matches its journal"
cp .tactus/runs/r1/journal.jsonl before.jsonl
# Reordered steps: the replay names the divergence and changes nothing.
sed -i 's/local a = Step.checkpoint(function() return 1 end)/local b0 = Step.run("second", function() return 2 end)/' steps.tac
check replay-diverge 6 "$tactus" replay --check r1
has replay-diverge err "non-determinism at journal position 1"
cmp -s before.jsonl .tactus/runs/r1/journal.jsonl || { echo "FAIL: replay --check changed the journal"; fail=1; }
# A finished run is final: resume prints its result and changes nothing, even after an edit.
check resume-finished 0 "$tactus" resume r1
has resume-finished out '"sum": 3'
has resume-finished err "already finished (status ok); nothing changed"
cmp -s before.jsonl .tactus/runs/r1/journal.jsonl || { echo "FAIL: resume of a finished run changed the journal"; fail=1; }
check show-missing 2 "$tactus" show nope
check bad-id 2 "$tactus" show ../etc
check replay-usage 2 "$tactus" replay r1
check resume-not-waiting 2 "$tactus" resume r1 --approve --quiet
has resume-not-waiting err "is not waiting for an answer"
[ "$fail" -eq 0 ] && echo "cli runs: all checks passed"
exit "$fail"
