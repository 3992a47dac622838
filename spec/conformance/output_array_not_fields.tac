-- With an output schema, the result must be a table of fields, not an array.
Procedure {
  output = { a = field.integer {} },
  function(input)
    return { 1, 2, 3 }
  end,
}
