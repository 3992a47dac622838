-- A procedure that fails, and expectations that do not hold.
Procedure {
  function(input)
    error("deliberate")
  end,
}
specifications([[
Feature: failures
  Scenario: failure is expected
    When the procedure runs
    Then the procedure should fail
    And the error should contain "deliberate"

  Scenario: success is not
    When the procedure runs
    Then the procedure should complete successfully

  Scenario: an unknown step
    When the procedure runs
    Then the moon should be made of cheese
]])
