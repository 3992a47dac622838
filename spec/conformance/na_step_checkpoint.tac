-- Step.checkpoint needs durable execution: in this build it fails loudly at the call's line
-- instead of pretending to checkpoint.
Procedure {
  function(input)
    local v = Step.checkpoint(function() return 42 end)
    return { v = v }
  end,
}
