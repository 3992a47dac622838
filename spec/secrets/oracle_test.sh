#!/bin/sh
# Redactor-oracle probes (docs/secrets.md, "What the redactor promises"): a hostile procedure
# must not learn a secret from what the redactor did to content it supplied itself, and
# secrets that tools print must be masked wherever they land in the evidence. $1 = tactus.
set -u
tactus=$1
dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
fail=0
export TACTUS_HOME="$work/home"
say() { echo "FAIL: $*"; fail=1; }
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
# A random number of $1 digits, not starting with 0.
rand_digits() { od -An -N16 -tu4 /dev/urandom | tr -cd 0-9 | sed 's/^0*//' | cut -c1-"$1"; }
set_secret() { printf %s "$2" | "$tactus" secrets set "$1" 2>"$work/set.err" || say "secrets set $1"; }
field() { jq -r "$1" "$2"; }
# evidence RUN: the evidence files of a run (journal.jsonl is the run's state, not evidence).
evidence() {
    for f in stream.jsonl steps.json result.json run.json; do echo ".tactus/runs/$1/$f"; done
    [ -d ".tactus/runs/$1/files" ] && find ".tactus/runs/$1/files" -type f
}
# absent WHAT NEEDLE FILE...: NEEDLE occurs in none of the files.
absent() {
    what=$1 needle=$2
    shift 2
    if grep -qF -- "$needle" "$@" 2>/dev/null; then
        say "$what: '$needle' found in $(grep -lF -- "$needle" "$@" | tr '\n' ' ')"
    fi
}

pin=$(rand_digits 6)
while [ "${#pin}" -ne 6 ]; do pin=$(rand_digits 6); done
long="s3cr3t-$(rand_hex 8)"
slash="path/to/$(rand_hex 6)z"
num=$(rand_digits 9)
other="other-$(rand_hex 8)"
spread_tail="cd-$(rand_hex 8)"
set_secret DEPLOY_PIN "$pin"
set_secret LONG_TOKEN "$long"
set_secret SLASH_TOKEN "$slash"
set_secret NUM_SECRET "$num"
set_secret OTHER_TOKEN "$other"
set_secret SPREAD_TOKEN "ab\",\"$spread_tail"
mkdir "$work/ws" && cd "$work/ws" || exit 1
sed "s/@PIN@/$pin/g" "$dir/oracle.tac" >oracle.tac
cp "$dir/oracle.tac.yml" "$dir/toolout.tac" "$dir/toolout.tac.yml" .
cp -r "$dir/tools" .
printf 'in the tree: %s\n' "$pin" >intree.txt
printf 'return { v = "pin=%s" }\n' "$pin" >pinmod.lua
printf 'Procedure { function() return { other = "%s" } end }\n' "$other" >others.tac
# OTHER_TOKEN belongs to a tool this run may not call: the run must not know it either.
cat >others.tac.yml <<'YML'
tools: [deploy]
host_tools:
  deploy: {command: [/bin/true], secrets: [DEPLOY_PIN]}
  spare: {command: [/bin/true], secrets: [OTHER_TOKEN]}
YML

