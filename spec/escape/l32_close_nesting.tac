-- L32: __close handlers that each close the next coroutine nest C calls that Lua 5.4.4 does not
-- count (it restarts its C-call count in coroutine.close): 60000 of them overflowed the C
-- stack (stock lua5.4 crashes too). The VM bounds the C stack as the `depth` limit.
local N = 60000
local cos = {}
for i = 1, N do
  local co = coroutine.create(function()
    local x <close> = setmetatable({}, { __close = function()
      local nxt = cos[i + 1]
      if nxt then coroutine.close(nxt) end
    end })
    coroutine.yield()
  end)
  coroutine.resume(co)
  cos[i] = co
end
coroutine.close(cos[1])
return { survived = true }
