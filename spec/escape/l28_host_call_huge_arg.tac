-- L28: a Host.call argument too large for one message is refused as an error to the procedure;
-- the connection to the broker survives (status error, not system).
local r = Host.call("host.echo", { s = ("x"):rep(5 * 1024 * 1024) })
