-- L09: the procedure's global table has a protected metatable; it cannot be replaced.
setmetatable(_G, { __index = function() return "pwned" end })
