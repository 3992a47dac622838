-- L33: the same lie makes table.remove(t, 1) shift 2^63 elements down; each one is charged.
local t = setmetatable({}, { __len = function() return math.maxinteger end })
table.remove(t, 1)
