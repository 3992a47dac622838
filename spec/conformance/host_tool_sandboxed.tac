-- A `sandbox: true` command tool runs inside `tactus sandbox`: its directory is /workspace and
-- its environment holds nothing but PATH (and PWD, set by the shell).
local r = Host.call("where", { x = 1 })
return { pwd = r.pwd, got = r.got.x, env_has_home = r.env:find("HOME=") ~= nil }
