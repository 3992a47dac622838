-- L21: endless recursion inside a coroutine is stopped by the same depth limit.
coroutine.wrap(function()
  local function f() return 1 + f() end
  f()
end)()
