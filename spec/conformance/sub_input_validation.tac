-- A sub-procedure validates its own input; the error names the sub-procedure.
helper = Procedure {
  name = "helper",
  input = { x = field.integer { required = true } },
  function(input) return { y = input.x } end,
}

Procedure {
  function(input)
    local r = helper({})
    return r
  end,
}
