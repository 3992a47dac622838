-- G1 form: a host tool outside the allowlist is refused (no sidecar for this case).
main = procedure("main", {}, function()
  local r = Host.call("host.nope", { value = 1 })
  return r
end)
