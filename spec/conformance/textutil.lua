-- textutil.lua: a module next to the procedures, for require("textutil").
local M = {}

function M.shout(s)
  return s:upper() .. "!"
end

return M
