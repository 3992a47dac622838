-- L18: string.rep of a terabyte is refused before any work, by the string limit.
local s = string.rep("x", 1 << 40)
