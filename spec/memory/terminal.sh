#!/bin/bash
# terminal.sh - what a procedure says reaches the operator's terminal escaped, never raw
# (docs/security.md, "Exhaustion, the terminal and a compromised runner").
#
# A log message "\27[2K\rtactus: ok\n" would, printed raw, erase the line, print a fake
# "tactus: ok" and hide what follows; an error message could do the same to the verdict. The CLI
# must print each as one line with the control characters spelled out (\x1b, \r, \n, \u{009b}
# for C1, \x7f for DEL, \u{202e} for a bidi override), and stream.jsonl must keep the exact text.
. "$(dirname "$0")/../durability/lib.sh"

detect_modes
mode=${MODES%% *}
cat >forge.tac <<'TAC'
Procedure {
  function(input)
    Log.info("\27[2K\rtactus: ok\n")
    Log.warn("c1 \xc2\x9b del \127 bidi \u{202E}x", { k = "\27]0;owned\7" })
    error("\27[1A\27[2K\rtactus: ok in 3 ms (run forge)\nreal error hidden")
  end,
}
TAC
tx forge run forge.tac --run-id forge "$mode"
expect_eq "forge: exit ($(head -c 300 forge.err))" "$RC" 1
check "forge: no ESC byte on stderr" bash -c "! grep -q $'\x1b' forge.err"
check "forge: no CR on stderr" bash -c "! grep -q $'\r' forge.err"
check "forge: no C1 or DEL byte on stderr" bash -c "! LC_ALL=C grep -q $'\xc2\x9b\|\x7f' forge.err"
check "forge: no line starts with a forged tactus: ok" bash -c "! grep -q '^tactus: ok' forge.err"
expect_eq "forge: the log is one escaped line" \
    "$(grep -c -F '[info] \x1b[2K\rtactus: ok\n' forge.err)" 1
expect_grep "forge: C1, DEL and bidi spelled out" \
    '^\[warn\] c1 \\u\{009b\} del \\x7f bidi \\u\{202e\}x \{"k":"\\u001B\]0;owned\\u0007"\}$' forge.err
expect_grep "forge: the error is one escaped line" \
    '^tactus: error: .*\\x1b\[1A\\x1b\[2K\\rtactus: ok in 3 ms \(run forge\)\\nreal error hidden$' \
    forge.err
expect_eq "forge: stderr lines" "$(grep -c -v '^tactus: \(warning\|running\)' forge.err)" 3
# The evidence keeps the exact text, JSON-escaped.
expect_grep "forge: stream keeps the message" \
    '"message":"\\u001B\[2K\\rtactus: ok\\n"' "$(rundir forge)/stream.jsonl"
expect_grep "forge: result keeps the error" \
    '\\u001B\[1A\\u001B\[2K\\rtactus: ok in 3 ms \(run forge\)\\nreal error hidden' \
    "$(rundir forge)/result.json"

# A suspended run's request is shown by `tactus runs`, and `tactus show` prints result.json,
# where JSON leaves C1 controls as they are: both go through the same escaper.
cat >wait.tac <<'TAC'
Procedure {
  function(input)
    Human.approve({ message = "\27[2K\rtactus: ok \xc2\x9b[31m" })
  end,
}
TAC
tx wait run wait.tac --run-id wait "$mode"
expect_eq "wait: suspended ($(head -c 300 wait.err))" "$RC" 5
check "wait: no ESC, CR or C1 on stderr" bash -c "! LC_ALL=C grep -q $'\x1b\\|\r\\|\xc2\x9b' wait.err"
tx runs runs
expect_eq "runs: exit" "$RC" 0
check "runs: no ESC, CR or C1" bash -c "! LC_ALL=C grep -q $'\x1b\\|\r\\|\xc2\x9b' runs.out"
expect_grep "runs: the request, escaped" \
    '^    .*\\x1b\[2K\\rtactus: ok \\u\{009b\}\[31m \(tactus resume wait ' runs.out
check "result.json keeps the C1 character" bash -c "LC_ALL=C grep -q $'\xc2\x9b' '$(rundir wait)/result.json'"
tx show show wait
expect_eq "show: exit" "$RC" 0
check "show: no raw C1" bash -c "! LC_ALL=C grep -q $'\xc2\x9b' show.out"
expect_grep "show: C1 spelled out" '\\u\{009b\}' show.out

# tactus test prints scenario names, steps and failure messages: the procedure's text too.
{
    printf 'Procedure { function(input) error("\\27[2K\\rPASS everything") end }\n'
    printf 'specifications([[\nFeature: f\n  Scenario: name \033[8mhidden\n'
    printf '    When the procedure runs\n    Then the procedure should complete successfully\n]])\n'
} >spec.tac
tx spec test spec.tac
expect_eq "test: exit ($(head -c 300 spec.err))" "$RC" 1
check "test: no ESC or CR on stdout" bash -c "! LC_ALL=C grep -q $'\x1b\\|\r' spec.out"
expect_grep "test: the scenario name, escaped" '^FAIL name \\x1b\[8mhidden$' spec.out
expect_grep "test: the message, escaped" '\\x1b\[2K\\rPASS everything' spec.out
finish
