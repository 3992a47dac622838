-- An output enum is checked like an input enum.
Procedure {
  output = { level = field.string { enum = { "low", "high" }, required = true } },
  function(input)
    return { level = "medium" }
  end,
}
