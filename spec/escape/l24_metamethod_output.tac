-- L24: the output is converted with raw access: hostile __pairs/__index/__len are not run.
local hostile = {
  __pairs = function() while true do end end,
  __index = function() error("__index ran") end,
  __len = function() error("__len ran") end,
}
return setmetatable({ a = 1, list = setmetatable({ 1, 2 }, hostile) }, hostile)
