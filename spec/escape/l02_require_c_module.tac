-- L02: require never loads C modules or searches system paths: "socket" is not found in the
-- procedure's directory.
local socket = require("socket")
