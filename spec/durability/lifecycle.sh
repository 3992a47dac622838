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

# ---- 2. one answer, of the question's kind -----------------------------------------------------
# refused WHAT ID PATTERN ARGS...: resume ID with ARGS exits 2 with PATTERN and changes nothing.
refused() {
    local what=$1 rid=$2 pattern=$3
    shift 3
    snapshot "$rid"
    tx "$rid.refused" resume "$rid" "$@" --quiet $mode
    expect_eq "$what: exit code" "$RC" 2
    expect_grep "$what: message" "$pattern" "$rid.refused.err"
    unchanged "$what" "$rid"
}
tx d3 run human_approve.tac --run-id d3 --quiet $mode
expect_eq "d3: exit code" "$RC" 5
refused "d3: --reject --approve" d3 "--reject and --approve are two answers: give one" --reject --approve
refused "d3: --answer twice" d3 "--answer and --answer are two answers" --answer a --answer b
refused "d3: --approve --answer-json" d3 "--approve and --answer-json are two answers" --approve --answer-json true
refused "d3: a text answer to an approval" d3 "accepted answers are --approve, --reject, or --answer-json true\|false" --answer yes
refused "d3: a JSON string as an approval" d3 "accepted answers are --approve" --answer-json '"maybe"'
refused "d3: --feedback on an approval" d3 "--feedback goes with --approve or --reject on a Human.review" --approve --feedback why
refused "d3: --feedback alone" d3 "--feedback goes with --approve or --reject" --feedback why
tx d3.ok resume d3 --answer-json false --quiet $mode
expect_eq "d3: --answer-json false: exit code ($(head -c 200 d3.ok.err))" "$RC" 0
expect_eq "d3: --answer-json false: summary" "$(summary d3)" "approved=false"

tx rv run human_review.tac --run-id rv --quiet $mode
expect_eq "rv: exit code" "$RC" 5
refused "rv: a free text as a review" rv "this run waits for a review: accepted answers are --approve or --reject \(with --feedback TEXT\)" --answer "no, this plan is wrong"
refused "rv: a review decision that is none" rv "waits for a review" --answer-json '{"decision":"maybe"}'
refused "rv: a review with extra fields" rv "waits for a review" --answer-json '{"decision":"approve","x":1}'
tx rv.ok resume rv --reject --feedback "this plan is wrong" --quiet $mode
expect_eq "rv: --reject --feedback: exit code ($(head -c 200 rv.ok.err))" "$RC" 0
expect_eq "rv: --reject --feedback: summary" "$(summary rv)" "decision=reject feedback=this plan is wrong"
tx rv2 run human_review.tac --run-id rv2 --quiet $mode
tx rv2.ok resume rv2 --answer-json '{"decision":"reject","feedback":"no"}' --quiet $mode
expect_eq "rv2: --answer-json review: exit code ($(head -c 200 rv2.ok.err))" "$RC" 0
expect_eq "rv2: --answer-json review: summary" "$(summary rv2)" "decision=reject feedback=no"

cat >pick.tac <<'TAC'
Procedure { function() local c = Human.input({ message = "Colour?", options = { "red", "blue" } }); return { summary = "colour=" .. c } end }
TAC
tx pick run pick.tac --run-id pick --quiet $mode
expect_eq "pick: exit code" "$RC" 5
refused "pick: an answer not among the options" pick 'one of the options \["red","blue"\]' --answer green
tx pick.ok resume pick --answer blue --quiet $mode
expect_eq "pick: an option: exit code ($(head -c 200 pick.ok.err))" "$RC" 0
expect_eq "pick: an option: summary" "$(summary pick)" "colour=blue"

# ---- 4. states users can tell apart ------------------------------------------------------------
# A run that blocks in a host tool until ./go exists: running while it waits.
cat >block.tac <<'TAC'
Procedure { function() local a = Step.checkpoint(function() return 1 end); Host.call("block", {}); return { summary = "unblocked" } end }
TAC
cat >block.tac.yml <<'YML'
tools: [block]
host_tools:
  block: {command: [/bin/sh, -c, 'cat >/dev/null; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo "{}"'], timeout: 60}
