-- Host.call needs a non-empty tool name string (reference message).
Procedure {
  function(input)
    local r = Host.call("", {})
    return r
  end,
}
