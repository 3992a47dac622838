#!/bin/bash
# sleep_resume.sh - a durable Sleep resumed after a crash waits only for what is left (case 10
# of docs/durability-testing.md).
#
# fixtures/sleep.tac records a checkpoint, then Sleep(2) (its record holds the wake-up time),
# then another checkpoint. The run is killed (SIGKILL to its process group) about a second in;
# the resume must take about the remaining second: less than 1.8 s in all, and not less than
# what the recorded wake-up time leaves. A crash after the sleep has ended, and a resume of the
# finished run, must not sleep at all.
. "$(dirname "$0")/lib.sh"

detect_modes
read -r -a mode_list <<<"$MODES"
install_fixture sleep

# wake_ms FILE: the wake-up time recorded by the sleep record (position 2), in epoch ms.
wake_ms() {
    local r sec frac
    r=$(record "$1" 2 | sed -n 's/.*"result":\([0-9][0-9]*\)\(\.[0-9]*\)\{0,1\}[,}].*/\1 \2/p')
    sec=${r% *}
    frac=${r#* }
    frac=${frac#.}000
    echo $((sec * 1000 + 10#${frac:0:3}))
}

# timed_resume PREFIX ID MODE: resumes ID; sets RC and TOOK (ms) and STARTED (epoch ms).
timed_resume() {
    STARTED=$(now_ms)
    tx "$1" resume "$2" --quiet "$3"
    TOOK=$(($(now_ms) - STARTED))
}

for mode in $MODES; do
    id=sleep-${mode#--}
    j=$(journal_of "$id")
    t0=$(now_ms)
    set -m
    "$TACTUS" run sleep.tac --run-id "$id" --quiet "$mode" </dev/null >"$id.out" 2>"$id.err" &
    pid=$!
    set +m
    # Wait for the sleep's record, then kill about a second after the start.
    for _ in $(seq 1 150); do
        [ -e "$j" ] && [ "$(positions "$j" | wc -l)" -ge 2 ] && break
        sleep 0.02
    done
    left=$((1000 - ($(now_ms) - t0)))
    [ $left -gt 0 ] && sleep_ms $left
    kill -KILL -- "-$pid" 2>/dev/null
    wait $pid 2>/dev/null
    rc=$?
    expect_eq "$id: killed run: exit status" "$rc" 137
    expect_eq "$id: records at the kill" "$(kinds "$j")" "checkpoint sleep "
    wake=$(wake_ms "$j")

    timed_resume "$id.resume" "$id" "$mode"
    remaining=$((wake - STARTED))
    note "$id: the resume took $TOOK ms; the recorded wake-up time left $remaining ms"
    expect_eq "$id: resume exit code ($(head -c 200 "$id.resume.err"))" "$RC" 0
    expect_eq "$id: summary" "$(summary "$id")" "a=1 b=2"
    expect_journal "$id" "$j" 3
    check "$id: the resume took $TOOK ms (>= 1800: the whole sleep again?)" test $TOOK -lt 1800
    check "$id: the resume took $TOOK ms, less than the $remaining ms left to sleep" \
        test $TOOK -ge $((remaining - 50))

    timed_resume "$id.again" "$id" "$mode"
    expect_eq "$id: resume of the finished run: exit code" "$RC" 0
    expect_eq "$id: resume of the finished run: summary" "$(summary "$id")" "a=1 b=2"
    check "$id: resume of the finished run slept ($TOOK ms)" test $TOOK -lt 700
done

# A crash while recording the checkpoint after the sleep: the sleep is over; do not repeat it.
mode=${mode_list[0]}
id=sleep-after
txe $id.crash TACTUS_CRASH_AT=before_write:3 -- run sleep.tac --run-id $id --quiet "$mode"
expect_eq "$id: crashed run: exit code" "$RC" 7
timed_resume $id.resume $id "$mode"
expect_eq "$id: resume exit code ($(head -c 200 $id.resume.err))" "$RC" 0
expect_eq "$id: summary" "$(summary $id)" "a=1 b=2"
check "$id: the resume slept again ($TOOK ms)" test $TOOK -lt 700
finish
