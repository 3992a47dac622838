-- os.getenv is absent: a procedure cannot read the host's environment (secrets live there).
local home = os.getenv("HOME")
