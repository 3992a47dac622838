#!/bin/bash
# kill_loop.sh - SIGKILL at random moments, resume until done (case 2 of
# docs/durability-testing.md).
#
# Each run of fixtures/killloop.tac (24 operations, each with one side effect) is started in
# its own process group and the whole group is killed with SIGKILL after a random delay; the
# run is resumed, killed again, ... until an attempt finishes before its kill. After every kill
# the journal's complete records (durable: the broker appends a line with one write and the page
# cache survives a process crash) and the length of the side-effect log are noted. Invariants:
#   - the final result equals the clean run's, the journal positions are exactly 1..40 (24 operations: 8 host calls, 16 checkpoints of two records);
#   - every operation's side effect happened at least once;
#   - no side effect of an operation whose record was durable at a kill happened after it;
#   - all attempts of one call carry the same idempotency key, and different calls different
#     keys (TACTUS_IDEMPOTENCY_KEY as the tool saw it).
# TACTUS_KILLS (default 40) sets how many kills to deliver in total; TACTUS_KILL_SEED fixes the
# random sequence (it is printed, so a failure can be replayed).
. "$(dirname "$0")/lib.sh"

KILLS=${TACTUS_KILLS:-40}
SEED=${TACTUS_KILL_SEED:-$(($(date +%s) % 32768))}
RANDOM=$SEED
NOPS=24
WANT="sum=300"
# Where operation i starts in the journal (what Step.key() names, and the record that makes its
# side effect durable): a top-level Host.call is one record; a checkpoint is its Host.call's
# record (its child) and then its own (docs/durability.md "Operations inside a checkpoint").
declare -A start_of=()
NRECORDS=0
for i in $(seq 1 $NOPS); do
    start_of[$i]=$((NRECORDS + 1))
    if [ $((i % 3)) = 0 ]; then NRECORDS=$((NRECORDS + 1)); else NRECORDS=$((NRECORDS + 2)); fi
done
note "kills: $KILLS, seed: $SEED (TACTUS_KILL_SEED=$SEED replays the delays)"

detect_modes
read -r -a mode_list <<<"$MODES"

