-- L05: load with a reader function (which could feed a binary chunk piecewise) is refused.
local parts = { "\27Lua", "T\0" }
local i = 0
local f = load(function() i = i + 1; return parts[i] end)
