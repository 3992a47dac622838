-- L12: after a caught ordinary error, the budget still applies (the wrapper does not reset it).
for i = 1, 100 do
  pcall(error, "ordinary")
end
local n = 0
while true do n = n + 1 end
