-- --param for a number input: "2.5" is a float, "3" stays an integer.
Procedure {
  input = { x = field.number { required = true }, y = field.number { required = true } },
  function(input)
    return { x = input.x, x_kind = math.type(input.x), y = input.y, y_kind = math.type(input.y) }
  end,
}
