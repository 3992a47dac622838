-- Host.call's arguments must be a table.
Procedure {
  function(input)
    local r = Host.call("host.ping", "value=1")
    return r
  end,
}
