-- L33: a __len that claims 2^63 elements makes table.insert(t, 1, v) shift them all, in one C
-- call; every element shifted is charged.
local t = setmetatable({}, { __len = function() return math.maxinteger - 1 end })
table.insert(t, 1, "x")
