-- Even the built-in host.ping needs the allowlist: without a sidecar it is refused.
Procedure {
  function(input)
    local r = Host.call("host.ping", { value = 1 })
    return r
  end,
}
