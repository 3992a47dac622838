-- L20: unpacking a hundred million results is refused by Lua itself.
local t = { table.unpack({}, 1, 1e8) }
