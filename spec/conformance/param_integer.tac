-- --param for an integer input arrives as a Lua integer.
Procedure {
  input = { n = field.integer { required = true } },
  function(input)
    return { n = input.n, kind = math.type(input.n), next = input.n + 1 }
  end,
}
