-- L35: a __tostring that calls tostring on another such object, through C each time.
local mt = {}
mt.__tostring = function() return tostring(setmetatable({}, mt)) end
local ok, err = pcall(tostring, setmetatable({}, mt))
return { caught = err }
