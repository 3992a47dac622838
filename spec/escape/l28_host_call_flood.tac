-- L28: refused Host.calls still count: retrying in a loop hits the host_calls limit.
for i = 1, 1e6 do pcall(Host.call, "host.nope", {}) end
