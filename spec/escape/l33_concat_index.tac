-- L33: table.concat over a table whose elements come from __index (and whose length from
-- __len) measured the result with raw reads (0 bytes) and built 20 MB under `string: 1m`. The
-- size is checked as the string is built, with the reads Lua itself makes.
local chunk = ("x"):rep(1000)
local t = setmetatable({}, {
  __index = function() return chunk end,
  __len = function() return 20000 end,
})
local s = table.concat(t)
return { built = #s }
