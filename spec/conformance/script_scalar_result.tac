-- Script mode without declarations: a non-table return value is wrapped as {result = value}.
local sum = 0
for i = 1, 10 do sum = sum + i end
return sum
