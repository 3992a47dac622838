-- The global checkpoint(fn) alias fails the same way (G1 form).
main = procedure("main", {}, function()
  local v = checkpoint(function() return 1 end)
  return { v = v }
end)
