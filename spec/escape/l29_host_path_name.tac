-- L29: a tool name that looks like a path is refused by the broker.
local r = Host.call("../../bin/sh", {})
