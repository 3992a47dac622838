-- L32: the same chain of coroutine.close calls from __close handlers, each call made through
-- pcall, xpcall or a coroutine.wrap function in turn: still the `depth` limit, not a crash.
local N = 60000
local cos = {}
local function closer(i)
  local nxt = cos[i + 1]
  if not nxt then return end
  local k = i % 3
  if k == 0 then
    pcall(coroutine.close, nxt)
  elseif k == 1 then
    xpcall(coroutine.close, function(m) return m end, nxt)
  else
    coroutine.wrap(function() coroutine.close(nxt) end)()
  end
end
for i = 1, N do
  local co = coroutine.create(function()
    local x <close> = setmetatable({}, { __close = function() closer(i) end })
    coroutine.yield()
  end)
  coroutine.resume(co)
  cos[i] = co
end
coroutine.close(cos[1])
return { survived = true }
