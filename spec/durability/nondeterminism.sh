#!/bin/bash
# nondeterminism.sh - the procedure changed between suspension and resume (case 5 of
# docs/durability-testing.md).
#
# fixtures/nondet.tac records checkpoints 'alpha' (line 4) and 'beta' (line 5) and suspends on
# Human.approve. The file is then edited: the checkpoints swapped (nondet_reordered.tac: beta
# now on line 5), or the first one replaced by a host call (nondet_kind.tac, same line). Each
# resume, with or without an answer, must stop with exit 6, status nondeterminism, a message
# naming the position and both operations with their sites, run nothing live (the host call
# of the edit never runs) and leave the journal untouched, so that the original code can
# still finish the run afterwards.
. "$(dirname "$0")/lib.sh"

detect_modes

for mode in $MODES; do
    m=${mode#--}
    for edit in reordered kind; do
        id=nd-$m-$edit
        dir=$WORK/$id
        mkdir -p "$dir"
        install_fixture nondet "$dir"
        cd "$dir" || exit 99
        tx suspend run nondet.tac --run-id "$id" --quiet "$mode"
        expect_eq "$id: first run: exit code" "$RC" 5
        expect_eq "$id: first run: status" "$(status_of "$id")" suspended
        j=$(journal_of "$id")
        cp "$j" journal.before
        cp "$FIXTURES/nondet_$edit.tac" nondet.tac

        if [ $edit = reordered ]; then
            msg="non-determinism at journal position 1: the journal recorded checkpoint 'alpha' at nondet\\.tac:4, but the procedure now does checkpoint 'beta' at nondet\\.tac:5"
        else
            msg="non-determinism at journal position 1: the journal recorded checkpoint 'alpha' at nondet\\.tac:4, but the procedure now does host_call 'append' at nondet\\.tac:4"
        fi
        for answer in none --reject --approve; do
            what="$id resume ${answer#--}"
            if [ $answer = none ]; then
                tx "r-none" resume "$id" --quiet "$mode"
            else
                tx "r-${answer#--}" resume "$id" "$answer" --quiet "$mode"
            fi
            expect_eq "$what: exit code" "$RC" 6
            expect_eq "$what: status" "$(status_of "$id")" nondeterminism
            expect_grep "$what: message on stderr" "$msg" "r-${answer#--}.err"
            expect_grep "$what: message in result.json" "\"message\": \"$msg\"" \
                "$(rundir "$id")/result.json"
            CHECKS=$((CHECKS + 1))
            if ! cmp -s journal.before "$j"; then
                fail "$what: journal changed"
                [ $answer = --approve ] || cp journal.before "$j" # keep the next try independent
            fi
            check "$what: the edited code ran a host call" test ! -s effects.log
        done

        # The original code can still finish the run: the answer was never taken.
        cp "$FIXTURES/nondet.tac" nondet.tac
        tx finish resume "$id" --approve --quiet "$mode"
        expect_eq "$id: resume with the original code: exit code ($(head -c 200 finish.err))" \
            "$RC" 0
        expect_eq "$id: resume with the original code: summary" "$(summary "$id")" "A B true"
        expect_journal "$id" "$j" 3
        cd "$WORK" || exit 99
    done
done
finish
