-- Restricted require refuses absolute paths.
local m = require("/etc/passwd")
