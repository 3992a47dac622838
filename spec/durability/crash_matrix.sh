#!/bin/bash
# crash_matrix.sh - a crash at every journaled operation, at every crash point, then a resume
# (case 1 of docs/durability-testing.md).
#
# For each isolation mode, crash point P and journal position N, the fixture runs with
# TACTUS_CRASH_AT=P:N (the broker raises SIGKILL while appending record N) and is resumed
# without it. The resumed run must give the clean result; the journal must be whole; the
# `append` tool must have run once per call whose record was durable, and exactly twice, with
# the same idempotency key, for the one call whose record was lost (before_write, torn_write).
. "$(dirname "$0")/lib.sh"

POINTS="before_write after_write after_sync torn_write before_return"
N=9 # records in a complete run of fixtures/matrix.tac
KINDS="checkpoint host_call nondet nondet checkpoint checkpoint procedure host_call checkpoint "

install_fixture matrix
detect_modes

# field NAME: the integer value of "NAME": in each stdin line.
field() { sed -n "s/.*\"$1\":\\(-\\{0,1\\}[0-9][0-9]*\\).*/\\1/p"; }

# check_finished ID ONE TWO: run ID finished with the clean result, a whole journal, and the
# append tool ran ONE times for step one (position 2) and TWO times for step two (position 8),
# always with the key of that position.
check_finished() {
    local id=$1 want_one=$2 want_two=$3 j t r pairs
    j=$(journal_of "$id")
    expect_eq "$id: status" "$(status_of "$id")" ok
    expect_journal "$id" "$j" $N
    expect_eq "$id: record kinds" "$(kinds "$j")" "$KINDS"
    expect_eq "$id: runs of step one" "$(count_lines "^$id:2 " effects.log)" "$want_one"
    expect_eq "$id: runs of step two" "$(count_lines "^$id:8 " effects.log)" "$want_two"
    # Every attempt of a call carries that call's key, never another one.
    expect_eq "$id: keys of step one" "$(count_lines "^$id:[^ ]* .*\"step\":\"one\"" effects.log)" \
        "$want_one"
    expect_eq "$id: keys of step two" "$(count_lines "^$id:[^ ]* .*\"step\":\"two\"" effects.log)" \
        "$want_two"
    # t and r as the tool saw them (identical on every attempt: records 3 and 4 come first) and
    # t as recorded must be what the procedure returns, live or replayed.
    pairs=$(grep "^$id:8 " effects.log | while read -r line; do
        echo "$(echo "$line" | field t) $(echo "$line" | field r)"
    done | sort -u)
    expect_eq "$id: distinct (t, r) seen by step two" "$(echo "$pairs" | grep -c .)" 1
    t=$(record "$j" 3 | field result)
    r=${pairs#* }
    expect_eq "$id: t seen by the tool vs journal record 3" "${pairs%% *}" "$t"
    expect_eq "$id: summary" "$(summary "$id")" \
        "a=1 b=2 s=4 h1=$id:2 h2=$id:8 t=$t r=$r ct=$t cr=$r"
}

