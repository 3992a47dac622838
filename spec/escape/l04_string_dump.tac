-- L04: string.dump is absent, also as a method on strings.
local ok = pcall(function() return ("x").dump end)
local bytes = string.dump(function() end)
