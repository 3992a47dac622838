-- L21: endless recursion is stopped by the depth limit.
local function f(n) return 1 + f(n + 1) end
f(1)
