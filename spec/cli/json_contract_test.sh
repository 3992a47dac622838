#!/bin/sh
# --json prints exactly one JSON object on stdout for every command that takes it, also for
# usage and validation errors, with the result.json shape (status, error.type, error.message,
# file/line where known); the `tactus: ...` line still goes to stderr (issue 9).
# `tactus show` takes a run directory, has --json, summarizes, and changes nothing.
# $1 = tactus binary.
set -u
tactus=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export TACTUS_HOME="$work/home"
fail=0
printf 'Procedure {\n  function(input)\n    return {\n  end\n' >bad.tac
printf 'Procedure { function(input) return { ok = true } end }\n' >good.tac
cat >wait.tac <<'TAC'
Procedure {
  function(input)
    Step.run("one", function() return 1 end)
    return { ok = Human.approve({ message = "deploy?" }) }
  end,
}
TAC
# one_object NAME WANT_RC WANT_STATUS [WANT_TYPE [WANT_LINE]] -- command...
one_object() {
    name=$1 want_rc=$2 want_status=$3 want_type=$4 want_line=$5
    shift 6
    "$@" >out.json 2>err
    rc=$?
    if ! python3 - "$want_status" "$want_type" "$want_line" "$want_rc" <<'PY'
import json, sys
want_status, want_type, want_line, want_rc = sys.argv[1:5]
text = open("out.json").read()
dec = json.JSONDecoder()
obj, end = dec.raw_decode(text.lstrip())
assert text.lstrip()[end:].strip() == "", "more than one value on stdout"
assert isinstance(obj, dict), "not an object"
assert obj.get("status") == want_status, "status %r" % obj.get("status")
if want_rc != "0":
    e = obj.get("error")
    assert isinstance(e, dict) and isinstance(e.get("message"), str) and e["message"], "no error.message"
    assert isinstance(e.get("type"), str), "no error.type"
    if want_type != "-":
        assert e["type"] == want_type, "type %r" % e["type"]
    if want_line != "-":
        assert e.get("line") == int(want_line), "line %r" % e.get("line")
PY
    then
        echo "FAIL $name: stdout is not one object of status $want_status"; cat out.json err; fail=1
    fi
    if [ "$rc" -ne "$want_rc" ]; then
        echo "FAIL $name: exit $rc, expected $want_rc"; fail=1
    fi
    if [ "$want_rc" -ne 0 ] && [ "$want_status" != suspended ] && ! grep -q '^tactus' err; then
        echo "FAIL $name: no 'tactus...' line on stderr"; cat err; fail=1
    fi
}
one_object run-missing-file 2 usage UsageError - -- "$tactus" run nosuch.tac --json
one_object run-bad-option 2 usage UsageError - -- "$tactus" run good.tac --bogus --json
one_object run-bad-limit 2 usage UsageError - -- "$tactus" run good.tac --json --limit nope=1
one_object run-bad-param 2 usage UsageError - -- "$tactus" run good.tac --json --param novalue
one_object run-bad-input 2 usage InputError - -- "$tactus" run good.tac --json --input nosuch.json
one_object run-syntax 1 error SyntaxError 4 -- "$tactus" run bad.tac --json
grep -q "^tactus: error: bad.tac:4: unexpected symbol" err ||
    { echo "FAIL run-syntax: no final 'tactus: error: ...' line on stderr"; cat err; fail=1; }
one_object run-ok 0 ok - - -- "$tactus" run good.tac --json
one_object validate-bad 1 error SyntaxError 4 -- "$tactus" validate --json bad.tac
one_object validate-missing 2 usage UsageError - -- "$tactus" validate --json nosuch.tac
one_object info-missing 2 usage UsageError - -- "$tactus" info --json nosuch.tac
one_object test-missing 2 usage UsageError - -- "$tactus" test --json nosuch.tac
one_object test-syntax 1 error SyntaxError 4 -- "$tactus" test --json bad.tac
one_object test-bad-option 2 usage UsageError - -- "$tactus" test --json good.tac --bogus
one_object resume-missing 2 usage NoSuchRun - -- "$tactus" resume nosuch --json
one_object resume-no-id 2 usage UsageError - -- "$tactus" resume --json
one_object replay-missing 2 usage NoSuchRun - -- "$tactus" replay --check nosuch --json
one_object replay-no-check 2 usage UsageError - -- "$tactus" replay nosuch --json
one_object show-missing 2 usage NoSuchRun - -- "$tactus" show nosuch --json
one_object show-bad-id 2 usage UsageError - -- "$tactus" show --json 'a b' 
one_object runs-bad-arg 2 usage - - -- "$tactus" runs --json --bogus
one_object unknown-command 2 usage UsageError - -- "$tactus" frobnicate --json

# show: a suspended run by id and by directory; --json is one object with run.json and
# result.json; nothing in the run directory changes.
"$tactus" run wait.tac --run-id w1 --quiet >/dev/null 2>&1
"$tactus" run good.tac --run-dir "$work/elsewhere/d1" --quiet >/dev/null 2>&1
before=$(cd .tactus/runs/w1 && ls -la --time-style=full-iso && cat ./*)
one_object show-json 0 suspended - - -- "$tactus" show w1 --json
python3 -c '
import json; o = json.load(open("out.json"))
assert o["run_id"] == "w1" and o["steps"] == 2, o
assert o["run"]["procedure"] == "wait.tac" and o["result"]["status"] == "suspended", o
' || { echo "FAIL show-json: wrong content"; cat out.json; fail=1; }
"$tactus" show w1 >out 2>err || { echo "FAIL show: exit $?"; fail=1; }
for want in "status:     suspended" "steps:      2" "waiting:    waiting for a human at wait.tac:4: deploy?" \
    "resume:     tactus resume w1 --approve | --reject"; do
    grep -qF -- "$want" out || { echo "FAIL show: lacks '$want'"; cat out; fail=1; }
done
after=$(cd .tactus/runs/w1 && ls -la --time-style=full-iso && cat ./*)
[ "$before" = "$after" ] || { echo "FAIL show changed the run directory"; fail=1; }
one_object show-dir 0 ok - - -- "$tactus" show "$work/elsewhere/d1" --json
"$tactus" show "$work/elsewhere/d1" >out 2>err && grep -qF "status:     ok" out ||
    { echo "FAIL show DIR"; cat out err; fail=1; }
# A run.json changed after the fact is refused, as before (issue 8).
sed -i 's/"sandbox"/"child"/' "$work/elsewhere/d1/run.json"
one_object show-tampered 2 usage RunRefused - -- "$tactus" show "$work/elsewhere/d1" --json
[ "$fail" -eq 0 ] && echo "json_contract: all checks passed"
exit "$fail"
