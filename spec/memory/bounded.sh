#!/bin/bash
# bounded.sh - the broker's memory stays bounded however much a run journals, and the run's
# journal and disk use are capped by the named limits `journal` and `disk` (docs/limits.md,
# docs/security.md "Exhaustion, the terminal and a compromised runner").
#
# A procedure under a 64 MiB memory limit checkpoints the same 100000-element table again and
# again: the runner holds one copy, but every record reaches the broker. The broker used to keep
# every record in memory and build steps.json as one string (some 650 MB for this run); now the
# peak RSS of the whole process tree (maxrss, wait4) must stay under 200 MB.
# Then the same procedure with a small `journal` limit (sidecar, and --limit) and a small `disk`
# limit (artifacts, File.write) must end with status limit naming the limit, exit 3, and the
# evidence written.
case ${2:-} in
/*) MAXRSS=$2 ;;
*) MAXRSS=$PWD/${2:-} ;;
esac
. "$(dirname "$0")/../durability/lib.sh"
[ -x "$MAXRSS" ] || { echo "usage: $0 /path/to/tactus /path/to/maxrss" >&2; exit 99; }
detect_modes
mode=${MODES%% *}

cat >big.tac <<'TAC'
Procedure {
  function(input)
    local t = {}
    for i = 1, 100000 do t[i] = i end
    for k = 1, 100 do
      Step.checkpoint(function() return t end)
    end
    return { summary = "done" }
  end,
}
TAC
printf 'sandbox:\n  limits: {memory: 64m}\n' >big.tac.yml

"$MAXRSS" "$TACTUS" run big.tac --run-id big --quiet "$mode" </dev/null >big.out 2>big.err
RC=$?
expect_eq "big: exit ($(head -c 300 big.err))" "$RC" 0
expect_eq "big: summary" "$(summary big)" done
kib=$(sed -n 's/^maxrss_kib //p' big.err)
note "peak RSS of tactus, broker and runner: ${kib:-?} KiB; journal $(wc -c <"$(journal_of big)") bytes"
if ldd "$TACTUS" 2>/dev/null | grep -q 'libasan\|libtsan\|libmsan'; then
    # A sanitizer's shadow memory and quarantine of freed blocks say nothing about ours.
    note "sanitizer build: the peak RSS bound is not checked"
else
    CHECKS=$((CHECKS + 1))
    [ -n "$kib" ] && [ "$kib" -lt 204800 ] || fail "big: peak RSS ${kib:-?} KiB, want < 200 MiB"
fi
expect_eq "big: steps.json records" "$(grep -c '^    "pos": ' "$(rundir big)/steps.json")" 100
expect_eq "big: journal records" "$(($(wc -l <"$(journal_of big)") - 1))" 100

# limit_run ID LIMIT: the run ended with status limit naming LIMIT, exit 3, evidence written.
limit_run() {
    local id=$1 limit=$2 f
    expect_eq "$id: exit ($(head -c 300 "$id.err"))" "$RC" 3
    expect_eq "$id: status" "$(status_of "$id")" limit
    expect_grep "$id: result names the limit" "\"limit\": \"$limit\"" "$(rundir "$id")/result.json"
    expect_grep "$id: message" "$limit limit exceeded" "$(rundir "$id")/result.json"
    expect_grep "$id: stderr" "$limit limit exceeded" "$id.err"
    expect_grep "$id: limit event" '"type":"limit"' "$(rundir "$id")/stream.jsonl"
    expect_grep "$id: finished event" '"type":"finished","status":"limit"' \
        "$(rundir "$id")/stream.jsonl"
    for f in steps.json result.json; do
        check "$id: $f written" test -s "$(rundir "$id")/$f"
    done
}

# The journal limit, from the sidecar and from --limit: the run stops at the record that
# would pass it, and the journal stays under it.
printf 'sandbox:\n  limits: {memory: 64m, journal: 2m}\n' >big.tac.yml
tx jl run big.tac --run-id jl "$mode"
limit_run jl journal
CHECKS=$((CHECKS + 1))
[ "$(wc -c <"$(journal_of jl)")" -le 2097152 ] || fail "jl: journal is $(wc -c <"$(journal_of jl)") bytes"
expect_grep "jl: used/allowed" '"allowed": 2097152' "$(rundir jl)/result.json"
printf 'sandbox:\n  limits: {memory: 64m}\n' >big.tac.yml
tx jl2 run big.tac --run-id jl2 --limit journal=1m "$mode"
limit_run jl2 journal

# The disk limit: artifacts and File.write count, as do journal and stream.
cat >disk.tac <<'TAC'
Procedure {
  function(input)
    local chunk = string.rep("x", 400000)
    for k = 1, 20 do
      Artifact.save("part" .. k .. ".txt", chunk)
    end
    return { summary = "done" }
  end,
}
TAC
printf 'sandbox:\n  limits: {disk: 2m}\n' >disk.tac.yml
tx dk run disk.tac --run-id dk "$mode"
limit_run dk disk
n=$(find "$(rundir dk)/files" -type f | wc -l)
CHECKS=$((CHECKS + 1))
[ "$n" -ge 1 ] && [ "$n" -le 5 ] || fail "dk: $n artifacts saved, want 1..5 under 2 MiB"
# A caught refusal does not let the run go on: the limit ends it.
cat >write.tac <<'TAC'
Procedure {
  function(input)
    local chunk = string.rep("y", 400000)
    for k = 1, 20 do
      pcall(File.write, "out" .. k .. ".txt", chunk)
    end
    return { summary = "went on" }
  end,
}
TAC
printf 'sandbox:\n  limits: {disk: 1m}\n' >write.tac.yml
tx wr run write.tac --run-id wr "$mode"
limit_run wr disk
check "wr: no write past the limit" test ! -e out5.txt
finish
