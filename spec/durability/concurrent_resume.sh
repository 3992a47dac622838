#!/bin/bash
# concurrent_resume.sh - two resumes of one suspended run at the same time (case 6 of
# docs/durability-testing.md).
#
# fixtures/approve_sleep.tac suspends on Human.approve; after the answer it sleeps a second
# (holding the run) before its last side effect. `tactus resume ID --approve` and
# `tactus resume ID --reject` start together: exactly one must win (exit 0) and the other fail
# with exit 2 and "in use"; the journal must hold exactly one answered human record, the
# winner's, and the side effects before and after the answer must each have happened once.
. "$(dirname "$0")/lib.sh"

detect_modes

round=0
for mode in $MODES; do
    for first in approve reject; do
        round=$((round + 1))
        id=race$round
        dir=$WORK/$id
        mkdir -p "$dir"
        install_fixture approve_sleep "$dir"
        cd "$dir" || exit 99
        tx suspend run approve_sleep.tac --run-id $id --quiet "$mode"
        expect_eq "$id: first run: exit code" "$RC" 5
        j=$(journal_of $id)
        cp "$j" journal.before

        second=approve
        [ $first = approve ] && second=reject
        "$TACTUS" resume $id --$first --quiet "$mode" </dev/null >"$first.out" 2>"$first.err" &
        p1=$!
        "$TACTUS" resume $id --$second --quiet "$mode" </dev/null >"$second.out" 2>"$second.err" &
        p2=$!
        wait $p1
        rc_first=$?
        wait $p2
        rc_second=$?
        if [ $first = approve ]; then
            rc_approve=$rc_first rc_reject=$rc_second
        else
            rc_approve=$rc_second rc_reject=$rc_first
        fi
        note "$id ($mode, --$first started first): --approve exit $rc_approve, --reject exit $rc_reject"

        winner="" loser=""
        if [ $rc_approve = 0 ] && [ $rc_reject != 0 ]; then
            winner=approve loser=reject rc_loser=$rc_reject
        elif [ $rc_reject = 0 ] && [ $rc_approve != 0 ]; then
            winner=reject loser=approve rc_loser=$rc_approve
        fi
        CHECKS=$((CHECKS + 1))
        if [ -z "$winner" ]; then
            fail "$id: not exactly one winner: --approve exit $rc_approve" \
                "($(head -c 200 approve.err)), --reject exit $rc_reject ($(head -c 200 reject.err))"
            cd "$WORK" || exit 99
            continue
        fi
        expect_eq "$id: loser's exit code" "$rc_loser" 2
        expect_grep "$id: loser's message" 'in use' "$loser.err"
        want=true
        [ $winner = reject ] && want=false
        expect_eq "$id: summary" "$(summary $id)" "approved=$want"
        expect_journal "$id" "$j" 4
        expect_eq "$id: record kinds" "$(kinds "$j")" "host_call human sleep host_call "
        expect_eq "$id: answered human records" \
            "$(count_lines "\"kind\":\"human\".*\"result\":$want|\"result\":$want.*\"kind\":\"human\"" "$j")" 1
        expect_eq "$id: pending records" "$(count_lines '"pending":true' "$j")" 0
        expect_eq "$id: side effects before the answer" \
            "$(count_lines '"step":"before"' effects.log)" 1
        expect_eq "$id: side effects after the answer" "$(count_lines '"step":"after"' effects.log)" 1
        expect_grep "$id: the side effect after the answer saw it" "\"ok\":$want" effects.log
        cd "$WORK" || exit 99
    done
done
finish
