#!/bin/bash
# values.sh - values returned by checkpoints come back exactly when replayed (case 8 of
# docs/durability-testing.md).
#
# Each value below is returned by a checkpoint and checked by the procedure itself (a Lua
# expression over v), twice: live, and replayed after a crash while the next record was being
# written. fixtures/values.tac does the same with all values in one run. Values that cannot be
# journaled (functions, coroutines, cycles, tables as keys) must stop the run with a clear error
# that names the value and the procedure's line, and record nothing; a procedure that catches
# that error must be able to go on.
. "$(dirname "$0")/lib.sh"

detect_modes
read -r -a mode_list <<<"$MODES"

# name|Lua expression|check over v (true when v came back exactly)
VALUES=$(
    cat <<'EOF'
int|4|math.type(v) == "integer" and v == 4
float|4.0|math.type(v) == "float" and v == 4.0
negzero|-0.0|math.type(v) == "float" and v == 0 and 1 / v == -math.huge
poszero|0.0|math.type(v) == "float" and 1 / v == math.huge
nan|0 / 0|type(v) == "number" and v ~= v
inf|math.huge|v == math.huge
ninf|-math.huge|v == -math.huge
maxint|math.maxinteger|math.type(v) == "integer" and v == math.maxinteger
minint|math.mininteger|math.type(v) == "integer" and v == math.mininteger
tenth|0.1|v == 0.1
third|1 / 3|v == 1 / 3
huge_float|1e300|v == 1e300
denormal|5e-324|v == 5e-324 and v > 0
bytes|"\255\0x"|v == "\255\0x" and #v == 3
nul|"a\0b"|v == "a\0b" and #v == 3
utf8|"h\u{e9}llo \u{1F600}"|v == "h\u{e9}llo \u{1F600}"
tag_lookalike_string|"$f"|v == "$f"
false|false|v == false
nil|nil|v == nil
empty|{}|type(v) == "table" and next(v) == nil
array|{ 1, 2.5, "x" }|#v == 3 and math.type(v[1]) == "integer" and v[2] == 2.5 and v[3] == "x"
sparse|{ [1] = "a", [3] = "c" }|v[1] == "a" and v[2] == nil and v[3] == "c"
bool_keys|{ [true] = 1, [false] = 2 }|v[true] == 1 and v[false] == 2
number_keys|{ [10] = "ten", [1.5] = "f", [-1] = "m" }|v[10] == "ten" and v[1.5] == "f" and v[-1] == "m" and math.type(next({ [10] = 1 })) == "integer"
string_vs_number_key|{ ["1"] = "s", [1] = "n" }|v["1"] == "s" and v[1] == "n"
dollar_keys|{ ["$t"] = 1, ["$f"] = 2, ["$b"] = 3 }|v["$t"] == 1 and v["$f"] == 2 and v["$b"] == 3
tag_lookalike_table|{ ["$f"] = "nan" }|type(v) == "table" and v["$f"] == "nan"
binary_key|{ ["\255"] = 1 }|v["\255"] == 1
nested|{ a = { b = { c = { -0.0, 0 / 0, "\254" } } } }|1 / v.a.b.c[1] == -math.huge and v.a.b.c[2] ~= v.a.b.c[2] and v.a.b.c[3] == "\254"
nested_empty|{ e = {}, a = { {}, {} } }|type(v.e) == "table" and next(v.e) == nil and #v.a == 2
mixed|{ [1] = "a", [2] = "b", x = { [true] = 1, [10] = "ten", ["1"] = "s", [1] = "n" } }|v[1] == "a" and v[2] == "b" and v.x[true] == 1 and v.x[10] == "ten" and v.x["1"] == "s" and v.x[1] == "n"
large_string|string.rep("xy", 50000)|v == string.rep("xy", 50000)
EOF
)

