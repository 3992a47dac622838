-- L14: finalizers run with hooks off, so a __gc metamethod is refused at setmetatable.
setmetatable({}, { __gc = function() while true do end end })
