-- Restricted require refuses to leave the procedure's directory.
local m = require("../x")
