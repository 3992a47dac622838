#!/bin/sh
# Hangs (issue 8): every wait of the broker's is bounded by the run's deadline, and every process
# a host tool starts dies with the call, with the run, and with a killed broker. Each case does
# what a hostile procedure or tool would do and checks the outcome and that no process is left.
# $1 = tactus binary. Optional $2: one case to run (fifo, deadline, leftover, broker_kill,
# human, test_cmd).
set -u
tactus=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
only=${2:-}
work=$(mktemp -d)
chmod 755 "$work"
fail=0
# The marker is in the path of every process the tools start (a copy of sleep in a directory
# named after it), so `pgrep -f` finds them whatever session or group they moved to.
marker="txdeadline$$x$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
mkdir "$work/$marker"
cp "$(command -v sleep)" "$work/$marker/sleep"
msleep="$work/$marker/sleep"
cleanup() {
    pkill -KILL -f "$marker" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export TACTUS_HOME="$work/home"

say() { echo "$*"; }
bad() { echo "FAIL $*"; fail=1; }

# Waits up to 5 s for every marked process to be gone; lists the survivors otherwise.
none_left() {
    i=0
    while [ "$i" -lt 50 ]; do
        pgrep -f "$marker/sleep" >/dev/null || return 0
        sleep 0.1
        i=$((i + 1))
    done
    ps -o pid,ppid,pgid,sid,stat,args -p "$(pgrep -d, -f "$marker/sleep")" 2>/dev/null
    return 1
}

# A host tool that starts three kinds of background processes, then (if $1) sleeps long:
# a plain background child, one that calls setsid, and a daemon that double-forks out of its
# session (its parent exits at once, so it is an orphan).
# The tool waits (at most 5 s) until the daemon is up, so a case cannot pass because the
# daemon had not started yet.
write_tool() {
    rm -f "$work/daemon.pid"
    cat >"$1" <<TOOL
#!/bin/sh
"$msleep" 300 &
setsid "$msleep" 301 &
( setsid sh -c '"$msleep" 302 & echo \$! >"$work/daemon.pid"; exit 0' & )
i=0
while [ ! -s "$work/daemon.pid" ] && [ \$i -lt 500 ]; do "$msleep" 0.01; i=\$((i + 1)); done
echo \$PPID >"$work/broker.pid"
if [ -n "${2:-}" ]; then "$msleep" ${2:-0}; fi
echo '{"ok": true}'
TOOL
    chmod +x "$1"
}

# Each case starts with none of the marked processes running (an earlier failure must not
# make the next case fail too).
run_case() {
    [ -z "$only" ] || [ "$only" = "$1" ] || return 1
    pkill -KILL -f "$marker/sleep" 2>/dev/null
    sleep 0.2
    return 0
}

# Where the sandbox cannot start (no user namespaces for this user), only --no-sandbox runs.
modes="--sandbox --no-sandbox"
printf 'main = procedure("p", {}, function() return 1 end)\n' >"$work/probe.tac"
if (cd "$work" && "$tactus" run probe.tac --json --sandbox 2>&1) | grep -q 'cannot start the sandbox'; then
    say "note: the sandbox cannot start here; testing --no-sandbox only"
    modes=--no-sandbox
fi

for mode in $modes; do
    # 1. require of a FIFO: a clear error, no hang.
    if run_case fifo; then
        d="$work/fifo$mode"
        mkdir -p "$d"
        mkfifo "$d/trap.lua"
        printf 'main = procedure("f", {}, function() return require("trap") end)\n' >"$d/fifo.tac"
        (cd "$d" && timeout 30 "$tactus" run fifo.tac --json $mode >out.json 2>err.txt)
        rc=$?
        [ "$rc" -ne 124 ] || bad "fifo $mode: require of a FIFO hung the run"
        grep -q 'trap.lua is not a regular file' "$d/out.json" ||
            { bad "fifo $mode: no clear error (exit $rc)"; cat "$d/out.json" "$d/err.txt"; }
        # The CLI's own reads: a FIFO planted as a sidecar, as the project configuration or
        # as the procedure itself is refused at once, never waited on.
        for planted in side.tac.yml .tactus/config.yml; do
            p="$work/fifo-cfg$mode-$(echo "$planted" | tr /. __)"
            mkdir -p "$p/.tactus"
            printf 'main = procedure("s", {}, function() return {} end)\n' >"$p/side.tac"
            mkfifo "$p/$planted"
            (cd "$p" && timeout 30 "$tactus" run side.tac $mode >out.txt 2>err.txt)
            rc=$?
            [ "$rc" -eq 2 ] && grep -q "$planted: not a regular file" "$p/err.txt" ||
                { bad "fifo $mode: planted FIFO $planted: exit $rc"; cat "$p/err.txt"; }
        done
        p="$work/fifo-src$mode"
        mkdir -p "$p"
        mkfifo "$p/src.tac"
        (cd "$p" && timeout 30 "$tactus" run src.tac $mode >out.txt 2>err.txt)
        rc=$?
        [ "$rc" -eq 2 ] && grep -q "src.tac: not a regular file" "$p/err.txt" ||
            { bad "fifo $mode: a FIFO as the procedure: exit $rc"; cat "$p/err.txt"; }
    fi

    # 2. A 30 s tool (with background, setsid and daemonized children) in a 2 s run.
    if run_case deadline; then
        d="$work/deadline$mode"
        mkdir -p "$d"
        write_tool "$d/slow.sh" 30
        cat >"$d/slow.tac" <<'TAC'
main = procedure("slow", {}, function()
  Log.info("calling")
  return Host.call("slow", {})
end)
TAC
        cat >"$d/slow.tac.yml" <<'YML'
tools: [slow]
host_tools:
  slow: {command: [./slow.sh], timeout: 60}
sandbox: {timeout: 2}
YML
        (cd "$d" && timeout 60 "$tactus" run slow.tac --json $mode --run-id dl >out.json 2>err.txt)
        rc=$?
        [ "$rc" -eq 4 ] || { bad "deadline $mode: exit $rc, expected 4 (timeout)"; cat "$d/out.json" "$d/err.txt"; }
        r="$d/.tactus/runs/dl"
        grep -q '"status": *"timeout"' "$r/result.json" 2>/dev/null ||
            bad "deadline $mode: result.json missing or not status timeout"
        grep -q '"limit": *"timeout"' "$r/result.json" 2>/dev/null ||
            bad "deadline $mode: result.json does not name the limit"
        grep -q '"where": *"host tool slow' "$r/result.json" 2>/dev/null ||
            { bad "deadline $mode: result.json does not say where the run was"; cat "$r/result.json"; }
        grep -q '"type":"finished".*"status":"timeout"' "$r/stream.jsonl" 2>/dev/null ||
            bad "deadline $mode: no finished event with status timeout in stream.jsonl"
        [ -f "$r/steps.json" ] || bad "deadline $mode: no steps.json"
        none_left || bad "deadline $mode: tool processes survived the run"
    fi

    # 3. A tool that finishes but leaves background children: they die when the call ends,
    #    before the procedure's next step (a second tool looks for them).
    if run_case leftover; then
        d="$work/leftover$mode"
        mkdir -p "$d"
        write_tool "$d/bg.sh"
        cat >"$d/look.sh" <<LOOK
#!/bin/sh
i=0
while [ \$i -lt 50 ] && pgrep -f "$marker/sleep" >/dev/null; do sleep 0.1; i=\$((i + 1)); done
if pgrep -f "$marker/sleep" >/dev/null; then echo '{"left": true}'; else echo '{"left": false}'; fi
LOOK
        chmod +x "$d/look.sh"
        cat >"$d/bg.tac" <<'TAC'
main = procedure("bg", {}, function()
  Host.call("bg", {})
  return Host.call("look", {})
end)
TAC
        cat >"$d/bg.tac.yml" <<'YML'
tools: [bg, look]
host_tools:
  bg: {command: [./bg.sh]}
  look: {command: [./look.sh]}
YML
        (cd "$d" && timeout 60 "$tactus" run bg.tac --json $mode >out.json 2>err.txt)
        rc=$?
        [ "$rc" -eq 0 ] || { bad "leftover $mode: exit $rc"; cat "$d/out.json" "$d/err.txt"; }
        [ -s "$work/daemon.pid" ] || bad "leftover $mode: the tool's daemon never started"
        grep -q '"left": *false' "$d/out.json" ||
            { bad "leftover $mode: the tool's background processes outlived its call"; cat "$d/out.json"; }
        none_left || bad "leftover $mode: processes left after the run"
    fi

    # 4. The broker is SIGKILLed while a tool runs: the tool and everything it started die.
    if run_case broker_kill; then
        d="$work/kill$mode"
        mkdir -p "$d"
        rm -f "$work/broker.pid"
        write_tool "$d/slow.sh" 30
        printf 'main = procedure("k", {}, function() return Host.call("slow", {}) end)\n' >"$d/k.tac"
        printf 'tools: [slow]\nhost_tools:\n  slow: {command: [./slow.sh], timeout: 60}\n' >"$d/k.tac.yml"
        (cd "$d" && exec timeout 60 "$tactus" run k.tac --json $mode >out.json 2>err.txt) &
        runpid=$!
        i=0
        while [ "$i" -lt 100 ] && ! [ -s "$work/broker.pid" ]; do sleep 0.1; i=$((i + 1)); done
        # Wait for the background children too, so the kill lands mid-call with all of them up.
        i=0
        while [ "$i" -lt 50 ] && [ "$(pgrep -c -f "$marker/sleep")" -lt 4 ]; do sleep 0.1; i=$((i + 1)); done
        if [ -s "$work/broker.pid" ]; then
            kill -KILL "$(cat "$work/broker.pid")"
            wait "$runpid"
            rc=$?
            [ "$rc" -ne 124 ] || bad "broker_kill $mode: the CLI hung after its broker was killed"
            none_left || bad "broker_kill $mode: tool processes survived the broker"
        else
            bad "broker_kill $mode: the tool never started"
            kill "$runpid" 2>/dev/null
            wait "$runpid"
        fi
    fi
done
# 7. `tactus test` is its own broker: a double-forked daemon of a tool dies with the call too.
if run_case test_cmd; then
    d="$work/testcmd"
    mkdir -p "$d"
    cat >"$d/bg.sh" <<TOOL
#!/bin/sh
( setsid sh -c '"$msleep" 302 & exit 0' & )
"$msleep" 0.2
echo '{"ok": true}'
TOOL
    chmod +x "$d/bg.sh"
    cat >"$d/t.tac" <<'TAC'
Procedure {
  output = { ok = field.boolean { required = true } },
  function(input) return { ok = Host.call("bg", {}).ok } end,
}
specifications([[
Feature: bg
  Scenario: runs
    Given the procedure has started
    When the procedure runs
    Then the procedure should complete successfully
]])
TAC
    printf 'tools: [bg]\nhost_tools:\n  bg: {command: [./bg.sh]}\n' >"$d/t.tac.yml"
    (cd "$d" && timeout 60 "$tactus" test t.tac --no-sandbox >out.txt 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] || { bad "test_cmd: exit $rc"; cat "$d/out.txt"; }
    none_left || bad "test_cmd: the tool's daemon outlived tactus test"
fi

# 6. Human.input on a terminal nobody answers: the run's deadline ends the wait (script(1)
#    gives the CLI a terminal; its input is a FIFO nobody writes to).
if run_case human; then
    if ! command -v script >/dev/null; then
        say "note: human skipped (no script(1))"
    else
        d="$work/human"
        mkdir -p "$d"
        printf 'main = procedure("h", {}, function()\n  return Human.input({message = "name?"})\nend)\n' >"$d/h.tac"
        printf 'sandbox: {timeout: 2}\n' >"$d/h.tac.yml"
        mkfifo "$d/in"
        "$msleep" 60 >"$d/in" &
        holder=$!
        (cd "$d" && timeout 30 script -qec "'$tactus' run h.tac --no-sandbox --run-id h" /dev/null <"$d/in" >out.txt 2>&1)
        rc=$?
        kill "$holder" 2>/dev/null
        wait "$holder" 2>/dev/null
        [ "$rc" -ne 124 ] || bad "human: the unanswered prompt held the run past its deadline"
        grep -q '"status": *"timeout"' "$d/.tactus/runs/h/result.json" 2>/dev/null ||
            { bad "human: result.json missing or not status timeout"; cat "$d/out.txt"; }
        grep -q '"where": *"Human' "$d/.tactus/runs/h/result.json" 2>/dev/null ||
            bad "human: result.json does not say where the run was"
    fi
fi

[ "$fail" -eq 0 ] && say "deadline: every wait bounded, no tool process left"
exit "$fail"
