#!/bin/bash
# creation_window.sh - a run killed while its run directory was being created (part of case 2
# of docs/durability-testing.md: the states a SIGKILL can leave before the first record).
#
# A new run creates .tactus/runs/ID/stream.jsonl, then journal.jsonl (header, maybe a zero
# reserve), then run.json. Each state a kill can leave in between is built by hand here (the
# SIGKILL loop hits these windows only rarely). No record was journaled in any of them, and
# without an authenticated run.json the host cannot tell such a directory from one an
# untrusted tree planted (issue 8): `tactus run FILE --run-id ID` and `tactus resume ID` refuse
# it (exit 2, naming the run) and change nothing in it. Once it is removed the run goes
# through to the clean result and is resumable by `tactus resume ID`.
. "$(dirname "$0")/lib.sh"

install_fixture steps
detect_modes
read -r -a mode_list <<<"$MODES"
mode=${mode_list[0]}

# A finished run supplies a real header for the states that have one.
tx template run steps.tac --run-id template --quiet "$mode"
expect_eq "template run: exit code" "$RC" 0
want_tail="alpha-2-3.5"
header=$(head -n 1 "$(journal_of template)")

i=0
for state in stream-only empty-journal torn-header header-only header-and-zeros; do
    i=$((i + 1))
    mode=${mode_list[$((i % ${#mode_list[@]}))]}
    id=cw-$state
    d=$(rundir $id)
    mkdir -p "$d" && chmod 700 "$d" && : >"$d/stream.jsonl"
    case $state in
    stream-only) ;;
    empty-journal) : >"$d/journal.jsonl" ;;
    torn-header) printf '%s' "${header:0:60}" >"$d/journal.jsonl" ;; # no newline: torn
    header-only | header-and-zeros)
        # A real header of this run: crash before its first record, forget run.json.
        rm -rf "$d"
        txe "$id.hdr" TACTUS_CRASH_AT=before_write:1 -- run steps.tac --run-id $id --quiet "$mode"
        expect_eq "$id: setup: exit code" "$RC" 7
        rm -f "$d/run.json"
        truncate -s "$(head -n 1 "$d/journal.jsonl" | wc -c)" "$d/journal.jsonl"
        [ $state = header-and-zeros ] && head -c 65536 /dev/zero >>"$d/journal.jsonl"
        ;;
    esac

    before=$(cd "$d" && ls -la --time-style=+%s%N . && cat ./* | cksum)
    tx "$id.refused" run steps.tac --run-id $id --quiet "$mode"
    expect_eq "$id: run --run-id of the unvouched directory: exit code" "$RC" 2
    expect_grep "$id: refusal names the run" "run $id exists .* this host cannot vouch for it" \
        "$id.refused.err"
    tx "$id.resume-refused" resume $id --quiet "$mode"
    expect_eq "$id: resume of the unvouched directory: exit code" "$RC" 2
    expect_eq "$id: directory untouched" "$(cd "$d" && ls -la --time-style=+%s%N . && cat ./* | cksum)" "$before"
    rm -rf "$d"
    tx "$id.run" run steps.tac --run-id $id --quiet "$mode"
    expect_eq "$id: run --run-id: exit code ($(head -c 200 "$id.run.err"))" "$RC" 0
    expect_eq "$id: summary" "$(summary $id)" "$want_tail $id:3"
    check "$id: run.json missing after the run" test -s "$d/run.json"
    expect_journal "$id" "$d/journal.jsonl" 5
    tx "$id.resume" resume $id --quiet "$mode"
    expect_eq "$id: resume: exit code ($(head -c 200 "$id.resume.err"))" "$RC" 0
    expect_eq "$id: resume: summary" "$(summary $id)" "$want_tail $id:3"
    expect_eq "$id: host calls" "$(count_lines "^$id:3 " effects.log)" 1
done
finish
