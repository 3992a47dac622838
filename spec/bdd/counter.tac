Stages({"start", "middle", "end"})
main = procedure("main", {
  input = { target_count = { type = "number", default = 5 } },
  output = { final_count = { type = "number", required = true }, message = { type = "string" } },
}, function()
  Stage.set("start")
  for i = 1, input.target_count do State.increment("counter") end
  Stage.set("middle")
  local ok = Human.approve({ message = "go?" })
  Stage.set("end")
  return { final_count = State.get("counter"), message = ok and "complete" or "stopped" }
end)

specifications([[
Feature: Simple logic
  Scenario: counts to the target
    Given the procedure has started
    When the procedure runs
    Then the procedure should complete successfully
    And the output final_count should be 5
    And the output message should be complete
    And the state counter should be 5
    And the stage should be end
    And the stage should transition from start to middle

  Scenario: custom target
    Given the input target_count is 3
    And Human.approve will return false
    When the procedure runs
    Then the output final_count should be 3
    And the output message should be "stopped"

  Scenario: a failing expectation
    When the procedure runs
    Then the output final_count should be 6
]])
