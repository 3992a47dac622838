-- approval.tac: a durable procedure that waits for a person.
--
--   tactus run examples/approval.tac --run-id demo     # stops with exit 5: waiting
--   tactus runs                                        # shows what demo waits for
--   tactus resume demo --approve                       # finishes; nothing runs twice
--
-- Each Step.run result is journaled: the resume replays them from the journal instead of
-- computing again, then asks the question it stopped at.
Procedure {
  input = { items = field.array { default = { "alpha", "beta", "gamma" } } },
  output = {
    approved = field.boolean { required = true },
    report = field.string { required = true },
  },
  function(input)
    local summary = Step.run("summarise", function()
      local lines = {}
      for i, item in ipairs(input.items) do
        lines[#lines + 1] = string.format("%d. %s", i, item:upper())
      end
      return table.concat(lines, "\n")
    end)
    Log.info("summary ready", { lines = #input.items })
    local approved = Human.approve({ message = "Publish this summary?\n" .. summary, default = false })
    local report = approved and Artifact.save("summary.md", "# Summary\n\n" .. summary .. "\n")
      or "not published"
    return { approved = approved, report = report }
  end,
}

specifications([[
Feature: approval
  Scenario: a person approves
    When the procedure runs
    Then the procedure should complete successfully
    And the output approved should be true

  Scenario: a person declines
    Given Human.approve will return false
    When the procedure runs
    Then the output report should be "not published"
]])
