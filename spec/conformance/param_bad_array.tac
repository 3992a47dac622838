-- A --param for an array input that is not JSON is refused, naming the input.
Procedure {
  input = { items = field.array {} },
  function(input) return {} end,
}
