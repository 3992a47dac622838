-- L33: table.sort of 2^31 elements that exist only through C metamethods (__index = rawlen
-- gives 0 everywhere, __newindex = rawequal drops writes) is billions of comparisons in one C
-- call with no Lua code; each comparison is charged.
local t = setmetatable({}, {
  __len = function() return (1 << 31) - 2 end,
  __index = rawlen,
  __newindex = rawequal,
})
table.sort(t)
