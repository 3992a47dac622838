#!/bin/bash
# Evidence that cannot be written fails the run (exit 7, said on stderr), and whatever can
# still be written is (issue 9):
#   efbig   `ulimit -S -f` with SIGXFSZ ignored, an output too big for it: result.json cannot
#           be written -> exit 7, stderr names result.json, --json stdout says status system,
#           steps.json and stream.jsonl are there, no temporary file is left; and log lines
#           too big for stream.jsonl: exit 7, result.json says stream.jsonl failed;
#   enospc  a 64 KiB tmpfs (root only; skipped with a note otherwise), as disk_full.sh does:
#           a step result that fits in the journal but not again in steps.json -> exit 7 and a
#           result.json with status system and an EvidenceError naming steps.json; and an
#           output too big for result.json -> exit 7, no result.json.
# $1 = tactus binary.
set -u
tactus=$1
work=$(mktemp -d)
small="$work/small"
cleanup() { mountpoint -q "$small" 2>/dev/null && umount "$small"; rm -rf "$work"; }
trap cleanup EXIT
cd "$work" || exit 1
export TACTUS_HOME="$work/home"
fail=0
cat >bigout.tac <<'TAC'
Procedure { function(input) return { big = string.rep("y", 100000) } end }
TAC
cat >bigstep.tac <<'TAC'
Procedure {
  function(input)
    local r = Step.run("big", function() return string.rep("x", 30000) end)
    return { n = #r }
  end,
}
TAC
# expect_failed WHAT RC ERRFILE DIR FILE: exit 7, stderr names the file and the cause.
expect_failed() {
    local what=$1 rc=$2 err=$3 dir=$4 file=$5 cause=$6
    [ "$rc" -eq 7 ] || { echo "FAIL $what: exit $rc, expected 7"; cat "$err"; fail=1; }
    grep -q "cannot write .*$file: $cause" "$err" ||
        { echo "FAIL $what: stderr does not say $file failed ($cause)"; cat "$err"; fail=1; }
    if ls -a "$dir" | grep -q '\.tmp$'; then
        echo "FAIL $what: a temporary file was left in $dir"; ls -a "$dir"; fail=1
    fi
}

# efbig: anyone can do it.
for mode in --sandbox --no-sandbox; do
    (trap '' XFSZ; ulimit -S -f 64; exec "$tactus" run bigout.tac --run-id "efbig$mode" --json \
        "$mode" >efbig.out 2>efbig.err)
    rc=$?
    dir=".tactus/runs/efbig$mode"
    expect_failed "efbig $mode" "$rc" efbig.err "$dir" result.json "File too large"
    [ ! -e "$dir/result.json" ] || { echo "FAIL efbig $mode: a result.json was written"; fail=1; }
    [ -s "$dir/steps.json" ] && [ -s "$dir/stream.jsonl" ] ||
        { echo "FAIL efbig $mode: the rest of the evidence is missing"; ls -a "$dir"; fail=1; }
    grep -q '"status": "system"' efbig.out && grep -q '"type": "EvidenceError"' efbig.out ||
        { echo "FAIL efbig $mode: --json output does not say system/EvidenceError"; cat efbig.out; fail=1; }
done

# efbig on stream.jsonl during the run: the run still ends with exit 7 and says so.
cat >logs.tac <<'TAC'
Procedure {
  function(input)
    for i = 1, 100 do Log.info(string.rep("z", 1000)) end
    return { done = true }
  end,
}
TAC
(trap '' XFSZ; ulimit -S -f 64; exec "$tactus" run logs.tac --run-id stream --json --quiet \
    >stream.out 2>stream.err)
rc=$?
expect_failed "efbig stream.jsonl" "$rc" stream.err .tactus/runs/stream stream.jsonl "File too large"
grep -q 'evidence is incomplete: cannot write .*stream.jsonl: File too large' \
    .tactus/runs/stream/result.json ||
    { echo "FAIL efbig stream.jsonl: result.json does not say so"; cat .tactus/runs/stream/result.json; fail=1; }

# enospc: a small tmpfs as the working directory.
if [ "$(id -u)" -ne 0 ]; then
    echo "note: enospc skipped (mounting a tmpfs needs root)"
else
    mkdir -p "$small"
    if ! mount -t tmpfs -o size=64k tmpfs "$small" 2>mount.err; then
        echo "note: enospc skipped (mount -t tmpfs failed: $(head -c 200 mount.err))"
    else
        cp bigstep.tac bigout.tac "$small/"
        cd "$small" || exit 1
        "$tactus" run bigstep.tac --run-id steps --json >"$work/steps.out" 2>"$work/steps.err"
        rc=$?
        expect_failed "enospc steps.json" "$rc" "$work/steps.err" .tactus/runs/steps steps.json \
            "No space left on device"
        grep -q '"status": "system"' .tactus/runs/steps/result.json &&
            grep -q 'evidence is incomplete: cannot write .*steps.json: No space left on device' \
                .tactus/runs/steps/result.json ||
            { echo "FAIL enospc steps.json: result.json does not say so"; cat .tactus/runs/steps/result.json; fail=1; }
        rm -rf .tactus/runs/steps
        "$tactus" run bigout.tac --run-id out >"$work/out.out" 2>"$work/out.err"
        rc=$?
        expect_failed "enospc result.json" "$rc" "$work/out.err" .tactus/runs/out result.json \
            "No space left on device"
        [ ! -e .tactus/runs/out/result.json ] || { echo "FAIL enospc: a result.json was written"; fail=1; }
        grep -q '^tactus: system: ' "$work/out.err" ||
            { echo "FAIL enospc result.json: no final 'tactus: system:' line"; cat "$work/out.err"; fail=1; }
        cd "$work" || exit 1
    fi
fi
[ "$fail" -eq 0 ] && echo "evidence_faults: all checks passed"
exit "$fail"
