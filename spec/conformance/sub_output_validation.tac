-- A sub-procedure's output schema is checked when it returns; the error names it.
helper = Procedure {
  name = "helper",
  output = { y = field.integer { required = true } },
  function(input) return { y = "not a number" } end,
}

Procedure {
  function(input)
    local r = helper({})
    return r
  end,
}
