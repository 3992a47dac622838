-- L35: an xpcall message handler that replaces the overflow error with its own message does not
-- hide it: the handler is not called for it.
local function f()
  local ok, err = xpcall(f, function() return "nothing to see" end)
  return err
end
return { caught = f() }
