-- Requiring a module that does not exist names it (no C modules, no search of system paths).
local m = require("socket")
