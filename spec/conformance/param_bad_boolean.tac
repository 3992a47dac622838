-- A --param that is not a recognised boolean word is refused, naming the input.
Procedure {
  input = { flag = field.boolean {} },
  function(input) return { flag = input.flag } end,
}
