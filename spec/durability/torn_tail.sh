#!/bin/bash
# torn_tail.sh - the journal's last record cut at every byte offset, and garbage or zeros after
# the last record (case 3 of docs/durability-testing.md).
#
# A finished run of fixtures/steps.tac is the template. For every length L from 0 to the last
# line's length - 1, the journal is cut to (start of the last line) + L with truncate(1) and
# the run resumed: it must finish with the clean result, re-run only the cut checkpoint (the
# host call before it is not repeated), leave a whole journal, and say in stream.jsonl that it
# dropped exactly L bytes at that offset (journal_repair; nothing for L = 0).
. "$(dirname "$0")/lib.sh"

N=5 # records of steps.tac: checkpoint, checkpoint, host_call, checkpoint, checkpoint 'last'
install_fixture steps
detect_modes
read -r -a mode_list <<<"$MODES"

id=torn
tx clean run steps.tac --run-id $id --quiet
expect_eq "clean run: exit code" "$RC" 0
want=$(summary $id)
expect_eq "clean run: summary" "$want" "alpha-2-3.5 $id:3"
j=$(journal_of $id)
expect_journal "clean run" "$j" $N
cp -a "$(rundir $id)" pristine
cp effects.log pristine.effects
start=$(head -n $N "$j" | wc -c | tr -d ' ')
size=$(wc -c <"$j" | tr -d ' ')
last_len=$((size - start))
note "last record: bytes $start..$((size - 1)) ($last_len bytes)"

# restore: the run directory and side-effect log as the clean run left them, less result.json:
# a torn tail is what a crash during the last append leaves, before any result was written (a
# finished run whose journal lost records is refused instead: lifecycle.sh).
restore() {
    rm -rf "$(rundir $id)" && cp -a pristine "$(rundir $id)" && cp pristine.effects effects.log &&
        rm "$(rundir $id)/result.json" || exit 99
}

# resume_and_check WHAT MODE DROPPED OFFSET: resumes; the run must finish like the clean one
# and stream.jsonl must report DROPPED bytes cut at OFFSET (nothing when DROPPED is 0).
resume_and_check() {
    local what=$1 mode=$2 dropped=$3 offset=$4 stream
    tx "$what" resume $id --quiet "$mode"
    expect_eq "$what: resume exit code ($(head -c 300 "$what.err"))" "$RC" 0
    expect_eq "$what: summary" "$(summary $id)" "$want"
    expect_journal "$what" "$j" $N
    expect_grep "$what: the cut checkpoint was recorded again" \
        '"kind":"checkpoint".*"result":"alpha-2-3.5"|"result":"alpha-2-3.5".*"kind":"checkpoint"' \
        "$j"
    expect_eq "$what: host call runs" "$(count_lines "^$id:3 " effects.log)" 1
    stream=$(rundir $id)/stream.jsonl
    if [ "$dropped" = any ]; then
        : # zeros alone may be cut (and reported) or kept as the journal's reserve
    elif [ "$dropped" = 0 ]; then
        expect_eq "$what: journal_repair events" "$(count_lines '"journal_repair"' "$stream")" 0
    else
        expect_eq "$what: journal_repair events" "$(count_lines '"journal_repair"' "$stream")" 1
        expect_grep "$what: repair note" \
            "\"journal_repair\":\"dropped $dropped bytes of torn tail at byte offset ${offset}[ \"]" \
            "$stream"
    fi
}

# Every cut of the last line, alternating isolation modes.
for len in $(seq 0 $((last_len - 1))); do
    restore
    truncate -s $((start + len)) "$j"
    resume_and_check "cut-$len" "${mode_list[$((len % ${#mode_list[@]}))]}" "$len" "$start"
done

# Garbage after a whole journal: what a power loss can leave behind an append.
mode=${mode_list[0]}
restore
head -c 100 /dev/zero >>"$j"
resume_and_check zeros "$mode" any "$size"
restore
printf 'garbage without a newline' >>"$j"
resume_and_check garbage "$mode" 25 "$size"
restore
printf 'not a journal line\n' >>"$j"
resume_and_check garbage-line "$mode" 19 "$size"
restore
truncate -s $((start + 40)) "$j"
head -c 60 /dev/zero >>"$j"
resume_and_check torn-then-zeros "$mode" 100 "$start"
finish
