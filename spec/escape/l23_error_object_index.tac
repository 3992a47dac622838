-- L23: the host reads an error object's message raw: an __index that loops is never called.
error(setmetatable({}, { __index = function() while true do end end }))
