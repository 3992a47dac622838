-- L06: a module loaded with require gets the restricted environment too (probe_module.lua
-- reports what it can see).
local seen = require("probe_module")
return seen
