-- L33: string.rep of an empty string (and empty separator) a maxinteger times builds nothing,
-- but Lua loops maxinteger times inside one C call, where no hook or budget reaches. It is ""
-- at once.
local a = string.rep("", math.maxinteger)
local b = (""):rep(math.maxinteger, "")
return { a = #a, b = #b }
