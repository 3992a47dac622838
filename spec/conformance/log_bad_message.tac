-- Log's message must be a string (or a number).
Procedure {
  function(input)
    Log.warn({ "not", "a", "string" })
    return {}
  end,
}
