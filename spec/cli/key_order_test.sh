#!/bin/sh
# Identical runs give the same JSON key order in result.json, run.json, steps.json,
# stream.jsonl and the --json output (values differ only in timings and ids): a Lua table's
# keys come out sorted, not in the VM's per-run hash order (issue 9). $1 = tactus binary.
set -u
tactus=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export TACTUS_HOME="$work/home"
fail=0
cat >k.tac <<'TAC'
Procedure {
  function(input)
    local t = {}
    for i = 1, 16 do t["key" .. i] = { n = i, ["k" .. i] = true, z = i, a = i } end
    Log.info("context", { alpha = 1, beta = 2, gamma = 3, delta = 4, epsilon = 5, zeta = 6 })
    local s = Step.run("s", function() return { x = 1, y = 2, z = 3, w = 4, v = 5, u = 6 } end)
    State.set("st", { p = 1, q = 2, r = 3, s = 4, t = 5 })
    return { t = t, s = s, one = 1, two = 2, three = 3, four = 4, five = 5 }
  end,
}
TAC
cat >keys.py <<'PY'
import json, sys
def keys(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            out.append(k)
            keys(x, out)
    elif isinstance(v, list):
        for x in v:
            keys(x, out)
    return out
d = sys.argv[1]
for name in ("result.json", "run.json", "steps.json"):
    print(name, ",".join(keys(json.load(open(d + "/" + name)), [])))
for line in open(d + "/stream.jsonl"):
    print("stream", ",".join(keys(json.loads(line), [])))
print("stdout", ",".join(keys(json.load(open(sys.argv[2])), [])))
PY
for i in 1 2 3; do
    "$tactus" run k.tac --run-id "k$i" --json --quiet >"out$i.json" 2>"err$i"
    rc=$?
    [ "$rc" -eq 0 ] || { echo "FAIL run $i: exit $rc"; cat "err$i"; fail=1; }
    python3 keys.py ".tactus/runs/k$i" "out$i.json" >"keys$i" || fail=1
done
for i in 2 3; do
    if ! cmp -s keys1 "keys$i"; then
        echo "FAIL run $i: key order differs from run 1"; diff keys1 "keys$i" | head -10; fail=1
    fi
done
grep -q 'alpha,beta,delta,epsilon,gamma,zeta' keys1 || { echo "FAIL: log context keys not sorted"; fail=1; }
[ "$fail" -eq 0 ] && echo "key_order: all checks passed"
exit "$fail"
