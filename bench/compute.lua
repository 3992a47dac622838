-- compute.lua: the VM compute benchmark under plain lua5.4 (see workload.lua and compute.tac).
-- Prints one "name value" line per part: CPU seconds by os.clock, then the checksum.
local dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local W = require("workload")
local r = W.run(os.clock)
for _, name in ipairs(W.parts) do print(name, r[name]) end
print("total", r.total)
print("check", r.check)
