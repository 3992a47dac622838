-- Operations inside a checkpoint are its journaled children (docs/durability.md "Operations
-- inside a checkpoint"): two host calls (one in a nested checkpoint) take positions 1 and 2,
-- the checkpoint's own record 3. Cutting the journal inside a checkpoint is refused.
main = procedure("main", {}, function()
  local before = Checkpoint.next_position()
  local v = Step.checkpoint(function()
    local a = Host.call("host.echo", { v = 1 }).echo.v
    local inner = Step.checkpoint(function() return Host.call("host.echo", { v = 2 }).echo.v end)
    local inside = Checkpoint.next_position()
    local ok, err = pcall(Checkpoint.clear_after, 0)
    return { a = a, inner = inner, inside = inside,
             clear_refused = not ok and tostring(err):match("cannot be used inside a checkpoint") ~= nil }
  end)
  return { before = before, v = v, after = Checkpoint.next_position() }
end)
