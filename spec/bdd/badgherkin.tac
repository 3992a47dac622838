specifications([[
Feature: broken
  Scenario Outline: outlines are not supported
    Given the input x is <x>
]])
return 1
