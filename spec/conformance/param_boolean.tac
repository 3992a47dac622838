-- --param for boolean inputs: true/yes/1 and false/no/0, any case.
Procedure {
  input = {
    a = field.boolean {}, b = field.boolean {}, c = field.boolean {}, d = field.boolean {},
  },
  function(input)
    return { a = input.a, b = input.b, c = input.c, d = input.d }
  end,
}
