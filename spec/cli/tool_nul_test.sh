#!/bin/sh
# A host tool's valid JSON with \u0000 in a string is accepted and reaches Lua as the exact
# bytes, both ways (Lua -> tool arguments -> tool output), and a resumed run replays the same
# bytes from its journal (issue 9). $1 = tactus binary.
set -u
tactus=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export TACTUS_HOME="$work/home"
fail=0
cat >nul.sh <<'SH'
#!/bin/sh
cat >/dev/null
printf '{"s": "a\\u0000b", "k": ["\\u0000"]}\n'
SH
chmod +x nul.sh
cat >p.tac.yml <<'YML'
tools: [t.nul, t.echo]
host_tools:
  t.nul:
    command: [./nul.sh]
  t.echo:
    command: [cat]
YML
cat >p.tac <<'TAC'
Procedure {
  output = { len = { type = "integer" }, byte = { type = "integer" }, echoed = { type = "boolean" },
             s = { type = "string" }, approved = { type = "boolean" } },
  function(input)
    local r = Host.call("t.nul", {})
    local e = Host.call("t.echo", { s = r.s })
    local ok = Human.approve({ message = "continue?" })
    return { len = #r.s, byte = r.s:byte(2), echoed = e.s == "a\0b" and r.k[1] == "\0",
             s = r.s, approved = ok }
  end,
}
TAC
"$tactus" run p.tac --run-id nul1 --json >out.json 2>err
rc=$?
if [ "$rc" -ne 5 ]; then
    echo "FAIL first run: exit $rc, expected 5 (suspended)"; cat out.json err; fail=1
fi
"$tactus" resume nul1 --approve --json >res.json 2>err
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL resume: exit $rc"; cat res.json err; fail=1
fi
for want in '"len": 3' '"byte": 0' '"echoed": true' '"s": "a\u0000b"' '"approved": true'; do
    if ! grep -qF -- "$want" res.json; then
        echo "FAIL resumed output lacks $want"; cat res.json err; fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "tool_nul: all checks passed"
exit "$fail"
