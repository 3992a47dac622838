-- L19: table.concat whose result would exceed the string limit is refused before building it.
local t = {}
for i = 1, 1000 do t[i] = ("x"):rep(1000) end
local s = table.concat(t, ("y"):rep(1000))
