-- Log's context must be a table; the error names the level and the line.
Procedure {
  function(input)
    Log.info("count", 5)
    return {}
  end,
}
