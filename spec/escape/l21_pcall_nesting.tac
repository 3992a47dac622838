-- L21: self-nesting pcall passes Lua's bound of 200 nested C calls: the `depth` limit, which the
-- procedure cannot catch and go on from (no host crash either).
local function f()
  local ok, err = pcall(f)
  return err
end
error(f())
