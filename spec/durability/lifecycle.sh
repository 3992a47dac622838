#!/bin/bash
# lifecycle.sh - the run lifecycle of docs/durability.md: a finished run stays finished, a
# resume carries one answer of the right kind, and read-only commands change nothing.
#
# 1. `tactus resume` of a finished run (even after an edit of the procedure) prints the
#    recorded result, exits with its status's code, and leaves every file of the run
#    byte-identical with the same mtime; an answer to it is refused (exit 2); --rerun starts a
#    new run that names the old one (rerun_of) and leaves the old one as it was.
# 2. Conflicting answer flags are a usage error; an answer that is not an accepted decision for
#    the question's kind is refused (exit 2) with the accepted values, changing nothing.
. "$(dirname "$0")/lib.sh"

# snapshot ID: a listing of the run's files with size, mtime (ns) and checksum.
snapshot() {
    (cd "$(rundir "$1")" && find . -type f -printf '%p %s %T@\n' | sort &&
        find . -type f -exec sha256sum {} + | sort) >"$1.snap"
    cp effects.log "$1.effects" 2>/dev/null || : >"$1.effects"
}
# unchanged WHAT ID: every file of the run (and the side-effect log) is as snapshot saw it.
unchanged() {
    local now
    now=$( (cd "$(rundir "$2")" && find . -type f -printf '%p %s %T@\n' | sort &&
        find . -type f -exec sha256sum {} + | sort))
    CHECKS=$((CHECKS + 1))
    [ "$now" = "$(cat "$2.snap")" ] ||
        fail "$1: the run directory changed: $(diff <(echo "$now") "$2.snap" | head -c 600 | tr '\n' ' ')"
    check "$1: side effects happened" cmp -s "$2.effects" effects.log
}

install_fixture steps
install_fixture human_approve
install_fixture human_input
install_fixture human_review
: >effects.log
mode=--no-sandbox

# ---- 1. finished is final ----------------------------------------------------------------------
id=fin
tx $id run steps.tac --run-id $id --quiet $mode
expect_eq "$id: exit code" "$RC" 0
snapshot $id
cp steps.tac steps.orig
sed -i 's/return "alpha"/return "beta"/' steps.tac # an edit after the run finished
tx $id.resume resume $id $mode
expect_eq "$id: resume of a finished, edited run: exit code" "$RC" 0
expect_grep "$id: resume prints the recorded output" '"summary": "alpha-2-3.5 fin:3"' $id.resume.out
expect_grep "$id: resume says it finished" "run $id already finished \\(status ok\\); nothing changed" $id.resume.err
unchanged "$id: resume of a finished run" $id
tx $id.json resume $id --json $mode
expect_eq "$id: resume --json: exit code" "$RC" 0
expect_grep "$id: resume --json prints result.json" '"status": "ok"' $id.json.out
unchanged "$id: resume --json of a finished run" $id
tx $id.answer resume $id --approve --quiet $mode
expect_eq "$id: an answer to a finished run: exit code" "$RC" 2
expect_grep "$id: an answer to a finished run: message" "run $id is not waiting for an answer" $id.answer.err
unchanged "$id: an answer to a finished run" $id

# A finished run that failed keeps its failure's exit code.
cat >fails.tac <<'TAC'
Procedure { function() local a = Step.checkpoint(function() return 1 end); error("boom") end }
TAC
tx failed run fails.tac --run-id failed --quiet $mode
expect_eq "failed: exit code" "$RC" 1
snapshot failed
tx failed.resume resume failed --quiet $mode
expect_eq "failed: resume of a failed run: exit code" "$RC" 1
unchanged "failed: resume of a failed run" failed

# --rerun: a new run of the same procedure and input, linked to the old one.
tx $id.rerun resume $id --rerun --quiet $mode
expect_eq "$id: --rerun: exit code ($(head -c 300 $id.rerun.err))" "$RC" 0
expect_grep "$id: --rerun runs the current source" '"summary": "beta-2-3.5 ' $id.rerun.out
cp effects.log $id.effects # the rerun makes its own side effects
unchanged "$id: --rerun leaves the old run" $id
new=$(grep -l "\"rerun_of\": \"$id\"" .tactus/runs/*/run.json 2>/dev/null | head -n 1)
check "$id: a run.json names rerun_of $id" test -n "$new"
newid=$(basename "$(dirname "$new")")
expect_grep "$id: the new run's result names rerun_of" "\"rerun_of\": \"$id\"" "$(rundir "$newid")/result.json"
expect_grep "$id: the new run's stream names rerun_of" "\"rerun_of\":\"$id\"" "$(rundir "$newid")/stream.jsonl"
cp steps.orig steps.tac

# --rerun of a run that has not finished is refused: it is resumed instead.
tx wait run human_approve.tac --run-id wait --quiet $mode
expect_eq "wait: exit code" "$RC" 5
snapshot wait
tx wait.rerun resume wait --rerun --quiet $mode
expect_eq "wait: --rerun of a suspended run: exit code" "$RC" 2
expect_grep "wait: --rerun of a suspended run: message" "has not finished" wait.rerun.err
unchanged "wait: --rerun of a suspended run" wait

# ---- 7. a finished run missing records is refused ---------------------------------------------
id=cut
tx $id run steps.tac --run-id $id --quiet $mode
expect_eq "$id: exit code" "$RC" 0
j=$(journal_of $id)
cp "$j" $id.orig
head -n 5 "$j" >$id.cut && cat $id.cut >"$j" # the last record (5) lost: 4 records left
snapshot $id
tx $id.resume resume $id --quiet $mode
expect_eq "$id: resume of a finished run missing a record: exit code" "$RC" 7
expect_grep "$id: the message names the counts" "finished with 5 journal records but .*journal.jsonl holds 4" $id.resume.err
unchanged "$id: resume of a finished run missing a record" $id
head -n 5 $id.orig >$id.cut
tail -n 1 $id.orig | head -c 40 >>$id.cut
cat $id.cut >"$j" # and a torn tail after them
snapshot $id
tx $id.torn resume $id --quiet $mode
expect_eq "$id: resume of a finished run with a torn tail: exit code" "$RC" 7
expect_grep "$id: torn tail: message" "holds 4 and 40 bytes of torn tail" $id.torn.err
unchanged "$id: resume of a finished run with a torn tail" $id

# ---- 6. read-only commands do not rewrite the journal -----------------------------------------
id=crashed
txe $id TACTUS_CRASH_AT=after_sync:3 -- run steps.tac --run-id $id --quiet $mode
expect_eq "$id: crashed run: exit code" "$RC" 7
check "$id: the crashed journal keeps its zero reserve" test "$(tail_bytes "$(journal_of $id)")" = 0
snapshot $id
tx $id.check replay --check $id $mode
unchanged "$id: replay --check of a crashed run" $id

finish
