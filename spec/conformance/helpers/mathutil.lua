-- helpers/mathutil.lua: a plain Lua module for the restricted require cases.
local M = {}

function M.clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end

M.loads = (M.loads or 0) + 1
return M
