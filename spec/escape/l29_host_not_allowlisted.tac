-- L29: a name outside the allowlist is refused with the reference message.
local r = Host.call("shell.exec", { cmd = "id" })
