-- L03: loadfile is absent.
local f = loadfile("/etc/passwd")
