-- L16: an endless loop inside a coroutine is counted against the same budget.
local f = coroutine.wrap(function() while true do coroutine.yield() end end)
while true do pcall(f) end
