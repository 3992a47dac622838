-- L21: self-nesting pcall overflows the C stack: a plain Lua error, no host crash.
local function f()
  local ok, err = pcall(f)
  return err
end
error(f())
