-- An enum input accepts a listed value; the default must not replace it.
Procedure {
  input = { color = field.string { enum = { "red", "green" }, default = "red" } },
  function(input)
    return { color = input.color }
  end,
}
