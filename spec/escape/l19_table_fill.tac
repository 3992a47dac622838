-- L19: filling a table without end hits the memory limit.
local t = {}
local i = 0
while true do i = i + 1; t[i] = { i } end
