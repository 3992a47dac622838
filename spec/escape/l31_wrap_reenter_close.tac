-- L31: a coroutine.wrap function called again from a __close handler of its own coroutine
-- (which is running) must be refused the way stock lua5.4 refuses it, and leave the coroutine
-- intact: resetting the running coroutine freed the stack it ran on (a crash, or garbage).
local f
local inner
f = coroutine.wrap(function()
  local x <close> = setmetatable({}, { __close = function()
    local ok, err = pcall(f)
    inner = { ok = ok, err = err }
    coroutine.yield("from close")
  end })
  coroutine.yield("first")
  return "done"
end)
local first = f()
local ok2, second = pcall(f) -- runs to the end: __close re-enters f, then yields
local ok3, third = pcall(f)  -- finishes the __close handler: the function returns
local ok4, fourth = pcall(f) -- dead now
local g
g = coroutine.wrap(function()
  local x <close> = setmetatable({}, { __close = function() g() end })
  coroutine.yield(1)
end)
g()
local ok5, fifth = pcall(g) -- the unprotected re-entry raises out of the handler
local filler = {}
for i = 1, 2000 do filler[i] = { tostring(i) } end
return {
  first = first, inner_ok = inner.ok, inner_err = inner.err, second = { ok2, second },
  third = { ok3, third }, fourth = { ok4, fourth },
  fifth = { ok5, (fifth:match("^.-:(%d+: .*)$")) }, filler = #filler,
}
