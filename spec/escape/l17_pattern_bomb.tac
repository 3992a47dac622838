-- L17: a backtracking pattern runs inside one C call where no hook fires; the host's wall clock
-- kills it.
local s = string.rep("a", 25)
local found = string.find(s, string.rep("a*", 12) .. "b")
return { found = found }
