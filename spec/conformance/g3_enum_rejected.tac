-- An enum input rejects a value outside the list and names the allowed values.
Procedure {
  input = { color = field.string { enum = { "red", "green" }, default = "red" } },
  function(input)
    return { color = input.color }
  end,
}
