-- The global checkpoint(fn) alias (G1 form); an error inside is recorded and re-raised.
main = procedure("main", {}, function()
  local v = checkpoint(function() return 1 end)
  local ok, err = pcall(checkpoint, function() error("inner failure") end)
  return { v = v, failed = not ok, message = tostring(err):match("inner failure") }
end)
