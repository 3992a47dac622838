-- --param for a string input keeps the text, even when it looks like a number or JSON.
Procedure {
  input = { a = field.string {}, b = field.string {} },
  function(input)
    return { a = input.a, b = input.b }
  end,
}
