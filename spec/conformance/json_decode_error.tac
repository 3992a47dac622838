-- Malformed JSON is a JsonError "Failed to decode JSON: ..." reported at the caller's line.
Procedure {
  function(input)
    local v = Json.decode("{bad json")
    return { v = v }
  end,
}
