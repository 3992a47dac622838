#!/bin/bash
# strict_digest.sh - under strict_determinism a replayed host call whose arguments changed is
# non-determinism, naming both argument digests and the call site; without strict mode the
# recorded result is replayed (docs/durability.md "Strict determinism and arguments").
#
# fixtures/strict.tac makes a host call {v = 1} at line 6 (record 1) and one {v = 10} inside a
# checkpoint at line 7 (record 2, its child). The run is killed after record 2 is durable, the
# file is edited to pass other arguments to one of the calls, and the run is resumed.
. "$(dirname "$0")/lib.sh"

detect_modes

# digest JSON: the digest the broker records for these (compact, sorted) arguments.
digest() { printf 'sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"; }

for mode in $MODES; do
    m=${mode#--}
    for strict in true false; do
        for edit in top child; do
            id=s-$m-$strict-$edit
            dir=$WORK/$id
            mkdir -p "$dir"
            install_fixture strict "$dir"
            cd "$dir" || exit 99
            echo "strict_determinism: $strict" >>strict.tac.yml
            txe crash TACTUS_CRASH_AT=before_return:2 -- run strict.tac --run-id "$id" --quiet "$mode"
            expect_eq "$id: crashed run: exit code ($(head -c 200 crash.err))" "$RC" 7
            j=$(journal_of "$id")
            cp "$j" journal.before
            if [ $edit = top ]; then
                sed -i 's/{ v = 1 }/{ v = 2 }/' strict.tac
                pos=1 line=6 was='{"v":1}' now='{"v":2}'
            else
                sed -i 's/{ v = 10 }/{ v = 11 }/' strict.tac
                pos=2 line=7 was='{"v":10}' now='{"v":11}'
            fi
            tx resume resume "$id" --quiet "$mode"
            if [ $strict = true ]; then
                expect_eq "$id: resume: exit code" "$RC" 6
                expect_eq "$id: resume: status" "$(status_of "$id")" nondeterminism
                msg="non-determinism at journal position $pos: host_call 'append' at strict\\.tac:$line was recorded with arguments $(digest "$was"), but is now called with arguments $(digest "$now") \\(strict_determinism\\)"
                expect_grep "$id: message names the site and both digests" "$msg" resume.err
                expect_grep "$id: message in result.json" "$msg" "$(rundir "$id")/result.json"
                # Unchanged but for the reserve of zeros the crashed broker left.
                check "$id: the journal is unchanged" cmp -s <(tr -d '\000' <journal.before) \
                    <(tr -d '\000' <"$j")
                expect_eq "$id: tool runs" "$(count_lines "^$id:" effects.log)" 2
            else
                expect_eq "$id: resume: exit code ($(head -c 200 resume.err))" "$RC" 0
                expect_eq "$id: summary: the recorded results" "$(summary "$id")" "$id:1 $id:2.1"
                expect_eq "$id: tool runs" "$(count_lines "^$id:" effects.log)" 2
            fi
            cd "$WORK" || exit 99
        done
    done
done
finish
