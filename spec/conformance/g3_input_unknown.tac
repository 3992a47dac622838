-- An input the schema does not declare is an error that lists the declared ones.
Procedure {
  input = { a = field.string {}, b = field.string {} },
  function(input)
    return {}
  end,
}
