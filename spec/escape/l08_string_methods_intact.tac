-- L08/L09: replacing functions in the procedure's string table does not change the methods
-- every string shares, and the shared metatable cannot be replaced.
string.rep = function() return "pwned" end
string.upper = nil
local ok = pcall(setmetatable, "", {})
return { rep = ("ab"):rep(2), upper = ("x"):upper(), setmetatable_refused = not ok }
