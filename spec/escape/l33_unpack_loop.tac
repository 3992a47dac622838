-- L33: each table.unpack of 900000 values is one instruction of Lua code; the values pushed are
-- charged to the budget.
for _ = 1, 1e9 do
  local n = select("#", table.unpack({}, 1, 900000))
end
