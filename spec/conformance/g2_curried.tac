-- G2 form: Procedure "name" { ... } defines a procedure; Procedure("name")(params) calls it.
Procedure "square" {
  input = { n = field.integer { required = true } },
  output = { value = field.integer { required = true } },
  function(input)
    return { value = input.n * input.n }
  end,
}

Procedure "main" {
  function(input)
    local r = Procedure("square")({ n = 9 })
    return { square = r.value }
  end,
}
