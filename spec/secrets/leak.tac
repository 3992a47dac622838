-- Every route a procedure might use to obtain a secret. None may reach the output, an error,
-- a log line or any file of the run directory.
local found = {}
local function note(route, value)
  found[#found + 1] = route .. "=" .. tostring(value)
end
-- The environment: there is no os.getenv, and the runner starts with an empty environment.
note("getenv", os.getenv)
-- A tool that is not allowlisted.
note("unlisted", select(2, pcall(Host.call, "host.env", {})))
-- A tool that echoes its secret in several encodings, in its output and its stderr.
local r = Host.call("leaky", {})
note("raw", r.raw)
note("hex", r.hex)
note("b64", r.b64)
Log.info("tool said " .. r.raw, { echoed = r.raw })
-- A tool that fails with the secret in its error message.
local ok, err = pcall(Host.call, "failing", {})
note("error", err)
print("the error was: " .. tostring(err))
Log.info("done")
return { routes = table.concat(found, "; "), raw = r.raw }
