-- L15: the placeholder trick (mark with __gc = true, fill in the function later) is refused at
-- the first step: any raw __gc key is.
local mt = { __gc = true }
local t = setmetatable({}, mt)
mt.__gc = function() while true do end end
