-- A --param that does not parse as the input's type is an InputError naming the input.
Procedure {
  input = { n = field.integer { required = true } },
  function(input) return { n = input.n } end,
}
