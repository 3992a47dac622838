-- A refused Host.call is an ordinary error to the procedure: pcall sees the broker's message.
Procedure {
  function(input)
    local ok, err = pcall(Host.call, "host.nope", {})
    return { ok = ok, refused = tostring(err):find("Tool not allowlisted: host.nope", 1, true) ~= nil }
  end,
}
