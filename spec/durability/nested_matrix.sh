#!/bin/bash
# nested_matrix.sh - every kind of child of a checkpoint, a crash at every position
# (docs/durability.md "Operations inside a checkpoint").
#
# fixtures/nested_mix.tac: checkpoint 1 draws the run's random seed and the time, calls the
# tool (mark 1), nests a checkpoint (mark 2), calls a sub-procedure (with its own checkpoint and
# call) and a refused tool; checkpoint 2 calls the tool (mark 3) and raises, caught; then a
# random number outside and checkpoint 3 (mark 4). 11 records. For each position N and crash
# point the run is killed while recording N and resumed. Then: the run is ok; each mark ran
# once, except a call whose record was lost (it ran twice, with the same key and the same
# arguments: the seed and the time it depends on are replayed children); the values the tool
# saw for mark 1 are the ones the procedure returned; replay --check passes; resuming the
# finished run gives the same summary.
. "$(dirname "$0")/lib.sh"

N=11
HOST_CALLS="3 4 5 8 10" # positions of the append calls (5: the sub-procedure's)
install_fixture nested_mix
detect_modes

for mode in $MODES; do
    m=${mode#--}
    for point in before_tool before_write after_sync; do
        for pos in $(seq 1 $N); do
            case " $HOST_CALLS " in *" $pos "*) call=1 ;; *) call=0 ;; esac
            [ $point = before_tool ] && [ $call = 0 ] && continue
            id=x-$m-$point-$pos
            txe "$id.crash" "TACTUS_CRASH_AT=$point:$pos" -- run nested_mix.tac --run-id "$id" \
                --quiet "$mode"
            expect_eq "$id: crashed run: exit code" "$RC" 7
            tx "$id.resume" resume "$id" --quiet "$mode"
            expect_eq "$id: resume: exit code ($(head -c 300 "$id.resume.err"))" "$RC" 0
            expect_eq "$id: status" "$(status_of "$id")" ok
            expect_journal "$id" "$(journal_of "$id")" $N
            s=$(summary "$id")
            for mark in 1 2 3 4; do
                want=1
                if [ $point = before_write ] && [ $call = 1 ]; then
                    case $pos:$mark in 3:1 | 4:2 | 8:3 | 10:4) want=2 ;; esac
                fi
                expect_eq "$id: runs of mark $mark" \
                    "$(count_lines "^$id:[^ ]* .*\"mark\":$mark[,}]" effects.log)" $want
                # One key and the same arguments (the order of a Lua table's keys may differ).
                expect_eq "$id: keys and arguments of mark $mark" \
                    "$(grep -E "^$id:[^ ]* .*\"mark\":$mark[,}]" effects.log |
                        sed 's/[{},]/ /g' | tr ' ' '\n' | sort | uniq -c | awk '$1 != '"$want"' && $2 != ""' |
                        wc -l)" 0
            done
            # r and t as the tool saw them for mark 1 are what the checkpoint returned.
            line=$(grep -E "^$id:[^ ]* .*\"mark\":1[,}]" effects.log | head -n 1)
            r=$(echo "$line" | sed -n 's/.*"r":\([0-9]*\).*/\1/p')
            t=$(echo "$line" | sed -n 's/.*"t":\([0-9]*\).*/\1/p')
            expect_eq "$id: r and t seen by the tool" "${s%% $id:*}" "$r $t"
            expect_grep "$id: summary" "^ *\"summary\": \"[0-9]+ [0-9]+ $id:1\\.3 $id:1\\.4/[0-9]+ [0-9]+ false \\| false \\| boom \\| [0-9]+ \\| $id:10\\.1\"" \
                "$(rundir "$id")/result.json"
            tx "$id.check" replay --check "$id" --quiet
            expect_eq "$id: replay --check: exit code ($(head -c 300 "$id.check.err"))" "$RC" 0
            tx "$id.again" resume "$id" --quiet "$mode"
            expect_eq "$id: resume of the finished run: summary" "$(summary "$id")" "$s"
        done
    done
done
finish
