#!/bin/bash
# interrupt.sh - Ctrl-C (SIGINT to the whole process group) and SIGTERM (to the CLI alone) of
# `tactus run` and `tactus resume`: the run is recorded as interrupted (result.json, a finished
# event in stream.jsonl, steps.json), the CLI exits 130 / 143 and says how to continue, nothing
# of the run keeps running, and a resume finishes it with every step done once.
. "$(dirname "$0")/lib.sh"

detect_modes
cat >nap.tac <<'TAC'
Procedure {
  function()
    local a = Step.checkpoint(function() return 1 end)
    Sleep(6)
    local b = Step.checkpoint(function() return 2 end)
    return { summary = "a=" .. a .. " b=" .. b }
  end,
}
TAC

# wait_sleeping ID: until the run's journal holds its sleep record (bounded: 20 s).
wait_sleeping() {
    local i
    for i in $(seq 1 400); do
        [ "$(positions "$(journal_of "$1")" 2>/dev/null | tr '\n' ' ')" = "1 2 " ] && return 0
        sleep 0.05
    done
    return 1
}

# check_interrupted WHAT ID RC SIGNAL: the evidence of an interrupted session.
check_interrupted() {
    local what=$1 id=$2 rc=$3 sig=$4 dir
    dir=$(rundir "$id")
    expect_eq "$what: exit code" "$rc" "$([ "$sig" = SIGTERM ] && echo 143 || echo 130)"
    expect_eq "$what: status" "$(status_of "$id")" interrupted
    expect_grep "$what: result names the signal" "\"signal\": \"$sig\"" "$dir/result.json"
    expect_grep "$what: finished event" '"type":"finished","status":"interrupted"' "$dir/stream.jsonl"
    check "$what: steps.json" test -s "$dir/steps.json"
    expect_grep "$what: says how to continue" "tactus resume $id" "$what.err"
    tx "$what.runs" runs
    expect_grep "$what: tactus runs" "^$id +interrupted " "$what.runs.out"
}

for mode in $MODES; do
    m=${mode#--}
    id=int-$m
    # Ctrl-C: the terminal signals the whole foreground group.
    # (env --default-signal: a background job starts with SIGINT ignored, which tactus keeps.)
    setsid env --default-signal=INT "$TACTUS" run nap.tac --run-id "$id" --quiet "$mode" </dev/null >"$id.out" 2>"$id.err" &
    pid=$!
    CLEANUP_HOOKS+=("kill -9 -- -$pid 2>/dev/null")
    check "$id: the run reached its sleep" wait_sleeping "$id"
    kill -INT -- -"$pid"
    wait "$pid"
    check_interrupted "$id" "$id" $? SIGINT
    check "$id: a process of the run outlived it" test -z "$(pgrep -s "$pid" 2>/dev/null)"

    # SIGTERM to the CLI alone (a CI runner stopping a job), while resumed.
    "$TACTUS" resume "$id" --quiet "$mode" </dev/null >"$id.r.out" 2>"$id.r.err" &
    pid=$!
    # until the resumed session holds the journal (its handlers are in place by then)
    for _ in $(seq 1 400); do
        tx "$id.live" runs
        grep -Eq "^$id +running " "$id.live.out" && break
        sleep 0.05
    done
    expect_grep "$id: the resume is running" "^$id +running " "$id.live.out"
    kill -TERM "$pid"
    wait "$pid"
    check_interrupted "$id.r" "$id" $? SIGTERM
    expect_journal "$id: interrupted twice" "$(journal_of "$id")" 2

    tx "$id.resume" resume "$id" --quiet "$mode"
    expect_eq "$id: resume: exit code ($(head -c 300 "$id.resume.err"))" "$RC" 0
    expect_eq "$id: resume: summary" "$(summary "$id")" "a=1 b=2"
    expect_journal "$id: finished" "$(journal_of "$id")" 3
done
finish
