#!/bin/sh
# A runner killed by a signal from outside while the broker works for it (here: while a host
# tool runs, so the broker's reply meets a closed socket) is reported by that signal, not as
# "broke the protocol: ... Broken pipe" (issue 9). Sandboxed and --no-sandbox, SIGSEGV and
# SIGKILL. $1 = tactus binary.
set -u
tactus=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export TACTUS_HOME="$work/home"
# In a sanitizer build ASan would catch the SIGSEGV and exit 1: let the signal kill.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
fail=0
cat >slow.sh <<'SH'
#!/bin/sh
cat >/dev/null
: > started
sleep 3
echo '{}'
SH
chmod +x slow.sh
cat >p.tac.yml <<'YML'
tools: [t.slow]
host_tools:
  t.slow:
    command: [./slow.sh]
YML
cat >p.tac <<'TAC'
Procedure {
  function(input)
    Host.call("t.slow", {})
    return { done = true }
  end,
}
TAC
# The runner: the deepest `tactus` process under the command (the broker's other child is the
# tool, a shell script).
runner_of() {
    p=$1
    while :; do
        next=""
        for c in $(pgrep -P "$p"); do
            [ "$(cat /proc/"$c"/comm 2>/dev/null)" = tactus ] && next=$c
        done
        [ -z "$next" ] && break
        p=$next
    done
    echo "$p"
}
for mode in --sandbox --no-sandbox; do
    for sig in SEGV:11 KILL:9; do
        name=${sig%%:*} num=${sig##*:}
        rm -f started
        "$tactus" run p.tac "$mode" --json >out.json 2>err &
        pid=$!
        i=0
        while [ ! -e started ] && [ "$i" -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
        runner=$(runner_of "$pid")
        if [ "$runner" = "$pid" ]; then
            echo "FAIL $mode $name: no runner process found"; fail=1
        fi
        kill -"$name" "$runner"
        wait "$pid"
        rc=$?
        if [ "$rc" -ne 7 ] || ! grep -q '"status": "system"' out.json ||
           ! grep -q "signal $num" out.json || grep -q "broke the protocol" out.json; then
            echo "FAIL $mode $name: exit $rc, result does not name signal $num"
            cat out.json err; fail=1
        fi
    done
done
[ "$fail" -eq 0 ] && echo "runner_signal: all checks passed"
exit "$fail"
