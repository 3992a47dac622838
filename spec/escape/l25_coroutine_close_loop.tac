-- L25: coroutine.close runs pending __close handlers; a looping one is stopped by the budget.
local co = coroutine.create(function()
  local x <close> = setmetatable({}, { __close = function() while true do end end })
  coroutine.yield()
end)
coroutine.resume(co)
coroutine.close(co)
