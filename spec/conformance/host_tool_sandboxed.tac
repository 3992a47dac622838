-- A `sandbox: true` command tool is refused when the configuration is loaded (exit 2, naming
-- the file, line and key): run that way it would get the workspace read-write without File's
-- protections and could plant a git hook (issue 8). Nothing runs.
local r = Host.call("where", { x = 1 })
return { pwd = r.pwd, got = r.got.x, env_has_home = r.env:find("HOME=") ~= nil }
