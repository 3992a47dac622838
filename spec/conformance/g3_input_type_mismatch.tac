-- A JSON input of the wrong type is refused with the field name and both types.
Procedure {
  input = { count = field.integer { required = true } },
  function(input)
    return { count = input.count }
  end,
}
