-- A required output field that the procedure does not return is an OutputError naming it.
Procedure {
  output = {
    total = field.integer { required = true },
    note = field.string {},
  },
  function(input)
    return { note = "forgot the total" }
  end,
}
