#!/bin/bash
# idempotency_keys.sh - every host call keeps one idempotency key across attempts, and no two
# calls share one (docs/host-tools.md "Idempotency keys"; part of case 1 of
# docs/durability-testing.md).
#
# fixtures/keys.tac makes five calls: two inside checkpoints of their own, one journaled by
# itself, two inside one checkpoint. Each call is a record of its own (inside a checkpoint, the
# checkpoint's child), so the journal is: 1 call 1, 2 checkpoint, 3 call 2, 4 checkpoint,
# 5 call 3, 6 call 4, 7 call 5, 8 checkpoint. For each record position P, a crash while
# recording P (before_write: the operation ran, its record is lost) and a resume make the one
# call whose record P is run again, and no other (a lost checkpoint record reruns none). Each call's attempts must all see the same TACTUS_IDEMPOTENCY_KEY, different calls
# different keys, and the run's result must carry the keys of the attempts that counted.
. "$(dirname "$0")/lib.sh"

install_fixture keys
detect_modes

# check_keys ID: the key invariants over effects.log lines of run ID.
check_keys() {
    local id=$1 key args n unstable="" shared="" 
    declare -A key_of=() call_of=()
    while read -r key args; do
        case $key in "$id":*) ;; *) continue ;; esac
        [[ $args =~ \"n\":([0-9]+) ]] || continue
        n=${BASH_REMATCH[1]}
        if [ -n "${key_of[$n]:-}" ] && [ "${key_of[$n]}" != "$key" ]; then
            unstable="$unstable call$n(${key_of[$n]},$key)"
        fi
        key_of[$n]=$key
        if [ -n "${call_of[$key]:-}" ] && [ "${call_of[$key]}" != "$n" ]; then
            shared="$shared $key(call${call_of[$key]},call$n)"
        fi
        call_of[$key]=$n
    done <effects.log
    expect_eq "$id: calls retried under a different idempotency key" "$unstable" ""
    expect_eq "$id: idempotency keys shared by different calls" "$shared" ""
    KEYS="${key_of[1]:-?} ${key_of[2]:-?} ${key_of[3]:-?} ${key_of[4]:-?} ${key_of[5]:-?}"
}

for mode in $MODES; do
    m=${mode#--}
    id=clean-$m
    tx "$id" run keys.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: exit code" "$RC" 0
    check_keys "$id"
    expect_eq "$id: summary" "$(summary "$id")" "$KEYS"
    expect_eq "$id: calls" "$(count_lines "^$id:" effects.log)" 5
    for pos in 1 2 3 4 5 6 7 8; do
        id=k-$m-$pos
        txe "$id".crash TACTUS_CRASH_AT=before_write:$pos -- run keys.tac --run-id "$id" --quiet "$mode"
        expect_eq "$id: crashed run: exit code" "$RC" 7
        tx "$id".resume resume "$id" --quiet "$mode"
        expect_eq "$id: resume: exit code ($(head -c 200 "$id".resume.err))" "$RC" 0
        check_keys "$id"
        expect_eq "$id: summary" "$(summary "$id")" "$KEYS"
        # The call whose record was lost ran twice, the others once.
        case $pos in 2 | 4 | 8) again=0 ;; *) again=1 ;; esac
        expect_eq "$id: calls" "$(count_lines "^$id:" effects.log)" $((5 + again))
    done
done
finish
