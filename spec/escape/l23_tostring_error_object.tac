-- L23: the host describes an error object without running its metamethods (a looping
-- __tostring would hang an unhooked host).
error(setmetatable({}, { __tostring = function() while true do end end }))
