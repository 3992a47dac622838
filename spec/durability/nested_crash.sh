#!/bin/bash
# nested_crash.sh - exactly once inside a checkpoint: a crash at every point around each
# journaled child of a checkpoint, then a resume (docs/durability.md "Operations inside a
# checkpoint").
#
# fixtures/nested.tac makes three host calls (marks 1, 2, 3 through the `append` tool, which
# does not dedupe) inside one Step.checkpoint: records 1-3 are the calls, children of the
# checkpoint, record 4 the checkpoint. For each isolation mode and each crash point the run is
# killed (TACTUS_CRASH_AT) and resumed. Then:
#   - the resumed run is ok, with the summary of a clean run (the keys id:1.1 id:1.2 id:1.3);
#   - the tool's marks are exactly 1 2 3, in order: no child whose record was durable ran
#     again. The one exception is a call whose tool ran but whose record was lost
#     (before_write, torn_write of a call's record): it runs again, and with the same key;
#   - the journal is whole (1..4) and `replay --check` passes.
. "$(dirname "$0")/lib.sh"

install_fixture nested
detect_modes

# marks ID: the marks the tool logged for run ID, space separated.
marks() { sed -n "s/^$1:[^ ]* .*\"mark\":\\([0-9]\\).*/\\1/p" effects.log | tr '\n' ' '; }
# keys_of ID MARK: the distinct idempotency keys the tool saw for MARK.
keys_of() { sed -n "s/^\\($1:[^ ]*\\) .*\"mark\":$2.*/\\1/p" effects.log | sort -u | tr '\n' ' '; }

# check_done ID WANT_MARKS: run ID finished like a clean run and the tool logged WANT_MARKS.
check_done() {
    local id=$1 want=$2 k
    expect_eq "$id: status" "$(status_of "$id")" ok
    expect_eq "$id: summary" "$(summary "$id")" "$id:1.1 $id:1.2 $id:1.3"
    expect_eq "$id: marks" "$(marks "$id")" "$want"
    for k in 1 2 3; do
        expect_eq "$id: keys seen for mark $k" "$(keys_of "$id" $k)" "$id:1.$k "
    done
    expect_journal "$id" "$(journal_of "$id")" 4
    expect_eq "$id: record kinds" "$(kinds "$(journal_of "$id")")" \
        "host_call host_call host_call checkpoint "
    tx "$id.check" replay --check "$id" --quiet
    expect_eq "$id: replay --check: exit code ($(head -c 300 "$id.check.err"))" "$RC" 0
}

for mode in $MODES; do
    m=${mode#--}
    id=clean-$m
    tx "$id" run nested.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: exit code ($(head -c 300 "$id.err"))" "$RC" 0
    check_done "$id" "1 2 3 "
    tx "$id.again" resume "$id" --quiet "$mode"
    expect_eq "$id: resume of the finished run: exit code" "$RC" 0
    expect_eq "$id: marks after resuming the finished run" "$(marks "$id")" "1 2 3 "

    points="before_tool:1 before_tool:2 before_tool:3"
    for pos in 1 2 3 4; do
        for p in before_write torn_write after_write after_sync before_return; do
            points="$points $p:$pos"
        done
    done
    for point in $points; do
        id=n-$m-${point/:/-}
        txe "$id.crash" "TACTUS_CRASH_AT=$point" -- run nested.tac --run-id "$id" --quiet "$mode"
        expect_eq "$id: crashed run: exit code" "$RC" 7
        check "$id: crashed run wrote result.json" test ! -e "$(rundir "$id")/result.json"
        tx "$id.resume" resume "$id" --quiet "$mode"
        expect_eq "$id: resume: exit code ($(head -c 300 "$id.resume.err"))" "$RC" 0
        want="1 2 3 "
        case $point in
        before_write:[123] | torn_write:[123])
            # The tool ran, its record was lost: that call (and only it) runs again.
            n=${point#*:}
            want=$(seq 1 3 | sed "${n}p" | tr '\n' ' ')
            ;;
        esac
        check_done "$id" "$want"
    done
done
finish
