-- L24: Json.encode reads tables raw; a looping __pairs or an erroring __index is not run.
local t = setmetatable({ a = 1 }, {
  __pairs = function() while true do end end,
  __index = function() error("__index ran") end,
})
return { json = Json.encode(t) }
