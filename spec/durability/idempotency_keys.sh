#!/bin/bash
# idempotency_keys.sh - every host call keeps one idempotency key across attempts, and no two
# calls share one (docs/host-tools.md "Idempotency keys"; part of case 1 of
# docs/durability-testing.md).
#
# fixtures/keys.tac makes five calls: two inside checkpoints of their own, one journaled by
# itself, two inside one checkpoint. For each record position P, a crash while recording P
# (before_write: the call ran, its record is lost) and a resume make the calls covered by P
# run again. Each call's attempts must all see the same TACTUS_IDEMPOTENCY_KEY, different calls
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
    for pos in 1 2 3 4; do
        id=k-$m-$pos
        txe "$id".crash TACTUS_CRASH_AT=before_write:$pos -- run keys.tac --run-id "$id" --quiet "$mode"
        expect_eq "$id: crashed run: exit code" "$RC" 7
        tx "$id".resume resume "$id" --quiet "$mode"
        expect_eq "$id: resume: exit code ($(head -c 200 "$id".resume.err))" "$RC" 0
        check_keys "$id"
        expect_eq "$id: summary" "$(summary "$id")" "$KEYS"
        # Calls covered by record pos ran twice, the others once.
        case $pos in 4) again=2 ;; *) again=1 ;; esac
        expect_eq "$id: calls" "$(count_lines "^$id:" effects.log)" $((5 + again))
    done
done
finish