i=0
while IFS='|' read -r name expr test; do
    i=$((i + 1))
    mode=${mode_list[$((i % ${#mode_list[@]}))]}
    f=v-$name
    cat >"$f.tac" <<EOF
-- values.sh: $name
Procedure {
  function(input)
    local v = Step.checkpoint(function() return $expr end)
    local after = Step.checkpoint(function() return 0 end)
    return { summary = ($test) and "exact" or ("changed: " .. tostring(v)) }
  end,
}
EOF
    tx "$f.live" run "$f.tac" --run-id "$f-live" --quiet "$mode"
    expect_eq "$name live: exit code ($(head -c 200 "$f.live.err"))" "$RC" 0
    expect_eq "$name live: summary" "$(summary "$f-live")" exact
    txe "$f.crash" TACTUS_CRASH_AT=before_write:2 -- run "$f.tac" --run-id "$f-replay" --quiet "$mode"
    expect_eq "$name crash: exit code" "$RC" 7
    expect_grep "$name crash: the broker died, not the runner" 'broker process was killed' \
        "$f.crash.err"
    expect_eq "$name crash: records" "$(positions "$(journal_of "$f-replay")" | tr '\n' ' ')" "1 "
    head -n 2 "$(journal_of "$f-replay")" >"$f.recorded"
    tx "$f.resume" resume "$f-replay" --quiet "$mode"
    expect_eq "$name replayed: exit code ($(head -c 200 "$f.resume.err"))" "$RC" 0
    expect_eq "$name replayed: summary" "$(summary "$f-replay")" exact
    check "$name replayed: record 1 was written again (not replayed)" cmp -s "$f.recorded" \
        <(head -n 2 "$(journal_of "$f-replay")")
done <<<"$VALUES"

# All values in one procedure, replayed after a crash while recording the last checkpoint.
install_fixture values
for mode in $MODES; do
    id=all-${mode#--}
    tx "$id.live" run values.tac --run-id "$id-live" --quiet "$mode"
    expect_eq "$id live: exit code ($(head -c 200 "$id.live.err"))" "$RC" 0
    expect_eq "$id live: summary" "$(summary "$id-live")" all-true
    txe "$id.crash" TACTUS_CRASH_AT=before_write:14 -- run values.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id crash: exit code" "$RC" 7
    expect_grep "$id crash: the broker died, not the runner" 'broker process was killed' \
        "$id.crash.err"
    expect_eq "$id crash: records" "$(positions "$(journal_of "$id")" | wc -l | tr -d ' ')" 13
    head -n 14 "$(journal_of "$id")" >"$id.recorded"
    tx "$id.resume" resume "$id" --quiet "$mode"
    expect_eq "$id replayed: exit code ($(head -c 200 "$id.resume.err"))" "$RC" 0
    expect_eq "$id replayed: summary" "$(summary "$id")" all-true
    check "$id replayed: records 1..13 were written again (not replayed)" cmp -s "$id.recorded" \
        <(head -n 14 "$(journal_of "$id")")
done

# Values that cannot be journaled: a clear error at the procedure's line, nothing recorded.
# name|Lua expression|what the message must say
BAD=$(
    cat <<'EOF'
function|function() end|functions? cannot be
coroutine|coroutine.create(function() end)|(threads?|coroutines?) cannot be
nested_function|{ ok = 1, f = print }|result\.f: functions? cannot be
cycle|(function() local t = {}; t.self = t; return t end)()|cycle
table_key|{ [{}] = 1 }|tables used as keys
EOF
)
mode=${mode_list[0]}
while IFS='|' read -r name expr pattern; do
    f=bad-$name
    cat >"$f.tac" <<EOF
-- values.sh: $name cannot be journaled
Procedure {
  function(input)
    local v = Step.checkpoint(function() return $expr end)
    return { summary = "unreachable" }
  end,
}
EOF
    tx "$f" run "$f.tac" --run-id "$f" --quiet "$mode"
    expect_eq "$name: exit code" "$RC" 1
    expect_eq "$name: status" "$(status_of "$f")" error
    expect_grep "$name: message" "$pattern" "$f.err"
    expect_grep "$name: the error names the procedure's line" \
        "\"message\": \"$f\\.tac:4: |\"file\": \"$f\\.tac\"" "$(rundir "$f")/result.json"
    # The refusal is the checkpoint's error, recorded in its place (errors replay as errors).
    expect_eq "$name: records" "$(positions "$(journal_of "$f")" | wc -l | tr -d ' ')" 1
    expect_grep "$name: the record holds the error" '"type":"ValueError"' "$(journal_of "$f")"
done <<<"$BAD"

# A procedure that catches the error goes on, and its replay does the same.
cat >caught.tac <<'EOF'
-- values.sh: the unjournalable value's error is caught; the run goes on.
Procedure {
  function(input)
    local ok, err = pcall(Step.checkpoint, function() return function() end end)
    local later = Step.checkpoint(function() return 7 end)
    return { summary = "caught=" .. tostring(not ok) .. " later=" .. later }
  end,
}
EOF
for mode in $MODES; do
    id=caught-${mode#--}
    tx "$id" run caught.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: exit code ($(head -c 200 "$id.err"))" "$RC" 0
    expect_eq "$id: summary" "$(summary "$id")" "caught=true later=7"
    tx "$id.again" resume "$id" --quiet "$mode"
    expect_eq "$id: replay: exit code ($(head -c 200 "$id.again.err"))" "$RC" 0
    expect_eq "$id: replay: summary" "$(summary "$id")" "caught=true later=7"
done
finish
