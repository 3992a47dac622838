-- L33: the elements can also come from a C function (__index = tostring): no Lua code runs
-- while table.concat builds the string, so only its own size check can stop it.
local t = setmetatable({}, { __index = tostring, __len = function() return math.maxinteger end })
local s = table.concat(t, ",")
return { built = #s }