# group_alive PGID: true while a live (not zombie) process is in process group PGID.
group_alive() {
    local f line rest
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        rest=${line##*) }
        # shellcheck disable=SC2086 # split into fields on purpose
        set -- $rest # state ppid pgrp ...
        [ "$3" = "$PGID_WANTED" ] && [ "$1" != Z ] && return 0
    done
    return 1
}

# wait_group PGID: waits (at most 3 s) until nothing of the killed group runs any more.
wait_group() {
    local i
    PGID_WANTED=$1
    for i in $(seq 1 300); do
        group_alive || return 0
        sleep 0.01
    done
    fail "process group $1 still has live processes 3 s after SIGKILL"
}

# The clean run's duration sets the range of the random delays.
mkdir -p "$WORK/clean"
install_fixture killloop "$WORK/clean"
cd "$WORK/clean" || exit 99
span=999999
for c in 1 2 3; do
    t0=$(now_ms)
    tx clean$c run killloop.tac --run-id clean$c --quiet
    t=$(($(now_ms) - t0))
    [ $t -lt $span ] && span=$t
    expect_eq "clean run $c: exit code" "$RC" 0
    expect_eq "clean run $c: summary" "$(summary clean$c)" "$WANT"
done
max_delay=$((span + 10))
note "a clean run takes $span ms; kill delays are 0..$max_delay ms"

kills=0
run_no=0
attempts_total=0
while [ "$kills" -lt "$KILLS" ] && [ $run_no -lt $((KILLS * 2 + 10)) ]; do
    run_no=$((run_no + 1))
    dir=$WORK/run$run_no
    mkdir -p "$dir"
    install_fixture killloop "$dir"
    cd "$dir" || exit 99
    id=k$run_no
    : >effects.log
    snaps=() # "EFFECT_LINES DURABLE_RECORDS KILL_NO" after each kill
    attempt=0
    finished=0
    lock_waits=0
    while [ $finished = 0 ]; do
        attempt=$((attempt + 1))
        attempts_total=$((attempts_total + 1))
        mode=${mode_list[$((attempts_total % ${#mode_list[@]}))]}
        if [ -e ".tactus/runs/$id/run.json" ]; then
            args=(resume "$id")
        else
            # Killed before run.json: nothing was journaled, and a directory without an
            # authenticated run.json is refused (issue 8), so it is started again.
            rm -rf ".tactus/runs/$id"
            args=(run killloop.tac --run-id "$id")
        fi
        set -m
        "$TACTUS" "${args[@]}" --quiet "$mode" </dev/null >"a$attempt.out" 2>"a$attempt.err" &
        pid=$!
        set +m
        killed=0
        if [ "$kills" -lt "$KILLS" ] && [ $attempt -le 25 ]; then
            sleep_ms $((RANDOM % max_delay))
            if kill -KILL -- "-$pid" 2>/dev/null; then
                killed=1
            fi
        fi
        wait "$pid" 2>/dev/null
        rc=$?
        if [ $killed = 1 ] && [ $rc = 0 ]; then
            killed=0 # it finished before the signal landed
        fi
        if [ $killed = 1 ]; then
            kills=$((kills + 1))
            wait_group "$pid"
            durable=0
            if [ -e ".tactus/runs/$id/journal.jsonl" ]; then
                durable=$(($(complete_lines ".tactus/runs/$id/journal.jsonl") - 1))
                [ $durable -lt 0 ] && durable=0
            fi
            snaps+=("$(complete_lines effects.log) $durable $kills")
        elif [ $rc = 0 ]; then
            finished=1
        elif [ $rc = 2 ] && grep -q 'is in use by another process' "a$attempt.err" &&
            [ $((++lock_waits)) -le 40 ]; then
            sleep 0.05 # the killed broker had not let go of the lock yet (bounded: 2 s)
        else
            fail "$id attempt $attempt ($mode ${args[*]}): exit $rc: $(head -c 400 "a$attempt.err")"
            break
        fi
    done
    [ $finished = 1 ] || continue

    # The result and the journal.
    expect_eq "$id: summary after $attempt attempts" "$(summary "$id")" "$WANT"
    expect_journal "$id" ".tactus/runs/$id/journal.jsonl" $NRECORDS
    # One pass over the side-effect log (bash only: this runs once per run).
    declare -A attempts=() key_of=() op_of=()
    bad_lines=0 lineno=0 rerun="" wrong_key="" unstable="" shared=""
    while read -r envkey args; do
        lineno=$((lineno + 1))
        if ! [[ $args =~ \"i\":([0-9]+) ]]; then
            bad_lines=$((bad_lines + 1))
            continue
        fi
        i=${BASH_REMATCH[1]}
        attempts[$i]=$((${attempts[$i]:-0} + 1))
        # Step.key() inside the operation names the position it starts at.
        [[ $args =~ \"key\":\"$id:${start_of[$i]}\" ]] || wrong_key="$wrong_key $lineno"
        # All attempts of one call carry one idempotency key ...
        if [ -n "${key_of[$i]:-}" ] && [ "${key_of[$i]}" != "$envkey" ]; then
            unstable="$unstable $i(${key_of[$i]},$envkey)"
        fi
        key_of[$i]=$envkey
        # ... and different calls never share one.
        if [ -n "${op_of[$envkey]:-}" ] && [ "${op_of[$envkey]}" != "$i" ]; then
            shared="$shared $envkey(${op_of[$envkey]},$i)"
        fi
        op_of[$envkey]=$i
        # Nothing durable at a kill ran again after it.
        for s in "${snaps[@]+"${snaps[@]}"}"; do
            read -r lines durable kill_no <<<"$s"
            if [ $lineno -gt "$lines" ] && [ "${start_of[$i]}" -le "$durable" ]; then
                rerun="$rerun $i(kill $kill_no: records 1..$durable durable)"
            fi
        done
    done <effects.log
    expect_eq "$id: malformed side-effect lines" "$bad_lines" 0
    expect_eq "$id: lines whose Step.key() is not their starting position" "$wrong_key" ""
    expect_eq "$id: calls retried with a different idempotency key" "$unstable" ""
    expect_eq "$id: idempotency keys shared by different calls" "$shared" ""
    expect_eq "$id: operations re-run although their record was durable" "$rerun" ""
    missing=""
    for i in $(seq 1 $NOPS); do
        [ -n "${attempts[$i]:-}" ] || missing="$missing $i"
    done
    expect_eq "$id: operations that never ran" "$missing" ""
    unset attempts key_of op_of
done
note "$kills kills over $run_no runs and $attempts_total attempts"
finish
