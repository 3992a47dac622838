#!/bin/bash
# refused_save.sh - a refused journaled call keeps the runner's journal cursor and the broker's
# journal in step (docs/security.md, "Exhaustion, the terminal and a compromised runner").
#
# Artifact.save with a refused extension, with no name and with too much content, and Host.call
# with a malformed tool name, with arguments too large for one request and with arguments that
# cannot be sent (a function) are each caught by the procedure; the checkpoint and the Host.call
# after them must succeed (not fail "journal position ... out of order"), and a resume must
# replay every step, the refusals included, to the same outcome.
. "$(dirname "$0")/../durability/lib.sh"

detect_modes
cat >saves.tac <<'TAC'
Procedure {
  function(input)
    local ok1, e1 = pcall(Artifact.save, "evil.sh", "rm -rf /")
    local ok2, e2 = pcall(Artifact.save, "", "no name")
    local ok3, e3 = pcall(Artifact.save, "big.txt", string.rep("a", 2000000))
    local ok4, e4 = pcall(Host.call, "bad name!", {})
    local ok5 = pcall(Host.call, "host.ping", { x = string.rep("b", 2000000) })
    local ok6 = pcall(Host.call, "host.ping", { f = print })
    local c = Step.checkpoint(function() return 41 + 1 end)
    local h = Host.call("host.ping", { n = c })
    local saved = Artifact.save("after.txt", "kept")
    Log.info("refusals", { e1 = e1, e2 = e2, e3 = e3, e4 = e4 })
    local approved = Human.approve({ message = "go on?" })
    local refused = not ok1 and not ok2 and not ok3 and not ok4 and not ok5 and not ok6
    return { summary = string.format("%s %s %d %s %s", tostring(refused), saved, h.echo.n,
      tostring(approved), e1 .. " / " .. e4) }
  end,
}
TAC
echo 'tools: [host.ping]' >saves.tac.yml

for mode in $MODES; do
    id=saves${mode//-/_}
    tx "$id.run" run saves.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: suspends at the approval ($(head -c 300 "$id.run.err"))" "$RC" 5
    j=$(journal_of "$id")
    # evil.sh, the nameless save and the bad tool name are journaled refusals; the oversized
    # save and the unsendable Host.call arguments are refused in the runner before they take a
    # position.
    expect_eq "$id: journal kinds" "$(kinds "$j")" \
        "artifact artifact host_call checkpoint host_call artifact approve "
    expect_eq "$id: positions" "$(positions "$j" | tr '\n' ' ')" "1 2 3 4 5 6 7 "
    check "$id: after.txt saved" test -f "$(rundir "$id")/files/after.txt"
    tx "$id.resume" resume "$id" --approve --quiet "$mode"
    expect_eq "$id: resume exit ($(head -c 300 "$id.resume.err"))" "$RC" 0
    want="true after.txt 42 true artifact 'evil.sh': extension .sh is not allowed"
    case $(summary "$id") in
    "$want"*" / tool.call needs a tool name"*) : ;;
    *) fail "$id: replayed summary: $(summary "$id")" ;;
    esac
    # The replayed refusals read as the live ones did (logged by the first run only).
    live=$(grep '"message":"refusals"' "$(rundir "$id")/stream.jsonl" |
        sed 's/.*"e1":"\([^"]*\)".*"e4":"\([^"]*\)".*/\1 \/ \2/; s/.*"e4":"\([^"]*\)".*"e1":"\([^"]*\)".*/\2 \/ \1/')
    expect_eq "$id: replayed errors" "$(summary "$id" | cut -d' ' -f5-)" "$live"
    check "$id: no second after.txt" test ! -e "$(rundir "$id")/files/after-1.txt"
done

# The same for a sub-procedure whose result cannot be journaled and a Human request that cannot
# be sent: caught, they leave the journal and the runner in step, live and on resume.
cat >others.tac <<'TAC'
sub = Procedure { name = "sub", function(input) return { f = print } end }
Procedure {
  function(input)
    local ok1, e1 = pcall(sub, {})
    local ok2, e2 = pcall(Human.input, { message = "x", default = print })
    local c = Step.checkpoint(function() return 2 end)
    local h = Host.call("host.ping", { n = c })
    return { summary = string.format("%s %s %d", tostring(ok1), tostring(ok2), h.echo.n) }
  end,
}
TAC
echo 'tools: [host.ping]' >others.tac.yml
for mode in $MODES; do
    id=others${mode//-/_}
    tx "$id.run" run others.tac --run-id "$id" --quiet "$mode"
    expect_eq "$id: exit ($(head -c 300 "$id.run.err"))" "$RC" 0
    expect_eq "$id: summary" "$(summary "$id")" "false false 2"
    expect_eq "$id: journal kinds" "$(kinds "$(journal_of "$id")")" "procedure checkpoint host_call "
    tx "$id.resume" resume "$id" --quiet "$mode"
    expect_eq "$id: resume exit ($(head -c 300 "$id.resume.err"))" "$RC" 0
    expect_eq "$id: replayed summary" "$(summary "$id")" "false false 2"
done
finish
