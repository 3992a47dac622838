-- An output field of the wrong type is an OutputError naming the field and both types.
Procedure {
  output = { total = field.integer { required = true } },
  function(input)
    return { total = "twelve" }
  end,
}