for mode in --no-sandbox --sandbox; do
    m=${mode#--}
    # 1. Procedure-supplied content comes back exactly, live and replayed.
    id="oracle-$m"
    "$tactus" run oracle.tac --json $mode --run-id "$id" >run.json.out 2>run.err
    rc=$?
    [ "$rc" -eq 5 ] || { say "$mode oracle: expected suspended (5), got $rc"; cat run.err; }
    "$tactus" resume "$id" --answer go --json >out.json 2>err.txt
    rc=$?
    [ "$rc" -eq 0 ] || { say "$mode oracle resume: exit $rc"; cat err.txt out.json; }
    o=out.json
    [ "$(field .output.file_exact $o)" = true ] || say "$mode: File.read of a File.write is not exact ($(field .output.file_len $o) bytes, marker $(field .output.file_marker $o))"
    [ "$(field .output.file_len $o)" = 1000005 ] || say "$mode: File.read length $(field .output.file_len $o)"
    [ "$(field .output.file_marker $o)" = false ] || say "$mode: the de Bruijn file came back with a marker"
    [ "$(field .output.record_exact $o)" = true ] || say "$mode: Checkpoint.get of the File.read record is not exact"
    [ "$(field .output.shown_exact $o)" = true ] || say "$mode: a secretless tool printing the file was masked"
    [ "$(field .output.echoed_exact $o)" = true ] || say "$mode: a secretless tool echoing its arguments was masked"
    [ "$(field .output.artifact_bytes $o)" = "$(field .output.content_len $o)" ] ||
        say "$mode: Artifact.save record says $(field .output.artifact_bytes $o) bytes for $(field .output.content_len $o)"
    want="sha256:$(printf 'pin=%s;' "$pin" | sha256sum | cut -d' ' -f1)"
    [ "$(field .output.artifact_sha $o)" = "$want" ] || say "$mode: Artifact.save digest is not that of the supplied bytes"
    [ "$(field .output.ckpt_exact $o)" = true ] || say "$mode: a replayed checkpoint differs from what the procedure returned"
    [ "$(field .output.tree_exact $o)" = true ] || say "$mode: File.read of a file in the tree is not exact"
    [ "$(field .output.ferr_exact $o)" = true ] || say "$mode: a File error does not quote the path as given"
    [ "$(field .output.mod_exact $o)" = true ] || say "$mode: a required module's source is not exact"
    # The secret is this run's: the tool's own output is masked, so the above is not vacuous.
    [ "$(field .output.tool $o)" = "[REDACTED:DEPLOY_PIN]" ] || say "$mode: the tool's output was not masked: $(field .output.tool $o)"
    # The evidence is masked: the file contents in steps.json, the artifact in files/.
    absent "$mode oracle evidence" "$pin" out.json err.txt $(evidence "$id")
    grep -qF '[REDACTED:DEPLOY_PIN]' ".tactus/runs/$id/steps.json" || say "$mode: steps.json does not mask the file contents"
    grep -qF 'pin=[REDACTED:DEPLOY_PIN];' ".tactus/runs/$id/files/guess.txt" || say "$mode: files/guess.txt is not the masked copy"
    grep -q '"stored":{"redacted":true' ".tactus/runs/$id/stream.jsonl" || say "$mode: the artifact event does not say the stored copy was masked"

    # 2. Tools' secrets are masked wherever they print them.
    id="toolout-$m"
    "$tactus" run toolout.tac --json $mode --run-id "$id" >out.json 2>err.txt
    rc=$?
    [ "$rc" -eq 0 ] || { say "$mode toolout: exit $rc"; cat err.txt out.json; }
    files="out.json err.txt $(evidence "$id") .tactus/runs/$id/journal.jsonl"
    # No 8 consecutive bytes of a secret survive: a cut secret's remainder would.
    i=1
    while [ "$i" -le $((${#long} - 7)) ]; do
        absent "$mode stderr tail" "$(printf %s "$long" | cut -c"$i-$((i + 7))")" $files
        i=$((i + 1))
    done
    i=1
    while [ "$i" -le $((${#slash} - 7)) ]; do
        absent "$mode escaped" "$(printf %s "$slash" | cut -c"$i-$((i + 7))")" $files
        i=$((i + 1))
    done
    absent "$mode escaped slashes" "$(printf %s "$slash" | sed 's,/,\\/,g' | cut -c1-12)" $files
    absent "$mode number" "$num" $files
    [ "$(grep -o 'REDACTED:LONG_TOKEN' out.json | wc -l)" -ge 23 ] || say "$mode: stderr copies not masked"
    [ "$(field .output.num.n out.json)" = "[REDACTED:NUM_SECRET]" ] || say "$mode: a JSON number secret: $(field .output.num.n out.json)"
    [ "$(field '.output.num.list[1]' out.json)" = "[REDACTED:NUM_SECRET]" ] || say "$mode: a number in an array"
    [ "$(field .output.num.r out.json)" = "[REDACTED:NUM_SECRET].5" ] || say "$mode: a real: $(field .output.num.r out.json)"
    [ "$(field .output.bare out.json)" = "[REDACTED:NUM_SECRET]" ] || say "$mode: a bare number result: $(field .output.bare out.json)"
    grep -qF 'REDACTED:SLASH_TOKEN' out.json || say "$mode: the escaped secret has no marker"
    [ "$(field .output.spread out.json)" = "[REDACTED]" ] || say "$mode: a secret spread over JSON syntax: $(jq -c .output.spread out.json)"
    absent "$mode spread" "$spread_tail" $files

    # 3. Secrets no tool of this run names are neither masked nor even decrypted.
    id="others-$m"
    "$tactus" run others.tac --json $mode --run-id "$id" >out.json 2>err.txt
    rc=$?
    [ "$rc" -eq 0 ] || { say "$mode others: exit $rc"; cat err.txt; }
    [ "$(field .output.other out.json)" = "$other" ] || say "$mode: a secret of no tool of this run was masked: $(field .output.other out.json)"
done

# A stored secret that cannot be decrypted breaks only the runs that need it.
jq '.secrets.OTHER_TOKEN.nonce = .secrets.NUM_SECRET.nonce' "$TACTUS_HOME/secrets.json" >"$work/s.json" &&
    cat "$work/s.json" >"$TACTUS_HOME/secrets.json"
"$tactus" run others.tac --json --no-sandbox --run-id others-tampered >out.json 2>err.txt
rc=$?
[ "$rc" -eq 0 ] || { say "a tampered secret no tool names was decrypted (exit $rc)"; cat err.txt; }
printf 'tools: [t]\nhost_tools:\n  t: {command: [/bin/true], secrets: [OTHER_TOKEN]}\n' >others.tac.yml
"$tactus" run others.tac --json --no-sandbox --run-id others-needed >out.json 2>err.txt
rc=$?
[ "$rc" -ne 0 ] && grep -q 'OTHER_TOKEN failed to decrypt' out.json ||
    { say "a tampered secret a tool names did not fail the run (exit $rc)"; cat out.json; }

# 4. Short secrets get a warning when they are stored; long ones do not.
printf 123456 | "$tactus" secrets set SHORT_PIN 2>set.err || say "secrets set SHORT_PIN"
grep -q 'warning: SHORT_PIN is only 6 bytes long' set.err || { say "no warning for a 6-byte secret"; cat set.err; }
printf 'abcdefgh' | "$tactus" secrets set LONG_ENOUGH 2>set.err || say "secrets set LONG_ENOUGH"
[ ! -s set.err ] || { say "a warning for an 8-byte secret"; cat set.err; }

[ "$fail" -eq 0 ] && echo "secrets: the redactor is no oracle; tool secrets masked everywhere"
exit "$fail"
