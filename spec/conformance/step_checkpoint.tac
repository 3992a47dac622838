-- Step.checkpoint runs its function once and returns its value; floats stay floats.
Procedure {
  function(input)
    local v = Step.checkpoint(function() return 42 end)
    local f = Step.checkpoint(function() return 4.0 end)
    local t = Step.run("named", function() return { items = { 1, 2 }, label = "x" } end)
    return { v = v, f = f, t = t, key = Step.key() ~= nil }
  end,
}
