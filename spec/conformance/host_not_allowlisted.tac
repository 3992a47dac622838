-- A host tool missing from the allowlist (this case has no sidecar) is refused by the broker.
Procedure {
  function(input)
    local r = Host.call("host.nope", {})
    return r
  end,
}