for mode in $MODES; do
    m=${mode#--}

    # The clean run, then a resume of the finished run: everything replays, nothing reruns.
    id=clean-$m
    tx "$id" run matrix.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: exit code" "$RC" 0
    check_finished "$id" 1 1
    cp "$(journal_of "$id")" "$id.journal"
    # Every record names its call site (the sub-procedure's checkpoint its own line, the
    # sub-procedure's result the line that called it): replay checks them.
    sites=$(sed -n '2,$ s/.*"site":"\([^"]*\)".*/\1/p' "$id.journal" | tr '\n' ' ')
    expect_eq "$id: record sites" "$sites" "$(printf 'matrix.tac:%s ' 17 18 19 20 21 10 22 23 24)"
    tx "$id.again" resume "$id" --quiet "$mode"
    expect_eq "$id: resume of a finished run: exit code" "$RC" 0
    check_finished "$id" 1 1
    check "$id: resume of a finished run changed the journal" cmp -s "$id.journal" \
        "$(journal_of "$id")"

    for point in $POINTS; do
        for pos in $(seq 1 $N); do
            id=m-$m-$point-$pos
            j=$(journal_of "$id")
            txe "$id.crash" "TACTUS_CRASH_AT=$point:$pos" -- run matrix.tac --run-id "$id" \
                --quiet "$mode"
            expect_eq "$id: crashed run: exit code" "$RC" 7
            expect_grep "$id: crashed run: message" 'broker process was killed' "$id.crash.err"
            check "$id: crashed run wrote result.json" test ! -e "$(rundir "$id")/result.json"
            # What the crash left: the record absent, half written, or whole.
            case $point in
            before_write) lines=$pos tail=zero ;;
            torn_write) lines=$pos tail=some ;;
            *) lines=$((pos + 1)) tail=zero ;;
            esac
            expect_eq "$id: complete journal lines after the crash" "$(complete_lines "$j")" \
                "$lines"
            bytes=$(tail_bytes "$j")
            if [ $tail = zero ]; then
                expect_eq "$id: torn bytes after the crash" "$bytes" 0
            else
                check "$id: torn_write left no partial line" test "$bytes" -gt 0
            fi

            tx "$id.resume" resume "$id" --quiet "$mode"
            expect_eq "$id: resume: exit code ($(head -c 300 "$id.resume.err"))" "$RC" 0
            one=1 two=1
            if [ "$point" = before_write ] || [ "$point" = torn_write ]; then
                # The tool ran, its record was lost: it runs again, with the same key.
                [ "$pos" = 2 ] && one=2
                [ "$pos" = 8 ] && two=2
            fi
            check_finished "$id" $one $two
            repairs=$(count_lines '"journal_repair"' "$(rundir "$id")/stream.jsonl")
            if [ "$point" = torn_write ]; then
                expect_eq "$id: journal_repair events" "$repairs" 1
            else
                expect_eq "$id: journal_repair events" "$repairs" 0
            fi
        done
    done
done
# The answer window: a crash at every point while `resume --approve` replaces the pending record
# 2 of fixtures/human_approve.tac by its answer (answer_saved: answer.json durable, the pending
# record not yet cut; the journal's points while the answered record is appended). After it the
# run either still waits and takes the answer, or has the answer: never a run that says
# suspended but refuses every answer.
install_fixture human_approve
for mode in $MODES; do
    m=${mode#--}
    for point in answer_saved $POINTS; do
        id=a-$m-$point
        j=$(journal_of "$id")
        tx "$id.suspend" run human_approve.tac --run-id "$id" --quiet "$mode"
        expect_eq "$id: suspended: exit code" "$RC" 5
        txe "$id.crash" "TACTUS_CRASH_AT=$point:2" -- resume "$id" --approve --quiet "$mode"
        expect_eq "$id: crashed answer: exit code" "$RC" 7
        expect_grep "$id: crashed answer: message" 'broker process was killed' "$id.crash.err"
        # answer_saved came before the cut: the run still waits. Every later point: the answer
        # is in answer.json or the journal, and the next session records it; `tactus runs`
        # says interrupted (not a suspended run that would refuse its answer).
        tx "$id.runs" runs
        if [ "$point" = answer_saved ]; then
            expect_grep "$id: tactus runs after the crash" "^$id +suspended " "$id.runs.out"
        else
            expect_grep "$id: tactus runs after the crash" "^$id +interrupted " "$id.runs.out"
            expect_grep "$id: tactus runs: how to continue" "^    tactus resume $id\$" \
                "$id.runs.out"
        fi
        tx "$id.answer" resume "$id" --approve --quiet "$mode"
        if [ "$point" = answer_saved ]; then
            expect_eq "$id: answering again: exit code ($(head -c 300 "$id.answer.err"))" "$RC" 0
        else
            expect_eq "$id: answering again: exit code ($(head -c 300 "$id.answer.err"))" "$RC" 2
            expect_grep "$id: answering again: message" "run $id is not waiting for an answer" \
                "$id.answer.err"
            tx "$id.resume" resume "$id" --quiet "$mode"
            expect_eq "$id: resume: exit code ($(head -c 300 "$id.resume.err"))" "$RC" 0
        fi
        expect_eq "$id: summary" "$(summary "$id")" "approved=true"
        expect_journal "$id" "$j" 3
        expect_eq "$id: pending records" "$(count_lines '"pending":true' "$j")" 0
        check "$id: answer.json left behind" test ! -e "$(rundir "$id")/answer.json"
        expect_eq "$id: side effects before the wait" "$(count_lines "^$id:1 " effects.log)" 1
        expect_eq "$id: side effects after the wait" "$(count_lines "^$id:3 " effects.log)" 1
    done
done
finish
