-- L15: a __gc added after setmetatable never marks the object for finalization (Lua 5.4 rule),
-- so churning memory cannot trigger an unhooked finalizer: the run ends normally.
local mt = {}
local t = setmetatable({}, mt)
mt.__gc = function() while true do end end
t = nil
for i = 1, 20000 do local garbage = { i, tostring(i) } end
return { finished = true }
