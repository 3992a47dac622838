#!/bin/bash
# fewer_ops.sh - the procedure now makes fewer journaled operations than the journal holds.
#
# fixtures/nondet.tac records checkpoints 'alpha' and 'beta' and suspends on Human.approve.
# The file is then edited to return right after 'alpha' (nondet_fewer.tac). Records 2-3 were
# made by the first attempt, so their side effects happened: a resume that ignored them would
# silently finish a different run. Every resume (with or without an answer) must stop with
# exit 6, status nondeterminism and a message naming both counts, and leave the journal
# untouched, so that the original code can still finish the run afterwards.
. "$(dirname "$0")/lib.sh"

detect_modes

for mode in $MODES; do
    m=${mode#--}
    id=fewer-$m
    dir=$WORK/$id
    mkdir -p "$dir"
    install_fixture nondet "$dir"
    cd "$dir" || exit 99
    tx suspend run nondet.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: first run: exit code" "$RC" 5
    j=$(journal_of "$id")
    cp "$j" journal.before
    cp "$FIXTURES/nondet_fewer.tac" nondet.tac
    for answer in none --approve; do
        what="$id resume ${answer#--}"
        if [ $answer = none ]; then
            tx r-none resume "$id" --quiet "$mode"
        else
            tx "r$answer" resume "$id" "$answer" --quiet "$mode"
        fi
        expect_eq "$what: exit code" "$RC" 6
        expect_eq "$what: status" "$(status_of "$id")" nondeterminism
        expect_grep "$what: message names both counts" \
            "the procedure finished after 1 steps, but the journal holds 3" \
            "$(rundir "$id")/result.json"
        check "$what: journal untouched" cmp -s journal.before "$j"
    done
    # The original code still finishes the run.
    cp "$FIXTURES/nondet.tac" nondet.tac
    tx r-orig resume "$id" --approve --quiet "$mode"
    expect_eq "$id: original code: exit code" "$RC" 0
    expect_eq "$id: original code: status" "$(status_of "$id")" ok
    cd "$WORK" || exit 99
done
finish
