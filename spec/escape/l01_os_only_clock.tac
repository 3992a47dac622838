-- L01: the os table holds exactly the clock functions; everything that touches the process,
-- the environment or files is absent.
local keys = {}
for k in pairs(os) do keys[#keys + 1] = k end
table.sort(keys)
return { keys = keys }
