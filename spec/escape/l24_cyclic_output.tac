-- L24: a cyclic result is refused with a clear error, not a hang or a crash.
local t = {}
t.self = t
return t