YML
"$TACTUS" run block.tac --run-id live --quiet $mode </dev/null >live.out 2>live.err &
live_pid=$!
CLEANUP_HOOKS+=("touch '$WORK/go'; kill $live_pid 2>/dev/null")
for _ in $(seq 1 400); do
    tx runs-live runs
    grep -Eq '^live +running ' runs-live.out && break
    sleep 0.05
done
expect_grep "live: tactus runs while it runs" '^live +running ' runs-live.out
touch go
wait $live_pid
expect_eq "live: exit code" "$?" 0
rm -f go
tx runs-done runs
expect_grep "live: tactus runs once it finished" '^live +ok ' runs-done.out

txe dead TACTUS_CRASH_AT=after_sync:2 -- run steps.tac --run-id dead --quiet $mode
expect_eq "dead: crashed run: exit code" "$RC" 7
tx runs-dead runs
expect_grep "dead: tactus runs of a crashed run" '^dead +interrupted ' runs-dead.out
expect_grep "dead: tactus runs says how to continue it" '^    tactus resume dead$' runs-dead.out

# A suspended run: the resume command for its kind of question; listing changes nothing.
tx q1 run human_input.tac --run-id q1 --quiet $mode
tx q2 run human_review.tac --run-id q2 --quiet $mode
snapshot q1
tx runs-q runs
expect_grep "wait: tactus runs: approval" '^    waiting .*\(tactus resume wait --approve \| --reject\)$' runs-q.out
expect_grep "q1: tactus runs: input" '^    waiting .*\(tactus resume q1 --answer TEXT \| --answer-json JSON\)$' runs-q.out
expect_grep "q2: tactus runs: review" '^    waiting .*\(tactus resume q2 --approve \| --reject \[--feedback TEXT\]\)$' runs-q.out
tx runs-qj runs --json
expect_grep "q1: tactus runs --json: state" '"state": "suspended"' runs-qj.out
expect_grep "q1: tactus runs --json: resume" '"resume": "tactus resume q1 --answer TEXT' runs-qj.out
unchanged "q1: tactus runs" q1

# started_at is the first start; resumed_at this session's.
first=$(sed -n 's/^  "started_at": "\(.*\)",$/\1/p' "$(rundir q1)/result.json")
tx q1.answer resume q1 --answer hello --quiet $mode
expect_eq "q1: answered: exit code" "$RC" 0
expect_eq "q1: started_at after a resume" "$(sed -n 's/^  "started_at": "\(.*\)",$/\1/p' "$(rundir q1)/result.json")" "$first"
expect_grep "q1: resumed_at" '^  "resumed_at": "' "$(rundir q1)/result.json"
expect_grep "q1: run.json records the first start" "\"started_at\": \"$first\"" "$(rundir q1)/run.json"

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
expect_eq "$id: replay --check of an interrupted, unchanged run: exit code ($(head -c 300 $id.check.err))" "$RC" 0
expect_grep "$id: replay --check says how far" "run $id replays cleanly up to the end of the journal" $id.check.err
unchanged "$id: replay --check of a crashed run" $id
tx $id.checkj replay --check $id --json $mode
expect_grep "$id: replay --check --json" '"replay": "clean_to_end"' $id.checkj.out
sed -i 's/return "alpha"/return "beta"/; s/local a = Step.checkpoint/local a0 = Step.run("x", function() return 0 end); local a = Step.checkpoint/' steps.tac
tx $id.diverge replay --check $id $mode
expect_eq "$id: replay --check of an interrupted, diverging run: exit code" "$RC" 6
expect_grep "$id: the divergence is named" "non-determinism at journal position 1" $id.diverge.err
unchanged "$id: replay --check of a diverging run" $id
cp steps.orig steps.tac
tx $id.answer resume $id --approve --quiet $mode
expect_eq "$id: an answer to a crashed run that waits for none: exit code" "$RC" 2
expect_grep "$id: an answer to a crashed run: message" "run $id is not waiting for an answer" $id.answer.err
unchanged "$id: a refused answer (the journal keeps its zero reserve)" $id

finish
