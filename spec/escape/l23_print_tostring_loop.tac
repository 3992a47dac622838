-- L23: a looping __tostring reached through print runs hooked, inside the budget.
print(setmetatable({}, { __tostring = function() while true do end end }))
