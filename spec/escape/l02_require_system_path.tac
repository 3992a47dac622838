-- L02: require of an absolute path is refused by name, before any file is looked at.
local m = require("/usr/share/lua/5.4/foo")
