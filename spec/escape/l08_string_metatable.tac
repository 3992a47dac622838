-- L08: the shared string metatable is locked: getmetatable("") does not hand it out.
local mt = getmetatable("")
mt.__index = { upper = function() return "pwned" end }
