-- L24: Json.encode of a cyclic table is an error, not a hang.
local t = {}
t[1] = t
local s = Json.encode(t)
