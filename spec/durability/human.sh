#!/bin/bash
# human.sh - suspend on Human.approve / input / review and resume with the answer (case 7 of
# docs/durability-testing.md).
#
# Each fixture makes a side effect, waits for a human, and makes another. Without a terminal
# the run must suspend (exit 5, status suspended, a pending journal record, listed by
# `tactus runs`); a resume without an answer or with the wrong kind of answer must change
# nothing; the right answer finishes the run with the side effect before the wait done once
# and the one after it once; answering a run that no longer waits must fail with exit 2 "not
# waiting for an answer" and leave every file of the run as it was.
. "$(dirname "$0")/lib.sh"

detect_modes

# snapshot ID: copies the run's files aside (for unchanged).
snapshot() { rm -rf snap && cp -a "$(rundir "$1")" snap && cp effects.log snap.effects; }

# unchanged WHAT ID: the run's files and the side-effect log are as snapshot left them.
unchanged() {
    local f
    for f in journal.jsonl result.json steps.json stream.jsonl run.json; do
        if [ -e "snap/$f" ]; then
            check "$1: $f changed" cmp -s "snap/$f" "$(rundir "$2")/$f"
        fi
    done
    check "$1: side effects happened" cmp -s snap.effects effects.log
}

# suspend_run FIXTURE ID MODE LINE: runs FIXTURE until it waits at FIXTURE.tac:LINE.
suspend_run() {
    local fixture=$1 id=$2 mode=$3 line=$4 j
    tx "$id.suspend" run "$fixture.tac" --run-id "$id" --quiet "$mode"
    expect_eq "$id: exit code" "$RC" 5
    expect_eq "$id: status" "$(status_of "$id")" suspended
    expect_grep "$id: message" "waiting for a human at $fixture\\.tac:$line" "$id.suspend.err"
    j=$(journal_of "$id")
    expect_journal "$id suspended" "$j" 2
    expect_eq "$id: pending records" "$(count_lines '"pending":true' "$j")" 1
    expect_eq "$id: side effects before the wait" "$(count_lines "^$id:1 " effects.log)" 1
    expect_eq "$id: side effects after the wait" "$(count_lines "^$id:3 " effects.log)" 0
}

# answer ID MODE SUMMARY ARGS...: resumes with ARGS; the run finishes with SUMMARY, the side
# effects once each, and a second answer is refused without touching anything.
answer() {
    local id=$1 mode=$2 want=$3
    shift 3
    tx "$id.answer" resume "$id" "$@" --quiet "$mode"
    expect_eq "$id $*: exit code ($(head -c 200 "$id.answer.err"))" "$RC" 0
    expect_eq "$id $*: summary" "$(summary "$id")" "$want"
    expect_journal "$id answered" "$(journal_of "$id")" 3
    expect_eq "$id: pending records" "$(count_lines '"pending":true' "$(journal_of "$id")")" 0
    expect_eq "$id: side effects before the wait" "$(count_lines "^$id:1 " effects.log)" 1
    expect_eq "$id: side effects after the wait" "$(count_lines "^$id:3 " effects.log)" 1
    snapshot "$id"
    tx "$id.again" resume "$id" "$@" --quiet "$mode"
    expect_eq "$id: answering again: exit code" "$RC" 2
    expect_grep "$id: answering again: message" "run $id is not waiting for an answer" \
        "$id.again.err"
    unchanged "$id: answering again" "$id"
}

for mode in $MODES; do
    m=${mode#--}
    dir=$WORK/$m
    mkdir -p "$dir"
    for f in human_approve human_input human_review; do
        install_fixture $f "$dir"
    done
    cd "$dir" || exit 99

    # Human.approve: listed while waiting; no answer or a text answer changes nothing.
    id=approve-$m
    suspend_run human_approve "$id" "$mode" 5
    tx runs runs
    expect_grep "$id: tactus runs" "^$id +suspended " runs.out
    tx runs-json runs --json
    expect_grep "$id: tactus runs --json" "\"run_id\": \"$id\"" runs-json.out
    snapshot "$id"
    tx "$id.none" resume "$id" --quiet "$mode"
    expect_eq "$id: resume without an answer: exit code" "$RC" 5
    check "$id: resume without an answer changed the journal" cmp -s snap/journal.jsonl \
        "$(journal_of "$id")"
    check "$id: resume without an answer: side effects happened" cmp -s snap.effects effects.log
    snapshot "$id"
    tx "$id.text" resume "$id" --answer "yes please" --quiet "$mode"
    expect_eq "$id: a text answer to an approval: exit code" "$RC" 2
    expect_grep "$id: a text answer to an approval: message" 'waits for an approval' "$id.text.err"
    unchanged "$id: a text answer to an approval" "$id"
    answer "$id" "$mode" "approved=true" --approve
    tx runs2 runs
    expect_grep "$id: tactus runs after the answer" "^$id +ok " runs2.out

    id=reject-$m
    suspend_run human_approve "$id" "$mode" 5
    answer "$id" "$mode" "approved=false" --reject

    # Human.input: an approval is the wrong kind of answer; text and JSON are right.
    id=input-$m
    suspend_run human_input "$id" "$mode" 5
    snapshot "$id"
    tx "$id.approve" resume "$id" --approve --quiet "$mode"
    expect_eq "$id: an approval as input: exit code" "$RC" 2
    expect_grep "$id: an approval as input: message" 'waits for an answer' "$id.approve.err"
    unchanged "$id: an approval as input" "$id"
    answer "$id" "$mode" "input=Ada Lovelace, 1843" --answer "Ada Lovelace, 1843"
    id=input-json-$m
    suspend_run human_input "$id" "$mode" 5
    answer "$id" "$mode" "input=from json" --answer-json '"from json"'

    # Human.review: approve, reject, or an approval with --feedback.
    for how in approve reject text; do
        id=review-$how-$m
        suspend_run human_review "$id" "$mode" 5
        case $how in
        approve) answer "$id" "$mode" "decision=approve feedback=nil" --approve ;;
        reject) answer "$id" "$mode" "decision=reject feedback=nil" --reject ;;
        text) answer "$id" "$mode" "decision=approve feedback=ship it" --approve --feedback "ship it" ;;
        esac
    done
    # A crash while the answer is being recorded (it replaces the pending record 2): the run
    # is then either still waiting (the answer was lost: ask again) or has the answer; never
    # another answer, never a half record, and the side effect before the wait never again.
    for point in before_write torn_write after_write after_sync before_return; do
        id=crash-$point-$m
        suspend_run human_approve "$id" "$mode" 5
        txe "$id.crash" "TACTUS_CRASH_AT=$point:2" -- resume "$id" --approve --quiet "$mode"
        expect_eq "$id: crashed answer: exit code" "$RC" 7
        tx "$id.after" resume "$id" --quiet "$mode"
        if [ "$RC" = 5 ]; then
            note "$id: the answer was lost in the crash; the run waits again"
            expect_eq "$id: waiting again: pending records" \
                "$(count_lines '"pending":true' "$(journal_of "$id")")" 1
            tx "$id.after" resume "$id" --approve --quiet "$mode"
        fi
        expect_eq "$id: after the crash: exit code ($(head -c 200 "$id.after.err"))" "$RC" 0
        expect_eq "$id: summary" "$(summary "$id")" "approved=true"
        expect_journal "$id" "$(journal_of "$id")" 3
        expect_eq "$id: side effects before the wait" "$(count_lines "^$id:1 " effects.log)" 1
        expect_eq "$id: side effects after the wait" "$(count_lines "^$id:3 " effects.log)" 1
    done
    cd "$WORK" || exit 99
done
finish
