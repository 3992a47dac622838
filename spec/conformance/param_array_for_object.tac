-- A JSON array given for an object input is a type error naming the input.
Procedure {
  input = { opts = field.object {} },
  function(input) return {} end,
}
