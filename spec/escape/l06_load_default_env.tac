-- L06: a chunk loaded without an env gets the procedure's environment, not the real globals:
-- io is as absent inside it as outside.
local f = load("return io.open('/etc/passwd')")
f()
