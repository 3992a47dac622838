-- A value JSON cannot hold is a JsonError "Failed to encode to JSON: ..." at the caller's line.
Procedure {
  function(input)
    local s = Json.encode({ f = print })
    return { s = s }
  end,
}
