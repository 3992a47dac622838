-- Every built-in step family, all expected to pass.
Stages({ "collect", "done" })
lookup = Tool {
  description = "look a word up",
  input = { word = field.string { required = true } },
  function(args) return "meaning of " .. args.word end,
}
Procedure {
  input = { words = field.array { default = { "a", "b" } }, label = field.string { default = "x" } },
  output = { count = field.integer { required = true }, label = field.string { required = true } },
  function(input)
    Stage.set("collect")
    for _, w in ipairs(input.words) do lookup({ word = w }) end
    state.seen = #input.words
    local name = Human.input({ message = "name?" })
    Stage.advance()
    Stop.request("all words looked up")
    return { count = #input.words, label = input.label .. ":" .. name }
  end,
}
Step("the label starts with {prefix}", function(prefix)
  assert(Tool.called("lookup"), "lookup was not called")
end)
specifications([[
Feature: built-in steps
  Background:
    Given the procedure has started

  Scenario: defaults
    When the procedure runs
    Then the procedure should complete successfully
    And the output should exist
    And the output count should be 2
    And the output label should be "x:test input"
    And the output label should match pattern "^x:"
    And the output should contain label
    And the output count should not be 3
    And the state seen should be 2
    And the state should contain seen
    And the stage should be done
    And the stage should transition from collect to done
    And the lookup tool should be called
    And the lookup tool should be called exactly 2 times
    And the lookup tool should be called at least 1 time
    And the lookup tool should be called with word=b
    And the missing tool should not be called
    And the stop reason should contain "looked up"
    And the total iterations should be less than 1
    And the label starts with x

  Scenario: inputs from steps
    Given the input words is ["p", "q", "r"]
    And the input label is "y"
    And Human.input will return 'Ada'
    When the procedure runs
    Then the output count should be 3
    And the output label should be y:Ada
]])
